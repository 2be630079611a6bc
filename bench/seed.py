"""Fill the bench database quickly with SQL: a million members, a few inviters with 100,000
referrals each, and pools of members that the scenarios use.

Layout (member ids; every seeded member has a Telegram account, `TELEGRAM_BASE + id`):

- `1..REFS_INVITERS`: inviters with `REFERRALS` referrals each (the `refs` scenario);
- the next `REFS_INVITERS * REFERRALS` members: their referrals, in order of id (they read their
  code in `code` and their data in `api_data`);
- the rest, without an inviter: `activation` pairs, member `ACTIVATING + k` activates the code of
  member `ACTIVATED + k`; `CHANNEL_INVITER` owns the link that the `journey` newcomers open.

Members joined one every `JOIN_INTERVAL` seconds up to now (about a year), so that the figures
of operators have history; the counters of those figures are filled from the rows.

The seed is loaded once and kept; `reset_seed` undoes what a bench run changed.
"""

import importlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.codes import INVITE_ALPHABET

_operators_migration = importlib.import_module("migrations.versions.0005_operators")
_growth_migration = importlib.import_module("migrations.versions.0006_sharing_and_growth")
FILL_RANK_BUCKETS: str = _growth_migration.FILL_RANK_BUCKETS
FILL_DAILY_COUNTS: str = _operators_migration.FILL_DAILY_COUNTS
FILL_MEMBER_TOTALS: str = _operators_migration.FILL_MEMBER_TOTALS

MEMBERS = 1_000_000
REFS_INVITERS = 8
REFERRALS = 100_000
TELEGRAM_BASE = 1_000_000_000
FIRST_REFERRAL = REFS_INVITERS + 1
LAST_REFERRAL = REFS_INVITERS + REFS_INVITERS * REFERRALS
CHANNEL_INVITER = FIRST_REFERRAL  # a member who was invited too: its chain has two links
ACTIVATED = LAST_REFERRAL + 1
ACTIVATING = (ACTIVATED + MEMBERS) // 2 + 1
ACTIVATION_PAIRS = MEMBERS - ACTIVATING + 1
JOIN_INTERVAL = 30  # seconds between two seeded members' joins: a million over ~347 days
SEED_MARK = f"bench seed v3: {MEMBERS} members, {REFS_INVITERS} inviters of {REFERRALS}"

# Invite codes from ids: six base-32 digits of the alphabet, unique for ids below 32**6.
INVITE_CODE_OF_ID = " || ".join(
    f"substr('{INVITE_ALPHABET}', ((id / {32**power}) % 32)::int + 1, 1)"
    for power in range(5, -1, -1)
)
PHONE_OF_ID = "'+7900' || lpad(id::text, 7, '0')"
INVITER_OF_ID = f"(id - {FIRST_REFERRAL}) / {REFERRALS} + 1"


def invite_code_of(member_id: int) -> str:
    """The invite code the seed gives a member (the same formula as `INVITE_CODE_OF_ID`)."""
    return "".join(INVITE_ALPHABET[member_id // 32**power % 32] for power in range(5, -1, -1))


def phone_of(member_id: int) -> str:
    return f"+7900{member_id:07d}"


async def seed_loaded(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        mark = (
            await connection.execute(text("SELECT obj_description('members'::regclass)"))
        ).scalar_one()
        if mark != SEED_MARK:
            return False
        count = (
            await connection.execute(
                text("SELECT count(*) FROM members WHERE id <= :members"), {"members": MEMBERS}
            )
        ).scalar_one()
    return bool(count == MEMBERS)


async def seed_members(engine: AsyncEngine) -> bool:
    """Load the seed unless it is there already; True if it was loaded now."""
    if await seed_loaded(engine):
        await reset_seed(engine)
        return False
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "TRUNCATE members, verification_codes, referral_counts, member_blocks, "
                "referral_month_counts, milestones, member_qr_codes RESTART IDENTITY"
            )
        )
        await connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        await connection.execute(
            text(
                f"""
                INSERT INTO members
                    (id, phone, invite_code, telegram_id, inviter_id, invited_at, created_at,
                     last_login_at)
                OVERRIDING SYSTEM VALUE
                SELECT id, {PHONE_OF_ID}, {INVITE_CODE_OF_ID}, {TELEGRAM_BASE} + id,
                       CASE WHEN id BETWEEN {FIRST_REFERRAL} AND {LAST_REFERRAL}
                            THEN {INVITER_OF_ID} END,
                       CASE WHEN id BETWEEN {FIRST_REFERRAL} AND {LAST_REFERRAL}
                            THEN now() - interval '1 day' + id * interval '1 ms' END,
                       now() - ({MEMBERS} - id) * interval '{JOIN_INTERVAL} s',
                       now() - ({MEMBERS} - id) * interval '{JOIN_INTERVAL} s'
                FROM generate_series(1, {MEMBERS}) AS id
                """
            )
        )
        await connection.execute(
            text(
                "INSERT INTO referral_counts (member_id, shard, referrals) "
                f"SELECT id, 0, {REFERRALS} FROM generate_series(1, {REFS_INVITERS}) AS id"
            )
        )
        await connection.execute(
            text(f"SELECT setval(pg_get_serial_sequence('members', 'id'), {MEMBERS})")
        )
        await count_from_rows(connection)
        await connection.execute(text(f"COMMENT ON TABLE members IS '{SEED_MARK}'"))
    await vacuum(engine)
    return True


async def count_from_rows(connection: AsyncConnection) -> None:
    """The counters of the operators' figures, as the members' rows say (migration 0005 fills
    them the same way)."""
    await connection.execute(text("TRUNCATE daily_counts, member_totals, referral_rank_buckets"))
    await connection.execute(text(FILL_DAILY_COUNTS))
    await connection.execute(text(FILL_MEMBER_TOTALS))
    await connection.execute(text(FILL_RANK_BUCKETS))


async def reset_seed(engine: AsyncEngine) -> None:
    """Undo a bench run: its new members, activations, codes, counts and counted addresses."""
    async with engine.begin() as connection:
        await connection.execute(text(f"DELETE FROM members WHERE id > {MEMBERS}"))
        await connection.execute(
            text(
                "UPDATE members SET inviter_id = NULL, invited_at = NULL "
                f"WHERE id >= {ACTIVATED} AND inviter_id IS NOT NULL"
            )
        )
        await connection.execute(
            text(f"DELETE FROM referral_counts WHERE member_id > {REFS_INVITERS}")
        )
        await connection.execute(text("DELETE FROM verification_codes"))
        await connection.execute(text("DELETE FROM address_requests"))
        await connection.execute(
            text("TRUNCATE member_blocks, referral_month_counts, milestones, member_qr_codes")
        )
        await connection.execute(
            text("UPDATE members SET blocked_at = NULL WHERE blocked_at IS NOT NULL")
        )
        await connection.execute(
            text(f"SELECT setval(pg_get_serial_sequence('members', 'id'), {MEMBERS})")
        )
        await count_from_rows(connection)
    await vacuum(engine)


async def vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(
            text(
                "VACUUM ANALYZE members, referral_counts, verification_codes, daily_counts, "
                "member_totals, referral_month_counts, referral_rank_buckets"
            )
        )
