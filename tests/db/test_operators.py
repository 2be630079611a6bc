"""Operator functions of the service: figures kept by counters, the top inviters from the index,
lookup, blocking (outcomes, audit, races) and the CSV export."""

import asyncio
import csv
import logging
import random
from pathlib import Path

import asyncpg
import pytest

from db.operators import BLOCK, EXPORT_COLUMNS, EXPORT_LOCK, TOP_BATCH, Operators
from db.results import BlockOutcome, InviteOutcome, MemberQueryKind
from db.service import ReferralService
from db.tables import COUNT_SHARDS, SINGLE_ROW_REFERRALS
from tests.conftest import Clock, join, new_phone

OPERATOR = 5_000_000_001


async def fetchval(service: ReferralService, sql: str, *args: object) -> object:
    async with service.connections.acquire() as connection:
        return await connection.fetchval(sql, *args)


async def counters_match_the_members(service: ReferralService) -> None:
    """What the counters say is what counting the members says."""
    async with service.connections.acquire() as connection:
        kept = await connection.fetchrow(
            "SELECT coalesce(sum(members), 0) AS members, coalesce(sum(invited), 0) AS invited "
            "FROM member_totals"
        )
        counted = await connection.fetchrow(
            "SELECT count(*) AS members, count(inviter_id) AS invited FROM members "
            "WHERE erased_at IS NULL"
        )
        assert dict(kept) == dict(counted)
        days = await connection.fetch(
            "SELECT day, sum(joined) AS joined, sum(activated) AS activated FROM daily_counts "
            "GROUP BY day ORDER BY day"
        )
        activations = await connection.fetchval("SELECT count(inviter_id) FROM members")
        referrals = await connection.fetchval(
            "SELECT coalesce(sum(referrals), 0) FROM referral_counts"
        )
    assert sum(day["activated"] for day in days) == activations == referrals


@pytest.fixture
def operators(service: ReferralService) -> Operators:
    return service.operators


async def test_the_figures_follow_joins_activations_erasures_and_blocks(
    service: ReferralService, operators: Operators, clock: Clock
) -> None:
    clock.advance(-40 * 86400)
    old = await join(service)  # 40 days ago: a member, but in none of the windows
    clock.advance(30 * 86400)
    earlier = [await join(service) for _ in range(2)]  # 10 days ago
    clock.advance(7 * 86400)
    recent = await join(service)  # 3 days ago
    clock.advance(3 * 86400)
    today = [await join(service) for _ in range(3)]
    for member in [*earlier, recent, *today[:2]]:
        await service.invitations.activate_invite(member.id, old.invite_code)
    await service.invitations.activate_invite(today[2].id, recent.invite_code)
    await service.privacy.erase_member(today[1].id)  # one member and one invited fewer
    await operators.block(recent.id, operator=OPERATOR)

    stats = await operators.stats(operator=OPERATOR)
    assert (stats.members, stats.invited, stats.blocked) == (6, 5, 1)
    assert stats.invited_share == pytest.approx(5 / 6)
    assert (stats.joined_today, stats.joined_7_days, stats.joined_30_days) == (3, 4, 6)
    assert len(stats.days) == 30 and stats.days[-1].day == clock.now.date()
    assert [(d.joined, d.activated) for d in stats.days if d.joined or d.activated] == [
        (2, 0),  # 10 days ago
        (1, 0),  # 3 days ago
        (3, 6),  # today: every activation was made today
    ]
    assert [(i.member_id, i.referrals) for i in stats.top_inviters] == [(old.id, 5), (recent.id, 1)]
    assert stats.top_inviters[0].phone == "+7 999 ***-**-" + old.phone[-2:]
    await counters_match_the_members(service)


async def test_simultaneous_joins_on_a_new_day_are_each_counted_once(
    service: ReferralService, operators: Operators, clock: Clock
) -> None:
    """The first joins of a day race to create its counter rows: the losers are retried."""
    clock.advance(3 * 86400)  # a day without counter rows yet
    before = await fetchval(service, "SELECT coalesce(sum(members), 0) FROM member_totals")
    phones = [new_phone() for _ in range(20)]
    codes = [(await service.members.request_code(phone)).code or "" for phone in phones]
    verified = await asyncio.gather(
        *(
            service.members.verify_code(phone, code)
            for phone, code in zip(phones, codes, strict=True)
        )
    )
    assert all(verification.created for verification in verified)
    after = await fetchval(service, "SELECT sum(members) FROM member_totals")
    assert after == before + 20
    stats = await operators.stats(operator=OPERATOR)
    assert stats.joined_today == 20
    await counters_match_the_members(service)


async def test_the_top_inviters_are_the_largest_totals_whatever_the_rows(
    service: ReferralService, operators: Operators
) -> None:
    """Counts laid out as activations lay them out (one row below SINGLE_ROW_REFERRALS, then up
    to COUNT_SHARDS), many more rows than a batch: the index scan finds what summing finds."""
    members = [await join(service) for _ in range(60)]
    generator = random.Random(7)
    rows = []
    for member in members:
        total = generator.choice([0, 1, 2, 3, 5, 40, 63, 64, 65, 200, 1000, 1500])
        first = min(total, SINGLE_ROW_REFERRALS)
        rest = total - first
        if first:
            rows.append((member.id, 0, first))
        for shard in range(1, COUNT_SHARDS):
            share = rest // (COUNT_SHARDS - 1) + (1 if shard <= rest % (COUNT_SHARDS - 1) else 0)
            if share:
                rows.append((member.id, shard, share))
    assert len(rows) > 3 * TOP_BATCH
    async with service.connections.acquire() as connection:
        await connection.executemany(
            "INSERT INTO referral_counts (member_id, shard, referrals) VALUES ($1, $2, $3)", rows
        )
        expected = await connection.fetch(
            "SELECT member_id, sum(referrals) AS total FROM referral_counts GROUP BY member_id "
            "ORDER BY total DESC, member_id LIMIT 10"
        )
        queries: list[str] = []
        connection.add_query_logger(lambda query: queries.append(query.query))
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            top = await operators._top_inviters(connection, 10)
    assert top == [(row["member_id"], row["total"]) for row in expected]
    assert sum("FROM referral_counts" in query for query in queries) < 8  # not the whole table


async def test_counts_stay_in_one_row_until_the_threshold(service: ReferralService) -> None:
    inviter = await join(service)
    for _ in range(SINGLE_ROW_REFERRALS + 20):
        await service.invitations.activate_invite((await join(service)).id, inviter.invite_code)
    async with service.connections.acquire() as connection:
        first = await connection.fetchval(
            "SELECT referrals FROM referral_counts WHERE member_id = $1 AND shard = 0", inviter.id
        )
        total = await connection.fetchval(
            "SELECT sum(referrals) FROM referral_counts WHERE member_id = $1", inviter.id
        )
    assert first >= SINGLE_ROW_REFERRALS and total == SINGLE_ROW_REFERRALS + 20
    profile = await service.members.profile(inviter.id)
    assert profile is not None and profile.referral_count == SINGLE_ROW_REFERRALS + 20


async def test_find_by_phone_code_and_telegram_id(
    service: ReferralService, operators: Operators
) -> None:
    phone = new_phone()
    inviter = await join(service)
    member = await join(service, phone, telegram_id=7_100_000_001)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    spaced = f"8 {phone[2:5]} {phone[5:8]}-{phone[8:10]}-{phone[10:]}"
    for query in (phone, spaced, member.invite_code.lower(), " 7100000001 "):
        found = await operators.find_members(query, operator=OPERATOR)
        assert [card.id for card in found.members] == [member.id], query
    [card] = (await operators.find_members(phone, operator=OPERATOR)).members
    assert card.phone == phone and card.inviter_code == inviter.invite_code
    assert card.telegram_id == 7_100_000_001 and card.status == "active"
    [card] = (await operators.find_members(inviter.invite_code, operator=OPERATOR)).members
    assert card.referrals == 1


async def test_find_answers_none_bad_input_and_several(
    service: ReferralService, operators: Operators
) -> None:
    nobody = await operators.find_members("+7 999 000-00-00", operator=OPERATOR)
    assert nobody.members == [] and nobody.kinds == (MemberQueryKind.PHONE,)
    bad = await operators.find_members("hello there", operator=OPERATOR)
    assert bad.kinds == () and bad.members == []
    # A number that is one member's phone and another's Telegram id.
    phone = new_phone()
    first = await join(service, phone)
    second = await join(service, telegram_id=int(phone[1:]))
    both = await operators.find_members(phone[1:], operator=OPERATOR)
    assert [card.id for card in both.members] == [first.id, second.id]
    assert set(both.kinds) == {MemberQueryKind.PHONE, MemberQueryKind.TELEGRAM_ID}


async def test_erased_members_are_not_found(service: ReferralService, operators: Operators) -> None:
    member = await join(service, telegram_id=7_100_000_002)
    await service.privacy.erase_member(member.id)
    assert (await operators.find_members("7100000002", operator=OPERATOR)).members == []
    assert await operators.member_card(member.id, operator=OPERATOR) is None
    assert (await operators.block(member.id, operator=OPERATOR)).outcome is BlockOutcome.NOT_FOUND


async def test_blocking_refuses_both_ways_keeps_relations_and_unblocking_restores(
    service: ReferralService, operators: Operators, caplog: pytest.LogCaptureFixture
) -> None:
    top, blocked = await join(service), await join(service)
    referral, newcomer = await join(service), await join(service)
    await service.invitations.activate_invite(blocked.id, top.invite_code)
    await service.invitations.activate_invite(referral.id, blocked.invite_code)

    with caplog.at_level(logging.INFO):
        change = await operators.block(blocked.id, operator=OPERATOR, reason='spam, "bots"')
    assert change.outcome is BlockOutcome.DONE and change.card is not None
    assert change.card.status == "blocked" and change.card.block_reason == 'spam, "bots"'
    assert change.card.blocked_by == OPERATOR
    assert f"operator {OPERATOR} blocked member {blocked.id}" in caplog.text
    assert blocked.phone[1:] not in caplog.text

    suspended = await service.invitations.activate_invite(newcomer.id, blocked.invite_code)
    assert suspended.outcome is InviteOutcome.CODE_SUSPENDED
    assert (
        await service.invitations.activate_invite(blocked.id, newcomer.invite_code)
    ).outcome is (InviteOutcome.MEMBER_BLOCKED)
    again = await operators.block(blocked.id, operator=OPERATOR)
    assert again.outcome is BlockOutcome.UNCHANGED
    profile = await service.members.profile(
        blocked.id
    )  # who they invited and who invited them stay
    assert profile is not None and profile.referral_count == 1 and profile.inviter_code
    found = await service.members.member_by_invite_code(blocked.invite_code)
    assert found is not None and found.blocked

    unblocked = await operators.unblock(blocked.id, operator=OPERATOR + 1)
    assert unblocked.outcome is BlockOutcome.DONE and unblocked.card is not None
    assert unblocked.card.status == "active" and unblocked.card.block_reason is None
    assert (await operators.unblock(blocked.id, operator=OPERATOR)).outcome is (
        BlockOutcome.UNCHANGED
    )
    activation = await service.invitations.activate_invite(newcomer.id, blocked.invite_code)
    assert activation.outcome is InviteOutcome.ACTIVATED

    async with service.connections.acquire() as connection:
        audit = await connection.fetch(
            "SELECT member_id, operator_id, action, reason, at FROM member_blocks ORDER BY id"
        )
    assert [(a["member_id"], a["operator_id"], a["action"], a["reason"]) for a in audit] == [
        (blocked.id, OPERATOR, "block", 'spam, "bots"'),
        (blocked.id, OPERATOR + 1, "unblock", None),
    ]
    assert all(a["at"] is not None for a in audit)
    assert (await operators.stats(operator=OPERATOR)).blocked == 0
    await counters_match_the_members(service)


async def test_a_block_holding_its_lock_makes_an_activation_of_the_code_wait_then_refuse(
    service: ReferralService, database_url: str
) -> None:
    """The activation reads the owner again under a lock that the block's FOR UPDATE holds: it
    waits for the block's transaction and then sees it (committed) or not (rolled back)."""
    for commit in (True, False):
        owner, newcomer = await join(service), await join(service)
        blocker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.fetchrow(BLOCK, owner.id, OPERATOR, service.now(), None)
            activation = asyncio.create_task(
                service.invitations.activate_invite(newcomer.id, owner.invite_code)
            )
            await asyncio.sleep(0.3)
            assert not activation.done(), "the activation did not wait for the block"
            await (transaction.commit() if commit else transaction.rollback())
            outcome = (await activation).outcome
        finally:
            await blocker.close()
        expected = InviteOutcome.CODE_SUSPENDED if commit else InviteOutcome.ACTIVATED
        assert outcome is expected


@pytest.mark.parametrize("run", range(10))
async def test_a_block_racing_activations_of_the_members_code(
    service: ReferralService, operators: Operators, run: int
) -> None:
    owner = await join(service)
    newcomers = [await join(service) for _ in range(4)]
    results = await asyncio.gather(
        *(service.invitations.activate_invite(n.id, owner.invite_code) for n in newcomers[:2]),
        operators.block(owner.id, operator=OPERATOR),
        *(service.invitations.activate_invite(n.id, owner.invite_code) for n in newcomers[2:]),
    )
    activations = [results[0], results[1], results[3], results[4]]
    async with service.connections.acquire() as connection:
        blocked_at = await connection.fetchval(
            "SELECT blocked_at FROM members WHERE id = $1", owner.id
        )
        rows = await connection.fetch(
            "SELECT id, xmin::text::bigint AS tx FROM members WHERE inviter_id = $1", owner.id
        )
    assert blocked_at is not None
    done = {a.code for a in activations}  # every one ended one way or the other
    assert done == {owner.invite_code}
    recorded = {row["id"] for row in rows}
    for newcomer, activation in zip(newcomers, activations, strict=True):
        if activation.outcome is InviteOutcome.ACTIVATED:
            assert newcomer.id in recorded  # completed (before the block)
        else:
            assert activation.outcome is InviteOutcome.CODE_SUSPENDED
            assert newcomer.id not in recorded  # refused, and nothing of it kept
    profile = await service.members.profile(owner.id)
    assert profile is not None and profile.referral_count == len(recorded)
    await counters_match_the_members(service)


@pytest.mark.parametrize("run", range(5))
async def test_a_block_racing_the_members_own_activation(
    service: ReferralService, operators: Operators, run: int
) -> None:
    inviter, member = await join(service), await join(service)
    activation, change = await asyncio.gather(
        service.invitations.activate_invite(member.id, inviter.invite_code),
        operators.block(member.id, operator=OPERATOR),
    )
    assert change.outcome is BlockOutcome.DONE
    profile = await service.members.profile(member.id)
    assert profile is not None
    if activation.outcome is InviteOutcome.ACTIVATED:
        assert profile.member.inviter_id == inviter.id
    else:
        assert activation.outcome is InviteOutcome.MEMBER_BLOCKED
        assert profile.member.inviter_id is None
    await counters_match_the_members(service)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.reader(source))


async def test_export_writes_every_member_with_a_header_and_quotes(
    service: ReferralService, operators: Operators, tmp_path: Path
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(5)]
    for member in members[:3]:
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    await operators.block(members[0].id, operator=OPERATOR)
    await service.privacy.erase_member(members[4].id)
    async with service.connections.acquire() as connection:  # a value that needs quoting
        await connection.execute(
            "UPDATE members SET language = $2 WHERE id = $1", members[1].id, 'x,"y'
        )
    path = tmp_path / "members.csv"
    export = await operators.export_members(path, operator=OPERATOR)
    assert not export.busy and export.rows == 5
    header, *rows = read_csv(path)
    assert header == list(EXPORT_COLUMNS)
    assert len(rows) == export.rows == (await operators.stats(operator=OPERATOR)).members
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert members[4].id not in by_id  # erased: not a member any more
    first = by_id[inviter.id]
    assert first["phone"] == inviter.phone and first["referrals"] == "3"
    assert first["inviter_code"] == "" and first["status"] == "active"
    assert first["joined_at"].endswith("Z") and "T" in first["joined_at"]
    assert by_id[members[0].id]["status"] == "blocked"
    assert by_id[members[0].id]["inviter_code"] == inviter.invite_code
    assert by_id[members[1].id]["language"] == 'x,"y'
    assert 'x,""y' in path.read_text()  # quoted as CSV quotes


async def test_a_second_export_while_one_runs_is_busy(
    service: ReferralService, operators: Operators, tmp_path: Path
) -> None:
    await join(service)
    async with service.connections.acquire() as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock($1)", EXPORT_LOCK)
        export = await operators.export_members(tmp_path / "second.csv", operator=OPERATOR)
    assert export.busy and not (tmp_path / "second.csv").exists()
    chunks: list[bytes] = []

    async def collect(chunk: bytes) -> None:
        chunks.append(chunk)

    streamed = await operators.export_members(collect, operator=OPERATOR)
    assert not streamed.busy and b"".join(chunks).count(b"\n") == 2


async def test_operator_accounts(service: ReferralService) -> None:
    operator_member = await join(service, telegram_id=OPERATOR)
    other = await join(service, telegram_id=OPERATOR + 7)
    operators = Operators(
        service.database, admin_ids=[OPERATOR], default_region="RU", clock=service.now
    )
    assert operators.is_operator(OPERATOR) and not operators.is_operator(OPERATOR + 7)
    assert not operators.is_operator(None)
    assert await operators.operator_account(operator_member.id) == OPERATOR
    assert await operators.operator_account(other.id) is None
    await service.members.unlink_telegram(OPERATOR)  # the account unlinked: no longer an operator
    assert await operators.operator_account(operator_member.id) is None


async def test_simultaneous_activations_of_one_code_across_the_threshold(
    service: ReferralService,
) -> None:
    """A popular code: many activations at once, crossing SINGLE_ROW_REFERRALS together; every
    one counted once, and the other shards used only once shard 0 is full."""
    inviter = await join(service)
    newcomers = [await join(service) for _ in range(SINGLE_ROW_REFERRALS + 36)]
    outcomes = await asyncio.gather(
        *(
            service.invitations.activate_invite(member.id, inviter.invite_code)
            for member in newcomers
        )
    )
    assert {activation.outcome for activation in outcomes} == {InviteOutcome.ACTIVATED}
    async with service.connections.acquire() as connection:
        rows = dict(
            await connection.fetch(
                "SELECT shard, referrals FROM referral_counts WHERE member_id = $1", inviter.id
            )
        )
    assert sum(rows.values()) == len(newcomers)
    assert rows[0] >= SINGLE_ROW_REFERRALS and len(rows) > 1
    stats = await service.operators.stats(operator=OPERATOR)
    assert stats.top_inviters[0].referrals == len(newcomers)
    await counters_match_the_members(service)
