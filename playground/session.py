"""The bot's transport in the playground: an aiogram session that answers each Bot API method
from a `BotApi` in the same process, instead of sending it to Telegram over HTTPS.

A method's parameters are prepared as aiogram prepares them for the wire (the bot's defaults
filled in, objects as JSON, files as `attach://` fields) and read back as the stand-in's HTTP
side reads a form, so the stand-in sees what it would see over HTTP; its answer and its errors
go through aiogram's own `check_response`, so the bot gets the result type it asked for, and
`TelegramBadRequest`, `TelegramForbiddenError`, `TelegramRetryAfter`... as from Telegram.
"""

import json
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from playground.bot_api import BotApi, Upload
from playground.errors import ApiError
from playground.http import decode_param


class PlaygroundSession(BaseSession):
    """Every Bot API call of a bot answered by `api`, in process."""

    def __init__(self, api: BotApi) -> None:
        super().__init__()
        self.bot_api = api

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - the base's signature; nothing waits on a wire
    ) -> TelegramType:
        params = await self._params(bot, method)
        try:
            result = await self.bot_api.call(method.__api_method__, params)
        except ApiError as error:
            status, payload = error.code, error.payload()
        else:
            status, payload = 200, {"ok": True, "result": result}
        # The answer as Telegram's JSON, read by aiogram's own check: the same result types and
        # the same exceptions as over HTTP.
        content = json.dumps(payload, ensure_ascii=False)
        response = self.check_response(bot, method, status, content)
        return cast(TelegramType, response.result)

    async def _params(self, bot: Bot, method: TelegramMethod[TelegramType]) -> dict[str, Any]:
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:  # as aiogram's form leaves out empty fields
                params[key] = decode_param(key, prepared)
        for key, file in files.items():
            content = b"".join([chunk async for chunk in file.read(bot)])
            params[key] = Upload(file.filename or key, content)
        return params

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - the base's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """Downloads (`bot.download`) are not among what the bot does: no getFile here."""
        raise RuntimeError(f"the playground serves no file downloads ({url})")
        yield b""  # pragma: no cover - makes this an async generator, as the base declares

    async def close(self) -> None:
        """Nothing to close: no connection was opened."""
