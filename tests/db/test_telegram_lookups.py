"""Members by Telegram account looked up in crowds: one statement for the lookups of one moment."""

import asyncio
from typing import Any

import asyncpg
import pytest

from db.service import MEMBERS_BY_TELEGRAM, ReferralService, TelegramLookups
from tests.conftest import join


async def test_lookups_of_one_moment_share_one_statement(service: ReferralService) -> None:
    first = await join(service, telegram_id=501)
    second = await join(service, telegram_id=502)
    statements: list[list[int]] = []
    fetch = service._fetch

    async def counted(statement: str, *values: Any) -> list[asyncpg.Record]:
        statements.append(list(values[0]))
        return await fetch(statement, *values)

    service._telegram_lookups = TelegramLookups(counted)
    found = await asyncio.gather(
        *(service.member_by_telegram_batched(telegram_id) for telegram_id in (501, 502, 503, 501))
    )
    assert found == [first, second, None, first]
    assert statements == [[501, 502, 503]]
    assert await service.member_by_telegram_batched(502) == second  # a lone one, later
    assert len(statements) == 2


async def test_a_large_crowd_is_split_into_batches(service: ReferralService) -> None:
    batches: list[int] = []

    async def run(statement: str, telegram_ids: list[int]) -> list[asyncpg.Record]:
        assert statement == MEMBERS_BY_TELEGRAM
        batches.append(len(telegram_ids))
        return []

    lookups = TelegramLookups(run)
    found = await asyncio.gather(*(lookups.member(telegram_id) for telegram_id in range(1200)))
    assert found == [None] * 1200
    assert batches == [500, 500, 200]


async def test_a_failed_statement_fails_every_lookup_waiting_on_it() -> None:
    async def broken(statement: str, telegram_ids: list[int]) -> list[asyncpg.Record]:
        raise ConnectionResetError("the database went away")

    lookups = TelegramLookups(broken)
    results = await asyncio.gather(lookups.member(1), lookups.member(2), return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionResetError] * 2
    with pytest.raises(ConnectionResetError):  # and the next moment tries again
        await lookups.member(3)


async def test_a_caller_who_gives_up_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def slow(statement: str, telegram_ids: list[int]) -> list[asyncpg.Record]:
        await release.wait()
        return []

    lookups = TelegramLookups(slow)
    impatient = asyncio.create_task(lookups.member(1))
    patient = asyncio.create_task(lookups.member(2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient is None
    assert impatient.cancelled()
