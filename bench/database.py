"""The bench's own database, apart from every other: embedded PostgreSQL in `.data/bench/`, or a
database named `referral_bench` on the server of `DATABASE_URL` (created if missing)."""

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.engine import embedded_postgres

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".data" / "bench"
BENCH_DATABASE = "referral_bench"


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy asyncpg URL as asyncpg itself takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


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


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """The asyncpg URL of the bench database; an embedded server is stopped on exit."""
    async with AsyncExitStack() as stack:
        server_url = os.environ.get("DATABASE_URL")
        if server_url:
            yield await create_database_if_missing(server_url, BENCH_DATABASE)
        else:
            yield stack.enter_context(embedded_postgres(BENCH_DIR))
