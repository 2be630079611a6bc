import ast
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.connections import asyncpg_dsn
from db.schema import create_engine, downgrade, migrate

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
# What a migration may import: a migration is a snapshot of what it did, which an edit of the
# program's code (its models, its SQL) must not rewrite.
FROZEN = set(sys.stdlib_module_names) | {"alembic", "sqlalchemy"}


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
        "referral_month_counts",
        "milestones",
        "member_qr_codes",
        "referral_rank_buckets",
        "outbox_events",
        "broadcasts",
        "address_requests",
        "referrals",
    }
    await migrate(empty_database)  # a second start-up finds nothing to do
    await downgrade(empty_database)
    assert await _tables(empty_database) == {"alembic_version"}
    await migrate(empty_database)
    assert "members" in await _tables(empty_database)


async def test_0005_counts_what_is_there_and_folds_the_referral_counts(
    empty_database: AsyncEngine,
) -> None:
    await migrate(empty_database, "0004")
    async with empty_database.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO members (id, phone, invite_code, inviter_id, invited_at, created_at) "
                "OVERRIDING SYSTEM VALUE VALUES "
                "(1, '+79990000001', 'AAAAAA', NULL, NULL, '2026-11-01T10:00:00Z'), "
                "(2, '+79990000002', 'BBBBBB', 1, '2026-11-02T23:59:00Z', '2026-11-02T09:00:00Z'), "
                "(3, '+79990000003', 'CCCCCC', 1, '2026-11-02T08:00:00Z', '2026-11-02T07:00:00Z')"
            )
        )
        await connection.execute(
            text(
                "UPDATE members SET phone = NULL, invite_code = NULL, erased_at = now() "
                "WHERE id = 3"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO referral_counts (member_id, shard, referrals) "
                "VALUES (1, 2, 1), (1, 3, 1)"
            )
        )
    await migrate(empty_database)
    async with empty_database.connect() as connection:
        days = (
            await connection.execute(
                text("SELECT day::text, joined, activated FROM daily_counts ORDER BY day")
            )
        ).all()
        totals = (
            await connection.execute(text("SELECT sum(members), sum(invited) FROM member_totals"))
        ).one()
        counts = (
            await connection.execute(
                text("SELECT member_id, shard, referrals FROM referral_counts")
            )
        ).all()
    assert [tuple(day) for day in days] == [("2026-11-01", 1, 0), ("2026-11-02", 2, 2)]
    assert tuple(totals) == (2, 1)  # the erased member is no longer counted
    assert [tuple(count) for count in counts] == [(1, 0, 2)]


def test_migrations_import_nothing_of_the_program() -> None:
    for path in sorted(VERSIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.partition(".")[0] in FROZEN, f"{path.name} imports {module}"
