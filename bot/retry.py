"""Telegram's flood limit (429 with `retry_after`): a short wait is waited out, then sent again."""

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Resends a request refused with 429 up to `attempts` times, if the wait is `max_wait` or less.

    A longer wait fails the request at once rather than hold the update (and the person) for it.
    """

    def __init__(self, *, max_wait: float = 5.0, attempts: int = 3) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if error.retry_after > self.max_wait or attempt == self.attempts:
                    raise
                log.debug("%s: waiting %d s out", type(method).__name__, error.retry_after)
                await asyncio.sleep(error.retry_after)
        raise AssertionError("unreachable")
