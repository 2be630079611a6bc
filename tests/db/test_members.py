from collections.abc import Iterator

from db.codes import INVITE_ALPHABET
from db.results import VerifyOutcome
from db.service import ReferralService
from tests.conftest import join, new_phone


async def test_invite_code_has_six_characters_of_the_alphabet(service: ReferralService) -> None:
    codes = [(await join(service)).invite_code for _ in range(30)]
    assert all(len(code) == 6 and set(code) <= set(INVITE_ALPHABET) for code in codes)
    assert not set("".join(codes)) & set("01OI")
    assert len(set(codes)) == 30


async def test_invite_code_collision_draws_again(service: ReferralService) -> None:
    first = await join(service)
    draws: Iterator[str] = iter([first.invite_code, first.invite_code, "ZZZZ22"])
    service._new_invite_code = lambda: next(draws)
    second = await join(service)
    assert second.invite_code == "ZZZZ22"
    async with service.connections.acquire() as connection:
        count = await connection.fetchval("SELECT count(*) FROM members")
    assert count == 2


async def test_login_again_returns_the_same_member(service: ReferralService) -> None:
    service.resend_cooldown = 0
    phone = new_phone()
    first = await service.verify_code(phone, (await service.request_code(phone)).code or "")
    second = await service.verify_code(phone, (await service.request_code(phone)).code or "")
    assert first.outcome is second.outcome is VerifyOutcome.VERIFIED
    assert first.created and not second.created
    assert first.member == second.member


async def test_telegram_account_moves_to_the_phone_it_verified(service: ReferralService) -> None:
    old = await join(service, telegram_id=42)
    assert (await service.member_by_telegram(42)) == old
    new = await join(service, telegram_id=42)
    linked = await service.member_by_telegram(42)
    assert linked is not None and linked.id == new.id
    profile = await service.profile(old.id)
    assert profile is not None and profile.member.telegram_id is None


async def test_member_keeps_one_telegram_account(service: ReferralService) -> None:
    service.resend_cooldown = 0
    phone = new_phone()
    await join(service, phone, telegram_id=1)
    await join(service, phone, telegram_id=2)
    assert await service.member_by_telegram(1) is None
    member = await service.member_by_telegram(2)
    assert member is not None and member.phone == phone


async def test_unlink_telegram(service: ReferralService) -> None:
    await join(service, telegram_id=7)
    assert await service.unlink_telegram(7)
    assert await service.member_by_telegram(7) is None
    assert not await service.unlink_telegram(7)


async def test_profile_counts_referrals_and_names_the_activated_code(
    service: ReferralService,
) -> None:
    inviter, first, second = await join(service), await join(service), await join(service)
    await service.activate_invite(first.id, inviter.invite_code)
    await service.activate_invite(second.id, inviter.invite_code.lower())
    inviter_profile = await service.profile(inviter.id)
    first_profile = await service.profile(first.id)
    assert inviter_profile is not None and first_profile is not None
    assert inviter_profile.referral_count == 2 and inviter_profile.inviter_code is None
    assert first_profile.inviter_code == inviter.invite_code
    assert first_profile.referral_count == 0
    assert await service.profile(10**12) is None


async def test_member_by_invite_code_ignores_case_and_spaces(service: ReferralService) -> None:
    member = await join(service)
    assert await service.member_by_invite_code(f"  {member.invite_code.lower()} ") == member
    assert await service.member_by_invite_code("nope") is None
