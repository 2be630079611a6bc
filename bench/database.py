"""The bench's own database, apart from every other: embedded PostgreSQL in `.data/bench/`, or a
database named `referral_bench` on the server of `DATABASE_URL` (created if missing)."""

import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.connections import asyncpg_dsn
from runtime.database import embedded_postgres

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".data" / "bench"
BENCH_DATABASE = "referral_bench"


async def create_database_if_missing(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`, created if it does not exist."""
    url = make_url(server_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    admin = await asyncpg.connect(asyncpg_dsn(url.render_as_string(hide_password=False)))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


class BenchBusy(Exception):
    """Another bench run holds the bench database."""


@contextmanager
def exclusive_run() -> Iterator[None]:
    """One bench run at a time: two would reset and load each other's database and machine."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with (BENCH_DIR / "run.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise BenchBusy(f"another bench run is in progress ({lock.read().strip()})") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """The asyncpg URL of the bench database; an embedded server is stopped on exit."""
    async with AsyncExitStack() as stack:
        server_url = os.environ.get("DATABASE_URL")
        if server_url:
            yield await create_database_if_missing(server_url, BENCH_DATABASE)
        else:
            yield stack.enter_context(embedded_postgres(BENCH_DIR))
