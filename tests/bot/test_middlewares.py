"""Flood control, the member lookup, and what a routine update costs."""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Dispatcher
from asyncpg.connection import LoggedQuery

from bot.middlewares.flood import FloodControl, FloodVerdict
from db.connections import Connections
from db.service import ReferralService
from settings import Settings
from tests.bot.conftest import People, Ticks, flood_control, texts_of
from tests.conftest import en, join


async def test_a_flooding_user_is_warned_once_and_others_are_unaffected(
    people: People, dispatcher: Dispatcher, settings: Settings
) -> None:
    flooder, bystander = people(), people()
    clock = Ticks()
    flood_control(dispatcher).clock = clock

    burst = settings.flood_burst
    answers = [texts_of(await flooder.send("/help")) for _ in range(burst + 4)]
    assert answers == [[en("help")]] * burst + [[en("flood")]] + [[]] * 3
    assert texts_of(await bystander.send("/help")) == [en("help")]

    clock.tick(5)
    assert texts_of(await flooder.send("/help")) == [en("help")]


def test_flood_control_remembers_a_bounded_number_of_senders() -> None:
    clock = Ticks()
    control = FloodControl(burst=1, max_users=100, clock=clock)
    for user_id in range(10_000):
        assert control.check(user_id) is FloodVerdict.ADMIT
    assert len(control) == 100
    assert control.check(9_999) is FloodVerdict.WARN
    assert control.check(9_999) is FloodVerdict.IGNORE
    assert control.check(0) is FloodVerdict.ADMIT  # long forgotten: starts afresh


class RecordingConnections:
    """The service's connections, each logging the statements run on it into `seen`."""

    def __init__(self, inner: Connections) -> None:
        self.inner = inner
        self.seen: list[str] = []

    def record(self, query: LoggedQuery) -> None:
        self.seen.append(query.query)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.inner.acquire() as connection:
            connection.add_query_logger(self.record)
            try:
                yield connection
            finally:
                connection.remove_query_logger(self.record)

    async def expire_connections(self) -> None:
        await self.inner.expire_connections()


@pytest.fixture
def statements(service: ReferralService) -> Iterator[list[str]]:
    """The SQL statements the service runs while the test goes on."""
    recording = RecordingConnections(service.connections)
    service.database.connections = recording
    yield recording.seen
    service.database.connections = recording.inner


async def test_the_member_is_looked_up_once_and_only_when_needed(
    people: People, service: ReferralService, statements: list[str]
) -> None:
    member = people()
    await join(service, member.phone, telegram_id=member.id)
    statements.clear()

    await member.send("/help")  # for the language the member chose, if they did
    assert len(statements) == 1
    await member.send("/code")
    assert len(statements) == 2


async def test_routine_updates_log_nothing_at_info(
    people: People, service: ReferralService, caplog: pytest.LogCaptureFixture
) -> None:
    member = people()
    await join(service, member.phone, telegram_id=member.id)
    with caplog.at_level(logging.INFO):
        for text in ("/help", "/code", "/refs", "/me", "hello"):
            await member.send(text)
    assert [record for record in caplog.records if record.name != "aiogram.event"] == []
