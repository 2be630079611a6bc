"""What a simulated user does: write to the bot (the update made by the Bot API stand-in, POSTed
to the webhook by the bench itself) and collect what the bot showed them at the stand-in, or GET
the API; each exchange becomes one `Sample`."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.updates import person
from locales import create_i18n
from playground.bot_api import BotApi, BotMessage
from runtime.webhook import SECRET_HEADER

# The bench's simulated users speak English (the program's default language).
ENGLISH = create_i18n("en")

# Replies that mean the update was not served as asked, by name.
REFUSALS = {
    ENGLISH.gettext("flood"): "flood control answered",
    ENGLISH.gettext("apology"): "apology (the update failed)",
    ENGLISH.gettext("share-phone-first"): "refused as a guest",
    ENGLISH.gettext("not-understood"): "not understood",
}


@dataclass(slots=True)
class Sample:
    latency: float  # seconds from the POST to the bot's first reply (or to the HTTP answer)
    finished: float  # time.perf_counter() when the exchange ended
    error: str | None = None


@dataclass(slots=True)
class Exchange:
    status: int
    replies: list[BotMessage]
    started: float
    finished: float

    def sample(self, check: Callable[[list[BotMessage]], bool] | None, *, judge: bool) -> Sample:
        """The sample of this exchange; with `judge`, what the replies say is checked too."""
        first = self.replies[0].received if self.replies else self.finished
        return Sample(first - self.started, self.finished, self.error(check, judge=judge))

    def error(self, check: Callable[[list[BotMessage]], bool] | None, *, judge: bool) -> str | None:
        if self.status != 200:
            return f"HTTP {self.status}"
        if not self.replies:
            return "no reply"
        if not judge:
            return None
        for reply in self.replies:
            if reply.text in REFUSALS:
                return REFUSALS[reply.text]
        if check is not None and not check(self.replies):
            return f"unexpected reply: {self.replies[0].text[:80]!r}"
        return None


@dataclass
class BotClient:
    """Sends updates to one webhook; `judge` checks the replies (off for the ceiling, which only
    echoes)."""

    http: aiohttp.ClientSession
    double: BotApi
    webhook_url: str
    secret: str
    judge: bool
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {SECRET_HEADER: self.secret, "Content-Type": "application/json"}

    async def text(self, user_id: int, text: str) -> Exchange:
        return await self.send(user_id, self.double.text_update(person(user_id), text))

    async def contact(self, user_id: int, phone_number: str) -> Exchange:
        """The user's own contact, shared with the request_contact button."""
        return await self.send(user_id, self.double.contact_update(person(user_id), phone_number))

    async def inline_query(self, user_id: int, query: str = "") -> Exchange:
        """`@bot <query>` typed in some chat."""
        return await self.send(user_id, self.double.inline_query_update(person(user_id), query))

    async def send(self, chat_id: int, update: dict[str, Any]) -> Exchange:
        """POST the update as Telegram would; the replies are what the bot showed meanwhile (the
        webhook answers after handling the update)."""
        body = json.dumps(update).encode()
        inbox = self.double.watch(chat_id)
        started = time.perf_counter()
        try:
            async with self.http.post(self.webhook_url, data=body, headers=self.headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 599  # no answer: counted as an error like any other status
        finally:
            self.double.unwatch(chat_id)
        return Exchange(status, inbox, started, time.perf_counter())


@dataclass
class ApiClient:
    http: aiohttp.ClientSession
    base_url: str
    judge: bool  # the caller checks the body (the program only)

    async def get(self, path: str, token: str) -> tuple[bytes, Sample]:
        return await self._exchange("GET", path, {"Authorization": f"Bearer {token}"}, None)

    async def post(self, path: str, body: bytes) -> tuple[bytes, Sample]:
        headers = {"Content-Type": "application/json"}
        return await self._exchange("POST", path, headers, body)

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[bytes, Sample]:
        started = time.perf_counter()
        try:
            async with self.http.request(
                method, self.base_url + path, headers=headers, data=data
            ) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as failure:
            status, body = 599, type(failure).__name__.encode()
        finished = time.perf_counter()
        problem = f"HTTP {status}" if status != 200 else None
        return body, Sample(finished - started, finished, problem)
