"""Operators' broadcasts: a message for every reachable member, kept in PostgreSQL (`broadcasts`)
so that it survives a restart, sent by the broadcast job (jobs/broadcasts.py).

One instance at a time holds a broadcast's lease (renewed with each batch; it lapses if the
holder dies), so the rate limit is kept across instances. Recipients are taken in order of member
id after a cursor, a batch at a time: the cursor moves past a batch *before* it is sent and the
batch is kept as `in_flight` until its outcomes are recorded. A holder killed in between leaves
its batch in flight: the next holder counts those members as failed instead of sending to them
again, so nobody gets a broadcast twice.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

from db.connections import Database

log = logging.getLogger(__name__)


# Who a broadcast reaches: members with a Telegram account, not blocked, not unreachable.
AUDIENCE = "telegram_id IS NOT NULL AND blocked_at IS NULL AND unreachable_at IS NULL"
AUDIENCE_SIZE = f"SELECT count(*) FROM members WHERE {AUDIENCE}"
CREATE = """
INSERT INTO broadcasts (operator_id, chat_id, language, text, photo, total, created_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
RETURNING id
"""
SET_PROGRESS_MESSAGE = "UPDATE broadcasts SET progress_message_id = $2 WHERE id = $1"
BROADCAST_COLUMNS = """
id, operator_id, chat_id, language, text, photo, total, sent, unreachable, failed, status,
progress_message_id
"""
# The oldest broadcast being sent whose lease is free; a batch left in flight by a holder that
# died is counted as failed (whether it went out is unknown: it is not sent again).
TAKE_LEASE = """
WITH free AS (
    SELECT id FROM broadcasts
    WHERE status = 'sending' AND (lease_until IS NULL OR lease_until < now())
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE broadcasts AS b
SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
    failed = b.failed + cardinality(b.in_flight), in_flight = '{}'
FROM free WHERE b.id = free.id
RETURNING b.*
"""
# The next recipients, moving the cursor past them, if the lease is still ours and the broadcast
# still being sent; no row when it is not (cancelled, or the lease lapsed and was taken).
NEXT_BATCH = f"""
WITH mine AS (
    SELECT id, cursor, greatest(now(), paced_until) AS starts_at FROM broadcasts
    WHERE id = $1 AND lease_owner = $2 AND status = 'sending' FOR UPDATE
), batch AS (
    SELECT m.id, m.telegram_id FROM members AS m, mine
    WHERE m.id > mine.cursor AND m.{AUDIENCE.replace(" AND ", " AND m.")}
    ORDER BY m.id LIMIT $3
), moved AS (
    UPDATE broadcasts AS b
    SET cursor = coalesce((SELECT max(id) FROM batch), b.cursor),
        in_flight = coalesce((SELECT array_agg(id) FROM batch), '{{}}'),
        lease_until = now() + make_interval(secs => $4),
        paced_until = mine.starts_at
            + make_interval(secs => $5 * (SELECT count(*) FROM batch))
    FROM mine WHERE b.id = mine.id
    RETURNING b.id
)
SELECT (SELECT count(*) FROM moved) AS ours,
       coalesce((SELECT array_agg(id ORDER BY id) FROM batch), '{{}}') AS members,
       coalesce((SELECT array_agg(telegram_id ORDER BY id) FROM batch), '{{}}') AS chats,
       extract(epoch FROM (SELECT starts_at FROM mine) - now()) AS wait
"""
RECORD = """
WITH counted AS (
    UPDATE broadcasts
    SET sent = sent + $3, unreachable = unreachable + cardinality($4::bigint[]),
        failed = failed + $5,
        in_flight = '{}', paced_until = greatest(paced_until, now() + make_interval(secs => $6))
    WHERE id = $1 AND lease_owner = $2
    RETURNING sent, unreachable, failed
), marked AS (
    UPDATE members SET unreachable_at = now() WHERE id = ANY($4::bigint[])
)
SELECT * FROM counted
"""
FINISH = f"""
UPDATE broadcasts SET status = 'done', lease_owner = NULL, lease_until = NULL, finished_at = now()
WHERE id = $1 AND lease_owner = $2 AND status = 'sending'
RETURNING {BROADCAST_COLUMNS}
"""
RELEASE = "UPDATE broadcasts SET lease_until = NULL WHERE id = $1 AND lease_owner = $2"
CANCEL = """
UPDATE broadcasts SET status = 'cancelled', finished_at = now()
WHERE id = $1 AND status = 'sending'
RETURNING id
"""
READ = f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE id = $1"
REACHABLE_AGAIN = "UPDATE members SET unreachable_at = NULL WHERE id = $1"


class BroadcastStatus(StrEnum):
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: int
    operator_id: int
    chat_id: int  # the operator's chat, where the progress is shown
    language: str  # of the operator: progress and report
    text: str  # HTML; the caption when there is a photo
    photo: str | None  # a Telegram file_id
    total: int  # reachable members when it was confirmed
    sent: int
    unreachable: int
    failed: int
    status: BroadcastStatus
    progress_message_id: int | None

    @property
    def done(self) -> int:
        return self.sent + self.unreachable + self.failed


@dataclass(frozen=True, slots=True)
class Recipients:
    """A batch to send: members and their Telegram chats, in the same order."""

    members: list[int]
    chats: list[int]
    wait: float = 0.0  # seconds until the batch's time starts


def _broadcast(row: asyncpg.Record) -> Broadcast:
    return Broadcast(
        id=row["id"],
        operator_id=row["operator_id"],
        chat_id=row["chat_id"],
        language=row["language"],
        text=row["text"],
        photo=row["photo"],
        total=row["total"],
        sent=row["sent"],
        unreachable=row["unreachable"],
        failed=row["failed"],
        status=BroadcastStatus(row["status"]),
        progress_message_id=row["progress_message_id"],
    )


class Broadcasts:
    """Broadcasts as operators and the broadcast job reach them."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def audience_size(self) -> int:
        """Members a broadcast would reach now."""
        async with self._database.connection() as connection:
            size: int = await connection.fetchval(AUDIENCE_SIZE)
        return size

    async def create(
        self, *, operator: int, chat_id: int, language: str, text: str, photo: str | None
    ) -> Broadcast:
        """A broadcast to every reachable member, queued for the broadcast job."""
        async with self._database.connection() as connection, connection.transaction():
            total = await connection.fetchval(AUDIENCE_SIZE)
            broadcast_id = await connection.fetchval(
                CREATE, operator, chat_id, language, text, photo, total
            )
            row = await connection.fetchrow(READ, broadcast_id)
        log.info("operator %d started broadcast %d to %d members", operator, broadcast_id, total)
        return _broadcast(row)

    async def set_progress_message(self, broadcast_id: int, message_id: int) -> None:
        async with self._database.connection() as connection:
            await connection.execute(SET_PROGRESS_MESSAGE, broadcast_id, message_id)

    async def cancel(self, broadcast_id: int, *, operator: int) -> bool:
        """Stop a broadcast being sent; False if it had already ended."""
        async with self._database.connection() as connection:
            cancelled = await connection.fetchval(CANCEL, broadcast_id)
        if cancelled:
            log.info("operator %d cancelled broadcast %d", operator, broadcast_id)
        return cancelled is not None

    async def read(self, broadcast_id: int) -> Broadcast | None:
        async with self._database.connection() as connection:
            row = await connection.fetchrow(READ, broadcast_id)
        return None if row is None else _broadcast(row)

    async def take_lease(self, owner: str, *, hold: float) -> Broadcast | None:
        """The oldest broadcast being sent that nobody holds, now held by `owner`."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(TAKE_LEASE, owner, hold)
        return None if row is None else _broadcast(row)

    async def next_batch(
        self, broadcast_id: int, owner: str, size: int, *, hold: float, interval: float
    ) -> Recipients | None:
        """The next recipients (empty when all were reached), or None when the broadcast is no
        longer `owner`'s to send (cancelled, or its lease lapsed). The batch is given its time,
        `interval` seconds a message, after whatever the previous batch was given (by whichever
        instance), so that the rate holds across instances: `wait` says when it starts."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(NEXT_BATCH, broadcast_id, owner, size, hold, interval)
        if not row["ours"]:
            return None
        wait = float(row["wait"] or 0)
        return Recipients(list(row["members"]), list(row["chats"]), max(0.0, wait))

    async def record(
        self,
        broadcast_id: int,
        owner: str,
        *,
        sent: int,
        unreachable: list[int],
        failed: int,
        paced_ahead: float = 0.0,
    ) -> None:
        """The outcomes of the batch in flight; the members who blocked the bot are marked
        unreachable (skipped from now on, until they write to the bot again). `paced_ahead`:
        seconds from now before the next message may go (a 429's wait, say)."""
        async with self._database.connection() as connection:
            await connection.fetchrow(
                RECORD, broadcast_id, owner, sent, unreachable, failed, paced_ahead
            )

    async def finish(self, broadcast_id: int, owner: str) -> Broadcast | None:
        async with self._database.connection() as connection:
            row = await connection.fetchrow(FINISH, broadcast_id, owner)
        return None if row is None else _broadcast(row)

    async def release(self, broadcast_id: int, owner: str) -> None:
        """Hand the lease back at once (at shutdown), for another instance to go on."""
        async with self._database.connection() as connection:
            await connection.execute(RELEASE, broadcast_id, owner)

    async def reachable_again(self, member_id: int) -> None:
        """A member marked unreachable wrote to the bot: broadcasts reach them again."""
        async with self._database.connection() as connection:
            await connection.execute(REACHABLE_AGAIN, member_id)
