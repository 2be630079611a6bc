"""Invitations: the invitation rule (the database function in db/sql/activate_invite.sql), which
this module calls to activate a code and to tell, changing nothing, what activating one would do;
and the pages of a member's referrals, with their cursors."""

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from db.codes import clean_invite_code, is_invite_code
from db.connections import Database
from db.members import PROFILE_COLUMNS, read_member
from db.phones import PhoneDisplay, mask_phone
from db.referrals import Referrals
from db.results import (
    Activation,
    CodeOwner,
    InvitationOffer,
    InviteOutcome,
    Member,
    Profile,
    Referral,
    ReferralPage,
)
from db.tables import COUNT_SHARDS, SINGLE_ROW_REFERRALS
from metrics import ACTIVATIONS

log = logging.getLogger(__name__)

# Statements, in the tables of db/tables.py.

# The invitation rule, in one round trip: its current text is db/sql/activate_invite.sql.
ACTIVATE_INVITE = "SELECT * FROM activate_invite($1, $2, $3, $4, $5, $6, $7, $8, $9)"
CODE_OWNER = """
SELECT phone, blocked_at IS NOT NULL AS blocked FROM members
WHERE invite_code = $1 AND erased_at IS NULL
"""
# The profile and one page of referrals in one round trip: a row per referral (or one row with
# empty referral columns). Keyset over (invited_at, id), read from ix_members_referrals, with
# each referral's stage (reversed ones left out).
_PROFILE_AND_PAGE = f"""
WITH p AS MATERIALIZED (
    SELECT {PROFILE_COLUMNS} FROM members AS m WHERE m.id = $1 AND m.erased_at IS NULL
)
SELECT p.*, r.id AS referral_id, r.phone AS referral_phone, r.invited_at AS referral_invited_at,
       r.stage AS referral_stage, r.waits_for AS referral_waits_for, r.due_at AS referral_due_at
FROM p LEFT JOIN LATERAL (
    SELECT m.id, m.phone, m.invited_at, coalesce(s.stage, 'qualified') AS stage, s.waits_for,
           s.due_at
    FROM members AS m LEFT JOIN referrals AS s ON s.invitee_id = m.id
    WHERE m.inviter_id = p.id AND (m.invited_at, m.id) {{beyond}} ($2, $3)
      AND s.stage IS DISTINCT FROM 'reversed'
    ORDER BY m.invited_at {{order}}, m.id {{order}}
    LIMIT $4
) AS r ON true
"""
PROFILE_AND_PAGE_AFTER = _PROFILE_AND_PAGE.format(beyond=">", order="ASC")
PROFILE_AND_PAGE_BEFORE = _PROFILE_AND_PAGE.format(beyond="<", order="DESC")

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


def days_until(moment: datetime | None, now: datetime) -> int | None:
    """Whole days from `now` to `moment`, a part counting as one (at least 1)."""
    if moment is None:
        return None
    return max(1, -(-(moment - now) // timedelta(days=1)))


def _inviter(row: asyncpg.Record, code: str) -> Member:
    """The code's owner, from a row of `activate_invite` that activated (or would)."""
    return Member(
        row["inviter_id"],
        row["inviter_phone"],
        code,
        row["inviter_telegram_id"],
        row["inviter_inviter_id"],
        row["inviter_invited_at"],
        row["inviter_language"],
    )


class Invitations:
    """Activations and referral pages, over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        milestones: Sequence[int],
        referrals: Referrals,
        phones: PhoneDisplay,
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self._milestones = milestones
        self._referrals = referrals
        self._phones = phones
        self._clock = clock

    async def activate_invite(self, member_id: int, raw_code: str) -> Activation:
        """Record who invited the member: once ever, never their own code, never a cycle.

        The rule runs in the database, as the function in db/sql/activate_invite.sql: it walks
        the code's chain of inviters, locks the member and the top of the chain in the order of
        their ids (so that two members activating each other's codes queue instead of
        deadlocking), refuses in this order: member gone, already activated, own code, unknown
        code, cycle; then records the inviter and counts the referral."""
        activation = await self._activate_invite(member_id, raw_code)
        ACTIVATIONS.labels(activation.outcome.value).inc()
        return activation

    async def _activate_invite(self, member_id: int, raw_code: str) -> Activation:
        code = clean_invite_code(raw_code)
        if not code:
            return Activation(InviteOutcome.EMPTY)
        row = await self._database.retrying(
            lambda connection: self._activation(connection, member_id, code), transaction=False
        )
        outcome = InviteOutcome(row["outcome"])
        if outcome is InviteOutcome.ALREADY_ACTIVATED:
            return Activation(outcome, row["found_code"])
        if outcome is not InviteOutcome.ACTIVATED:
            return Activation(outcome, code)
        inviter = _inviter(row, code)
        log.info("member %d activated the code of member %d", member_id, inviter.id)
        return Activation(outcome, code, inviter, row["inviter_referrals"], row["milestone"])

    async def invitation_offer(self, member_id: int, raw_code: str) -> InvitationOffer:
        """What `activate_invite` would answer now, and whose code it is: the same database
        function, run in a transaction that is rolled back, so the rule has no copy here and
        nothing changes. For a member who opened somebody's link, before asking them."""
        code = clean_invite_code(raw_code)
        if not code:
            return InvitationOffer(InviteOutcome.EMPTY)

        async def rolled_back(connection: asyncpg.Connection) -> asyncpg.Record:
            transaction = connection.transaction()
            await transaction.start()
            try:
                return await self._activation(connection, member_id, code)
            finally:
                await transaction.rollback()

        row = await self._database.retrying(rolled_back, transaction=False)
        outcome = InviteOutcome(row["outcome"])
        if outcome is InviteOutcome.ALREADY_ACTIVATED:
            return InvitationOffer(outcome, row["found_code"])
        owner = _inviter(row, code) if outcome is InviteOutcome.ACTIVATED else None
        return InvitationOffer(outcome, code, owner)

    async def code_owner(self, raw_code: str) -> CodeOwner | None:
        """Whose `raw_code` is, for anybody who opened a link with it (no member needed): the
        owner's masked phone and whether the code is suspended; None if nobody has it."""
        code = clean_invite_code(raw_code)
        if not is_invite_code(code):
            return None
        async with self._database.connection() as connection:
            row = await connection.fetchrow(CODE_OWNER, code)
        if row is None:
            return None
        return CodeOwner(code, mask_phone(row["phone"]), row["blocked"])

    async def _activation(
        self, connection: asyncpg.Connection, member_id: int, code: str
    ) -> asyncpg.Record:
        shaped = code if is_invite_code(code) else None  # a malformed code matches nobody
        now = self._clock()
        row: asyncpg.Record = await connection.fetchrow(
            ACTIVATE_INVITE,
            member_id,
            shaped,
            now,
            COUNT_SHARDS,
            SINGLE_ROW_REFERRALS,
            list(self._milestones),
            *self._referrals.terms(now),
        )
        return row

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
        async with self._database.connection() as connection:
            rows = await connection.fetch(statement, member_id, *key, limit + 1)
        if not rows:
            return None, ReferralPage([], 0, None, None)
        top = rows[0]
        profile = Profile(read_member(top), top["inviter_code"], top["referral_count"])
        found = [row for row in rows if row["referral_id"] is not None]
        more = len(found) > limit
        found = found[:limit]
        if before is not None:
            found.reverse()
        now = self._clock()
        referrals = [
            Referral(
                row["referral_id"],
                self._phones.referral(row["referral_phone"]),
                row["referral_invited_at"],
                row["referral_stage"],
                row["referral_waits_for"],
                row["referral_due_at"],
                days_until(row["referral_due_at"], now),
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
