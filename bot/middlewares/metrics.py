"""Every update counted by type and outcome and timed (metrics.py), and its id kept for the log
lines written while it is handled (logs.py)."""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from logs import UPDATE_ID
from metrics import UPDATE_SECONDS, UPDATES

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateMetrics(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        kind = event.event_type
        token = UPDATE_ID.set(event.update_id)
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        finally:
            UPDATES.labels(kind, outcome).inc()
            UPDATE_SECONDS.labels(kind).observe(time.perf_counter() - started)
            UPDATE_ID.reset(token)
