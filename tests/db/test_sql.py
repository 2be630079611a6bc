"""db/sql/ holds the functions and triggers of the migrated database, as they are: loaded in place
of the migrated ones, they give the same definitions, and neither side has one the other lacks."""

import difflib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.connections import asyncpg_dsn

SQL = Path(__file__).resolve().parents[2] / "db" / "sql"

# Functions of the database's own schemas; those of extensions are theirs.
FUNCTIONS = """
SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS definition
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (
      SELECT FROM pg_depend AS d
      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  )
"""
# Triggers written by hand; internal ones are the constraints' (foreign keys).
TRIGGERS = """
SELECT format('%I ON %s', t.tgname, t.tgrelid::regclass) AS name,
       pg_get_triggerdef(t.oid, true) AS definition
FROM pg_trigger AS t
WHERE NOT t.tgisinternal
"""


async def _definitions(connection: asyncpg.Connection) -> dict[str, str]:
    """Each function (by its signature) and trigger (by name and table), with its definition."""
    functions = await connection.fetch(FUNCTIONS)
    triggers = await connection.fetch(TRIGGERS)
    return {f"function {row['name']}": row["definition"] for row in functions} | {
        f"trigger {row['name']}": row["definition"] for row in triggers
    }


async def _loaded_from_sql(connection: asyncpg.Connection) -> dict[str, str]:
    """The definitions that db/sql/ gives over the migrated tables: the migrated triggers and
    functions dropped, the files run, in a transaction rolled back."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        for row in await connection.fetch(TRIGGERS):
            await connection.execute(f"DROP TRIGGER {row['name']}")
        for row in await connection.fetch(FUNCTIONS):
            await connection.execute(f"DROP FUNCTION {row['name']} CASCADE")
        for path in sorted(SQL.glob("*.sql")):
            await connection.execute(path.read_text())
        return await _definitions(connection)
    finally:
        await transaction.rollback()


@pytest.fixture
async def connection(engine: AsyncEngine, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this run's migrated database (`engine` migrated it)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


async def test_db_sql_holds_the_migrated_functions_and_triggers(
    connection: asyncpg.Connection,
) -> None:
    migrated = await _definitions(connection)
    loaded = await _loaded_from_sql(connection)
    assert sorted(loaded.keys() - migrated.keys()) == [], "in db/sql/, not in the migrations"
    assert sorted(migrated.keys() - loaded.keys()) == [], "migrated, missing from db/sql/"
    for name, definition in migrated.items():
        difference = "\n".join(
            difflib.unified_diff(
                definition.splitlines(),
                loaded[name].splitlines(),
                "migrated",
                "db/sql/",
                lineterm="",
            )
        )
        assert not difference, f"{name} differs:\n{difference}"
