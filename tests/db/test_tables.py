"""The models (db/tables.py) describe the schema the migrations build: autogenerate against a
freshly migrated database finds nothing to change."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from db.tables import Base


def _differences(connection: Connection) -> list[Any]:
    # Types and server defaults are compared too; indexes, unique and foreign keys always are (by
    # the names of the naming convention, which the migrations spell out with op.f).
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


def _check_constraints(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    return {
        table: {check["name"] for check in inspector.get_check_constraints(table)}
        for table in Base.metadata.tables
    }


async def test_the_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_the_models_name_the_migrated_check_constraints(engine: AsyncEngine) -> None:
    """Autogenerate does not compare CHECK constraints: their names, at least, are held here."""
    async with engine.connect() as connection:
        migrated = await connection.run_sync(_check_constraints)
    assert migrated == {
        table.name: {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        for table in Base.metadata.sorted_tables
    }
