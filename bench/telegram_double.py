"""A lean Bot API double on aiohttp.web: answers at once with Telegram-shaped results, and hands
every message the bot sends to whoever watches that chat (the load generator).

It keeps nothing per chat beyond the watches in progress; messages to chats nobody watches (an
inviter's notification) are only counted. Documents are read as they stream in and only counted
(bytes, and lines of the CSV inside, gzip or not), so a large export costs the double no memory.
"""

import itertools
import json
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 7_000_000_001
BOT_USERNAME = "referral_bench_bot"
TOKEN = f"{BOT_ID}:bench-token-for-the-double"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Referral bench",
    "username": BOT_USERNAME,
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
WEBHOOK_INFO = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
MESSAGE_METHODS = frozenset(
    {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto"}
)
TRUE_METHODS = frozenset(
    {
        "setMyCommands",
        "deleteWebhook",
        "setWebhook",
        "answerCallbackQuery",
        "sendChatAction",
        "deleteMyCommands",
    }
)


@dataclass(frozen=True, slots=True)
class BotMessage:
    method: str
    text: str
    reply_markup: str  # the JSON the bot sent, "" without buttons; parsed only when needed
    received: float  # time.perf_counter() at arrival
    file_bytes: int = 0  # of an uploaded document or photo
    file_lines: int = 0  # of a document, once decompressed

    def markup(self) -> dict[str, Any]:
        return json.loads(self.reply_markup) if self.reply_markup else {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotApiDouble:
    """`async with BotApiDouble() as double`: serving on a free loopback port at `double.url`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.unwatched = 0  # messages to chats nobody watched
        self.calls = 0
        self._watches: dict[int, list[BotMessage]] = {}
        self._message_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    def watch(self, chat_id: int) -> list[BotMessage]:
        """Collect what the bot sends to `chat_id` into the returned list, until `unwatch`."""
        inbox: list[BotMessage] = []
        self._watches[chat_id] = inbox
        return inbox

    def unwatch(self, chat_id: int) -> None:
        self._watches.pop(chat_id, None)

    async def __aenter__(self) -> "BotApiDouble":
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.Response:
        received = time.perf_counter()
        self.calls += 1
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        if method == "sendDocument":
            return await self._document(request, received)
        form = await request.post()
        if method in MESSAGE_METHODS:
            return self._message(method, form, received)
        if method == "answerInlineQuery":
            return self._inline_answer(form, received)
        if method in TRUE_METHODS:
            return _result(True)
        if method == "getMe":
            return _result(BOT_USER)
        if method == "getWebhookInfo":
            return _result(WEBHOOK_INFO)
        return _error(404, "Not Found: method not found")

    def _message(self, method: str, form: Any, received: float) -> web.Response:
        chat_id = int(form.get("chat_id", 0))
        text = str(form.get("text", ""))
        text = text or str(form.get("caption", ""))
        photo = next((v for v in form.values() if isinstance(v, web.FileField)), None)
        size = len(photo.file.read()) if photo is not None else 0
        message = BotMessage(method, text, str(form.get("reply_markup", "")), received, size)
        inbox = self._watches.get(chat_id)
        if inbox is None:
            self.unwatched += 1
        else:
            inbox.append(message)
        message_id = int(form.get("message_id", 0)) or next(self._message_ids)
        return _result(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "User"},
                "from": BOT_USER,
                "text": text,
            }
        )

    def _inline_answer(self, form: Any, received: float) -> web.Response:
        """answerInlineQuery, to the watcher of the user whose id starts the query's id (as the
        bench's updates make them): its results as the message's text."""
        user_id = int(str(form.get("inline_query_id", "0")).partition("-")[0] or 0)
        message = BotMessage(
            "answerInlineQuery", str(form.get("results", "")), str(form.get("button", "")), received
        )
        inbox = self._watches.get(user_id)
        if inbox is None:
            self.unwatched += 1
        else:
            inbox.append(message)
        return _result(True)

    async def _document(self, request: web.Request, started: float) -> web.Response:
        """sendDocument, read part by part as it streams in: the file is counted, not kept."""
        fields: dict[str, str] = {}
        size = lines = 0
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.filename is None:
                fields[part.name or ""] = (await part.read()).decode()
                continue
            unpack = (
                zlib.decompressobj(16 + zlib.MAX_WBITS) if part.filename.endswith(".gz") else None
            )
            while chunk := await part.read_chunk(2**20):
                size += len(chunk)
                lines += (unpack.decompress(chunk) if unpack else chunk).count(b"\n")
        chat_id = int(fields.get("chat_id", 0))
        message = BotMessage(
            "sendDocument", fields.get("caption", ""), "", time.perf_counter(), size, lines
        )
        inbox = self._watches.get(chat_id)
        if inbox is None:
            self.unwatched += 1
        else:
            inbox.append(message)
        return _result(
            {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "User"},
                "from": BOT_USER,
                "document": {"file_id": "export", "file_unique_id": "export", "file_size": size},
            }
        )


def _result(result: Any) -> web.Response:
    return web.Response(
        text=json.dumps({"ok": True, "result": result}), content_type="application/json"
    )


def _error(code: int, description: str) -> web.Response:
    body = {"ok": False, "error_code": code, "description": description}
    return web.Response(text=json.dumps(body), status=code, content_type="application/json")
