"""The outbox of outbound events: rows written by triggers in the transaction of the change that
causes them (db/sql/events.sql), claimed by the delivery job (jobs/events.py) with
`FOR UPDATE SKIP LOCKED`, deleted once delivered, kept as failed after the retry period.

Each event is one row per receiver (`target`: its place in EVENTS_URL), so a dead receiver holds
back only its own stream. The triggers run only on connections whose `referral.event_targets`
setting names how many receivers there are (`event_session_settings`): without EVENTS_URL a
change costs what it cost before.
"""

import logging
import random
from typing import NamedTuple

from db.connections import Database
from settings import Settings

log = logging.getLogger(__name__)


def event_settings(settings: Settings) -> dict[str, str]:
    """The connection settings of the program's pool: events on where EVENTS_URL is set."""
    return event_session_settings(
        len(settings.events_url), include_phones=settings.events_include_phones
    )


def event_session_settings(targets: int, *, include_phones: bool) -> dict[str, str]:
    """The connection settings that turn the triggers on, for `targets` receivers."""
    if not targets:
        return {}
    return {
        "referral.event_targets": str(targets),
        "referral.event_phones": "on" if include_phones else "off",
    }


# Statements of the delivery job.

# The oldest due events, at most one per member and receiver: an event waits while an earlier one
# of its member for the same receiver is pending (claimed or not), which keeps each member's order.
CLAIM = """
WITH due AS (
    SELECT e.seq FROM outbox_events AS e
    WHERE e.state = 'pending' AND e.next_attempt_at <= now()
      AND (e.claimed_until IS NULL OR e.claimed_until < now())
      AND NOT EXISTS (
          SELECT FROM outbox_events AS p
          WHERE p.member_id = e.member_id AND p.target = e.target AND p.state = 'pending'
            AND p.seq < e.seq
      )
    ORDER BY e.seq LIMIT $1
    FOR UPDATE OF e SKIP LOCKED
)
UPDATE outbox_events AS e
SET claimed_until = now() + make_interval(secs => $2), attempts = e.attempts + 1
FROM due WHERE e.seq = due.seq
RETURNING e.seq, e.id, e.target, e.member_id, e.type, e.body, e.attempts
"""
DELIVERED = "DELETE FROM outbox_events WHERE seq = ANY($1::bigint[])"
# Tried again after a delay, or kept as failed once the next try would fall after the period.
RETRY_LATER = """
UPDATE outbox_events AS e
SET claimed_until = NULL, last_error = r.error,
    next_attempt_at = now() + make_interval(secs => r.delay),
    state = CASE WHEN now() + make_interval(secs => r.delay)
                      > e.retrying_since + make_interval(secs => $4) THEN 'failed'
                 ELSE 'pending' END
FROM unnest($1::bigint[], $2::float8[], $3::text[]) AS r(seq, delay, error)
WHERE e.seq = r.seq
RETURNING e.state
"""
RELEASE = """
UPDATE outbox_events SET claimed_until = NULL, attempts = attempts - 1
WHERE seq = ANY($1::bigint[])
"""
COUNTS = """
SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) FILTER (WHERE state = 'failed') AS failed
FROM outbox_events
"""
REQUEUE_FAILED = """
UPDATE outbox_events
SET state = 'pending', attempts = 0, next_attempt_at = now(), retrying_since = now(),
    claimed_until = NULL
WHERE state = 'failed'
"""


class ClaimedEvent(NamedTuple):
    seq: int
    id: str
    target: int
    member_id: int | None
    type: str
    body: str
    attempts: int


class EventCounts(NamedTuple):
    pending: int
    failed: int


class Retry(NamedTuple):
    seq: int
    delay: float  # seconds
    error: str


def backoff(attempts: int, *, base: float, ceiling: float = 3600.0) -> float:
    """Seconds before the next try of an event tried `attempts` times: exponential, capped at
    an hour, with full jitter between half and the whole of it (receivers recovering from an
    outage are not hit by every sender at once)."""
    delay: float = min(ceiling, base * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


class EventOutbox:
    """The outbox as the delivery job and operators reach it."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, limit: int, *, hold: float) -> list[ClaimedEvent]:
        """Up to `limit` due events, held by this caller for `hold` seconds (then free again)."""
        async with self._database.connection() as connection:
            rows = await connection.fetch(CLAIM, limit, hold)
        return [
            ClaimedEvent(
                row["seq"],
                str(row["id"]),
                row["target"],
                row["member_id"],
                row["type"],
                row["body"],
                row["attempts"],
            )
            for row in sorted(rows, key=lambda row: row["seq"])
        ]

    async def delivered(self, seqs: list[int]) -> None:
        if seqs:
            async with self._database.connection() as connection:
                await connection.execute(DELIVERED, seqs)

    async def retry_later(self, retries: list[Retry], *, give_up_after: float) -> int:
        """Schedule the next tries; the number of events that were given up (kept as failed)."""
        if not retries:
            return 0
        async with self._database.connection() as connection:
            states = await connection.fetch(
                RETRY_LATER,
                [retry.seq for retry in retries],
                [retry.delay for retry in retries],
                [retry.error for retry in retries],
                give_up_after,
            )
        return sum(1 for row in states if row["state"] == "failed")

    async def release(self, seqs: list[int]) -> None:
        """Hand claimed events back untried (at shutdown)."""
        if seqs:
            async with self._database.connection() as connection:
                await connection.execute(RELEASE, seqs)

    async def counts(self) -> EventCounts:
        """Events waiting for delivery (or a retry), and events given up."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(COUNTS)
        return EventCounts(row["pending"], row["failed"])

    async def requeue_failed(self, *, operator: int) -> int:
        """Failed events pending again, with a new retry period, at an operator's request (whose
        Telegram id the log keeps); how many."""
        async with self._database.connection() as connection:
            status: str = await connection.execute(REQUEUE_FAILED)
        requeued = int(status.split()[-1])
        log.info("operator %d requeued %d failed events", operator, requeued)
        return requeued
