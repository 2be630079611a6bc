"""Invitations (db/invitations.py): the invitation rule as `activate_invite` runs it, what it
would do for a code (changing nothing), and the pages of a member's referrals."""

import asyncio

import pytest

from db.results import InviteOutcome
from db.service import ReferralService
from tests.conftest import Clock, join


async def test_activation_records_the_inviter_with_the_time(service: ReferralService) -> None:
    inviter, member = await join(service, telegram_id=100), await join(service)
    activation = await service.invitations.activate_invite(member.id, inviter.invite_code)
    assert activation.outcome is InviteOutcome.ACTIVATED
    assert activation.inviter is not None
    assert activation.inviter.id == inviter.id and activation.inviter.telegram_id == 100
    profile = await service.members.profile(member.id)
    assert profile is not None
    assert profile.member.inviter_id == inviter.id
    assert profile.member.invited_at == service.now()


@pytest.mark.parametrize("typed", ["", "   "])
async def test_no_code_given(service: ReferralService, typed: str) -> None:
    member = await join(service)
    assert (
        await service.invitations.activate_invite(member.id, typed)
    ).outcome is InviteOutcome.EMPTY


async def test_own_code(service: ReferralService) -> None:
    member = await join(service)
    activation = await service.invitations.activate_invite(member.id, member.invite_code.lower())
    assert activation.outcome is InviteOutcome.OWN_CODE


@pytest.mark.parametrize("typed", ["ZZZZZZ", "not_exists", "ABC", "ABCDE0", "ABCDEFG"])
async def test_unknown_code_includes_malformed_ones(service: ReferralService, typed: str) -> None:
    member = await join(service)
    activation = await service.invitations.activate_invite(member.id, typed)
    assert activation.outcome is InviteOutcome.UNKNOWN
    assert activation.inviter is None
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.member.inviter_id is None


async def test_code_matches_case_insensitively_with_spaces(service: ReferralService) -> None:
    inviter, member = await join(service), await join(service)
    activation = await service.invitations.activate_invite(
        member.id, f"  {inviter.invite_code.lower()}\n"
    )
    assert activation.outcome is InviteOutcome.ACTIVATED


@pytest.mark.parametrize("digits", [0x0660, 0xFF10], ids=["arabic-indic", "full-width"])
async def test_code_typed_with_other_digits_or_full_width_letters_matches(
    service: ReferralService, digits: int
) -> None:
    other_digits = {ord("0") + d: digits + d for d in range(10)}
    full_width_letters = {ord(ch): ord(ch) + 0xFEE0 for ch in "ABCDEFGHJKLMNPQRSTUVWXYZ"}
    codes = ReferralService(
        service.connections,
        signing_key=b"test-secret",
        delivery=service.delivery,
        invite_code_factory=iter(["AB2345", "CD6789"]).__next__,
    )
    owner, member = await join(codes), await join(codes)
    typed = owner.invite_code.translate(other_digits).translate(full_width_letters)
    activation = await service.invitations.activate_invite(member.id, typed)
    assert activation.outcome is InviteOutcome.ACTIVATED
    assert activation.inviter is not None and activation.inviter.id == owner.id


async def test_second_activation_is_refused_and_names_the_first_code(
    service: ReferralService,
) -> None:
    first, second, member = await join(service), await join(service), await join(service)
    await service.invitations.activate_invite(member.id, first.invite_code)
    again = await service.invitations.activate_invite(member.id, second.invite_code)
    assert again.outcome is InviteOutcome.ALREADY_ACTIVATED
    assert again.code == first.invite_code
    same = await service.invitations.activate_invite(member.id, first.invite_code)
    assert same.outcome is InviteOutcome.ALREADY_ACTIVATED
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.member.inviter_id == first.id


async def test_cycles_are_refused_at_any_depth(service: ReferralService) -> None:
    a, b, c = await join(service), await join(service), await join(service)
    assert (
        await service.invitations.activate_invite(b.id, a.invite_code)
    ).outcome is InviteOutcome.ACTIVATED
    assert (
        await service.invitations.activate_invite(c.id, b.invite_code)
    ).outcome is InviteOutcome.ACTIVATED
    assert (
        await service.invitations.activate_invite(a.id, b.invite_code)
    ).outcome is InviteOutcome.CYCLE
    assert (
        await service.invitations.activate_invite(a.id, c.invite_code)
    ).outcome is InviteOutcome.CYCLE
    profile = await service.members.profile(a.id)
    assert profile is not None and profile.member.inviter_id is None


async def test_unknown_member(service: ReferralService) -> None:
    inviter = await join(service)
    for typed in (inviter.invite_code, "bad"):
        activation = await service.invitations.activate_invite(10**12, typed)
        assert activation.outcome is InviteOutcome.MEMBER_NOT_FOUND


async def test_twenty_simultaneous_activations_by_one_member_leave_one(
    service: ReferralService,
) -> None:
    member = await join(service)
    inviters = [await join(service) for _ in range(20)]
    results = await asyncio.gather(
        *(
            service.invitations.activate_invite(member.id, inviter.invite_code)
            for inviter in inviters
        )
    )
    outcomes = [result.outcome for result in results]
    assert outcomes.count(InviteOutcome.ACTIVATED) == 1
    assert outcomes.count(InviteOutcome.ALREADY_ACTIVATED) == 19
    winner = next(r for r in results if r.outcome is InviteOutcome.ACTIVATED)
    assert all(r.code == winner.code for r in results if r is not winner)
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.inviter_code == winner.code


async def test_two_members_activating_each_others_codes_leave_one_link(
    service: ReferralService,
) -> None:
    for _ in range(10):
        a, b = await join(service), await join(service)
        results = await asyncio.gather(
            service.invitations.activate_invite(a.id, b.invite_code),
            service.invitations.activate_invite(b.id, a.invite_code),
        )
        assert sorted(r.outcome.value for r in results) == ["activated", "cycle"]
        profiles = [await service.members.profile(a.id), await service.members.profile(b.id)]
        assert sum(p is not None and p.member.inviter_id is not None for p in profiles) == 1


async def test_concurrent_activations_never_close_a_longer_cycle(
    service: ReferralService,
) -> None:
    # B->C and D->A exist; A activating B's code while C activates D's would close A-B-C-D-A.
    for _ in range(10):
        a, b, c, d = [await join(service) for _ in range(4)]
        await service.invitations.activate_invite(b.id, c.invite_code)
        await service.invitations.activate_invite(d.id, a.invite_code)
        results = await asyncio.gather(
            service.invitations.activate_invite(a.id, b.invite_code),
            service.invitations.activate_invite(c.id, d.invite_code),
        )
        assert sorted(r.outcome.value for r in results) == ["activated", "cycle"]


async def test_many_members_activating_one_code_at_once_all_succeed(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(30)]
    results = await asyncio.gather(
        *(service.invitations.activate_invite(member.id, inviter.invite_code) for member in members)
    )
    assert all(result.outcome is InviteOutcome.ACTIVATED for result in results)
    profile = await service.members.profile(inviter.id)
    assert profile is not None and profile.referral_count == 30


@pytest.mark.parametrize("typed", ["AB\x00CDE", "\ud800ABCDE"])
async def test_codes_the_database_cannot_hold_are_unknown(
    service: ReferralService, typed: str
) -> None:
    member = await join(service)
    assert (
        await service.invitations.activate_invite(member.id, typed)
    ).outcome is InviteOutcome.UNKNOWN


# What activating would do: the same rule, nothing changed.

# Every table an activation writes (and the members' own rows), as text, to compare.
WRITTEN_BY_AN_ACTIVATION = (
    "members",
    "referral_counts",
    "referral_month_counts",
    "referral_rank_buckets",
    "milestones",
    "member_totals",
    "daily_counts",
    "outbox_events",
)


async def tables_now(service: ReferralService) -> dict[str, list[str]]:
    async with service.connections.acquire() as connection:
        return {
            table: sorted(
                await connection.fetchval(
                    f"SELECT coalesce(array_agg(t::text), '{{}}') FROM {table} AS t"
                )
            )
            for table in WRITTEN_BY_AN_ACTIVATION
        }


async def test_an_offer_that_would_activate_names_the_owner_and_changes_nothing(
    service: ReferralService,
) -> None:
    owner = await join(service, telegram_id=700)
    for _ in range(4):  # the next referral reaches the milestone 5
        await service.invitations.activate_invite((await join(service)).id, owner.invite_code)
    member = await join(service)
    before = await tables_now(service)

    offer = await service.invitations.invitation_offer(member.id, f" {owner.invite_code.lower()}")
    assert offer.outcome is InviteOutcome.ACTIVATED and offer.code == owner.invite_code
    assert offer.owner is not None
    assert (offer.owner.id, offer.owner.phone, offer.owner.telegram_id) == (
        owner.id,
        owner.phone,
        700,
    )
    assert await tables_now(service) == before

    activation = await service.invitations.activate_invite(member.id, owner.invite_code)
    assert activation.outcome is InviteOutcome.ACTIVATED and activation.milestone == 5
    assert activation.inviter == offer.owner


async def test_an_offer_refuses_as_the_activation_would_and_changes_nothing(
    service: ReferralService,
) -> None:
    operator = 5_000_000_001
    a, b, member = await join(service), await join(service), await join(service)
    suspended, blocked = await join(service), await join(service)
    await service.invitations.activate_invite(b.id, a.invite_code)
    await service.operators.block(suspended.id, operator=operator)
    await service.operators.block(blocked.id, operator=operator)
    before = await tables_now(service)

    offers = {
        InviteOutcome.EMPTY: (member.id, "  "),
        InviteOutcome.OWN_CODE: (member.id, member.invite_code),
        InviteOutcome.UNKNOWN: (member.id, "ZZZZZZ"),
        InviteOutcome.CYCLE: (a.id, b.invite_code),
        InviteOutcome.CODE_SUSPENDED: (member.id, suspended.invite_code),
        InviteOutcome.MEMBER_BLOCKED: (blocked.id, a.invite_code),
        InviteOutcome.MEMBER_NOT_FOUND: (10**12, a.invite_code),
    }
    for outcome, (member_id, code) in offers.items():
        offer = await service.invitations.invitation_offer(member_id, code)
        assert (offer.outcome, offer.owner) == (outcome, None), outcome
        activation = await service.invitations.activate_invite(member_id, code)
        assert activation.outcome is outcome and activation.code == offer.code
    already = await service.invitations.invitation_offer(b.id, member.invite_code)
    assert already.outcome is InviteOutcome.ALREADY_ACTIVATED and already.code == a.invite_code
    assert already.owner is None
    assert await tables_now(service) == before


async def _invite(service: ReferralService, clock: Clock, count: int) -> tuple[int, list[int]]:
    inviter = await join(service)
    joined = []
    for _ in range(count):
        member = await join(service)
        clock.advance(1)
        await service.invitations.activate_invite(member.id, inviter.invite_code)
        joined.append(member.id)
    return inviter.id, joined


async def test_empty_list(service: ReferralService) -> None:
    member = await join(service)
    page = await service.invitations.referrals_page(member.id)
    assert page.referrals == [] and page.total == 0
    assert page.next_cursor is None and page.previous_cursor is None


async def test_pages_follow_activation_order_to_the_last_page(
    service: ReferralService, clock: Clock
) -> None:
    inviter, joined = await _invite(service, clock, 7)
    first = await service.invitations.referrals_page(inviter, limit=3)
    assert [r.member_id for r in first.referrals] == joined[:3]
    assert first.total == 7 and first.previous_cursor is None and first.next_cursor
    second = await service.invitations.referrals_page(inviter, after=first.next_cursor, limit=3)
    assert [r.member_id for r in second.referrals] == joined[3:6]
    assert second.next_cursor and second.previous_cursor
    last = await service.invitations.referrals_page(inviter, after=second.next_cursor, limit=3)
    assert [r.member_id for r in last.referrals] == joined[6:]
    assert last.next_cursor is None and last.previous_cursor
    back = await service.invitations.referrals_page(inviter, before=last.previous_cursor, limit=3)
    assert back.referrals == second.referrals
    assert back.next_cursor == second.next_cursor
    assert back.previous_cursor == second.previous_cursor
    front = await service.invitations.referrals_page(inviter, before=back.previous_cursor, limit=3)
    assert front.referrals == first.referrals and front.previous_cursor is None


async def test_exactly_full_last_page_has_no_next(service: ReferralService, clock: Clock) -> None:
    inviter, _ = await _invite(service, clock, 4)
    first = await service.invitations.referrals_page(inviter, limit=2)
    last = await service.invitations.referrals_page(inviter, after=first.next_cursor, limit=2)
    assert len(last.referrals) == 2 and last.next_cursor is None


async def test_activations_at_the_same_moment_are_paged_without_loss(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    joined = [await join(service) for _ in range(5)]
    for member in joined:  # the test clock stands still: all five share one invited_at
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    seen, cursor = [], None
    while True:
        page = await service.invitations.referrals_page(inviter.id, after=cursor, limit=2)
        seen += [r.member_id for r in page.referrals]
        if not (cursor := page.next_cursor):
            break
    assert seen == [member.id for member in joined]


async def test_phones_are_masked_unless_configured(service: ReferralService) -> None:
    inviter, member = await join(service), await join(service, "+79123456789")
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    assert (await service.invitations.referrals_page(inviter.id)).referrals[
        0
    ].phone == "+7 912 ***-**-89"
    service.phones.full_referrals = True
    assert (await service.invitations.referrals_page(inviter.id)).referrals[
        0
    ].phone == "+79123456789"


@pytest.mark.parametrize(
    "cursor", ["", "zz", "1.", "x.y", "ffffffffffffffffffffff.1", "1.ffffffffffffffffffff", "1.0"]
)
async def test_foreign_cursor_is_a_value_error(service: ReferralService, cursor: str) -> None:
    member = await join(service)
    with pytest.raises(ValueError):
        await service.invitations.referrals_page(member.id, after=cursor)
