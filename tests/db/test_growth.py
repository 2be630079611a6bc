import asyncio
from datetime import timedelta

import asyncpg

from db.growth import milestone_progress
from db.results import InviteOutcome, Member
from db.service import ReferralService
from db.tables import SINGLE_ROW_REFERRALS
from tests.conftest import Clock, join


async def _invite(service: ReferralService, inviter: Member, count: int) -> list[Member]:
    members = [await join(service) for _ in range(count)]
    for member in members:
        activation = await service.invitations.activate_invite(member.id, inviter.invite_code)
        assert activation.outcome is InviteOutcome.ACTIVATED
    return members


async def test_the_activation_reaching_a_milestone_reports_it_once(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(11)]
    reached = []
    for member in members:
        activation = await service.invitations.activate_invite(member.id, inviter.invite_code)
        reached.append((activation.inviter_referrals, activation.milestone))
    assert [count for count, _ in reached] == list(range(1, 12))
    assert [(count, goal) for count, goal in reached if goal] == [(5, 5), (10, 10)]


async def test_twenty_activations_at_once_cross_a_milestone_once(
    service: ReferralService, pool: asyncpg.Pool
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(20)]
    activations = await asyncio.gather(
        *(service.invitations.activate_invite(member.id, inviter.invite_code) for member in members)
    )
    assert all(a.outcome is InviteOutcome.ACTIVATED for a in activations)
    assert sorted(a.milestone for a in activations if a.milestone) == [5, 10]
    assert sorted(a.inviter_referrals for a in activations) == list(range(1, 21))
    rows = await pool.fetch("SELECT milestone FROM milestones WHERE member_id = $1", inviter.id)
    assert sorted(row["milestone"] for row in rows) == [5, 10]


async def test_an_erased_referral_never_brings_a_milestone_again(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    members = await _invite(service, inviter, 5)
    assert await service.privacy.erase_member(members[-1].id)
    newcomer = await join(service)
    activation = await service.invitations.activate_invite(newcomer.id, inviter.invite_code)
    assert (activation.inviter_referrals, activation.milestone) == (6, None)


async def test_milestones_past_the_single_row_are_recorded_once(
    service: ReferralService, pool: asyncpg.Pool
) -> None:
    inviter = await join(service)
    goal = SINGLE_ROW_REFERRALS + 6
    counted = ReferralService(
        service.connections,
        signing_key=b"test-secret",
        delivery=service.delivery,
        milestones=[goal],
        clock=service.now,
    )
    members = [await join(service) for _ in range(goal + 4)]
    activations = await asyncio.gather(
        *(counted.invitations.activate_invite(member.id, inviter.invite_code) for member in members)
    )
    assert [a.milestone for a in activations if a.milestone] == [goal]
    rows = await pool.fetch("SELECT milestone FROM milestones WHERE member_id = $1", inviter.id)
    assert [row["milestone"] for row in rows] == [goal]
    profile = await service.members.profile(inviter.id)
    assert profile is not None and profile.referral_count == goal + 4


def test_progress_names_the_milestone_reached_and_the_next() -> None:
    goals = (5, 10, 25)
    assert milestone_progress(goals, 0) == milestone_progress(goals, 0)
    assert (milestone_progress(goals, 0).reached, milestone_progress(goals, 0).next) == (None, 5)
    assert (milestone_progress(goals, 7).reached, milestone_progress(goals, 7).next) == (5, 10)
    assert (milestone_progress(goals, 30).reached, milestone_progress(goals, 30).next) == (25, None)


async def test_leaderboard_orders_by_count_then_who_reached_it_first(
    service: ReferralService, clock: Clock
) -> None:
    first, second, third = [await join(service) for _ in range(3)]
    await _invite(service, second, 2)
    clock.advance(1)
    await _invite(service, first, 2)  # as many, reached later
    clock.advance(1)
    await _invite(service, third, 3)
    asker = await join(service)
    boards = await service.growth.leaderboards(first.id)
    for board in (boards.all_time, boards.this_month):
        assert [(leader.member_id, leader.referrals) for leader in board.leaders] == [
            (third.id, 3),
            (second.id, 2),
            (first.id, 2),
        ]
        assert [leader.place for leader in board.leaders] == [1, 2, 3]
        assert all(leader.phone and "***" in leader.phone for leader in board.leaders)
        assert (board.place, board.referrals) == (3, 2)
    none_yet = await service.growth.leaderboards(asker.id)
    assert (none_yet.all_time.place, none_yet.all_time.referrals) == (None, 0)


async def test_leaderboard_of_the_month_counts_this_month_only(
    service: ReferralService, clock: Clock
) -> None:
    old, recent = await join(service), await join(service)
    await _invite(service, old, 3)
    clock.advance(timedelta(days=40).total_seconds())
    await _invite(service, recent, 1)
    boards = await service.growth.leaderboards(old.id)
    assert [leader.member_id for leader in boards.all_time.leaders] == [old.id, recent.id]
    assert [leader.member_id for leader in boards.this_month.leaders] == [recent.id]
    assert boards.this_month.place is None and boards.all_time.place == 1


async def test_leaderboard_ranks_members_past_the_single_row_among_the_others(
    service: ReferralService,
) -> None:
    big, small = await join(service), await join(service)
    members = [await join(service) for _ in range(SINGLE_ROW_REFERRALS + 20)]
    await asyncio.gather(
        *(service.invitations.activate_invite(m.id, big.invite_code) for m in members)
    )
    await _invite(service, small, 3)
    boards = await service.growth.leaderboards(small.id, limit=1)
    assert [(leader.member_id, leader.referrals) for leader in boards.all_time.leaders] == [
        (big.id, SINGLE_ROW_REFERRALS + 20)
    ]
    assert boards.all_time.place == 2
    assert (await service.growth.leaderboards(big.id)).this_month.place == 1


async def test_an_erased_member_leaves_the_leaderboard(service: ReferralService) -> None:
    gone, stays = await join(service), await join(service)
    await _invite(service, gone, 2)
    await _invite(service, stays, 1)
    assert await service.privacy.erase_member(gone.id)
    boards = await service.growth.leaderboards(stays.id)
    assert [leader.member_id for leader in boards.all_time.leaders] == [stays.id]
    assert boards.all_time.place == 1 and boards.this_month.place == 1


async def test_the_qr_file_is_kept_per_link(service: ReferralService) -> None:
    member = await join(service)
    assert await service.growth.qr_file(member.id, "https://t.me/a?start=X") is None
    await service.growth.keep_qr_file(member.id, "https://t.me/a?start=X", "file-1")
    assert await service.growth.qr_file(member.id, "https://t.me/a?start=X") == "file-1"
    assert await service.growth.qr_file(member.id, "https://t.me/b?start=X") is None
    await service.growth.keep_qr_file(member.id, "https://t.me/b?start=X", "file-2")
    assert await service.growth.qr_file(member.id, "https://t.me/b?start=X") == "file-2"


async def test_every_place_matches_the_order_of_the_leaderboard_across_days(
    service: ReferralService, clock: Clock
) -> None:
    inviters = [await join(service) for _ in range(12)]
    plan = [3, 1, 2, 2, 1, 3, 1, 2, 1, 1, 2, 3, 2, 1, 1]  # whose turn, round after round
    for turn, index in enumerate(plan * 2):
        inviter = inviters[(index * 5 + turn) % len(inviters)]
        await _invite(service, inviter, 1)
        clock.advance(timedelta(hours=7).total_seconds())  # several UTC days
    gone = inviters.pop()
    await service.privacy.erase_member(gone.id)
    boards = await service.growth.leaderboards(inviters[0].id, limit=len(inviters))
    order = [leader.member_id for leader in boards.all_time.leaders]
    for inviter in inviters:
        board = (await service.growth.leaderboards(inviter.id)).all_time
        if inviter.id in order:
            assert board.place == order.index(inviter.id) + 1
        else:
            assert board.place is None
