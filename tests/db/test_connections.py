"""The service's connections (db/connections.py): outages noticed and logged once each, lost races
retried, a hung database given up on in time."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from db.connections import Database, DatabaseUnavailable, Outages
from db.service import ReferralService
from tests.conftest import join


class Unreachable:
    """Connections to a database that refuses them."""

    def __init__(self) -> None:
        self.expired = 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        raise ConnectionRefusedError("connection refused")
        yield  # an async generator, never reached

    async def expire_connections(self) -> None:
        self.expired += 1


class Hung(Unreachable):
    """Connections that never come."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield


def test_an_outage_is_logged_when_it_begins_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outages = Outages()
    began = outages.epoch
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # requests that overlapped, all failing
            error = outages.failed(OSError("gone"), began)
            assert isinstance(error, DatabaseUnavailable) and str(error) == "OSError: gone"
        outages.answered(began)  # a request begun before the outage tells nothing new
        assert outages.ongoing
        outages.answered(outages.epoch)
    assert not outages.ongoing
    assert [record.getMessage() for record in caplog.records] == [
        "database unavailable: OSError: gone",
        "database is back",
    ]


async def test_an_unreachable_database_is_unavailable_and_its_connections_replaced() -> None:
    connections = Unreachable()
    database = Database(connections)
    with pytest.raises(DatabaseUnavailable, match="ConnectionRefusedError"):
        async with database.connection():
            pass
    assert connections.expired == 1 and database.outages.ongoing


async def test_ping_gives_up_on_a_hung_database_in_time() -> None:
    database = Database(Hung())
    with pytest.raises(DatabaseUnavailable, match="TimeoutError"):
        await database.ping(timeout=0.05)


async def test_a_lost_race_is_run_again(service: ReferralService) -> None:
    attempts: list[int] = []

    async def work(connection: asyncpg.Connection) -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        value: int = await connection.fetchval("SELECT 7")
        return value

    assert await service.database.retrying(work) == 7
    assert attempts == [1, 2, 3]


async def test_other_errors_are_not_run_again(service: ReferralService) -> None:
    attempts: list[int] = []

    async def work(connection: asyncpg.Connection) -> None:
        attempts.append(1)
        await connection.execute("SELECT 1 / 0")

    with pytest.raises(asyncpg.DivisionByZeroError):
        await service.database.retrying(work)
    assert attempts == [1]


async def test_the_work_of_a_transaction_commits_together_or_not_at_all(
    service: ReferralService,
) -> None:
    async def half_done(connection: asyncpg.Connection) -> None:
        await connection.execute("UPDATE members SET language = 'en'")
        await connection.execute("SELECT 1 / 0")

    member = await join(service)
    assert member.language is None
    with pytest.raises(asyncpg.DivisionByZeroError):
        await service.database.retrying(half_done)
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.member.language is None
