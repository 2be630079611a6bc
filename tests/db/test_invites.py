import asyncio

import pytest

from db.results import InviteOutcome
from db.service import ReferralService
from tests.conftest import join


async def test_activation_records_the_inviter_with_the_time(service: ReferralService) -> None:
    inviter, member = await join(service, telegram_id=100), await join(service)
    activation = await service.activate_invite(member.id, inviter.invite_code)
    assert activation.outcome is InviteOutcome.ACTIVATED
    assert activation.inviter is not None
    assert activation.inviter.id == inviter.id and activation.inviter.telegram_id == 100
    profile = await service.profile(member.id)
    assert profile is not None
    assert profile.member.inviter_id == inviter.id
    assert profile.member.invited_at == service._clock()


@pytest.mark.parametrize("typed", ["", "   "])
async def test_no_code_given(service: ReferralService, typed: str) -> None:
    member = await join(service)
    assert (await service.activate_invite(member.id, typed)).outcome is InviteOutcome.EMPTY


async def test_own_code(service: ReferralService) -> None:
    member = await join(service)
    activation = await service.activate_invite(member.id, member.invite_code.lower())
    assert activation.outcome is InviteOutcome.OWN_CODE


@pytest.mark.parametrize("typed", ["ZZZZZZ", "not_exists", "ABC", "ABCDE0", "ABCDEFG"])
async def test_unknown_code_includes_malformed_ones(service: ReferralService, typed: str) -> None:
    member = await join(service)
    activation = await service.activate_invite(member.id, typed)
    assert activation.outcome is InviteOutcome.UNKNOWN
    assert activation.inviter is None
    profile = await service.profile(member.id)
    assert profile is not None and profile.member.inviter_id is None


async def test_code_matches_case_insensitively_with_spaces(service: ReferralService) -> None:
    inviter, member = await join(service), await join(service)
    activation = await service.activate_invite(member.id, f"  {inviter.invite_code.lower()}\n")
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
    activation = await service.activate_invite(member.id, typed)
    assert activation.outcome is InviteOutcome.ACTIVATED
    assert activation.inviter is not None and activation.inviter.id == owner.id


async def test_second_activation_is_refused_and_names_the_first_code(
    service: ReferralService,
) -> None:
    first, second, member = await join(service), await join(service), await join(service)
    await service.activate_invite(member.id, first.invite_code)
    again = await service.activate_invite(member.id, second.invite_code)
    assert again.outcome is InviteOutcome.ALREADY_ACTIVATED
    assert again.code == first.invite_code
    same = await service.activate_invite(member.id, first.invite_code)
    assert same.outcome is InviteOutcome.ALREADY_ACTIVATED
    profile = await service.profile(member.id)
    assert profile is not None and profile.member.inviter_id == first.id


async def test_cycles_are_refused_at_any_depth(service: ReferralService) -> None:
    a, b, c = await join(service), await join(service), await join(service)
    assert (await service.activate_invite(b.id, a.invite_code)).outcome is InviteOutcome.ACTIVATED
    assert (await service.activate_invite(c.id, b.invite_code)).outcome is InviteOutcome.ACTIVATED
    assert (await service.activate_invite(a.id, b.invite_code)).outcome is InviteOutcome.CYCLE
    assert (await service.activate_invite(a.id, c.invite_code)).outcome is InviteOutcome.CYCLE
    profile = await service.profile(a.id)
    assert profile is not None and profile.member.inviter_id is None


async def test_unknown_member(service: ReferralService) -> None:
    inviter = await join(service)
    for typed in (inviter.invite_code, "bad"):
        activation = await service.activate_invite(10**12, typed)
        assert activation.outcome is InviteOutcome.MEMBER_NOT_FOUND


async def test_twenty_simultaneous_activations_by_one_member_leave_one(
    service: ReferralService,
) -> None:
    member = await join(service)
    inviters = [await join(service) for _ in range(20)]
    results = await asyncio.gather(
        *(service.activate_invite(member.id, inviter.invite_code) for inviter in inviters)
    )
    outcomes = [result.outcome for result in results]
    assert outcomes.count(InviteOutcome.ACTIVATED) == 1
    assert outcomes.count(InviteOutcome.ALREADY_ACTIVATED) == 19
    winner = next(r for r in results if r.outcome is InviteOutcome.ACTIVATED)
    assert all(r.code == winner.code for r in results if r is not winner)
    profile = await service.profile(member.id)
    assert profile is not None and profile.inviter_code == winner.code


async def test_two_members_activating_each_others_codes_leave_one_link(
    service: ReferralService,
) -> None:
    for _ in range(10):
        a, b = await join(service), await join(service)
        results = await asyncio.gather(
            service.activate_invite(a.id, b.invite_code),
            service.activate_invite(b.id, a.invite_code),
        )
        assert sorted(r.outcome.value for r in results) == ["activated", "cycle"]
        profiles = [await service.profile(a.id), await service.profile(b.id)]
        assert sum(p is not None and p.member.inviter_id is not None for p in profiles) == 1


async def test_concurrent_activations_never_close_a_longer_cycle(
    service: ReferralService,
) -> None:
    # B->C and D->A exist; A activating B's code while C activates D's would close A-B-C-D-A.
    for _ in range(10):
        a, b, c, d = [await join(service) for _ in range(4)]
        await service.activate_invite(b.id, c.invite_code)
        await service.activate_invite(d.id, a.invite_code)
        results = await asyncio.gather(
            service.activate_invite(a.id, b.invite_code),
            service.activate_invite(c.id, d.invite_code),
        )
        assert sorted(r.outcome.value for r in results) == ["activated", "cycle"]


async def test_many_members_activating_one_code_at_once_all_succeed(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(30)]
    results = await asyncio.gather(
        *(service.activate_invite(member.id, inviter.invite_code) for member in members)
    )
    assert all(result.outcome is InviteOutcome.ACTIVATED for result in results)
    profile = await service.profile(inviter.id)
    assert profile is not None and profile.referral_count == 30


@pytest.mark.parametrize("typed", ["AB\x00CDE", "\ud800ABCDE"])
async def test_codes_the_database_cannot_hold_are_unknown(
    service: ReferralService, typed: str
) -> None:
    member = await join(service)
    assert (await service.activate_invite(member.id, typed)).outcome is InviteOutcome.UNKNOWN
