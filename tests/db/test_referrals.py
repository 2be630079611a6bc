"""Referral stages (db/referrals.py, db/sql/referrals.sql): pending until QUALIFY's rule
qualifies them, counted once qualified, reversible while pending or held; each change once,
under concurrency too, with its event; counts always equal the qualified referrals."""

import asyncio
import random
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.events import event_session_settings
from db.results import Member, StageOutcome
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Qualify
from tests.conftest import Clock, join

DAY = 86400
OPERATOR = 4242


def staged(
    pool: asyncpg.Pool,
    clock: Clock,
    qualify: str,
    *,
    hold_days: int = 0,
    milestones: tuple[int, ...] = (5, 10, 25, 50, 100),
) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        qualify=Qualify.parse(qualify),
        hold_days=hold_days,
        milestones=milestones,
    )


@pytest.fixture
def manual(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    return staged(pool, clock, "manual")


async def invite(service: ReferralService, inviter: Member) -> Member:
    member = await join(service)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    return member


async def count(service: ReferralService, member: Member) -> int:
    profile = await service.members.profile(member.id)
    assert profile is not None
    return profile.referral_count


async def stage(service: ReferralService, member: Member) -> str:
    async with service.connections.acquire() as connection:
        value: str = await connection.fetchval(
            "SELECT stage FROM referrals WHERE invitee_id = $1", member.id
        )
    return value


async def invariant(service: ReferralService) -> None:
    """Every count (all time, months, /stats) equals the qualified referrals; every referral one
    stage; the rank buckets agree with the shard-0 counts."""
    async with service.connections.acquire() as connection:
        wrong = await connection.fetch(
            """
            SELECT coalesce(q.inviter_id, c.member_id) AS member_id, q.n, c.n AS counted
            FROM (SELECT inviter_id, count(*) AS n FROM referrals WHERE stage = 'qualified'
                  GROUP BY inviter_id) AS q
            FULL JOIN (SELECT member_id, sum(referrals) AS n FROM referral_counts
                       GROUP BY member_id) AS c ON c.member_id = q.inviter_id
            WHERE coalesce(q.n, 0) <> coalesce(c.n, 0)
            """
        )
        assert wrong == []
        months = await connection.fetch(
            """
            SELECT q.inviter_id FROM (
                SELECT inviter_id,
                       date_trunc('month', qualified_at AT TIME ZONE 'UTC')::date AS month,
                       count(*) AS n
                FROM referrals WHERE stage = 'qualified' GROUP BY 1, 2
            ) AS q FULL JOIN (
                SELECT member_id, month, sum(referrals) AS n FROM referral_month_counts
                GROUP BY 1, 2
            ) AS c ON c.member_id = q.inviter_id AND c.month = q.month
            WHERE coalesce(q.n, 0) <> coalesce(c.n, 0)
            """
        )
        assert months == []
        invited = await connection.fetchval(
            """
            SELECT (SELECT coalesce(sum(invited), 0) FROM member_totals)
                 - (SELECT count(*) FROM referrals AS r JOIN members AS m ON m.id = r.invitee_id
                    WHERE r.stage = 'qualified' AND m.erased_at IS NULL)
            """
        )
        assert invited == 0
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM referral_counts WHERE shard = 0 AND referrals <= 0"
            )
            == 0
        )
        buckets = await connection.fetch(
            """
            SELECT b.referrals, b.n, coalesce(c.n, 0) AS counted FROM (
                SELECT referrals, sum(members) AS n FROM referral_rank_buckets
                WHERE board = '1970-01-01' AND day = 'infinity' GROUP BY referrals
            ) AS b LEFT JOIN (
                SELECT referrals, count(*) AS n FROM referral_counts
                WHERE shard = 0 AND reached_at IS NOT NULL GROUP BY referrals
            ) AS c ON c.referrals = b.referrals
            WHERE b.n <> coalesce(c.n, 0)
            """
        )
        assert buckets == []


async def test_with_the_default_a_referral_counts_at_activation(service: ReferralService) -> None:
    inviter = await join(service)
    member = await invite(service, inviter)
    assert await stage(service, member) == "qualified"
    assert await count(service, inviter) == 1
    change = await service.referrals.reverse(member.id, reason="left")
    assert change.outcome is StageOutcome.FINAL  # no hold: final at once
    await invariant(service)


async def test_pending_counts_once_qualified(manual: ReferralService) -> None:
    inviter = await join(manual)
    member = await invite(manual, inviter)
    assert await stage(manual, member) == "pending"
    assert await count(manual, inviter) == 0
    page = await manual.invitations.referrals_page(inviter.id)
    assert [(r.stage, r.waits_for) for r in page.referrals] == [("pending", "manual")]
    change = await manual.referrals.qualify(member.id, reason="approved", operator=OPERATOR)
    assert change.outcome is StageOutcome.QUALIFIED
    assert change.inviter_id == inviter.id and change.inviter_referrals == 1
    assert await count(manual, inviter) == 1
    again = await manual.referrals.qualify(member.id, reason="approved", operator=OPERATOR)
    assert again.outcome is StageOutcome.QUALIFIED_ALREADY
    assert await count(manual, inviter) == 1
    await invariant(manual)


async def test_a_reversed_referral_never_qualifies(manual: ReferralService) -> None:
    inviter = await join(manual)
    member = await invite(manual, inviter)
    reversed_ = await manual.referrals.reverse(member.id, reason="rejected", operator=OPERATOR)
    assert reversed_.outcome is StageOutcome.REVERSED
    change = await manual.referrals.qualify(member.id, reason="approved")
    assert change.outcome is StageOutcome.REVERSED_ALREADY
    again = await manual.referrals.reverse(member.id, reason="rejected")
    assert again.outcome is StageOutcome.REVERSED_ALREADY
    assert await count(manual, inviter) == 0
    assert (await manual.invitations.referrals_page(inviter.id)).referrals == []
    unknown = await manual.referrals.qualify(inviter.id, reason="approved")
    assert unknown.outcome is StageOutcome.NOT_FOUND


async def test_a_hold_keeps_it_reversible_until_it_ends(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock
) -> None:
    service = staged(pool, clock, "activation", hold_days=3)
    inviter = await join(service)
    first, second = await invite(service, inviter), await invite(service, inviter)
    assert await count(service, inviter) == 2
    change = await service.referrals.reverse(first.id, reason="left")
    assert change.outcome is StageOutcome.REVERSED and change.inviter_referrals == 1
    clock.advance(3 * DAY)
    assert await service.referrals.run_due() == 1  # the hold of the second ended
    assert (await service.referrals.reverse(second.id, reason="left")).outcome is (
        StageOutcome.FINAL
    )
    by_operator = await service.referrals.reverse(second.id, reason="fraud", operator=OPERATOR)
    assert by_operator.outcome is StageOutcome.REVERSED
    assert await count(service, inviter) == 0
    await invariant(service)


async def test_in_chats_for_days_qualifies_by_time(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock
) -> None:
    service = staged(pool, clock, "in_chats:7d")
    inviter = await join(service)
    member = await invite(service, inviter)
    page = await service.invitations.referrals_page(inviter.id)
    assert page.referrals[0].due_at == clock.now + timedelta(days=7)
    clock.advance(7 * DAY - 1)
    assert await service.referrals.run_due() == 0
    clock.advance(1)
    assert await service.referrals.run_due() == 1
    assert await stage(service, member) == "qualified"
    assert await count(service, inviter) == 1


async def test_block_and_erasure_reverse_pending_ones(manual: ReferralService) -> None:
    inviter = await join(manual)
    first, second, third = [await invite(manual, inviter) for _ in range(3)]
    await manual.referrals.qualify(third.id, reason="approved")
    await manual.operators.block(first.id, operator=OPERATOR, reason="spam")
    assert await manual.privacy.erase_member(second.id)
    assert await manual.privacy.erase_member(third.id)  # qualified and final: still counts
    assert [await stage(manual, m) for m in (first, second, third)] == [
        "reversed",
        "reversed",
        "qualified",
    ]
    assert await count(manual, inviter) == 1
    await invariant(manual)


async def test_stage_changes_emit_events(
    clean_engine: AsyncEngine, database_url: str, clock: Clock
) -> None:
    from db.connections import create_pool

    pool = await create_pool(
        database_url, server_settings=event_session_settings(1, include_phones=False)
    )
    try:
        service = staged(pool, clock, "manual")
        inviter = await join(service)
        first, second = await invite(service, inviter), await invite(service, inviter)
        await service.referrals.qualify(first.id, reason="approved", operator=OPERATOR)
        await service.referrals.reverse(second.id, reason="rejected", operator=OPERATOR)
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT type, member_id FROM outbox_events WHERE type LIKE 'referral.%' "
                "AND type <> 'referral.activated' ORDER BY seq"
            )
        assert [(r["type"], r["member_id"]) for r in rows] == [
            ("referral.qualified", first.id),
            ("referral.reversed", second.id),
        ]
    finally:
        await pool.close()


async def test_a_qualification_racing_a_reversal_ends_one_way(manual: ReferralService) -> None:
    inviter = await join(manual)
    for _ in range(100):
        member = await invite(manual, inviter)
        qualified, reversed_ = await asyncio.gather(
            manual.referrals.qualify(member.id, reason="approved"),
            manual.referrals.reverse(member.id, reason="left"),
        )
        outcomes = {qualified.outcome, reversed_.outcome}
        assert outcomes in (
            {StageOutcome.QUALIFIED, StageOutcome.FINAL},
            {StageOutcome.REVERSED, StageOutcome.REVERSED_ALREADY},
        )
    await invariant(manual)


async def test_simultaneous_qualifications_cross_a_milestone_once(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock
) -> None:
    service = staged(pool, clock, "manual", milestones=(10,))
    inviter = await join(service)
    members = [await invite(service, inviter) for _ in range(20)]
    changes = await asyncio.gather(
        *(service.referrals.qualify(m.id, reason="approved") for m in members)
    )
    assert all(c.outcome is StageOutcome.QUALIFIED for c in changes)
    assert [c.milestone for c in changes].count(10) == 1
    assert await count(service, inviter) == 20
    await service.referrals.reverse(members[0].id, reason="fraud", operator=OPERATOR)
    async with service.connections.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM milestones") == 1  # stays reached
    await invariant(service)


async def test_two_job_instances_qualify_each_once(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock
) -> None:
    one, two = staged(pool, clock, "in_chats:1d"), staged(pool, clock, "in_chats:1d")
    inviter = await join(one)
    members = [await invite(one, inviter) for _ in range(60)]
    clock.advance(DAY)
    done = await asyncio.gather(one.referrals.run_due(), two.referrals.run_due())
    done += await asyncio.gather(one.referrals.run_due(), two.referrals.run_due())
    assert sum(done) == len(members)
    assert await count(one, inviter) == len(members)
    await invariant(one)


async def test_counts_agree_after_random_transitions(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock
) -> None:
    service = staged(pool, clock, "manual", hold_days=2)
    chance = random.Random(24)
    people = [await join(service) for _ in range(12)]
    invitees: list[Member] = []
    for _ in range(3000):
        roll = chance.random()
        if roll < 0.25:
            member = await join(service)
            await service.invitations.activate_invite(member.id, chance.choice(people).invite_code)
            invitees.append(member)
        elif not invitees:
            continue
        elif roll < 0.55:
            await service.referrals.qualify(chance.choice(invitees).id, reason="approved")
        elif roll < 0.75:
            operator = OPERATOR if chance.random() < 0.3 else None
            await service.referrals.reverse(
                chance.choice(invitees).id, reason="left", operator=operator
            )
        elif roll < 0.8:
            await service.operators.block(chance.choice(invitees).id, operator=OPERATOR)
        elif roll < 0.83:
            await service.privacy.erase_member(chance.choice(invitees).id)
        elif roll < 0.9:
            clock.advance(chance.choice([3600, DAY, 40 * DAY]))
            await service.referrals.run_due()
    await invariant(service)
