"""Unexpected errors: an apology, one log line with the update id, and the next update works."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramServerError
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import create_dispatcher
from db.connections import create_pool
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Settings
from tests.bot.conftest import MockedSession, People, Person, texts_of
from tests.conftest import Clock, en, join, new_phone


class DatabaseRelay:
    """A TCP relay in front of the test database: `cut` it for an outage, then `restore` it."""

    def __init__(self, database_url: str) -> None:
        self.target = make_url(database_url)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        relayed = self.target.set(host="127.0.0.1", port=self.port, query={})
        return relayed.render_as_string(hide_password=False)

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a database going away does."""
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        socket_dir = self.target.query.get("host")
        if isinstance(socket_dir, str):
            port = self.target.port or 5432
            upstream = await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        else:
            upstream = await asyncio.open_connection(self.target.host, self.target.port or 5432)
        for pipe in (self._pipe(reader, upstream[1]), self._pipe(upstream[0], writer)):
            task = asyncio.create_task(pipe)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def relayed_service(
    database_url: str, clean_engine: AsyncEngine, clock: Clock
) -> AsyncIterator[tuple[ReferralService, DatabaseRelay]]:
    """The service over a relay to the test database, which a test can cut and restore."""
    relay = DatabaseRelay(database_url)
    await relay.restore()
    pool = await create_pool(relay.url)
    service = ReferralService(
        pool, signing_key=b"test-secret", delivery=ChatDelivery(delay=0), clock=clock
    )
    try:
        yield service, relay
    finally:
        await pool.close()
        await relay.cut()


async def test_a_database_outage_gets_an_apology_and_the_bot_recovers(
    relayed_service: tuple[ReferralService, DatabaseRelay],
    bot: Bot,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, relay = relayed_service
    dispatcher = create_dispatcher(service=service, settings=settings)
    member = Person(dispatcher, bot, 77_001, new_phone())
    joined = await join(service, member.phone, telegram_id=member.id)
    assert joined.invite_code in texts_of(await member.send("/code"))[0]

    await relay.cut()
    with caplog.at_level(logging.INFO):
        during = [texts_of(await member.send("/code")) for _ in range(2)]
        also = texts_of(await member.send("/help"))  # needs no database: answered as usual
    await relay.restore()

    assert during == [[en("apology")]] * 2
    assert also == [en("help")]
    lines = [record for record in caplog.records if record.name.startswith("bot")]
    assert [record.levelno for record in lines] == [logging.ERROR] * 2
    assert all(record.exc_info is not None for record in lines)
    assert re.fullmatch(r"update \d+ failed", lines[0].getMessage())
    assert joined.invite_code in texts_of(await member.send("/code"))[0]


async def test_a_failing_handler_gets_an_apology_and_the_next_update_works(
    people: People, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(message: object) -> None:
        raise RuntimeError("a bug")

    dispatcher.message.register(broken, Command("broken"))
    someone = people()
    with caplog.at_level(logging.ERROR):
        assert texts_of(await someone.send("/broken")) == [en("apology")]
    [line] = caplog.records
    assert line.exc_info is not None and line.exc_info[0] is RuntimeError
    assert texts_of(await someone.send("/help")) == [en("help")]


async def test_a_user_who_blocked_the_bot_gets_no_apology(
    people: People, session: MockedSession, caplog: pytest.LogCaptureFixture
) -> None:
    someone = people()
    session.fail_next(TelegramForbiddenError(SendMessage(chat_id=0, text=""), "blocked"))
    with caplog.at_level(logging.INFO):
        calls = await someone.send("/help")
    assert len(calls) == 1
    assert [r.levelno for r in caplog.records if r.name.startswith("bot")] == [logging.WARNING]


async def test_when_telegram_fails_the_answer_and_the_apology_the_update_fails(
    people: People, session: MockedSession
) -> None:
    someone = people()
    for _ in range(2):
        session.fail_next(TelegramServerError(SendMessage(chat_id=0, text=""), "Bad Gateway"))
    with pytest.raises(TelegramServerError):  # a webhook answers 500: Telegram delivers it again
        await someone.send("/help")
    assert texts_of(await someone.send("/help")) == [en("help")]


async def test_a_short_flood_wait_is_waited_out(people: People, session: MockedSession) -> None:
    someone = people()
    session.fail_next(TelegramRetryAfter(SendMessage(chat_id=0, text=""), "Too Many Requests", 1))
    calls = await someone.send("/help")
    assert texts_of(calls) == [
        en("help"),
        en("help"),
    ]  # refused, then sent after a second
    assert isinstance(session.calls[-1].result, Message)
