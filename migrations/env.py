"""Alembic environment: runs on the program's connection, or on DATABASE_URL when run by hand."""

import asyncio

from alembic import context
from sqlalchemy import Connection, text

from db.schema import create_engine
from db.tables import Base
from settings import load_settings

MIGRATION_LOCK = 7_340_211  # pg_advisory_xact_lock key: one migrating instance at a time


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def run_by_hand() -> None:
    url = load_settings().database_url
    if url is None:
        raise SystemExit("set DATABASE_URL, or use `uv run main.py migrate` for the embedded one")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_by_hand())
