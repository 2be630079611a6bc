"""The `top` part of the bench: database time of one `/top` (the leaders of this month and of all
time, and the asker's place on each) over the seeded million members.

The seed's referrals all belong to eight inviters, which makes a short leaderboard. For this part
the counters `/top` reads are filled as a large program's would be: `RANKED` members with
referrals of all time and `RANKED_THIS_MONTH` this month, counts skewed as referral programs are
(P(count >= k) ~ k^-0.83: most have one or two, few have dozens; plus the seed's eight inviters of
100,000), reached at random times, with their rank buckets recounted; then vacuumed, as
autovacuum keeps them. Each asker's
statements (captured from the service's connection) are timed by `EXPLAIN (ANALYZE)`, the median
of `REPEATS`; the rows are removed afterwards.

The askers: the leader (member 1, 100,000 referrals), a member in the middle, and the last one
(one referral, reached last: the most entries ahead of them to count).
"""

import logging
from functools import partial

import asyncpg

from bench.admin import captured, explained_ms
from bench.seed import FILL_RANK_BUCKETS, MEMBERS
from db.connections import asyncpg_dsn, create_pool
from db.service import ReferralService
from delivery import ChatDelivery

log = logging.getLogger("bench")

RANKED = 300_000
RANKED_THIS_MONTH = 60_000
FIRST_RANKED = 500_000  # seeded members (referrals of the 100,000-inviters); the ranked ones follow
MAX_TOP_DB_MS = 20.0  # the target, for the asker's place and both boards together

_COUNT = "least(63, floor(power(random(), -1.2)))::int"  # P(count >= k) = k^(-1/1.2)
FILL_ALL_TIME = f"""
INSERT INTO referral_counts (member_id, shard, referrals, reached_at)
SELECT id, 0, {_COUNT}, now() - random() * interval '365 days'
FROM generate_series($1::bigint, $2::bigint) AS id
ON CONFLICT DO NOTHING
"""
FILL_THIS_MONTH = f"""
INSERT INTO referral_month_counts (month, member_id, shard, referrals, reached_at)
SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, id, 0, {_COUNT},
       greatest(date_trunc('month', now()), now() - random() * interval '20 days')
FROM generate_series($1::bigint, $2::bigint) AS id
ON CONFLICT DO NOTHING
"""
REMOVE = """
WITH a AS (DELETE FROM referral_counts WHERE member_id BETWEEN $1 AND $2)
DELETE FROM referral_month_counts WHERE member_id BETWEEN $1 AND $2
"""
LAST_ASKER = """
SELECT member_id FROM referral_counts
WHERE shard = 0 AND reached_at IS NOT NULL AND member_id BETWEEN $1 AND $2 AND referrals = 1
ORDER BY reached_at DESC LIMIT 1
"""
RANKED_COUNT = "SELECT count(*) FROM referral_counts WHERE shard = 0 AND reached_at IS NOT NULL"
MIDDLE_ASKER = """
SELECT member_id FROM referral_counts
WHERE shard = 0 AND member_id BETWEEN $1 AND $2 AND referrals = 3 LIMIT 1
"""


async def _recount_buckets(connection: asyncpg.Connection) -> None:
    async with connection.transaction():
        await connection.execute("TRUNCATE referral_rank_buckets")
        await connection.execute(FILL_RANK_BUCKETS)


async def _fill(url: str, last_ranked: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("SELECT setseed(0.42)")
        await connection.execute(FILL_ALL_TIME, FIRST_RANKED, last_ranked)
        await connection.execute(
            FILL_THIS_MONTH, FIRST_RANKED, FIRST_RANKED + RANKED_THIS_MONTH - 1
        )
        await _recount_buckets(connection)
        await connection.execute(
            "VACUUM ANALYZE referral_counts, referral_month_counts, referral_rank_buckets"
        )
    finally:
        await connection.close()


async def _remove(url: str, last_ranked: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(REMOVE, FIRST_RANKED, last_ranked)
        await _recount_buckets(connection)
        await connection.execute(
            "VACUUM ANALYZE referral_counts, referral_month_counts, referral_rank_buckets"
        )
    finally:
        await connection.close()


async def top_db_ms(url: str) -> dict[str, float]:
    """Median database time (ms) of one `/top`, per asker."""
    last_ranked = min(FIRST_RANKED + RANKED - 1, MEMBERS)
    pool = await create_pool(url, min_size=1, max_size=1)
    service = ReferralService(pool, signing_key=b"bench", delivery=ChatDelivery(0))
    try:
        await _fill(url, last_ranked)
        async with pool.acquire() as connection:
            askers = {
                "leader": 1,
                "middle": await connection.fetchval(MIDDLE_ASKER, FIRST_RANKED, last_ranked),
                "last": await connection.fetchval(LAST_ASKER, FIRST_RANKED, last_ranked),
            }
        timings = {}
        for name, member_id in askers.items():
            statements = await captured(pool, partial(service.growth.leaderboards, member_id))
            async with pool.acquire() as connection:
                timings[name] = await explained_ms(connection, statements)
            boards = await service.growth.leaderboards(member_id)
            log.info(
                "top: %s (member %d) is %s of all time, %s this month (of %d ranked)",
                name,
                member_id,
                boards.all_time.place,
                boards.this_month.place,
                await pool.fetchval(RANKED_COUNT),
            )
    finally:
        await pool.close()
        await _remove(url, last_ranked)
    return timings
