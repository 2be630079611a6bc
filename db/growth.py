"""Growth: the leaderboard (this month and all time), progress to the next milestone, and the
QR code's file kept for the bot. Milestones themselves are recorded by the activation
(`activate_invite`, migration 0006) in its transaction.

The leaderboard reads the counters the activation keeps (`referral_counts`, and
`referral_month_counts` per month), ranked by the index on their shard 0 (referrals DESC,
reached_at, member_id). A member's count is that one row until it has SINGLE_ROW_REFERRALS
referrals, and only then spreads over the shards: the few members past it ("big") are summed
apart and merged in. So the ten leaders are two short index scans. A member's place is summed
from `referral_rank_buckets` (members per count, and per count and day reached, which the
activation keeps), plus a count within their own day and the big members: no count of everybody
ahead of them.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime

import asyncpg

from db.connections import Database
from db.phones import PhoneDisplay
from db.results import Leader, Leaderboard, MilestoneProgress, TopBoards
from db.tables import ALL_TIME_BOARD, SINGLE_ROW_REFERRALS

TOP_PLACES = 10

_ALL_TIME = {
    "table": "referral_counts",
    "key": "true",
    "board": f"'{ALL_TIME_BOARD.isoformat()}'::date",
}
_MONTH = {"table": "referral_month_counts", "key": "month = $3", "board": "$3"}

# The members past SINGLE_ROW_REFERRALS ($1), summed over their shards.
_BIG = """
SELECT c.member_id, sum(c.referrals)::int AS referrals, max(c.reached_at) AS reached_at
FROM {table} AS c
WHERE {key} AND c.member_id IN (
    SELECT member_id FROM {table}
    WHERE {key} AND shard = 0 AND reached_at IS NOT NULL AND referrals >= $1
)
GROUP BY c.member_id
"""
# The $2 leaders: the big ones and the first of the others, from the ranking index. Erasure takes
# a member's counts off the index (reached_at NULL); the filter covers an erasure racing an
# activation that counted a new row for them.
_LEADERS = f"""
WITH big AS ({_BIG}), small AS (
    SELECT member_id, referrals, reached_at FROM {{table}}
    WHERE {{key}} AND shard = 0 AND reached_at IS NOT NULL AND referrals < $1
    ORDER BY referrals DESC, reached_at, member_id LIMIT $2
), leaders AS (
    SELECT * FROM big UNION ALL SELECT * FROM small
)
SELECT l.member_id, l.referrals, m.phone
FROM leaders AS l JOIN members AS m ON m.id = l.member_id AND m.erased_at IS NULL
ORDER BY l.referrals DESC, l.reached_at, l.member_id LIMIT $2
"""
# A member's ($2) count and place: 1 + the big members ahead + (below SINGLE_ROW_REFERRALS) the
# others with more (the buckets of larger counts), with as many reached on an earlier day (the
# buckets of their count's earlier days), and with as many reached earlier on the same day (a
# range of the ranking index: one day's worth at most).
_PLACE = f"""
WITH mine AS (
    SELECT sum(referrals)::int AS referrals, max(reached_at) AS reached_at,
           (max(reached_at) AT TIME ZONE 'UTC')::date AS day
    FROM {{table}} WHERE {{key}} AND member_id = $2
), big AS ({_BIG})
SELECT mine.referrals,
       1 + (SELECT count(*) FROM big
            WHERE big.referrals > mine.referrals
               OR (big.referrals = mine.referrals
                   AND (big.reached_at, big.member_id) < (mine.reached_at, $2)))
         + CASE WHEN mine.referrals >= $1 THEN 0 ELSE
             (SELECT coalesce(sum(b.members), 0) FROM referral_rank_buckets AS b
              WHERE b.board = {{board}} AND b.day = 'infinity' AND b.referrals > mine.referrals)
           + (SELECT coalesce(sum(b.members), 0) FROM referral_rank_buckets AS b
              WHERE b.board = {{board}} AND b.referrals = mine.referrals AND b.day < mine.day)
           + (SELECT count(*) FROM {{table}}
              WHERE {{key}} AND shard = 0 AND reached_at IS NOT NULL AND referrals < $1
                AND referrals = mine.referrals
                AND reached_at >= (mine.day::timestamp AT TIME ZONE 'UTC')
                AND (reached_at, member_id) < (mine.reached_at, $2))
           END AS place
FROM mine WHERE mine.referrals IS NOT NULL
"""
LEADERS_ALL_TIME = _LEADERS.format(**_ALL_TIME)
LEADERS_OF_MONTH = _LEADERS.format(**_MONTH)
PLACE_ALL_TIME = _PLACE.format(**_ALL_TIME)
PLACE_IN_MONTH = _PLACE.format(**_MONTH)

QR_FILE = "SELECT file_id FROM member_qr_codes WHERE member_id = $1 AND link = $2"
KEEP_QR_FILE = """
INSERT INTO member_qr_codes (member_id, link, file_id) VALUES ($1, $2, $3)
ON CONFLICT (member_id) DO UPDATE SET link = excluded.link, file_id = excluded.file_id
"""


def month_of(moment: datetime) -> date:
    """The first day of the month (UTC) a moment belongs to: the monthly board's key."""
    return moment.astimezone(UTC).date().replace(day=1)


def milestone_progress(milestones: Sequence[int], referrals: int) -> MilestoneProgress:
    """The milestone reached and the next one, for a count of referrals."""
    reached = max((goal for goal in milestones if goal <= referrals), default=None)
    upcoming = min((goal for goal in milestones if goal > referrals), default=None)
    return MilestoneProgress(referrals, reached, upcoming)


class Growth:
    """The leaderboard and the QR code's file, over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        milestones: Iterable[int],
        phones: PhoneDisplay,
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self.milestones = tuple(sorted(milestones))
        self._phones = phones
        self._clock = clock

    def progress(self, referrals: int) -> MilestoneProgress:
        """Where a member with `referrals` stands between the milestones."""
        return milestone_progress(self.milestones, referrals)

    def next_milestone(self, reached: int) -> int | None:
        """The milestone after `reached`, if any."""
        return self.progress(reached).next

    async def leaderboards(self, member_id: int, *, limit: int = TOP_PLACES) -> TopBoards:
        """The `limit` members with most referrals this month and of all time (ties: who
        reached the count first), and the member's own place on each."""
        month = month_of(self._clock())
        single = SINGLE_ROW_REFERRALS
        async with (
            self._database.connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            month_leaders = await connection.fetch(LEADERS_OF_MONTH, single, limit, month)
            month_place = await connection.fetchrow(PLACE_IN_MONTH, single, member_id, month)
            all_leaders = await connection.fetch(LEADERS_ALL_TIME, single, limit)
            all_place = await connection.fetchrow(PLACE_ALL_TIME, single, member_id)
        return TopBoards(
            month=month,
            this_month=self._board(month_leaders, month_place),
            all_time=self._board(all_leaders, all_place),
        )

    def _board(self, leaders: list[asyncpg.Record], own: asyncpg.Record | None) -> Leaderboard:
        return Leaderboard(
            leaders=[
                Leader(
                    place, row["member_id"], self._phones.referral(row["phone"]), row["referrals"]
                )
                for place, row in enumerate(leaders, start=1)
            ],
            place=None if own is None else own["place"],
            referrals=0 if own is None else own["referrals"],
        )

    async def qr_file(self, member_id: int, link: str) -> str | None:
        """Telegram's file_id of the member's QR code of `link`, if the bot uploaded one."""
        async with self._database.connection() as connection:
            file_id: str | None = await connection.fetchval(QR_FILE, member_id, link)
        return file_id

    async def keep_qr_file(self, member_id: int, link: str, file_id: str) -> None:
        """Keep the file_id of the member's QR code of `link` (replacing one of another link)."""
        async with self._database.connection() as connection:
            await connection.execute(KEEP_QR_FILE, member_id, link, file_id)
