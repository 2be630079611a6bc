"""The referral service: every rule of membership, codes and invitations, in one place (the
invitation rule runs as the database function `activate_invite` that this module calls); the
rules of operators are in db/operators.py, reached as `service.operators`.

Each public method is one statement or one short transaction; only this module commits. Front ends
(the bot, the HTTP API) call it and translate its typed results. Statements go to asyncpg
directly, as prepared statements that each pooled connection keeps: this is the hot path of every
update, and SQLAlchemy's execution layer cost several times the driver's own time (see README).
"""

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from db.addresses import AddressRequests
from db.broadcasts import Broadcasts
from db.codes import (
    clean_invite_code,
    clean_verification_code,
    hash_verification_code,
    is_invite_code,
    new_invite_code,
    new_verification_code,
)
from db.delivery import CodeDelivery, DeliveryError, create_delivery
from db.engine import Connections
from db.events import EventOutbox
from db.growth import Growth
from db.models import ALL_TIME_BOARD, COUNT_SHARDS, SINGLE_ROW_REFERRALS
from db.operators import Operators
from db.outages import Outages
from db.phones import mask_phone, normalise_phone
from db.results import (
    Activation,
    CodeRequest,
    CodeRequestOutcome,
    InviteOutcome,
    Member,
    MemberData,
    Profile,
    Referral,
    ReferralPage,
    Verification,
    VerifyOutcome,
)
from metrics import ACTIVATIONS, CODE_CHECKS, CODE_REQUESTS
from settings import Settings

log = logging.getLogger(__name__)

MAX_WRONG_ATTEMPTS = 5
HOUR = timedelta(hours=1)
RETRIES = 5  # attempts of a transaction that lost a deadlock, serialization or uniqueness race
RETRIED_SQLSTATES = ("40P01", "40001", "23505")

# Statements, in the tables of db/models.py.

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
# The profile and one page of referrals in one round trip: a row per referral (or one row with
# empty referral columns). Keyset over (invited_at, id), read from ix_members_referrals alone.
_PROFILE_AND_PAGE = f"""
WITH p AS MATERIALIZED (
    SELECT {PROFILE_COLUMNS} FROM members AS m WHERE m.id = $1 AND m.erased_at IS NULL
)
SELECT p.*, r.id AS referral_id, r.phone AS referral_phone, r.invited_at AS referral_invited_at
FROM p LEFT JOIN LATERAL (
    SELECT id, phone, invited_at FROM members
    WHERE inviter_id = p.id AND (invited_at, id) {{beyond}} ($2, $3)
    ORDER BY invited_at {{order}}, id {{order}}
    LIMIT $4
) AS r ON true
"""
PROFILE_AND_PAGE_AFTER = _PROFILE_AND_PAGE.format(beyond=">", order="ASC")
PROFILE_AND_PAGE_BEFORE = _PROFILE_AND_PAGE.format(beyond="<", order="DESC")

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
# Erasure: the member's row keeps only what makes the referral graph true (its id, who invited it
# and when); the phone's verification code row goes too, and the member leaves the totals of
# /stats. One statement, so one transaction.
ERASE_MEMBER = f"""
WITH erased AS (
    UPDATE members AS m
    SET phone = NULL, invite_code = NULL, telegram_id = NULL, language = NULL, erased_at = $2,
        blocked_at = NULL
    FROM (
        SELECT id, phone, inviter_id FROM members WHERE id = $1 AND erased_at IS NULL FOR UPDATE
    ) AS old
    WHERE m.id = old.id
    RETURNING m.id, old.phone, old.inviter_id
), codes AS (
    DELETE FROM verification_codes WHERE phone IN (SELECT phone FROM erased)
), unbucketed AS (  -- and their rank buckets (db/growth.py) lose them
    INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
    SELECT ranked.board, ranked.referrals, days.day, $1 % {COUNT_SHARDS}, -1
    FROM (
        SELECT '{ALL_TIME_BOARD.isoformat()}'::date AS board, referrals, reached_at
        FROM referral_counts
        WHERE member_id IN (SELECT id FROM erased) AND shard = 0 AND reached_at IS NOT NULL
          AND referrals < {SINGLE_ROW_REFERRALS}
      UNION ALL
        SELECT month, referrals, reached_at FROM referral_month_counts
        WHERE member_id IN (SELECT id FROM erased) AND shard = 0 AND reached_at IS NOT NULL
          AND referrals < {SINGLE_ROW_REFERRALS}
    ) AS ranked,
    LATERAL (VALUES ('infinity'::date), ((ranked.reached_at AT TIME ZONE 'UTC')::date)) AS days(day)
    ON CONFLICT (board, referrals, day, shard) DO UPDATE SET members = b.members + excluded.members
), unranked AS (  -- their counts stay, off the leaderboard (db/growth.py)
    UPDATE referral_counts SET reached_at = NULL WHERE member_id IN (SELECT id FROM erased)
), unranked_months AS (
    UPDATE referral_month_counts SET reached_at = NULL
    WHERE member_id IN (SELECT id FROM erased)
), qr_codes AS (
    DELETE FROM member_qr_codes WHERE member_id IN (SELECT id FROM erased)
), uncounted AS (
    INSERT INTO member_totals AS t (shard, members, invited)
    SELECT $1 % {COUNT_SHARDS}, -1, -(inviter_id IS NOT NULL)::int FROM erased
    ON CONFLICT (shard) DO UPDATE
    SET members = t.members + excluded.members, invited = t.invited + excluded.invited
)
SELECT count(*) FROM erased
"""
# The member and every referral in one statement (the referrals as parallel arrays, in order of
# activation, read from ix_members_referrals).
MEMBER_DATA = """
SELECT m.phone, m.invite_code, m.telegram_id, m.invited_at, m.created_at, m.last_login_at,
       m.language,
       (SELECT invite_code FROM members WHERE id = m.inviter_id) AS inviter_code,
       r.ids AS referral_ids, r.phones AS referral_phones, r.times AS referral_times
FROM members AS m, LATERAL (
    SELECT array_agg(id ORDER BY invited_at, id) AS ids,
           array_agg(phone ORDER BY invited_at, id) AS phones,
           array_agg(invited_at ORDER BY invited_at, id) AS times
    FROM members WHERE inviter_id = m.id
) AS r
WHERE m.id = $1 AND m.erased_at IS NULL
"""

# The code step in one round trip: migrations/versions/0008_verify_code_function.py. The typed
# code's keyed hash is compared there, in constant time; a new member is counted for /stats.
VERIFY_CODE = "SELECT * FROM verify_code($1, $2, $3, $4, $5, $6, $7, $8, $9)"
# The invitation rule, in one round trip: migrations/versions/0006_sharing_and_growth.py (first
# in 0003, then 0005).
ACTIVATE_INVITE = "SELECT * FROM activate_invite($1, $2, $3, $4, $5, $6)"

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _member(row: asyncpg.Record) -> Member:
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


def _connection_lost(error: BaseException) -> bool:
    """Whether an error means the connection (or the server) is gone, not the statement wrong."""
    if isinstance(error, asyncpg.QueryCanceledError):
        return False  # statement_timeout: the server is there, only slow
    if isinstance(error, asyncpg.PostgresError):
        return isinstance(error, asyncpg.PostgresConnectionError) or error.sqlstate[:2] == "57"
    return isinstance(error, OSError | asyncpg.InterfaceError)  # TimeoutError is an OSError


def _database_unavailable(error: BaseException) -> bool:
    """Whether an error means the request may work later: the database is out of reach or did
    not answer in time."""
    return isinstance(error, asyncpg.QueryCanceledError) or _connection_lost(error)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
BEFORE_ANY_REFERRAL = (datetime.min.replace(tzinfo=UTC), 0)


def encode_cursor(invited_at: datetime, member_id: int) -> str:
    return f"{(invited_at - EPOCH) // MICROSECOND:x}.{member_id:x}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError for a cursor this service did not make."""
    micros, _, member_id = cursor.partition(".")
    try:
        moment, key = EPOCH + int(micros, 16) * MICROSECOND, int(member_id, 16)
    except OverflowError as error:
        raise ValueError("cursor out of range") from error
    if not 0 < key < 2**63:
        raise ValueError("cursor out of range")
    return moment, key


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
        members = {row["telegram_id"]: _member(row) for row in rows}
        for telegram_id, futures in batch.items():
            for future in futures:
                if not future.done():  # a caller that gave up (its request went away)
                    future.set_result(members.get(telegram_id))


class ReferralService:
    def __init__(
        self,
        connections: Connections,
        *,
        signing_key: bytes,
        delivery: CodeDelivery,
        code_length: int = 4,
        code_ttl: int = 300,
        resend_cooldown: int = 60,
        hourly_limit: int = 5,
        default_region: str = "RU",
        show_full_phones: bool = False,
        admin_ids: Iterable[int] = (),
        milestones: Iterable[int] = (5, 10, 25, 50, 100),
        clock: Callable[[], datetime] = utcnow,
        invite_code_factory: Callable[[], str] = new_invite_code,
    ) -> None:
        self.connections = connections
        self.delivery = delivery
        self.code_length = code_length
        self.code_ttl = code_ttl
        self.resend_cooldown = resend_cooldown
        self.hourly_limit = hourly_limit
        self.default_region = default_region
        self.show_full_phones = show_full_phones
        self._key = signing_key
        self._clock = clock
        self._new_invite_code = invite_code_factory
        self.outages = Outages()
        self._telegram_lookups = TelegramLookups(self._fetch)
        self.addresses = AddressRequests(self._connection, clock=clock)
        self.operators = Operators(
            self._connection, admin_ids=admin_ids, default_region=default_region, clock=clock
        )
        self.growth = Growth(
            self._connection, milestones=milestones, shown_phone=self.shown_phone, clock=clock
        )
        self.events = EventOutbox(self._connection)
        self.broadcasts = Broadcasts(self._connection)

    def now(self) -> datetime:
        """The service's time (a test's clock in tests)."""
        return self._clock()

    def normalise_phone(self, raw: str) -> str | None:
        """E.164 form of a typed or shared phone number, or None if it cannot be a number."""
        return normalise_phone(raw, self.default_region)

    def shown_phone(self, phone: str | None) -> str | None:
        """A member's phone as other members see it (masked unless configured otherwise); None
        for an erased member."""
        if phone is None:
            return None
        return phone if self.show_full_phones else mask_phone(phone)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; DatabaseUnavailable when the database is out of reach or does
        not answer in time. When a connection turns out dead (the server restarted or went
        away), every pooled connection is replaced on its next use, so an outage fails few
        requests."""
        epoch = self.outages.epoch
        try:
            async with self.connections.acquire() as connection:
                try:
                    yield connection
                except (TimeoutError, asyncio.CancelledError):
                    # A statement was interrupted. asyncpg would hold the connection until the
                    # server confirmed the cancellation, which a hung server never does (a health
                    # probe waited as long as the server hung); a new connection costs less.
                    connection.terminate()
                    raise
        except Exception as error:
            if not _database_unavailable(error):
                raise
            if _connection_lost(error):
                await self.connections.expire_connections()
            raise self.outages.failed(error, epoch) from error
        self.outages.answered(epoch)

    async def _retrying(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, transaction: bool = True
    ) -> T:
        """Run `work` in a transaction (or, for one statement, in its own), again if it lost a
        deadlock, serialization or uniqueness race (a drawn invite code that is taken ends the
        same way)."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._connection() as connection:
                    if not transaction:
                        return await work(connection)
                    async with connection.transaction():
                        return await work(connection)
            except asyncpg.PostgresError as error:
                if error.sqlstate not in RETRIED_SQLSTATES or attempt == RETRIES:
                    raise
                log.debug("transaction retried after %s", error.sqlstate)
        raise AssertionError("unreachable")

    # The timeout is applied here rather than by the caller: running out of it is an outage.
    async def ping(self, *, timeout: float) -> None:  # noqa: ASYNC109
        """A round trip to the database within `timeout` seconds; raises DatabaseUnavailable."""
        epoch = self.outages.epoch
        try:
            async with asyncio.timeout(timeout), self._connection() as connection:
                await connection.fetchval("SELECT 1")
        except TimeoutError as error:  # no connection free, or no answer, in time
            raise self.outages.failed(error, epoch) from error

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
        async with self._connection() as connection:
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
            await self.delivery.deliver(phone, code, self.code_ttl)
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
            async with self._connection() as connection:
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

        One call of the database function `verify_code` (migration 0008): it locks the phone's
        code, compares the typed code's keyed hash in constant time, counts a wrong attempt or
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
        row = await self._retrying(
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
            return Verification(outcome, phone, member=_member(row), created=row["created"])
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
        async with self._connection() as connection:
            row = await connection.fetchrow(statement, value)
        return None if row is None else _member(row)

    async def member_by_telegram(self, telegram_id: int) -> Member | None:
        """The member linked to a Telegram account, if any."""
        return await self._one_member(MEMBER_BY_TELEGRAM, telegram_id)

    async def member_by_telegram_batched(self, telegram_id: int) -> Member | None:
        """`member_by_telegram`, looked up together with the others asked for at the same moment
        (`TelegramLookups`): for logins, which come in crowds, not for a chat's own updates, which
        come one at a time and should not wait a turn of the loop."""
        return await self._telegram_lookups.member(telegram_id)

    async def _fetch(self, statement: str, *values: Any) -> list[asyncpg.Record]:
        async with self._connection() as connection:
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
        async with self._connection() as connection:
            row = await connection.fetchrow(PROFILE, member_id)
        if row is None:
            return None
        return Profile(_member(row), row["inviter_code"], row["referral_count"])

    async def unlink_telegram(self, telegram_id: int) -> bool:
        """Forget which member a Telegram account belongs to; False if it was not linked."""
        async with self._connection() as connection:
            status: str = await connection.execute(UNLINK_ACCOUNT, telegram_id)
        return status != "UPDATE 0"

    async def set_language(self, member_id: int, language: str) -> bool:
        """Keep the language the member chose; False if the member is gone."""
        async with self._connection() as connection:
            status: str = await connection.execute(SET_LANGUAGE, member_id, language)
        return status != "UPDATE 0"

    # Privacy

    async def member_data(self, member_id: int) -> MemberData | None:
        """Everything kept about a member, for them to download; None if erased or gone."""
        async with self._connection() as connection:
            row = await connection.fetchrow(MEMBER_DATA, member_id)
        if row is None:
            return None
        referrals = zip(
            row["referral_ids"] or [],
            row["referral_phones"] or [],
            row["referral_times"] or [],
            strict=True,
        )
        return MemberData(
            phone=row["phone"],
            invite_code=row["invite_code"],
            telegram_id=row["telegram_id"],
            inviter_code=row["inviter_code"],
            invited_at=row["invited_at"],
            joined_at=row["created_at"],
            last_login_at=row["last_login_at"],
            language=row["language"],
            referrals=[
                Referral(id_, None if phone is None else mask_phone(phone), at)
                for id_, phone, at in referrals
            ],
        )

    async def erase_member(self, member_id: int) -> bool:
        """Erase a member in one transaction: phone, invite code (it stops working), Telegram
        link and language go; who invited whom stays, anonymised, so nobody's count drops.
        False if there was nobody to erase."""
        async with self._connection() as connection:
            erased = bool(await connection.fetchval(ERASE_MEMBER, member_id, self._clock()))
        if erased:
            log.info("member %d erased their data", member_id)
        return erased

    # Invitations

    async def activate_invite(self, member_id: int, raw_code: str) -> Activation:
        """Record who invited the member: once ever, never their own code, never a cycle.

        The rule runs in the database, as the function `activate_invite` (migration 0003): it
        walks the code's chain of inviters, locks the member and the top of the chain in the
        order of their ids (so that two members activating each other's codes queue instead of
        deadlocking), refuses in this order: member gone, already activated, own code, unknown
        code, cycle; then records the inviter and counts the referral."""
        activation = await self._activate_invite(member_id, raw_code)
        ACTIVATIONS.labels(activation.outcome.value).inc()
        return activation

    async def _activate_invite(self, member_id: int, raw_code: str) -> Activation:
        code = clean_invite_code(raw_code)
        if not code:
            return Activation(InviteOutcome.EMPTY)
        shaped = code if is_invite_code(code) else None  # a malformed code matches nobody
        row = await self._retrying(
            lambda connection: connection.fetchrow(
                ACTIVATE_INVITE,
                member_id,
                shaped,
                self._clock(),
                COUNT_SHARDS,
                SINGLE_ROW_REFERRALS,
                list(self.growth.milestones),
            ),
            transaction=False,
        )
        outcome = InviteOutcome(row["outcome"])
        if outcome is InviteOutcome.ALREADY_ACTIVATED:
            return Activation(outcome, row["found_code"])
        if outcome is not InviteOutcome.ACTIVATED:
            return Activation(outcome, code)
        inviter = Member(
            row["inviter_id"],
            row["inviter_phone"],
            code,
            row["inviter_telegram_id"],
            row["inviter_inviter_id"],
            row["inviter_invited_at"],
            row["inviter_language"],
        )
        log.info("member %d activated the code of member %d", member_id, inviter.id)
        return Activation(outcome, code, inviter, row["inviter_referrals"], row["milestone"])

    async def referrals_page(
        self,
        inviter_id: int,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
    ) -> ReferralPage:
        """A page of the people who joined with the member's code, in order of activation.

        Keyset pagination over (invited_at, id): every page costs the same at any depth.
        Raises ValueError for a cursor that this service did not make.
        """
        _, page = await self._profile_and_page(inviter_id, after, before, limit)
        return page

    async def profile_and_referrals(
        self, member_id: int, *, after: str | None = None, limit: int = 20
    ) -> tuple[Profile, ReferralPage] | None:
        """`profile` and the page of `referrals_page(after=...)`, read together in one round
        trip; None if the member is gone. Raises ValueError for a cursor it did not make."""
        profile, page = await self._profile_and_page(member_id, after, None, limit)
        return None if profile is None else (profile, page)

    async def _profile_and_page(
        self, member_id: int, after: str | None, before: str | None, limit: int
    ) -> tuple[Profile | None, ReferralPage]:
        if before is not None:
            statement, key = PROFILE_AND_PAGE_BEFORE, decode_cursor(before)
        else:
            statement = PROFILE_AND_PAGE_AFTER
            key = BEFORE_ANY_REFERRAL if after is None else decode_cursor(after)
        async with self._connection() as connection:
            rows = await connection.fetch(statement, member_id, *key, limit + 1)
        if not rows:
            return None, ReferralPage([], 0, None, None)
        top = rows[0]
        profile = Profile(_member(top), top["inviter_code"], top["referral_count"])
        found = [row for row in rows if row["referral_id"] is not None]
        more = len(found) > limit
        found = found[:limit]
        if before is not None:
            found.reverse()
        referrals = [
            Referral(
                row["referral_id"],
                self.shown_phone(row["referral_phone"]),
                row["referral_invited_at"],
            )
            for row in found
        ]
        has_next = more if before is None else True
        has_previous = more if before is not None else after is not None
        first, last = (referrals[0], referrals[-1]) if referrals else (None, None)
        page = ReferralPage(
            referrals,
            profile.referral_count,
            encode_cursor(last.invited_at, last.member_id) if has_next and last else None,
            encode_cursor(first.invited_at, first.member_id) if has_previous and first else None,
        )
        return profile, page


def create_service(connections: Connections, settings: Settings) -> ReferralService:
    """The service configured by the program's settings."""
    token = settings.telegram_gateway_token
    delivery = create_delivery(
        settings.code_delivery,
        chat_delay=settings.code_chat_delay,
        gateway_token=token.get_secret_value() if token else "",
        gateway_url=settings.telegram_gateway_url,
    )
    return ReferralService(
        connections,
        signing_key=settings.signing_key(),
        delivery=delivery,
        code_length=settings.code_length,
        code_ttl=settings.code_ttl,
        resend_cooldown=settings.code_resend_cooldown,
        hourly_limit=settings.code_hourly_limit,
        default_region=settings.default_region,
        show_full_phones=settings.referral_phone_visibility == "full",
        admin_ids=settings.admin_ids,
        milestones=settings.milestones,
    )
