"""The stand-in over HTTP, as a bot reaches Telegram: `/bot<token>/<method>` on a loopback port
(the bot's `TELEGRAM_API_URL`), parameters decoded as Telegram decodes them, answers and errors
in Telegram's JSON; and the webhook's deliveries back to the bot.

`async with BotApiServer(api) as server:` serves `api` at `server.url`.
"""

import json
import re
import socket
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from playground.bot_api import BotApi, Upload
from playground.errors import ApiError, bad_request
from playground.webhook import WebhookDelivery

JSON = dict[str, Any]
UPLOAD_LIMIT = 64 * 2**20  # bytes of one request; Telegram takes documents up to 50 MB
WEBHOOK_TIMEOUT = 30.0  # seconds Telegram waits for the webhook's answer

# Form values that stay strings even when they look like numbers, booleans or JSON.
STRING_PARAMS = frozenset(
    [
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "url",
        "secret_token",
        "action",
        "language_code",
    ]
)
_INT = re.compile(r"-?\d{1,20}")


def decode_param(key: str, value: str) -> Any:
    """A form value as Telegram reads it: JSON objects/arrays, booleans and integers decoded."""
    if key in STRING_PARAMS:
        return value
    head = value[:1]
    if head in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    if _INT.fullmatch(value):
        return int(value)
    return value


async def read_params(request: web.Request) -> JSON:
    """Query, JSON, urlencoded or multipart parameters; uploaded files as `Upload`s."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    raw[key] = Upload(value.filename, value.file.read())
                else:
                    raw[key] = value.decode() if isinstance(value, bytes) else value
    return {k: decode_param(k, v) if isinstance(v, str) else v for k, v in raw.items()}


def _respond(status: int, payload: JSON) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


class BotApiServer:
    """`api` served on a free loopback port, delivering to its webhook."""

    def __init__(self, api: BotApi) -> None:
        self.api = api
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._webhook: WebhookDelivery | None = None

    @property
    def webhook(self) -> WebhookDelivery:
        """The deliveries to the bot's webhook (while serving)."""
        assert self._webhook is not None, "the server is not started"
        return self._webhook

    async def start(self) -> None:
        app = web.Application(client_max_size=UPLOAD_LIMIT)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._webhook = WebhookDelivery(self.api.updates, self._http)
        self.api.updates.deliverer = self._webhook

    async def stop(self) -> None:
        self.api.close()
        if self._webhook is not None:
            self.api.updates.deliverer = None
            await self._webhook.close()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _not_found(self, request: web.Request) -> web.Response:
        return _respond(404, ApiError(404, "Not Found").payload())

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.api.token:
            return _respond(401, ApiError(401, "Unauthorized").payload())
        try:
            params = await read_params(request)
            result = await self.api.call(request.match_info["method"], params)
        except ApiError as error:
            return _respond(error.code, error.payload())
        return _respond(200, {"ok": True, "result": result})
