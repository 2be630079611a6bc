"""With `--profile`: what the program's database sessions do under load, sampled from
`pg_stat_activity`: running, waiting for a lock or the WAL, or idle in a transaction (waiting
for the program)."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from db.connections import asyncpg_dsn

INTERVAL = 0.02  # seconds between samples
SESSIONS = """
    SELECT state, wait_event_type, wait_event FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid() AND state <> 'idle'
"""


@asynccontextmanager
async def sampling(url: str) -> AsyncIterator[Counter[str]]:
    """Counts of busy sessions by what they do, and `samples` (how many times they were read)."""
    counts: Counter[str] = Counter()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            for row in await connection.fetch(SESSIONS):
                waiting = f", waiting {row['wait_event_type']}:{row['wait_event']}"
                counts[row["state"] + (waiting if row["wait_event"] else "")] += 1
            counts["samples"] += 1
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), INTERVAL)

    task = asyncio.create_task(sample())
    try:
        yield counts
    finally:
        done.set()
        await task
        await connection.close()


def summary(counts: Counter[str], top: int = 6) -> list[str]:
    samples = counts.pop("samples", 0)
    if not samples:
        return []
    lines = ["  database sessions of the program, on average (pg_stat_activity):"]
    lines += [f"    {count / samples:6.2f}  {what}" for what, count in counts.most_common(top)]
    return lines
