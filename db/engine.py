"""Connections to PostgreSQL: the asyncpg pool the service runs on and the SQLAlchemy engine that
migrations run on (the embedded server is the runtime's: runtime/database.py)."""

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
# Seconds a statement of the service may take: each looks up or changes a few rows by key, which
# normally takes a millisecond.
STATEMENT_TIMEOUT = 5


class Connections(Protocol):
    """Where the service gets a connection: an asyncpg pool, or anything that hands one out."""

    def acquire(self) -> AbstractAsyncContextManager[Any]: ...

    async def expire_connections(self) -> None:
        """Replace every connection handed out so far on its next use."""


def asyncpg_dsn(url: str) -> str:
    """A `postgresql+asyncpg://` (or plain `postgresql://`) URL in the form asyncpg reads."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The service sets no session state (no SET, LISTEN, cursors or advisory locks), so the
    default reset on release, one more round trip per checkout, has nothing to undo. asyncpg
    still rolls back a transaction left open."""


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """The pool the service runs its statements on; each connection keeps its prepared ones.
    `server_settings` are added to each connection's (the outbox's, db/events.py)."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session,
        max_inactive_connection_lifetime=300,
        # A statement that takes longer fails (503 in the API) instead of holding its request and
        # its connection: the server cancels it itself; if the server hangs (a stopped process, a
        # lost network), the client gives up a second later, and connecting is bounded alike.
        command_timeout=STATEMENT_TIMEOUT + 1,
        timeout=STATEMENT_TIMEOUT + 1,
        server_settings={
            "statement_timeout": f"{STATEMENT_TIMEOUT}s",
            # Every statement of the service is a lookup by key, for which the generic plan is
            # the plan; left to itself PostgreSQL kept planning some anew on each run (0.4 ms).
            "plan_cache_mode": "force_generic_plan",
            **(server_settings or {}),
        },
    )


def create_engine(url: str) -> AsyncEngine:
    """The engine migrations run on (and tests and the bench's seed, for their own statements);
    the service does not use it. Without a pool: it is used a few times, not per request."""
    return create_async_engine(url, poolclass=NullPool)


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run from several instances at once."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)
