"""The API's limit of requests per client address, counted in PostgreSQL: every process of the
program (WEB_WORKERS) counts into the same rows, so the limit holds once, not once per process.

A row keeps the accepted request times of an address within the window (at most `limit` of them);
rows idle for a whole window are deleted now and then, so the table holds the addresses of the
last window only."""

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from db.connections import Database

# The request is counted only if fewer than $3 were accepted after the window's start ($4);
# times that left the window are dropped in the same statement. (On the right of SET, `a` is the
# row as it was: both columns are decided on the same times.)
COUNT_REQUEST = """
INSERT INTO address_requests AS a (address, times, last_at, last_accepted)
VALUES ($1, ARRAY[$2::timestamptz], $2, true)
ON CONFLICT (address) DO UPDATE SET
    times = (
        SELECT CASE WHEN count(*) >= $3 THEN coalesce(array_agg(t ORDER BY t), '{}')
                    ELSE coalesce(array_agg(t ORDER BY t), '{}') || $2::timestamptz END
        FROM unnest(a.times) AS t
        WHERE t > $4
    ),
    last_accepted = (SELECT count(*) < $3 FROM unnest(a.times) AS t WHERE t > $4),
    last_at = $2
RETURNING times, last_accepted
"""
FORGET_IDLE = "DELETE FROM address_requests WHERE last_at <= $1"


class AddressRequests:
    """At most `limit` requests per client address in any sliding window of `window` seconds."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime],
        forget_every: int = 1000,
    ) -> None:
        self._database = database
        self._clock = clock
        self.forget_every = forget_every  # counted requests between two deletions of idle rows
        self._since_forgetting = 0

    async def count(self, address: str, *, limit: int, window: float) -> int:
        """Count a request of `address`; 0 when it is allowed, else the seconds until one more
        would be."""
        now = self._clock()
        start = now - timedelta(seconds=window)
        self._since_forgetting += 1
        async with self._database.connection() as connection:
            if self._since_forgetting >= self.forget_every:
                self._since_forgetting = 0
                await connection.execute(FORGET_IDLE, start)
            row = await connection.fetchrow(COUNT_REQUEST, address, now, limit, start)
        if row["last_accepted"]:
            return 0
        oldest: datetime = row["times"][0]
        return max(1, math.ceil((oldest - start).total_seconds()))
