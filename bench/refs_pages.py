"""Database time of one page of an inviter's referrals at several depths: the statements the
service runs for the page (captured from its connection), each timed by `EXPLAIN (ANALYZE)`."""

import json
import statistics
from typing import Any

import asyncpg

from bench.seed import FIRST_REFERRAL, REFERRALS
from bot.handlers.referrals import PAGE_SIZE
from db.connections import asyncpg_dsn, create_pool
from db.invitations import encode_cursor
from db.service import ReferralService
from delivery import ChatDelivery

INVITER = 1  # the first seeded inviter; its referrals are FIRST_REFERRAL .. + REFERRALS - 1
REPEATS = 15
Statement = tuple[str, tuple[Any, ...]]


async def page_statements(url: str, depths: dict[str, int]) -> dict[str, list[Statement]]:
    """What the service sends to PostgreSQL for the page after `depth` referrals, per depth."""
    pool = await create_pool(url, min_size=1, max_size=1)
    captured: list[Statement] = []

    def capture(query: Any) -> None:
        captured.append((query.query, tuple(query.args)))

    service = ReferralService(pool, signing_key=b"bench", delivery=ChatDelivery(0))
    pages: dict[str, list[Statement]] = {}
    try:
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT id, invited_at FROM members WHERE id = ANY($1::bigint[])",
                [FIRST_REFERRAL + depth - 1 for depth in depths.values() if depth],
            )
            moments = {row["id"]: row["invited_at"] for row in rows}
            connection.add_query_logger(capture)  # the pool's one connection: the service's
        for name, depth in depths.items():
            after = None
            if depth:
                last_seen = FIRST_REFERRAL + depth - 1
                after = encode_cursor(moments[last_seen], last_seen)
            captured.clear()
            page = await service.invitations.referrals_page(INVITER, after=after, limit=PAGE_SIZE)
            assert page.referrals, f"no referrals on the {name} page"
            pages[name] = list(captured)
    finally:
        await pool.close()
    return pages


async def refs_page_db_ms(url: str) -> dict[str, float]:
    """Median database time (ms) of one page at the first, middle and last page."""
    depths = {"first": 0, "middle": REFERRALS // 2, "last": REFERRALS - PAGE_SIZE}
    pages = await page_statements(url, depths)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        timings = {}
        for name, statements in pages.items():
            totals = []
            for _ in range(REPEATS):
                total = 0.0
                for sql, parameters in statements:
                    plan = await connection.fetchval(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *parameters
                    )
                    total += json.loads(plan)[0]["Execution Time"]
                totals.append(total)
            timings[name] = statistics.median(totals)
    finally:
        await connection.close()
    return timings
