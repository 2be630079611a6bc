"""Members and their verification codes (db/members.py): codes issued within the limits, kept as a
hash and checked once; members created, looked up (in crowds, one statement for the lookups of one
moment), profiled and unlinked."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from db.codes import INVITE_ALPHABET
from db.members import MEMBERS_BY_TELEGRAM, TelegramLookups
from db.results import CodeRequestOutcome, VerifyOutcome
from db.service import ReferralService
from tests.conftest import Clock, join, new_phone


async def test_invite_code_has_six_characters_of_the_alphabet(service: ReferralService) -> None:
    codes = [(await join(service)).invite_code for _ in range(30)]
    assert all(len(code) == 6 and set(code) <= set(INVITE_ALPHABET) for code in codes)
    assert not set("".join(codes)) & set("01OI")
    assert len(set(codes)) == 30


async def test_invite_code_collision_draws_again(service: ReferralService) -> None:
    first = await join(service)
    draws: Iterator[str] = iter([first.invite_code, first.invite_code, "ZZZZ22"])
    service.members._new_invite_code = lambda: next(draws)
    second = await join(service)
    assert second.invite_code == "ZZZZ22"
    async with service.connections.acquire() as connection:
        count = await connection.fetchval("SELECT count(*) FROM members")
    assert count == 2


async def test_login_again_returns_the_same_member(service: ReferralService) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    first = await service.members.verify_code(
        phone, (await service.members.request_code(phone)).code or ""
    )
    second = await service.members.verify_code(
        phone, (await service.members.request_code(phone)).code or ""
    )
    assert first.outcome is second.outcome is VerifyOutcome.VERIFIED
    assert first.created and not second.created
    assert first.member == second.member


async def test_telegram_account_moves_to_the_phone_it_verified(service: ReferralService) -> None:
    old = await join(service, telegram_id=42)
    assert (await service.members.member_by_telegram(42)) == old
    new = await join(service, telegram_id=42)
    linked = await service.members.member_by_telegram(42)
    assert linked is not None and linked.id == new.id
    profile = await service.members.profile(old.id)
    assert profile is not None and profile.member.telegram_id is None


async def test_member_keeps_one_telegram_account(service: ReferralService) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    await join(service, phone, telegram_id=1)
    await join(service, phone, telegram_id=2)
    assert await service.members.member_by_telegram(1) is None
    member = await service.members.member_by_telegram(2)
    assert member is not None and member.phone == phone


async def test_unlink_telegram(service: ReferralService) -> None:
    await join(service, telegram_id=7)
    assert await service.members.unlink_telegram(7)
    assert await service.members.member_by_telegram(7) is None
    assert not await service.members.unlink_telegram(7)


async def test_profile_counts_referrals_and_names_the_activated_code(
    service: ReferralService,
) -> None:
    inviter, first, second = await join(service), await join(service), await join(service)
    await service.invitations.activate_invite(first.id, inviter.invite_code)
    await service.invitations.activate_invite(second.id, inviter.invite_code.lower())
    inviter_profile = await service.members.profile(inviter.id)
    first_profile = await service.members.profile(first.id)
    assert inviter_profile is not None and first_profile is not None
    assert inviter_profile.referral_count == 2 and inviter_profile.inviter_code is None
    assert first_profile.inviter_code == inviter.invite_code
    assert first_profile.referral_count == 0
    assert await service.members.profile(10**12) is None


async def test_member_by_invite_code_ignores_case_and_spaces(service: ReferralService) -> None:
    member = await join(service)
    assert await service.members.member_by_invite_code(f"  {member.invite_code.lower()} ") == member
    assert await service.members.member_by_invite_code("nope") is None


async def test_code_has_the_configured_length_and_is_stored_only_as_a_hash(
    service: ReferralService,
) -> None:
    service.members.code_length = 6
    phone = new_phone()
    request = await service.members.request_code(phone)
    assert request.outcome is CodeRequestOutcome.SENT
    assert request.code is not None and len(request.code) == 6 and request.code.isdigit()
    async with service.connections.acquire() as connection:
        row = await connection.fetchrow("SELECT * FROM verification_codes")
        everything = " ".join(str(value) for value in row.values())
    assert request.code not in everything
    assert len(row["code_hash"]) == 32


async def test_code_is_single_use(service: ReferralService) -> None:
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    first = await service.members.verify_code(phone, code)
    assert first.outcome is VerifyOutcome.VERIFIED and first.created
    second = await service.members.verify_code(phone, code)
    assert second.outcome is VerifyOutcome.NO_CODE


async def test_code_expires_after_its_ttl(service: ReferralService, clock: Clock) -> None:
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    clock.advance(service.members.code_ttl + 1)
    assert (await service.members.verify_code(phone, code)).outcome is VerifyOutcome.EXPIRED


async def test_fifth_wrong_attempt_kills_the_code(service: ReferralService) -> None:
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    wrong = "0000" if code != "0000" else "1111"
    left = []
    for _ in range(5):
        left.append(await service.members.verify_code(phone, wrong))
    assert [v.attempts_left for v in left] == [4, 3, 2, 1, 0]
    assert left[-1].outcome is VerifyOutcome.TOO_MANY_ATTEMPTS
    assert (
        await service.members.verify_code(phone, code)
    ).outcome is VerifyOutcome.TOO_MANY_ATTEMPTS


async def test_malformed_code_costs_no_attempt(service: ReferralService) -> None:
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    for typed in ("12", "abcd", "123456789"):
        assert (
            await service.members.verify_code(phone, typed)
        ).outcome is VerifyOutcome.MALFORMED_CODE
    assert (
        await service.members.verify_code(phone, f"  {code} ")
    ).outcome is VerifyOutcome.VERIFIED


async def test_code_of_another_phone_does_not_work(service: ReferralService) -> None:
    phone, other = new_phone(), new_phone()
    code = (await service.members.request_code(phone)).code
    await service.members.request_code(other)
    assert code is not None
    result = await service.members.verify_code(other, code)
    assert result.outcome in (VerifyOutcome.WRONG_CODE, VerifyOutcome.VERIFIED)
    if result.outcome is VerifyOutcome.VERIFIED:  # both drew the same 4 digits: 1 in 10,000
        pytest.skip("the two phones drew the same code")


async def test_new_code_replaces_the_old_one(service: ReferralService) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    first = (await service.members.request_code(phone)).code
    second = (await service.members.request_code(phone)).code
    assert first is not None and second is not None
    if first != second:
        assert (await service.members.verify_code(phone, first)).outcome is VerifyOutcome.WRONG_CODE
    assert (await service.members.verify_code(phone, second)).outcome is VerifyOutcome.VERIFIED


async def test_resend_cooldown_answers_seconds_to_wait(
    service: ReferralService, clock: Clock
) -> None:
    phone = new_phone()
    assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT
    clock.advance(18)
    refused = await service.members.request_code(phone)
    assert refused.outcome is CodeRequestOutcome.COOLDOWN
    assert refused.retry_after == 42
    clock.advance(42)
    assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT


async def test_cooldown_zero_turns_it_off(service: ReferralService) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    for _ in range(3):
        assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT


async def test_hourly_limit_answers_seconds_until_a_send_leaves_the_hour(
    service: ReferralService, clock: Clock
) -> None:
    phone = new_phone()
    for _ in range(5):
        assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT
        clock.advance(61)
    refused = await service.members.request_code(phone)
    assert refused.outcome is CodeRequestOutcome.HOURLY_LIMIT
    assert refused.retry_after == 3600 - 5 * 61
    clock.advance(refused.retry_after)
    assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT


async def test_limits_are_per_phone(service: ReferralService) -> None:
    phone = new_phone()
    await service.members.request_code(phone)
    assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.COOLDOWN
    assert (await service.members.request_code(new_phone())).outcome is CodeRequestOutcome.SENT


async def test_invalid_phone_is_refused_and_nothing_is_stored(service: ReferralService) -> None:
    assert (await service.members.request_code("abcd")).outcome is CodeRequestOutcome.INVALID_PHONE
    assert (await service.members.verify_code("", "1234")).outcome is VerifyOutcome.INVALID_PHONE
    async with service.connections.acquire() as connection:
        count = await connection.fetchval("SELECT count(*) FROM verification_codes")
    assert count == 0


async def test_verify_without_a_requested_code(service: ReferralService) -> None:
    assert (await service.members.verify_code(new_phone(), "1234")).outcome is VerifyOutcome.NO_CODE


async def test_simultaneous_requests_for_one_phone_send_one_code(
    service: ReferralService, clock: Clock
) -> None:
    seen_before = new_phone()
    await service.members.request_code(seen_before)
    clock.advance(61)  # past the cooldown: the next request may send
    for phone in (new_phone(), seen_before):
        requests = await asyncio.gather(*(service.members.request_code(phone) for _ in range(12)))
        outcomes = Counter(request.outcome for request in requests)
        assert outcomes == {CodeRequestOutcome.SENT: 1, CodeRequestOutcome.COOLDOWN: 11}


async def test_simultaneous_guesses_count_every_wrong_attempt(service: ReferralService) -> None:
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    guesses = await asyncio.gather(*(service.members.verify_code(phone, wrong) for _ in range(20)))
    left = sorted(guess.attempts_left for guess in guesses if guess.attempts_left)
    assert left == [1, 2, 3, 4]  # each wrong attempt counted once, in turn
    assert Counter(guess.outcome for guess in guesses)[VerifyOutcome.TOO_MANY_ATTEMPTS] == 16
    assert (
        await service.members.verify_code(phone, code)
    ).outcome is VerifyOutcome.TOO_MANY_ATTEMPTS


ARABIC_INDIC = {ord("0") + d: 0x0660 + d for d in range(10)}
FULL_WIDTH = {ord("0") + d: 0xFF10 + d for d in range(10)}


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH], ids=["arabic-indic", "full-width"])
async def test_code_typed_in_other_digits_is_the_same_code(
    service: ReferralService, digits: dict[int, int]
) -> None:
    phone = new_phone()
    issued = await service.members.request_code(phone)
    assert issued.code is not None
    wrong = str((int(issued.code[0]) + 1) % 10) + issued.code[1:]
    refused = await service.members.verify_code(phone, wrong.translate(digits))
    assert refused.outcome is VerifyOutcome.WRONG_CODE
    assert refused.attempts_left == 4
    verified = await service.members.verify_code(phone, f" {issued.code.translate(digits)} ")
    assert verified.outcome is VerifyOutcome.VERIFIED


@pytest.mark.parametrize("typed", ["12a4", "12a4".translate(FULL_WIDTH), "\u2160\u2161", "12 34"])
async def test_what_is_not_digits_costs_no_attempt(service: ReferralService, typed: str) -> None:
    phone = new_phone()
    issued = await service.members.request_code(phone)
    assert issued.code is not None
    assert (await service.members.verify_code(phone, typed)).outcome is VerifyOutcome.MALFORMED_CODE
    verified = await service.members.verify_code(phone, issued.code)
    assert verified.outcome is VerifyOutcome.VERIFIED


@pytest.mark.parametrize("flipped_byte", [0, 15, 31])
async def test_a_stored_hash_one_bit_away_does_not_match(
    service: ReferralService, flipped_byte: int
) -> None:
    """The database compares every bit of the two hashes (verify_code, migration 0008)."""
    phone = new_phone()
    code = (await service.members.request_code(phone)).code
    assert code is not None
    async with service.connections.acquire() as connection:
        stored = bytearray(
            await connection.fetchval(
                "SELECT code_hash FROM verification_codes WHERE phone = $1", phone
            )
        )
        stored[flipped_byte] ^= 0x01 if flipped_byte == 31 else 0x80
        await connection.execute(
            "UPDATE verification_codes SET code_hash = $2 WHERE phone = $1", phone, bytes(stored)
        )
    refused = await service.members.verify_code(phone, code)
    assert refused.outcome is VerifyOutcome.WRONG_CODE and refused.attempts_left == 4


async def test_lookups_of_one_moment_share_one_statement(service: ReferralService) -> None:
    first = await join(service, telegram_id=501)
    second = await join(service, telegram_id=502)
    statements: list[list[int]] = []
    fetch = service.members._fetch

    async def counted(statement: str, *values: Any) -> list[asyncpg.Record]:
        statements.append(list(values[0]))
        return await fetch(statement, *values)

    service.members._telegram_lookups = TelegramLookups(counted)
    found = await asyncio.gather(
        *(
            service.members.member_by_telegram_batched(telegram_id)
            for telegram_id in (501, 502, 503, 501)
        )
    )
    assert found == [first, second, None, first]
    assert statements == [[501, 502, 503]]
    assert await service.members.member_by_telegram_batched(502) == second  # a lone one, later
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
