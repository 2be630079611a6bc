"""Referral stages: a referral (an activation) is pending until QUALIFY's rule qualifies it, is
counted once qualified, and stays reversible for HOLD_DAYS. Each change is one statement over
the functions of db/sql/referrals.sql, which lock the referral's row first and move the counts,
so it happens once however many instances, jobs or operators try at the same time; the outbox's
trigger writes referral.qualified and referral.reversed in its transaction."""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import asyncpg

from db.connections import Database
from db.results import PendingPage, PendingReferral, StageChange, StageOutcome
from db.tables import COUNT_SHARDS, SINGLE_ROW_REFERRALS
from settings import Qualify

log = logging.getLogger(__name__)

REASON_LIMIT = 500  # characters kept of a reason
JOB_BATCH = 500  # referrals the job changes per statement

# Statements, in the tables of db/tables.py.

QUALIFY = "SELECT * FROM qualify_referral($1, $2, $3, $4, $5, $6, $7, $8)"
REVERSE = "SELECT * FROM reverse_referral($1, $2, $3, $4, $5, $6, $7)"
# The due ones (in_chats:<N>d), a batch at a time; those another instance holds are skipped.
QUALIFY_DUE = """
SELECT q.outcome FROM (
    SELECT invitee_id FROM referrals WHERE stage = 'pending' AND due_at <= $1
    ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
) AS due, LATERAL qualify_referral(due.invitee_id, $1, 'time', NULL, $3, $4, $5, $6) AS q
"""
END_HOLDS = """
UPDATE referrals SET hold_until = NULL
WHERE invitee_id IN (
    SELECT invitee_id FROM referrals WHERE stage = 'qualified' AND hold_until <= $1
    ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""
PENDING_PAGE = """
SELECT r.invitee_id, i.invite_code AS invitee_code, r.inviter_id, o.invite_code AS inviter_code,
       r.waits_for, r.activated_at, r.due_at
FROM referrals AS r
JOIN members AS i ON i.id = r.invitee_id JOIN members AS o ON o.id = r.inviter_id
WHERE r.stage = 'pending' AND r.invitee_id > $1
ORDER BY r.invitee_id LIMIT $2
"""


class ReferralTerms(NamedTuple):
    """How a new referral starts: what it waits for (None: qualified at once), when it
    qualifies by time, and until when a referral qualified at once stays reversible."""

    waits_for: str | None
    due_at: datetime | None
    hold_until: datetime | None


class Referrals:
    """Stage changes of referrals, over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        qualify: Qualify,
        hold_days: int,
        milestones: Sequence[int],
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self._qualify = qualify
        self._hold = timedelta(days=hold_days)
        self._milestones = list(milestones)
        self._clock = clock

    def terms(self, at: datetime) -> ReferralTerms:
        """The start of a referral activated at `at`, by QUALIFY and HOLD_DAYS."""
        if self._qualify.rule == "activation":
            return ReferralTerms(None, None, self._hold_until(at))
        due = at + timedelta(days=self._qualify.days) if self._qualify.days else None
        return ReferralTerms(self._qualify.rule, due, None)

    def _hold_until(self, at: datetime) -> datetime | None:
        return at + self._hold if self._hold else None

    async def qualify(
        self, invitee_id: int, *, reason: str, operator: int | None = None
    ) -> StageChange:
        """Count a pending referral (an operator's approval, the system's confirmation, the
        invitee in the required chats); anything but a pending one stays as it is."""
        now = self._clock()
        row = await self._database.retrying(
            lambda connection: connection.fetchrow(
                QUALIFY,
                invitee_id,
                now,
                reason[:REASON_LIMIT],
                operator,
                self._hold_until(now),
                COUNT_SHARDS,
                SINGLE_ROW_REFERRALS,
                self._milestones,
            ),
            transaction=False,
        )
        change = _change(row)
        log.info("referral of member %d: %s (%s)", invitee_id, change.outcome.value, reason)
        return change

    async def reverse(
        self, invitee_id: int, *, reason: str, operator: int | None = None
    ) -> StageChange:
        """Take a referral back: a pending one, or a qualified one during its hold; an
        operator (`operator`) reverses a qualified one at any time."""
        row = await self._database.retrying(
            lambda connection: reverse_in(
                connection,
                invitee_id,
                at=self._clock(),
                reason=reason,
                by=operator,
                as_operator=operator is not None,
            ),
            transaction=False,
        )
        change = _change(row)
        log.info("referral of member %d: %s (%s)", invitee_id, change.outcome.value, reason)
        return change

    async def run_due(self) -> int:
        """One step of the job: qualify a batch of referrals whose time has come and end a
        batch of holds that are over; how many changed (0: nothing is due)."""
        now = self._clock()
        qualified = await self._database.retrying(
            lambda connection: connection.fetch(
                QUALIFY_DUE,
                now,
                JOB_BATCH,
                self._hold_until(now),
                COUNT_SHARDS,
                SINGLE_ROW_REFERRALS,
                self._milestones,
            )
        )
        status = await self._database.retrying(
            lambda connection: connection.execute(END_HOLDS, now, JOB_BATCH)
        )
        ended = int(status.split()[-1])
        if qualified or ended:
            log.info("referrals: %d qualified by time, %d holds ended", len(qualified), ended)
        return len(qualified) + ended

    async def pending(self, *, after: int = 0, limit: int = 20) -> PendingPage:
        """The pending referrals in order of invitee, a page at a time (keyset: `after` is the
        last invitee of the previous page)."""
        async with self._database.connection() as connection:
            rows = await connection.fetch(PENDING_PAGE, after, limit + 1)
        found = [PendingReferral(**dict(row)) for row in rows[:limit]]
        more = len(rows) > limit
        return PendingPage(found, found[-1].invitee_id if more and found else None)


async def reverse_in(
    connection: asyncpg.Connection,
    invitee_id: int,
    *,
    at: datetime,
    reason: str,
    by: int | None = None,
    as_operator: bool = False,
) -> asyncpg.Record:
    """`Referrals.reverse` on the caller's connection, in the caller's transaction (a block, an
    erasure): their referral, if pending or held, goes with the change that causes it."""
    row: asyncpg.Record = await connection.fetchrow(
        REVERSE,
        invitee_id,
        at,
        reason[:REASON_LIMIT],
        by,
        as_operator,
        COUNT_SHARDS,
        SINGLE_ROW_REFERRALS,
    )
    return row


def _change(row: asyncpg.Record) -> StageChange:
    return StageChange(
        StageOutcome(row["outcome"]),
        row["inviter_id"],
        row["referrals"],
        row.get("milestone"),
    )
