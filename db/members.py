"""Members and their verification codes: a phone's code issued within the limits and handed to
the delivery, the code checked (db/sql/verify_code.sql), and the member looked up (one at a time,
or batched for logins), profiled, unlinked from Telegram and given a language."""

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from db.codes import (
    clean_invite_code,
    clean_verification_code,
    hash_verification_code,
    is_invite_code,
    new_verification_code,
)
from db.connections import Database
from db.phones import mask_phone, normalise_phone
from db.results import (
    CodeRequest,
    CodeRequestOutcome,
    Member,
    Profile,
    Verification,
    VerifyOutcome,
)
from db.tables import COUNT_SHARDS
from delivery import CodeDelivery, DeliveryError
from metrics import CODE_CHECKS, CODE_REQUESTS

log = logging.getLogger(__name__)

MAX_WRONG_ATTEMPTS = 5
HOUR = timedelta(hours=1)

# Statements, in the tables of db/tables.py.

MEMBER_COLUMNS = (
    "m.id, m.phone, m.invite_code, m.telegram_id, m.inviter_id, m.invited_at, m.language, "
    "m.blocked_at IS NOT NULL AS blocked, m.unreachable_at IS NOT NULL AS unreachable"
)
MEMBER_BY_TELEGRAM = f"SELECT {MEMBER_COLUMNS} FROM members AS m WHERE m.telegram_id = $1"
MEMBER_BY_INVITE_CODE = f"SELECT {MEMBER_COLUMNS} FROM members AS m WHERE m.invite_code = $1"
MEMBERS_BY_TELEGRAM = (
    f"SELECT {MEMBER_COLUMNS} FROM members AS m WHERE m.telegram_id = ANY($1::bigint[])"
)
PROFILE_COLUMNS = f"""
{MEMBER_COLUMNS},
(SELECT invite_code FROM members WHERE id = m.inviter_id) AS inviter_code,
(SELECT coalesce(sum(referrals), 0) FROM referral_counts WHERE member_id = m.id) AS referral_count
"""
PROFILE = f"SELECT {PROFILE_COLUMNS} FROM members AS m WHERE m.id = $1 AND m.erased_at IS NULL"

SENDS_OF_PHONE = """
SELECT sent_at, code_hash, expires_at, wrong_attempts FROM verification_codes WHERE phone = $1
"""
# A phone's first code (no limit holds it back) in one statement; for a phone that has a row, the
# row's sends, to decide on (none when another request's first code was inserted meanwhile: the
# statement's snapshot does not see it; the caller then reads again).
ISSUE_FIRST_CODE = """
WITH inserted AS (
    INSERT INTO verification_codes (phone, code_hash, expires_at, wrong_attempts, sent_at)
    VALUES ($1, $2, $3, 0, $4)
    ON CONFLICT (phone) DO NOTHING
    RETURNING true
)
SELECT true AS issued, NULL::timestamptz[] AS sent_at, NULL::bytea AS code_hash,
       NULL::timestamptz AS expires_at, NULL::int AS wrong_attempts
FROM inserted
UNION ALL
SELECT false, sent_at, code_hash, expires_at, wrong_attempts FROM verification_codes
WHERE phone = $1 AND NOT EXISTS (SELECT FROM inserted)
"""
# Issued only if the phone's sends are still those the decision was made on ($5): of two requests
# at the same moment, one issues and the other reads again, and is then within the cooldown.
ISSUE_CODE = """
INSERT INTO verification_codes AS v (phone, code_hash, expires_at, wrong_attempts, sent_at)
VALUES ($1, $2, $3, 0, $4)
ON CONFLICT (phone) DO UPDATE
SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, wrong_attempts = 0,
    sent_at = excluded.sent_at
WHERE v.sent_at = $5
RETURNING true
"""
# A code that could not be delivered was never sent: the phone's code and sends are as they were
# before it, unless another code has been issued since.
UNDO_UNDELIVERED_CODE = """
UPDATE verification_codes
SET code_hash = $3, expires_at = $4, wrong_attempts = $5, sent_at = $6
WHERE phone = $1 AND sent_at = $2
"""
UNLINK_ACCOUNT = "UPDATE members SET telegram_id = NULL WHERE telegram_id = $1"
SET_LANGUAGE = "UPDATE members SET language = $2 WHERE id = $1 AND erased_at IS NULL"

# The code step in one round trip: db/sql/verify_code.sql. The typed
# code's keyed hash is compared there, in constant time; a new member is counted for /stats.
VERIFY_CODE = "SELECT * FROM verify_code($1, $2, $3, $4, $5, $6, $7, $8, $9)"


def read_member(row: asyncpg.Record) -> Member:
    """A member from a row of MEMBER_COLUMNS (or of the functions that return them)."""
    return Member(
        id=row["id"],
        phone=row["phone"],
        invite_code=row["invite_code"],
        telegram_id=row["telegram_id"],
        inviter_id=row["inviter_id"],
        invited_at=row["invited_at"],
        language=row["language"],
        blocked=row["blocked"],
        unreachable=row.get("unreachable", False),  # verify_code's rows do not say
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class TelegramLookups:
    """Members by Telegram account, looked up together: every lookup asked for in one turn of the
    event loop goes to PostgreSQL in one statement. When a post brings a crowd opening the web app
    in Telegram at once, their logins share round trips (each of which costs this process more
    CPU than the rest of a login); a lone lookup waits one turn of the loop."""

    MAX_BATCH = 500

    def __init__(self, run: Callable[[str, list[int]], Awaitable[list[asyncpg.Record]]]) -> None:
        self._run = run
        self._waiting: dict[int, list[asyncio.Future[Member | None]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def member(self, telegram_id: int) -> Member | None:
        loop = asyncio.get_running_loop()
        found: asyncio.Future[Member | None] = loop.create_future()
        self._waiting.setdefault(telegram_id, []).append(found)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush_soon)
        return await found

    def _flush_soon(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, {}
        ids = list(waiting)
        for start in range(0, len(ids), self.MAX_BATCH):
            batch = {
                telegram_id: waiting[telegram_id]
                for telegram_id in ids[start : start + self.MAX_BATCH]
            }
            flush = asyncio.create_task(self._flush(batch))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: dict[int, list[asyncio.Future[Member | None]]]) -> None:
        waiting = [future for futures in batch.values() for future in futures]
        try:
            rows = await self._run(MEMBERS_BY_TELEGRAM, list(batch))
        except asyncio.CancelledError:
            for future in waiting:
                future.cancel()
            raise
        except Exception as error:  # the database failed: each waiting lookup fails with it
            for future in waiting:
                if not future.done():
                    future.set_exception(error)
            return
        members = {row["telegram_id"]: read_member(row) for row in rows}
        for telegram_id, futures in batch.items():
            for future in futures:
                if not future.done():  # a caller that gave up (its request went away)
                    future.set_result(members.get(telegram_id))


class Members:
    """Verification codes and members, over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        signing_key: bytes,
        delivery: CodeDelivery,
        code_length: int,
        code_ttl: int,
        resend_cooldown: int,
        hourly_limit: int,
        default_region: str,
        clock: Callable[[], datetime],
        invite_code_factory: Callable[[], str],
    ) -> None:
        self._database = database
        self.delivery = delivery
        self.code_length = code_length
        self.code_ttl = code_ttl
        self.resend_cooldown = resend_cooldown
        self.hourly_limit = hourly_limit
        self.default_region = default_region
        self._key = signing_key
        self._clock = clock
        self._new_invite_code = invite_code_factory
        self._telegram_lookups = TelegramLookups(self._fetch)

    def normalise_phone(self, raw: str) -> str | None:
        """E.164 form of a typed or shared phone number, or None if it cannot be a number."""
        return normalise_phone(raw, self.default_region)

    # Verification codes

    async def request_code(self, raw_phone: str) -> CodeRequest:
        """Issue a new code for a phone and deliver it, within the resend and hourly limits."""
        request = await self._request_code(raw_phone)
        CODE_REQUESTS.labels(request.outcome.value).inc()
        return request

    async def _request_code(self, raw_phone: str) -> CodeRequest:
        phone = self.normalise_phone(raw_phone)
        if phone is None:
            return CodeRequest(CodeRequestOutcome.INVALID_PHONE)
        now = self._clock()
        code = new_verification_code(self.code_length)
        code_hash = hash_verification_code(self._key, phone, code)
        expires_at = now + timedelta(seconds=self.code_ttl)
        async with self._database.connection() as connection:
            row = await connection.fetchrow(ISSUE_FIRST_CODE, phone, code_hash, expires_at, [now])
            before, sends = None, [now]
            issued = row is not None and row["issued"]
            while not issued:
                before = row or await connection.fetchrow(SENDS_OF_PHONE, phone)
                row = None
                sent_at: list[datetime] = before["sent_at"] if before else []
                recent = sorted(moment for moment in sent_at if moment > now - HOUR)
                wait = self._wait_for_next_code(recent, now)
                if wait is not None:
                    outcome, until = wait
                    return CodeRequest(outcome, phone, retry_after=_seconds_until(until, now))
                sends = [*recent, now]
                issued = bool(
                    await connection.fetchval(
                        ISSUE_CODE, phone, code_hash, expires_at, sends, sent_at
                    )
                )
        try:
            await self.delivery.deliver(phone, code, self.code_ttl, shown_phone=mask_phone(phone))
        except DeliveryError as error:
            log.error("verification code for %s not delivered: %s", mask_phone(phone), error)
            previous = (
                (
                    before["code_hash"],
                    before["expires_at"],
                    before["wrong_attempts"],
                    before["sent_at"],
                )
                if before
                else (None, None, 0, [])
            )
            async with self._database.connection() as connection:
                await connection.execute(UNDO_UNDELIVERED_CODE, phone, sends, *previous)
            return CodeRequest(CodeRequestOutcome.DELIVERY_FAILED, phone)
        return CodeRequest(
            CodeRequestOutcome.SENT,
            phone,
            code=code if self.delivery.shows_code else None,
            retry_after=self.resend_cooldown,
            expires_in=self.code_ttl,
        )

    def _wait_for_next_code(
        self, recent: list[datetime], now: datetime
    ) -> tuple[CodeRequestOutcome, datetime] | None:
        """Which limit holds back a new code for a phone that was sent codes at `recent` (in
        order, within the hour), and until when; None if a code may be sent now."""
        waits = []
        if recent and self.resend_cooldown:
            cooldown_ends = recent[-1] + timedelta(seconds=self.resend_cooldown)
            if cooldown_ends > now:
                waits.append((CodeRequestOutcome.COOLDOWN, cooldown_ends))
        if len(recent) >= self.hourly_limit:
            window_frees = recent[len(recent) - self.hourly_limit] + HOUR
            waits.append((CodeRequestOutcome.HOURLY_LIMIT, window_frees))
        return max(waits, key=lambda wait: wait[1]) if waits else None

    def _next_code_in(self, sent_at: list[datetime] | None, now: datetime) -> int:
        """Seconds until a new code may be requested for a phone sent codes at `sent_at`; at
        least 1, as Retry-After is documented."""
        recent = sorted(moment for moment in sent_at or [] if moment > now - HOUR)
        wait = self._wait_for_next_code(recent, now)
        return _seconds_until(wait[1], now) if wait else 1

    async def verify_code(
        self,
        raw_phone: str,
        code: str,
        *,
        telegram_id: int | None = None,
        language: str | None = None,
        usual_language: str | None = None,
    ) -> Verification:
        """Check a phone's code; on success create or return its member (linking `telegram_id`).
        `language` is one the person chose: it is kept; `usual_language` (say Telegram's) is kept
        only where the member has none yet.

        One call of the database function in db/sql/verify_code.sql: it locks the phone's code,
        compares the typed code's keyed hash in constant time, counts a wrong attempt or
        consumes the code, moves the Telegram account and creates or updates the member."""
        verification = await self._verify_code(
            raw_phone,
            code,
            telegram_id=telegram_id,
            language=language,
            usual_language=usual_language,
        )
        CODE_CHECKS.labels(verification.outcome.value).inc()
        return verification

    async def _verify_code(
        self,
        raw_phone: str,
        code: str,
        *,
        telegram_id: int | None,
        language: str | None,
        usual_language: str | None,
    ) -> Verification:
        phone = self.normalise_phone(raw_phone)
        if phone is None:
            return Verification(VerifyOutcome.INVALID_PHONE)
        typed = clean_verification_code(code)
        if typed is None or len(typed) != self.code_length:
            return Verification(VerifyOutcome.MALFORMED_CODE, phone)
        now = self._clock()
        typed_hash = hash_verification_code(self._key, phone, typed)
        # A drawn invite code that is taken fails the call: it runs again with another.
        row = await self._database.retrying(
            lambda connection: connection.fetchrow(
                VERIFY_CODE,
                phone,
                typed_hash,
                now,
                telegram_id,
                self._new_invite_code(),
                language,
                usual_language,
                MAX_WRONG_ATTEMPTS,
                COUNT_SHARDS,
            ),
            transaction=False,
        )
        verification = self._verification(phone, row, now)
        if verification.member is not None:
            log.info(
                "member %d %s",
                verification.member.id,
                "joined" if verification.created else "logged in",
            )
        return verification

    def _verification(self, phone: str, row: asyncpg.Record, now: datetime) -> Verification:
        outcome = VerifyOutcome(row["outcome"])
        if outcome is VerifyOutcome.VERIFIED:
            return Verification(outcome, phone, member=read_member(row), created=row["created"])
        if outcome is VerifyOutcome.WRONG_CODE:
            left = MAX_WRONG_ATTEMPTS - row["wrong_attempts"]
            if left:
                return Verification(outcome, phone, attempts_left=left)
            outcome = VerifyOutcome.TOO_MANY_ATTEMPTS
        if outcome is VerifyOutcome.TOO_MANY_ATTEMPTS:
            next_code_in = self._next_code_in(row["sent_at"], now)
            return Verification(outcome, phone, retry_after=next_code_in)
        return Verification(outcome, phone)

    # Members

    async def _one_member(self, statement: str, value: Any) -> Member | None:
        async with self._database.connection() as connection:
            row = await connection.fetchrow(statement, value)
        return None if row is None else read_member(row)

    async def member_by_telegram(self, telegram_id: int) -> Member | None:
        """The member linked to a Telegram account, if any."""
        return await self._one_member(MEMBER_BY_TELEGRAM, telegram_id)

    async def member_by_telegram_batched(self, telegram_id: int) -> Member | None:
        """`member_by_telegram`, looked up together with the others asked for at the same moment
        (`TelegramLookups`): for logins, which come in crowds, not for a chat's own updates, which
        come one at a time and should not wait a turn of the loop."""
        return await self._telegram_lookups.member(telegram_id)

    async def _fetch(self, statement: str, *values: Any) -> list[asyncpg.Record]:
        async with self._database.connection() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(statement, *values)
        return rows

    async def member_by_invite_code(self, raw_code: str) -> Member | None:
        """The owner of an invite code, matched case-insensitively."""
        code = clean_invite_code(raw_code)
        if not is_invite_code(code):
            return None
        return await self._one_member(MEMBER_BY_INVITE_CODE, code)

    async def profile(self, member_id: int) -> Profile | None:
        """A member with the code they activated and how many people joined with theirs."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(PROFILE, member_id)
        if row is None:
            return None
        return Profile(read_member(row), row["inviter_code"], row["referral_count"])

    async def unlink_telegram(self, telegram_id: int) -> bool:
        """Forget which member a Telegram account belongs to; False if it was not linked."""
        async with self._database.connection() as connection:
            status: str = await connection.execute(UNLINK_ACCOUNT, telegram_id)
        return status != "UPDATE 0"

    async def set_language(self, member_id: int, language: str) -> bool:
        """Keep the language the member chose; False if the member is gone."""
        async with self._database.connection() as connection:
            status: str = await connection.execute(SET_LANGUAGE, member_id, language)
        return status != "UPDATE 0"
