"""The referral stages' job (jobs/referrals.py): on two instances at once, each due referral is
qualified once (one referral.qualified event each), and held ones end their hold."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.connections import create_pool
from db.events import event_session_settings
from db.service import ReferralService
from delivery import ChatDelivery
from jobs.referrals import ReferralStages
from settings import Qualify
from tests.conftest import Clock, join
from tests.jobs.conftest import until

DAY = 86400


@pytest.fixture
async def events_pool(clean_engine: AsyncEngine, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(
        database_url, server_settings=event_session_settings(1, include_phones=False)
    )
    yield pool
    await pool.close()


def instance(pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        qualify=Qualify.parse("in_chats:2d"),
        hold_days=1,
    )


async def test_two_instances_qualify_each_due_referral_once(
    events_pool: asyncpg.Pool, clock: Clock
) -> None:
    one, two = instance(events_pool, clock), instance(events_pool, clock)
    inviter = await join(one)
    members = [await join(one) for _ in range(40)]
    for member in members:
        await one.invitations.activate_invite(member.id, inviter.invite_code)
    clock.advance(2 * DAY)
    async with (
        ReferralStages(one.referrals, interval=0.01).running(),
        ReferralStages(two.referrals, interval=0.01).running(),
    ):

        async def all_counted() -> bool:
            profile = await one.members.profile(inviter.id)
            return profile is not None and profile.referral_count == len(members)

        await until(all_counted)
        clock.advance(DAY)

        async def holds_ended() -> bool:
            async with events_pool.acquire() as connection:
                return not await connection.fetchval(
                    "SELECT count(*) FROM referrals WHERE hold_until IS NOT NULL"
                )

        await until(holds_ended)
    async with events_pool.acquire() as connection:
        per_member = await connection.fetch(
            "SELECT member_id, count(*) AS n FROM outbox_events "
            "WHERE type = 'referral.qualified' GROUP BY member_id"
        )
    assert sorted(row["member_id"] for row in per_member) == sorted(m.id for m in members)
    assert {row["n"] for row in per_member} == {1}
