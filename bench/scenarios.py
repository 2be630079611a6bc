"""The scenarios: what one simulated user does, against the program or its ceiling.

A scenario is built once per target (the program, the ceiling); calling it runs one unit of work
(one update, or one newcomer's whole journey) and returns a sample per update. Against the
program (`target.judge`) the replies are checked too: a wrong reply counts as an error.
"""

import asyncio
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from api.tokens import AccessTokens
from bench.client import ENGLISH, ApiClient, BotClient, Sample
from bench.pools import IdleUsers, UserPool
from bench.processes import ServerProcess
from bench.seed import (
    ACTIVATED,
    ACTIVATING,
    ACTIVATION_PAIRS,
    CHANNEL_INVITER,
    FIRST_REFERRAL,
    LAST_REFERRAL,
    REFERRALS,
    REFS_INVITERS,
    TELEGRAM_BASE,
    invite_code_of,
    phone_of,
)
from bench.updates import mini_app_login
from db.phones import mask_phone
from playground.bot_api import BotMessage

SESSIONS = 64  # clients of the API that log in once (the closed loop's users)
NEWCOMER_BASE = 5_000_000_000  # Telegram ids of newcomers (journey), linked to no member yet
MEMORY_BASE = 6_000_000_000  # Telegram ids of the newcomers of the memory run
READERS = LAST_REFERRAL - FIRST_REFERRAL  # members who read their code or data (not the channel)
# The total of referrals as a text may write it: 100000, 100,000, 100 000...
REFERRAL_TOTAL = re.compile(
    rf"(?<!\d){REFERRALS // 1000}[\s,.\u00a0\u202f']?{REFERRALS % 1000:03d}(?!\d)"
)


@dataclass
class Target:
    """A program (or its ceiling) as the scenarios reach it."""

    name: str
    judge: bool  # check what the replies say (the program); the ceiling only echoes
    bot: BotClient
    api: ApiClient
    api_data_path: str
    api_list_path: str
    api_login_path: str
    bot_token: str  # the bot the program runs (the Mini App's initData is signed with its token)
    bot_process: ServerProcess
    api_process: ServerProcess


def asks_for_contact(replies: list[BotMessage]) -> bool:
    return any(
        button.get("request_contact")
        for reply in replies
        for row in (reply.markup or {}).get("keyboard", [])
        for button in row
    )


def telegram_id(member_id: int) -> int:
    return TELEGRAM_BASE + member_id


class Scenario(ABC):
    name: ClassVar[str]
    kind: ClassVar[Literal["bot", "api"]] = "bot"
    updates_per_unit: ClassVar[int] = 1
    workers: ClassVar[int | None] = None  # closed-loop users; None: the plan's default
    program_env: ClassVar[dict[str, str]] = {}  # settings of the program for this scenario
    one_api_worker: ClassVar[bool] = False  # the API in one process instead of WEB_WORKERS
    note: ClassVar[str] = ""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.notifications = 0  # inviter notifications the program should have sent
        self.profile: list[str] = []  # where the program spent its time, with --profile

    @property
    def process(self) -> ServerProcess:
        return self.target.api_process if self.kind == "api" else self.target.bot_process

    @abstractmethod
    async def __call__(self) -> list[Sample]: ...


class Code(Scenario):
    """`/code` of a verified member."""

    name = "code"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.members = UserPool(FIRST_REFERRAL + 1, READERS)

    async def __call__(self) -> list[Sample]:
        member = self.members.take()
        exchange = await self.target.bot.text(telegram_id(member), "/code")
        code = invite_code_of(member)
        return [exchange.sample(lambda replies: code in replies[0].text, judge=self.target.judge)]


class Inline(Scenario):
    """`@bot` typed by a verified member in some chat: their invite card (one member lookup)."""

    name = "inline"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.members = UserPool(FIRST_REFERRAL + 1, READERS)

    async def __call__(self) -> list[Sample]:
        member = self.members.take()
        user = telegram_id(member)
        exchange = await self.target.bot.inline_query(user)
        code = invite_code_of(member)

        def shows_card(replies: list[BotMessage]) -> bool:
            answer = replies[0]
            return answer.method == "answerInlineQuery" and any(
                code in result["input_message_content"]["message_text"]
                for result in answer.content["results"]
            )

        return [exchange.sample(shows_card, judge=self.target.judge)]


class Refs(Scenario):
    """`/refs` of inviters with 100,000 referrals each among the million members."""

    name = "refs"
    workers = REFS_INVITERS
    program_env: ClassVar[dict[str, str]] = {"FLOOD_RATE": "100000", "FLOOD_BURST": "100000"}
    note = (
        f"{REFS_INVITERS} inviters of {REFERRALS:,} referrals, one update at a time each; "
        "FLOOD_RATE=100000 FLOOD_BURST=100000 for this run"
    )

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.inviters = IdleUsers([telegram_id(member) for member in range(1, REFS_INVITERS + 1)])

    async def __call__(self) -> list[Sample]:
        user = await self.inviters.take()
        try:
            exchange = await self.target.bot.text(user, "/refs")
        finally:
            self.inviters.give_back(user)

        def shows_total(replies: list[BotMessage]) -> bool:
            return REFERRAL_TOTAL.search(replies[0].text) is not None

        return [exchange.sample(shows_total, judge=self.target.judge)]


class Activation(Scenario):
    """`/invite CODE` by a member without an inviter; the code's owner is notified."""

    name = "activation"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.pairs = UserPool(0, ACTIVATION_PAIRS)

    async def __call__(self) -> list[Sample]:
        pair = self.pairs.take()
        member, owner = ACTIVATING + pair, ACTIVATED + pair
        code = invite_code_of(owner)
        user = telegram_id(member)
        exchange = await self.target.bot.text(user, f"/invite {code}")
        joined = ENGLISH.gettext("activation-done").format(phone=mask_phone(phone_of(owner)))
        sample = exchange.sample(lambda replies: replies[0].text == joined, judge=self.target.judge)
        if self.target.judge and sample.error is None:
            self.notifications += 1
        return [sample]


def shown_code(reply: BotMessage) -> str | None:
    """The verification code a message shows (`CODE_DELIVERY=chat`): the digits that the bot set
    as code (`<code>`), as Telegram keeps them, in an entity of the message's text."""
    text = reply.text
    for entity in reply.content.get("entities") or []:
        if entity["type"] == "code":
            shown = text[entity["offset"] : entity["offset"] + entity["length"]]
            if shown.isdigit():
                return shown
    return None


class Journey(Scenario):
    """A newcomer from the channel's link: `/start CODE`, their contact, the code, the menu."""

    name = "journey"
    updates_per_unit = 3
    note = "every newcomer opens the link of one member, as from one post in a big channel"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.newcomers = UserPool(0, 10_000_000)
        self.code = invite_code_of(CHANNEL_INVITER)
        inviter_phone = mask_phone(phone_of(CHANNEL_INVITER))
        joined = ENGLISH.gettext("activation-done").format(phone=inviter_phone)
        # One message: the welcome, the outcome of the link's code, the menu's question.
        self.welcome = "\n\n".join(
            [ENGLISH.gettext("welcome-new"), joined, ENGLISH.gettext("menu")]
        )

    def lands_in_menu(self, replies: list[BotMessage]) -> bool:
        return any(reply.text == self.welcome and reply.markup for reply in replies)

    async def __call__(self) -> list[Sample]:
        number = self.newcomers.take()
        user = NEWCOMER_BASE + number
        bot, judge = self.target.bot, self.target.judge
        opened = await bot.text(user, f"/start {self.code}")
        samples = [opened.sample(asks_for_contact, judge=judge)]
        if samples[-1].error is not None:
            return samples
        shared = await bot.contact(user, f"7901{number:07d}")
        code = next(filter(None, map(shown_code, shared.replies)), None)
        samples.append(shared.sample(lambda _: code is not None, judge=judge))
        if samples[-1].error is not None:
            return samples
        typed = await bot.text(user, code or "0000")
        samples.append(typed.sample(self.lands_in_menu, judge=judge))
        if judge and samples[-1].error is None:
            self.notifications += 1
        return samples


class ApiData(Scenario):
    """`GET /api/data/` with a valid token."""

    name = "api_data"
    kind = "api"

    def __init__(self, target: Target, tokens: AccessTokens) -> None:
        super().__init__(target)
        self.members = UserPool(FIRST_REFERRAL + 1, READERS)
        self.tokens = tokens

    async def __call__(self) -> list[Sample]:
        member = self.members.take()
        api: ApiClient = self.target.api
        body, sample = await api.get(self.target.api_data_path, self.tokens.issue(member))
        if (
            api.judge
            and sample.error is None
            and f'"ref":"{invite_code_of(member)}"'
            not in (body.decode(errors="replace").replace(" ", ""))
        ):
            sample.error = f"unexpected body: {body[:80]!r}"
        return [sample]


class ApiDataOneWorker(ApiData):
    """`GET /api/data/` with a fresh token, the API in one process."""

    name = "api_data_1w"
    one_api_worker = True


class ApiSession(Scenario):
    """`GET /api/data/` as a real client does it: it logs in once (`POST /api/login/`, then
    `/api/verify/` with the code, which the chat delivery answers), then reuses its token."""

    name = "api_session"
    kind = "api"
    note = "each client logs in once (phone, then code) and then reads with the same token"

    # Members who log in, apart from those of the other variant: a phone just sent a code waits
    # a minute before the next.
    first_member: ClassVar[int] = FIRST_REFERRAL + 1

    def __init__(self, target: Target, tokens: AccessTokens) -> None:
        super().__init__(target)
        self.members = UserPool(self.first_member, READERS // 2)
        self.tokens = tokens
        self.sessions: list[asyncio.Task[tuple[int, str]]] = []  # (member, token) of each client
        self.turn = 0

    async def log_in(self) -> tuple[int, str]:
        member = self.members.take()
        api: ApiClient = self.target.api
        if not api.judge:  # the ceiling reads no token
            return member, self.tokens.issue(member)
        phone = phone_of(member)
        sent, _ = await api.post("/api/login/", json.dumps({"phone": phone}).encode())
        code = json.loads(sent).get("code")
        verify = json.dumps({"phone": phone, "code": code}).encode()
        verified, _ = await api.post("/api/verify/", verify)
        token = json.loads(verified).get("token")
        if not isinstance(token, str):
            raise RuntimeError(f"login failed: {sent[:80]!r} {verified[:80]!r}")
        return member, token

    async def __call__(self) -> list[Sample]:
        # As many clients as closed-loop users, each logged in once; the paced run reuses them.
        self.turn += 1
        if len(self.sessions) < SESSIONS:
            self.sessions.append(asyncio.ensure_future(self.log_in()))
        member, token = await self.sessions[self.turn % len(self.sessions)]
        api: ApiClient = self.target.api
        body, sample = await api.get(self.target.api_data_path, token)
        if (
            api.judge
            and sample.error is None
            and f'"ref":"{invite_code_of(member)}"'
            not in (body.decode(errors="replace").replace(" ", ""))
        ):
            sample.error = f"unexpected body: {body[:80]!r}"
        return [sample]


class ApiSessionOneWorker(ApiSession):
    """The real client's reads, the API in one process."""

    name = "api_session_1w"
    one_api_worker = True
    first_member = FIRST_REFERRAL + 1 + READERS // 2


class ApiList(Scenario):
    """A full list of 1,000 referrals in one request, `GET /api/data/?limit=1000`, by a client
    that keeps its token: one inviter's list read again and again, as the original's figure was
    measured (wrk, one member)."""

    name = "api_list"
    kind = "api"
    note = (
        f"the first 1,000 referrals of an inviter of {REFERRALS:,} (the same statement and "
        "answer as the whole list of a member with 1,000), read again and again"
    )

    def __init__(self, target: Target, tokens: AccessTokens) -> None:
        super().__init__(target)
        self.inviter = 1
        self.token = tokens.issue(self.inviter)

    async def __call__(self) -> list[Sample]:
        api: ApiClient = self.target.api
        body, sample = await api.get(self.target.api_list_path, self.token)
        if api.judge and sample.error is None:
            listed = body.count(b'"joined_at"')
            if listed != 1000 or f'"ref":"{invite_code_of(self.inviter)}"'.encode() not in body:
                sample.error = f"unexpected body: {listed} referrals, {body[:80]!r}"
        return [sample]


class WebLogin(Scenario):
    """The web app opened in Telegram (a Mini App): `POST /api/telegram/login/` with initData
    signed for a member's Telegram account; the first load of the page is measured apart, in a
    browser (`bench/web.py`)."""

    name = "web"
    kind = "api"
    note = "Mini App logins (POST /api/telegram/login/), each of a different member"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.members = UserPool(FIRST_REFERRAL + 1, READERS)

    async def __call__(self) -> list[Sample]:
        member = self.members.take()
        api: ApiClient = self.target.api
        login = mini_app_login(self.target.bot_token, telegram_id(member))
        body, sample = await api.post(self.target.api_login_path, login)
        if api.judge and sample.error is None and b'"token":"ey' not in body:
            sample.error = f"unexpected body: {body[:80]!r}"
        return [sample]


class NewcomerStart(Scenario):
    """`/start` of a newcomer, once per user: the memory run."""

    name = "memory"

    def __init__(self, target: Target, users: UserPool) -> None:
        super().__init__(target)
        self.users = users

    async def __call__(self) -> list[Sample]:
        user = MEMORY_BASE + self.users.take()
        exchange = await self.target.bot.text(user, "/start")
        return [exchange.sample(asks_for_contact, judge=self.target.judge)]
