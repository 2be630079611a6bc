import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import asyncpg_dsn, create_engine, downgrade, migrate


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[AsyncEngine]:
    name = f"test_migrations_{os.getpid()}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(
        make_url(server_url).set(database=name).render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_to_head_and_back_to_base(empty_database: AsyncEngine) -> None:
    await migrate(empty_database)
    assert await _tables(empty_database) == {
        "alembic_version",
        "members",
        "verification_codes",
        "referral_counts",
        "daily_counts",
        "member_totals",
        "member_blocks",
    }
    await migrate(empty_database)  # a second start-up finds nothing to do
    await downgrade(empty_database)
    assert await _tables(empty_database) == {"alembic_version"}
    await migrate(empty_database)
    assert "members" in await _tables(empty_database)
