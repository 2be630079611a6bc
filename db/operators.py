"""The rules of operators: who is one, the figures of the program, member lookup, blocking (with
its audit) and the CSV export of all members. The front ends (bot/handlers/admin.py,
api/routes/admin.py) only translate. Every operator action is logged by the service method that
does it, with the operator's Telegram id, never a phone: these here, starting and cancelling a
broadcast in db/broadcasts.py, requeueing failed events in db/events.py.

The figures are read from counters that the statements changing them keep (`member_totals`,
`daily_counts`, `referral_counts`) and from indexes, so /stats costs the same at any size.
"""

import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from db.codes import clean_invite_code, is_invite_code
from db.connections import Database
from db.phones import mask_phone, normalise_phone
from db.referrals import reverse_in
from db.results import (
    BlockChange,
    BlockOutcome,
    Day,
    Export,
    Inviter,
    MemberCard,
    MemberQueryKind,
    MemberSearch,
    ProgramStats,
)
from db.tables import COUNT_SHARDS, SINGLE_ROW_REFERRALS

log = logging.getLogger(__name__)

CHART_DAYS = 30
TOP_INVITERS = 10
TOP_BATCH = 64  # rows of referral_counts read at a time while looking for the top inviters
LARGEST_TELEGRAM_ID = 2**63 - 1
BLOCK_REASON_LIMIT = 500  # characters kept of a reason
EXPORT_LOCK = 7_340_212  # pg_advisory_xact_lock key: one export at a time, across instances
EXPORT_TIMEOUT = 600  # seconds an export may take (a slow download holds it back)
EXPORT_COLUMNS = (
    "id",
    "phone",
    "invite_code",
    "inviter_code",
    "invited_at",
    "referrals",
    "joined_at",
    "last_login_at",
    "language",
    "status",
)

# Statements, in the tables of db/tables.py.

FIGURES = """
SELECT (SELECT coalesce(sum(members), 0)::bigint FROM member_totals) AS members,
       (SELECT coalesce(sum(invited), 0)::bigint FROM member_totals) AS invited,
       (SELECT count(*) FROM members WHERE blocked_at IS NOT NULL) AS blocked
"""
DAYS = """
SELECT day, sum(joined) AS joined, sum(activated) AS activated FROM daily_counts
WHERE day > $1::date - $2::int AND day <= $1::date GROUP BY day
"""
# The rows of referral_counts by size, from ix_referral_counts_referrals, a batch at a time.
COUNT_ROWS_FIRST = """
SELECT member_id, shard, referrals FROM referral_counts
ORDER BY referrals DESC, member_id DESC, shard DESC LIMIT $1
"""
COUNT_ROWS_AFTER = """
SELECT member_id, shard, referrals FROM referral_counts
WHERE (referrals, member_id, shard) < ($2::int, $3::bigint, $4::smallint)
ORDER BY referrals DESC, member_id DESC, shard DESC LIMIT $1
"""
TOTALS_OF = """
SELECT member_id, sum(referrals) AS referrals FROM referral_counts
WHERE member_id = ANY($1::bigint[]) GROUP BY member_id
"""
PHONES_OF = "SELECT id, phone FROM members WHERE id = ANY($1::bigint[])"

CARD = """
SELECT m.id, m.phone, m.invite_code, m.telegram_id, m.created_at, m.last_login_at, m.language,
       m.blocked_at,
       (SELECT invite_code FROM members WHERE id = m.inviter_id) AS inviter_code,
       (SELECT coalesce(sum(referrals), 0) FROM referral_counts WHERE member_id = m.id)
           AS referrals,
       b.operator_id AS blocked_by, b.reason AS block_reason
FROM members AS m
LEFT JOIN LATERAL (
    SELECT operator_id, reason FROM member_blocks
    WHERE member_id = m.id AND action = 'block' AND m.blocked_at IS NOT NULL
    ORDER BY at DESC, id DESC LIMIT 1
) AS b ON true
"""
CARD_BY_ID = f"{CARD} WHERE m.id = $1 AND m.erased_at IS NULL"
# Each kind of query is one unique index lookup; a part whose value is NULL finds nothing.
CARDS_MATCHING = f"""{CARD}
WHERE m.erased_at IS NULL AND m.id IN (
    SELECT id FROM members WHERE invite_code = $1
    UNION SELECT id FROM members WHERE phone = $2
    UNION SELECT id FROM members WHERE telegram_id = $3
)
ORDER BY m.id
"""
OPERATOR_ACCOUNT = "SELECT telegram_id FROM members WHERE id = $1 AND erased_at IS NULL"

# Blocking and unblocking: the member's row locked FOR UPDATE (which an activation of their code,
# holding it FOR KEY SHARE, waits for or makes wait), changed if it is not so already, and the
# audit row written, in one statement.
_BLOCK_CHANGE = """
WITH target AS (
    SELECT id, blocked_at FROM members WHERE id = $1 AND erased_at IS NULL FOR UPDATE
), changed AS (
    UPDATE members AS m SET blocked_at = {blocked_at}
    FROM target WHERE m.id = target.id AND target.blocked_at IS {unless}
    RETURNING m.id
), audit AS (
    INSERT INTO member_blocks (member_id, operator_id, action, reason, at)
    SELECT id, $2, '{action}', $4, $3 FROM changed
)
SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM changed) AS changed
"""
BLOCK = _BLOCK_CHANGE.format(blocked_at="$3", unless="NULL", action="block")
UNBLOCK = _BLOCK_CHANGE.format(blocked_at="NULL", unless="NOT NULL", action="unblock")

# The CSV of all members (not erased): times in UTC, ISO 8601.
_UTC = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
EXPORT = f"""
SELECT m.id, m.phone, m.invite_code, i.invite_code AS inviter_code,
       to_char(m.invited_at AT TIME ZONE 'UTC', {_UTC}) AS invited_at,
       coalesce(c.referrals, 0) AS referrals,
       to_char(m.created_at AT TIME ZONE 'UTC', {_UTC}) AS joined_at,
       to_char(m.last_login_at AT TIME ZONE 'UTC', {_UTC}) AS last_login_at,
       m.language,
       CASE WHEN m.blocked_at IS NULL THEN 'active' ELSE 'blocked' END AS status
FROM members AS m
LEFT JOIN members AS i ON i.id = m.inviter_id
LEFT JOIN (
    SELECT member_id, sum(referrals) AS referrals FROM referral_counts GROUP BY member_id
) AS c ON c.member_id = m.id
WHERE m.erased_at IS NULL
ORDER BY m.id
"""

ExportOutput = Path | Callable[[bytes], Awaitable[None]]


def _card(row: asyncpg.Record) -> MemberCard:
    return MemberCard(
        id=row["id"],
        phone=row["phone"],
        invite_code=row["invite_code"],
        telegram_id=row["telegram_id"],
        inviter_code=row["inviter_code"],
        referrals=row["referrals"],
        joined_at=row["created_at"],
        last_login_at=row["last_login_at"],
        language=row["language"],
        blocked_at=row["blocked_at"],
        blocked_by=row["blocked_by"],
        block_reason=row["block_reason"],
    )


def _masked(phone: str | None) -> str | None:
    return None if phone is None else mask_phone(phone)


def kept_reason(reason: str | None) -> str | None:
    """A block reason as kept: stripped, at most `BLOCK_REASON_LIMIT` characters, None if empty."""
    text = (reason or "").strip().replace("\x00", "")
    return text[:BLOCK_REASON_LIMIT] or None


class Operators:
    """Operator functions over the service's connections."""

    def __init__(
        self,
        database: Database,
        *,
        admin_ids: Iterable[int],
        default_region: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self.admin_ids = frozenset(admin_ids)
        self.default_region = default_region
        self._clock = clock

    # Who is an operator

    def is_operator(self, telegram_id: int | None) -> bool:
        """Whether a Telegram account is an operator's (ADMIN_IDS)."""
        return telegram_id is not None and telegram_id in self.admin_ids

    async def operator_account(self, member_id: int) -> int | None:
        """The Telegram id of a member who is an operator (their linked account is in
        ADMIN_IDS), else None. Read on every request, so an unlinked account or an id removed
        from ADMIN_IDS stops working at once."""
        if not self.admin_ids:
            return None
        async with self._database.connection() as connection:
            telegram_id = await connection.fetchval(OPERATOR_ACCOUNT, member_id)
        return telegram_id if self.is_operator(telegram_id) else None

    # Figures

    async def stats(self, *, operator: int) -> ProgramStats:
        """The figures of the program and the joins and activations of the last 30 days."""
        now = self._clock()
        today = now.astimezone(UTC).date()
        async with (
            self._database.connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            figures = await connection.fetchrow(FIGURES)
            rows = await connection.fetch(DAYS, today, CHART_DAYS)
            top = await self._top_inviters(connection, TOP_INVITERS)
            phones = dict(await connection.fetch(PHONES_OF, [member for member, _ in top]))
        counted = {row["day"]: (row["joined"], row["activated"]) for row in rows}
        days = [
            Day(day, *counted.get(day, (0, 0)))
            for day in (today - timedelta(days=back) for back in range(CHART_DAYS - 1, -1, -1))
        ]
        log.info("operator %d read the figures", operator)
        return ProgramStats(
            at=now,
            members=figures["members"],
            joined_today=days[-1].joined,
            joined_7_days=sum(day.joined for day in days[-7:]),
            joined_30_days=sum(day.joined for day in days),
            invited=figures["invited"],
            blocked=figures["blocked"],
            top_inviters=[
                Inviter(member, _masked(phones.get(member)), total) for member, total in top
            ],
            days=days,
        )

    async def _top_inviters(
        self, connection: asyncpg.Connection, limit: int
    ) -> list[tuple[int, int]]:
        """The `limit` members with most referrals (ties: the earlier member first), read from
        the index on referral_counts.referrals, largest rows first, until no member not yet seen
        can beat them (the threshold algorithm).

        A member not yet seen has no row above the last one read (`v`): below
        SINGLE_ROW_REFERRALS they have one row, so at most `v` referrals; above it, at most one
        row per shard, `v * COUNT_SHARDS`. Read this way the scan stops after the rows of the
        leaders, whatever the number of members.
        """
        totals: dict[int, int] = {}
        rows = await connection.fetch(COUNT_ROWS_FIRST, TOP_BATCH)
        while rows:
            new = list({row["member_id"] for row in rows} - totals.keys())
            if new:
                totals.update(await connection.fetch(TOTALS_OF, new))
            last = rows[-1]
            value = last["referrals"]
            bound = value if value < SINGLE_ROW_REFERRALS else value * COUNT_SHARDS
            best = heapq.nlargest(limit, totals.values())
            if len(rows) < TOP_BATCH or (len(best) == limit and best[-1] >= bound):
                break
            rows = await connection.fetch(
                COUNT_ROWS_AFTER, TOP_BATCH, value, last["member_id"], last["shard"]
            )
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]

    # Lookup

    def query_kinds(self, query: str) -> tuple[MemberQueryKind, ...]:
        """What a typed query could be: a phone, an invite code, a Telegram id (several at once:
        `234567` has the shape of a code and of an id)."""
        kinds = []
        if self._phone(query) is not None:
            kinds.append(MemberQueryKind.PHONE)
        if is_invite_code(clean_invite_code(query)):
            kinds.append(MemberQueryKind.INVITE_CODE)
        if self._telegram_id(query) is not None:
            kinds.append(MemberQueryKind.TELEGRAM_ID)
        return tuple(kinds)

    def _phone(self, query: str) -> str | None:
        if not any(ch.isdigit() for ch in query):
            return None
        return normalise_phone(query, self.default_region)

    @staticmethod
    def _telegram_id(query: str) -> int | None:
        text = query.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            return None
        value = int(text)
        return value if 0 < value <= LARGEST_TELEGRAM_ID else None

    async def find_members(self, query: str, *, operator: int) -> MemberSearch:
        """The members whose phone, invite code or Telegram id the query is."""
        kinds = self.query_kinds(query)
        if not kinds:
            log.info("operator %d searched with a query of no searchable shape", operator)
            return MemberSearch(kinds, [])
        code = clean_invite_code(query)
        async with self._database.connection() as connection:
            rows = await connection.fetch(
                CARDS_MATCHING,
                code if MemberQueryKind.INVITE_CODE in kinds else None,
                self._phone(query),
                self._telegram_id(query),
            )
        shapes = "/".join(kind.value for kind in kinds)
        log.info("operator %d searched members by %s: %d found", operator, shapes, len(rows))
        return MemberSearch(kinds, [_card(row) for row in rows])

    async def member_card(self, member_id: int, *, operator: int) -> MemberCard | None:
        """A member as operators see them; None if there is none (or they erased their data)."""
        async with self._database.connection() as connection:
            row = await connection.fetchrow(CARD_BY_ID, member_id)
        log.info("operator %d opened the card of member %d", operator, member_id)
        return None if row is None else _card(row)

    # Blocking

    async def block(
        self, member_id: int, *, operator: int, reason: str | None = None
    ) -> BlockChange:
        """Block a member: they cannot activate a code and their code is suspended; who they
        invited stays. Kept in the audit with the operator, the time and the reason."""
        return await self._change(BLOCK, "blocked", member_id, operator, kept_reason(reason))

    async def unblock(self, member_id: int, *, operator: int) -> BlockChange:
        """Undo a block: everything works again as before it."""
        return await self._change(UNBLOCK, "unblocked", member_id, operator, None)

    async def _change(
        self, statement: str, done: str, member_id: int, operator: int, reason: str | None
    ) -> BlockChange:
        async with self._database.connection() as connection, connection.transaction():
            now = self._clock()
            row = await connection.fetchrow(statement, member_id, operator, now, reason)
            if row["changed"] and statement is BLOCK:  # their referral, if pending or held, goes
                await reverse_in(connection, member_id, at=now, reason="blocked", by=operator)
            card = await connection.fetchrow(CARD_BY_ID, member_id) if row["found"] else None
        if not row["found"]:
            log.info("operator %d: member %d to be %s not found", operator, member_id, done)
            return BlockChange(BlockOutcome.NOT_FOUND)
        if not row["changed"]:
            log.info("operator %d: member %d was %s already", operator, member_id, done)
            return BlockChange(BlockOutcome.UNCHANGED, _card(card))
        log.info("operator %d %s member %d", operator, done, member_id)
        return BlockChange(BlockOutcome.DONE, _card(card))

    # Export

    async def export_members(self, output: ExportOutput, *, operator: int) -> Export:
        """Every member (not erased) as CSV (UTF-8, a header row; columns EXPORT_COLUMNS),
        streamed by PostgreSQL's COPY into `output` (a file, or a coroutine that takes each
        chunk), so memory stays bounded at any size. One export at a time across instances:
        another one finds it `busy` and nothing is written."""
        async with self._database.connection() as connection, connection.transaction(readonly=True):
            if not await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", EXPORT_LOCK):
                log.info("operator %d asked for an export while one was running", operator)
                return Export(busy=True)
            await connection.execute(
                f"SET LOCAL statement_timeout = '{EXPORT_TIMEOUT}s'; SET LOCAL work_mem = '64MB'"
            )
            log.info("operator %d started an export of the members", operator)
            status = await connection.copy_from_query(
                EXPORT, output=output, format="csv", header=True, timeout=EXPORT_TIMEOUT
            )
        rows = int(status.rpartition(" ")[2])
        log.info("operator %d exported %d members", operator, rows)
        return Export(busy=False, rows=rows)
