"""Fill the database with many members quickly: one inviter with many referrals among them."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.codes import INVITE_ALPHABET

# Invite codes from ids: six base-32 digits of the alphabet, unique for ids below 32**6.
INVITE_CODE_OF_ID = " || ".join(
    f"substr('{INVITE_ALPHABET}', ((id / {32**power}) % 32)::int + 1, 1)"
    for power in range(5, -1, -1)
)
PHONE_OF_ID = "'+7900' || lpad(id::text, 7, '0')"


async def seed_members(engine: AsyncEngine, *, members: int, referrals: int) -> int:
    """Members 1..`members` (phones +7900xxxxxxx), the first invited the next `referrals`.

    Returns the inviter's id. Existing members are kept if the same seed was already loaded.
    """
    async with engine.begin() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM members"))).scalar_one()
        if count >= members:
            return 1
        await connection.execute(
            text("TRUNCATE members, verification_codes, referral_counts RESTART IDENTITY")
        )
        await connection.execute(
            text(
                f"""
                INSERT INTO members (id, phone, invite_code, inviter_id, invited_at)
                OVERRIDING SYSTEM VALUE
                SELECT id, {PHONE_OF_ID}, {INVITE_CODE_OF_ID},
                       CASE WHEN id BETWEEN 2 AND :referrals + 1 THEN 1 END,
                       CASE WHEN id BETWEEN 2 AND :referrals + 1
                            THEN now() - interval '1 day' + id * interval '1 ms' END
                FROM generate_series(1, :members) AS id
                """
            ),
            {"members": members, "referrals": referrals},
        )
        await connection.execute(
            text("INSERT INTO referral_counts (member_id, referrals) VALUES (1, :referrals)"),
            {"referrals": referrals},
        )
        await connection.execute(
            text("SELECT setval(pg_get_serial_sequence('members', 'id'), :members)"),
            {"members": members},
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE members"))
    return 1
