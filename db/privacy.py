"""Privacy: everything kept about a member, for them to download, and their erasure."""

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from db.connections import Database
from db.phones import PhoneDisplay
from db.referrals import reverse_in
from db.results import MemberData, Referral
from db.tables import ALL_TIME_BOARD, COUNT_SHARDS, SINGLE_ROW_REFERRALS

log = logging.getLogger(__name__)

# Statements, in the tables of db/tables.py.

# Erasure: the member's row keeps only what makes the referral graph true (its id, who invited it
# and when); the phone's verification code row goes too, and the member leaves the totals of
# /stats (as one invited too if their referral counts). Run after their referral, if pending or
# held, is reversed, in the same transaction.
ERASE_MEMBER = f"""
WITH erased AS (
    UPDATE members AS m
    SET phone = NULL, invite_code = NULL, telegram_id = NULL, language = NULL, erased_at = $2,
        blocked_at = NULL
    FROM (
        SELECT id, phone, inviter_id FROM members WHERE id = $1 AND erased_at IS NULL FOR UPDATE
    ) AS old
    WHERE m.id = old.id
    RETURNING m.id, old.phone, old.inviter_id
), codes AS (
    DELETE FROM verification_codes WHERE phone IN (SELECT phone FROM erased)
), unbucketed AS (  -- and their rank buckets (db/growth.py) lose them
    INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
    SELECT ranked.board, ranked.referrals, days.day, $1 % {COUNT_SHARDS}, -1
    FROM (
        SELECT '{ALL_TIME_BOARD.isoformat()}'::date AS board, referrals, reached_at
        FROM referral_counts
        WHERE member_id IN (SELECT id FROM erased) AND shard = 0 AND reached_at IS NOT NULL
          AND referrals < {SINGLE_ROW_REFERRALS}
      UNION ALL
        SELECT month, referrals, reached_at FROM referral_month_counts
        WHERE member_id IN (SELECT id FROM erased) AND shard = 0 AND reached_at IS NOT NULL
          AND referrals < {SINGLE_ROW_REFERRALS}
    ) AS ranked,
    LATERAL (VALUES ('infinity'::date), ((ranked.reached_at AT TIME ZONE 'UTC')::date)) AS days(day)
    ON CONFLICT (board, referrals, day, shard) DO UPDATE SET members = b.members + excluded.members
), unranked AS (  -- their counts stay, off the leaderboard (db/growth.py)
    UPDATE referral_counts SET reached_at = NULL WHERE member_id IN (SELECT id FROM erased)
), unranked_months AS (
    UPDATE referral_month_counts SET reached_at = NULL
    WHERE member_id IN (SELECT id FROM erased)
), qr_codes AS (
    DELETE FROM member_qr_codes WHERE member_id IN (SELECT id FROM erased)
), uncounted AS (
    INSERT INTO member_totals AS t (shard, members, invited)
    SELECT $1 % {COUNT_SHARDS}, -1,
           -(EXISTS (SELECT FROM referrals WHERE invitee_id = $1 AND stage = 'qualified'))::int
    FROM erased
    ON CONFLICT (shard) DO UPDATE
    SET members = t.members + excluded.members, invited = t.invited + excluded.invited
)
SELECT count(*) FROM erased
"""
MEMBER_PRESENT = "SELECT id FROM members WHERE id = $1 AND erased_at IS NULL FOR UPDATE"
# The member and every referral in one statement (the referrals as parallel arrays, in order of
# activation, read from ix_members_referrals).
MEMBER_DATA = """
SELECT m.phone, m.invite_code, m.telegram_id, m.invited_at, m.created_at, m.last_login_at,
       m.language,
       (SELECT invite_code FROM members WHERE id = m.inviter_id) AS inviter_code,
       r.ids AS referral_ids, r.phones AS referral_phones, r.times AS referral_times
FROM members AS m, LATERAL (
    SELECT array_agg(id ORDER BY invited_at, id) AS ids,
           array_agg(phone ORDER BY invited_at, id) AS phones,
           array_agg(invited_at ORDER BY invited_at, id) AS times
    FROM members WHERE inviter_id = m.id
) AS r
WHERE m.id = $1 AND m.erased_at IS NULL
"""


class Privacy:
    """A member's data and its erasure, over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        phones: PhoneDisplay,
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self._phones = phones
        self._clock = clock

    async def member_data(self, member_id: int) -> MemberData | None:
        """Everything kept about a member, for them to download; None if erased or gone."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(MEMBER_DATA, member_id)
        if row is None:
            return None
        referrals = zip(
            row["referral_ids"] or [],
            row["referral_phones"] or [],
            row["referral_times"] or [],
            strict=True,
        )
        return MemberData(
            phone=row["phone"],
            invite_code=row["invite_code"],
            telegram_id=row["telegram_id"],
            inviter_code=row["inviter_code"],
            invited_at=row["invited_at"],
            joined_at=row["created_at"],
            last_login_at=row["last_login_at"],
            language=row["language"],
            referrals=[
                Referral(id_, None if phone is None else self._phones.masked(phone), at)
                for id_, phone, at in referrals
            ],
        )

    async def erase_member(self, member_id: int) -> bool:
        """Erase a member in one transaction: phone, invite code (it stops working), Telegram
        link and language go; who invited whom stays, anonymised, so nobody's count drops,
        except for their own referral while it is pending or held: it is reversed. False if
        there was nobody to erase."""

        async def erase(connection: asyncpg.Connection) -> bool:
            if await connection.fetchval(MEMBER_PRESENT, member_id) is None:
                return False
            now = self._clock()
            await reverse_in(connection, member_id, at=now, reason="erased")
            return bool(await connection.fetchval(ERASE_MEMBER, member_id, now))

        erased = await self._database.retrying(erase)
        if erased:
            log.info("member %d erased their data", member_id)
        return erased
