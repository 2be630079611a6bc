"""The referral service: every rule of membership, codes and invitations, in one place.

Each public method is one short transaction; only this module commits. Front ends (the bot, the
HTTP API) call it and translate its typed results.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.codes import (
    clean_invite_code,
    code_matches,
    hash_verification_code,
    is_invite_code,
    new_invite_code,
    new_verification_code,
)
from db.delivery import CodeDelivery, DeliveryError, create_delivery
from db.models import COUNT_SHARDS, ReferralCount, VerificationCode
from db.models import Member as MemberRow
from db.phones import mask_phone, normalise_phone
from db.results import (
    Activation,
    CodeRequest,
    CodeRequestOutcome,
    InviteOutcome,
    Member,
    Profile,
    Referral,
    ReferralPage,
    Verification,
    VerifyOutcome,
)
from settings import Settings

log = logging.getLogger(__name__)

MAX_WRONG_ATTEMPTS = 5
HOUR = timedelta(hours=1)
RETRIES = 5  # attempts of a transaction that lost a deadlock or serialization race

members = cast(Table, MemberRow.__table__)
codes = cast(Table, VerificationCode.__table__)
counts = cast(Table, ReferralCount.__table__)
MEMBER_COLUMNS = (
    members.c.id,
    members.c.phone,
    members.c.invite_code,
    members.c.telegram_id,
    members.c.inviter_id,
    members.c.invited_at,
)

# Built once: every update of a member starts with the first one.
MEMBER_BY_TELEGRAM = select(*MEMBER_COLUMNS).where(
    members.c.telegram_id == bindparam("telegram_id")
)
MEMBER_BY_INVITE_CODE = select(*MEMBER_COLUMNS).where(
    members.c.invite_code == bindparam("invite_code")
)

_inviter = members.alias("inviter")
_count_of_member = (
    select(func.coalesce(func.sum(counts.c.referrals), 0))
    .where(counts.c.member_id == members.c.id)
    .scalar_subquery()
)
REFERRAL_COUNT = select(func.coalesce(func.sum(counts.c.referrals), 0)).where(
    counts.c.member_id == bindparam("member_id")
)
PROFILE = (
    select(
        *MEMBER_COLUMNS,
        _inviter.c.invite_code.label("inviter_code"),
        _count_of_member.label("referral_count"),
    )
    .select_from(members.outerjoin(_inviter, _inviter.c.id == members.c.inviter_id))
    .where(members.c.id == bindparam("member_id"))
)

# The code's owner and, up the chain, whoever invited them: the walk that detects cycles.
INVITER_CHAIN = text(
    """
    WITH RECURSIVE chain(id, phone, telegram_id, inviter_id, invited_at, depth) AS (
        SELECT id, phone, telegram_id, inviter_id, invited_at, 0
        FROM members WHERE invite_code = :code
      UNION ALL
        SELECT m.id, m.phone, m.telegram_id, m.inviter_id, m.invited_at, c.depth + 1
        FROM members m JOIN chain c ON m.id = c.inviter_id
    )
    SELECT id, phone, telegram_id, inviter_id, invited_at FROM chain ORDER BY depth
    """
)

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _member(row: Any) -> Member:
    return Member(
        id=row.id,
        phone=row.phone,
        invite_code=row.invite_code,
        telegram_id=row.telegram_id,
        inviter_id=row.inviter_id,
        invited_at=row.invited_at,
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(invited_at: datetime, member_id: int) -> str:
    return f"{(invited_at - EPOCH) // MICROSECOND:x}.{member_id:x}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError for a cursor this service did not make."""
    micros, _, member_id = cursor.partition(".")
    try:
        moment, key = EPOCH + int(micros, 16) * MICROSECOND, int(member_id, 16)
    except OverflowError as error:
        raise ValueError("cursor out of range") from error
    if not 0 < key < 2**63:
        raise ValueError("cursor out of range")
    return moment, key


class ReferralService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        signing_key: bytes,
        delivery: CodeDelivery,
        code_length: int = 4,
        code_ttl: int = 300,
        resend_cooldown: int = 60,
        hourly_limit: int = 5,
        default_region: str = "RU",
        show_full_phones: bool = False,
        clock: Callable[[], datetime] = utcnow,
        invite_code_factory: Callable[[], str] = new_invite_code,
    ) -> None:
        self.engine = engine
        # Single-statement reads need no transaction: no BEGIN and ROLLBACK round trips.
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.delivery = delivery
        self.code_length = code_length
        self.code_ttl = code_ttl
        self.resend_cooldown = resend_cooldown
        self.hourly_limit = hourly_limit
        self.default_region = default_region
        self.show_full_phones = show_full_phones
        self._key = signing_key
        self._clock = clock
        self._new_invite_code = invite_code_factory

    def normalise_phone(self, raw: str) -> str | None:
        """E.164 form of a typed or shared phone number, or None if it cannot be a number."""
        return normalise_phone(raw, self.default_region)

    def shown_phone(self, phone: str) -> str:
        """A member's phone as other members see it (masked unless configured otherwise)."""
        return phone if self.show_full_phones else mask_phone(phone)

    async def _retrying(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in a transaction, again if it lost a deadlock or serialization race."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.engine.begin() as connection:
                    return await work(connection)
            except DBAPIError as error:
                sqlstate = getattr(error.orig, "sqlstate", None)
                if sqlstate not in ("40P01", "40001", "23505") or attempt == RETRIES:
                    raise
                log.debug("transaction retried after %s", sqlstate)
        raise AssertionError("unreachable")

    # Verification codes

    async def request_code(self, raw_phone: str) -> CodeRequest:
        """Issue a new code for a phone and deliver it, within the resend and hourly limits."""
        phone = self.normalise_phone(raw_phone)
        if phone is None:
            return CodeRequest(CodeRequestOutcome.INVALID_PHONE)
        now = self._clock()
        code = new_verification_code(self.code_length)
        async with self.engine.begin() as connection:
            # Creates the phone's row if needed and locks it: one request at a time per phone.
            sent_at: list[datetime] = (
                await connection.execute(
                    insert(codes)
                    .values(phone=phone)
                    .on_conflict_do_update(index_elements=[codes.c.phone], set_={"phone": phone})
                    .returning(codes.c.sent_at)
                )
            ).scalar_one()
            recent = sorted(moment for moment in sent_at if moment > now - HOUR)
            waits = []
            if recent and self.resend_cooldown:
                cooldown_ends = recent[-1] + timedelta(seconds=self.resend_cooldown)
                if cooldown_ends > now:
                    waits.append((CodeRequestOutcome.COOLDOWN, cooldown_ends))
            if len(recent) >= self.hourly_limit:
                window_frees = recent[len(recent) - self.hourly_limit] + HOUR
                waits.append((CodeRequestOutcome.HOURLY_LIMIT, window_frees))
            if waits:
                outcome, until = max(waits, key=lambda wait: wait[1])
                return CodeRequest(outcome, phone, retry_after=_seconds_until(until, now))
            await connection.execute(
                update(codes)
                .where(codes.c.phone == phone)
                .values(
                    code_hash=hash_verification_code(self._key, phone, code),
                    expires_at=now + timedelta(seconds=self.code_ttl),
                    wrong_attempts=0,
                    sent_at=[*recent, now],
                )
            )
        try:
            await self.delivery.deliver(phone, code, self.code_ttl)
        except DeliveryError as error:
            log.error("verification code for %s not delivered: %s", mask_phone(phone), error)
            return CodeRequest(CodeRequestOutcome.DELIVERY_FAILED, phone)
        return CodeRequest(
            CodeRequestOutcome.SENT,
            phone,
            code=code if self.delivery.shows_code else None,
            retry_after=self.resend_cooldown,
            expires_in=self.code_ttl,
        )

    async def verify_code(
        self, raw_phone: str, code: str, *, telegram_id: int | None = None
    ) -> Verification:
        """Check a phone's code; on success create or return its member (linking `telegram_id`)."""
        phone = self.normalise_phone(raw_phone)
        if phone is None:
            return Verification(VerifyOutcome.INVALID_PHONE)
        code = code.strip()
        if len(code) != self.code_length or not code.isdigit():
            return Verification(VerifyOutcome.MALFORMED_CODE, phone)
        now = self._clock()

        async def verify(connection: AsyncConnection) -> Verification:
            stored = (
                await connection.execute(
                    select(codes.c.code_hash, codes.c.expires_at, codes.c.wrong_attempts)
                    .where(codes.c.phone == phone)
                    .with_for_update()
                )
            ).one_or_none()
            if stored is None or stored.code_hash is None:
                return Verification(VerifyOutcome.NO_CODE, phone)
            if stored.wrong_attempts >= MAX_WRONG_ATTEMPTS:
                return Verification(VerifyOutcome.TOO_MANY_ATTEMPTS, phone)
            if stored.expires_at <= now:
                return Verification(VerifyOutcome.EXPIRED, phone)
            if not code_matches(self._key, phone, code, stored.code_hash):
                attempts = stored.wrong_attempts + 1
                await connection.execute(
                    update(codes).where(codes.c.phone == phone).values(wrong_attempts=attempts)
                )
                left = MAX_WRONG_ATTEMPTS - attempts
                outcome = VerifyOutcome.WRONG_CODE if left else VerifyOutcome.TOO_MANY_ATTEMPTS
                return Verification(outcome, phone, attempts_left=left)
            await connection.execute(
                update(codes)
                .where(codes.c.phone == phone)
                .values(code_hash=None, expires_at=None, wrong_attempts=0)
            )
            member, created = await self._upsert_member(connection, phone, telegram_id, now)
            return Verification(VerifyOutcome.VERIFIED, phone, member=member, created=created)

        verification = await self._retrying(verify)
        if verification.member is not None:
            log.info(
                "member %d %s",
                verification.member.id,
                "joined" if verification.created else "logged in",
            )
        return verification

    async def _upsert_member(
        self, connection: AsyncConnection, phone: str, telegram_id: int | None, now: datetime
    ) -> tuple[Member, bool]:
        if telegram_id is not None:
            # The account moves to this phone's member, away from whichever it was linked to.
            await connection.execute(
                update(members)
                .where(members.c.telegram_id == telegram_id, members.c.phone != phone)
                .values(telegram_id=None)
            )
        changes: dict[str, Any] = {"last_login_at": now}
        if telegram_id is not None:
            changes["telegram_id"] = telegram_id
        while True:
            statement = (
                insert(members)
                .values(phone=phone, invite_code=self._new_invite_code(), **changes)
                .on_conflict_do_update(index_elements=[members.c.phone], set_=changes)
                .returning(*MEMBER_COLUMNS, text("(xmax = 0) AS created"))
            )
            try:
                async with connection.begin_nested():
                    row = (await connection.execute(statement)).one()
            except IntegrityError as error:
                if "uq_members_invite_code" not in str(error.orig):
                    raise
                continue  # the drawn invite code is taken: draw another
            return _member(row), bool(row.created)

    # Members

    async def _one_member(self, statement: Select[Any], **values: Any) -> Member | None:
        async with self._reads.connect() as connection:
            row = (await connection.execute(statement, values)).one_or_none()
        return None if row is None else _member(row)

    async def member_by_telegram(self, telegram_id: int) -> Member | None:
        """The member linked to a Telegram account, if any."""
        return await self._one_member(MEMBER_BY_TELEGRAM, telegram_id=telegram_id)

    async def member_by_invite_code(self, raw_code: str) -> Member | None:
        """The owner of an invite code, matched case-insensitively."""
        code = clean_invite_code(raw_code)
        if not is_invite_code(code):
            return None
        return await self._one_member(MEMBER_BY_INVITE_CODE, invite_code=code)

    async def profile(self, member_id: int) -> Profile | None:
        """A member with the code they activated and how many people joined with theirs."""
        async with self._reads.connect() as connection:
            row = (await connection.execute(PROFILE, {"member_id": member_id})).one_or_none()
        if row is None:
            return None
        return Profile(_member(row), row.inviter_code, row.referral_count)

    async def unlink_telegram(self, telegram_id: int) -> bool:
        """Forget which member a Telegram account belongs to; False if it was not linked."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(members).where(members.c.telegram_id == telegram_id).values(telegram_id=None)
            )
        return bool(result.rowcount)

    # Invitations

    async def activate_invite(self, member_id: int, raw_code: str) -> Activation:
        """Record who invited the member: once ever, never their own code, never a cycle."""
        code = clean_invite_code(raw_code)
        if not code:
            return Activation(InviteOutcome.EMPTY)
        now = self._clock()

        async def activate(connection: AsyncConnection) -> Activation:
            while True:
                chain = []
                if is_invite_code(code):
                    chain = list((await connection.execute(INVITER_CHAIN, {"code": code})).all())
                # Lock the member and the top of the code's chain, always in the order of ids so
                # that two members activating each other's codes queue instead of deadlocking.
                # Only a member without an inviter can gain one, so once the top is locked and
                # still has none, the chain cannot grow into a cycle before we commit.
                root = chain[-1].id if chain else None
                me = None
                root_inviter = None
                for locked_id in sorted({member_id, root} - {None}):  # type: ignore[type-var]
                    if locked_id == member_id:
                        me = (
                            await connection.execute(
                                select(members.c.inviter_id, members.c.invite_code)
                                .where(members.c.id == member_id)
                                .with_for_update(key_share=True)
                            )
                        ).one_or_none()
                        if me is None:
                            return Activation(InviteOutcome.MEMBER_NOT_FOUND, code)
                    else:
                        root_inviter = (
                            await connection.execute(
                                select(members.c.inviter_id)
                                .where(members.c.id == locked_id)
                                .with_for_update(read=True)
                            )
                        ).scalar_one_or_none()
                assert me is not None
                if me.inviter_id is not None:
                    previous = (
                        await connection.execute(
                            select(members.c.invite_code).where(members.c.id == me.inviter_id)
                        )
                    ).scalar_one()
                    return Activation(InviteOutcome.ALREADY_ACTIVATED, previous)
                if me.invite_code == code:
                    return Activation(InviteOutcome.OWN_CODE, code)
                if not chain:
                    return Activation(InviteOutcome.UNKNOWN, code)
                if any(link.id == member_id for link in chain):
                    return Activation(InviteOutcome.CYCLE, code)
                if root_inviter is not None:
                    continue  # the top gained an inviter meanwhile: walk the longer chain
                target = chain[0]
                await connection.execute(
                    update(members)
                    .where(members.c.id == member_id, members.c.inviter_id.is_(None))
                    .values(inviter_id=target.id, invited_at=now)
                )
                await connection.execute(
                    insert(counts)
                    .values(member_id=target.id, shard=member_id % COUNT_SHARDS, referrals=1)
                    .on_conflict_do_update(
                        index_elements=[counts.c.member_id, counts.c.shard],
                        set_={"referrals": counts.c.referrals + 1},
                    )
                )
                inviter = Member(
                    target.id,
                    target.phone,
                    code,
                    target.telegram_id,
                    target.inviter_id,
                    target.invited_at,
                )
                return Activation(InviteOutcome.ACTIVATED, code, inviter)

        activation = await self._retrying(activate)
        if activation.outcome is InviteOutcome.ACTIVATED:
            assert activation.inviter is not None
            log.info("member %d activated the code of member %d", member_id, activation.inviter.id)
        return activation

    async def referrals_page(
        self,
        inviter_id: int,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
    ) -> ReferralPage:
        """A page of the people who joined with the member's code, in order of activation.

        Keyset pagination over (invited_at, id): every page costs the same at any depth.
        Raises ValueError for a cursor that this service did not make.
        """
        key = tuple_(members.c.invited_at, members.c.id)
        total_column = REFERRAL_COUNT.scalar_subquery().label("total")
        query = select(members.c.id, members.c.phone, members.c.invited_at, total_column).where(
            members.c.inviter_id == inviter_id
        )
        if before is not None:
            query = query.where(key < tuple_(*decode_cursor(before)))
            query = query.order_by(members.c.invited_at.desc(), members.c.id.desc())
        else:
            if after is not None:
                query = query.where(key > tuple_(*decode_cursor(after)))
            query = query.order_by(members.c.invited_at, members.c.id)
        values = {"member_id": inviter_id}
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query.limit(limit + 1), values)).all()
            if rows:  # the count came with the page, in the same round trip
                total = rows[0].total
            else:
                total = (await connection.execute(REFERRAL_COUNT, values)).scalar_one()
        more = len(rows) > limit
        rows = list(rows[:limit])
        if before is not None:
            rows.reverse()
        referrals = [Referral(row.id, self.shown_phone(row.phone), row.invited_at) for row in rows]
        has_next = more if before is None else True
        has_previous = more if before is not None else after is not None
        first, last = (referrals[0], referrals[-1]) if referrals else (None, None)
        return ReferralPage(
            referrals,
            total,
            encode_cursor(last.invited_at, last.member_id) if has_next and last else None,
            encode_cursor(first.invited_at, first.member_id) if has_previous and first else None,
        )


def create_service(engine: AsyncEngine, settings: Settings) -> ReferralService:
    """The service configured by the program's settings."""
    token = settings.telegram_gateway_token
    delivery = create_delivery(
        settings.code_delivery,
        chat_delay=settings.code_chat_delay,
        gateway_token=token.get_secret_value() if token else "",
        gateway_url=settings.telegram_gateway_url,
    )
    return ReferralService(
        engine,
        signing_key=settings.signing_key(),
        delivery=delivery,
        code_length=settings.code_length,
        code_ttl=settings.code_ttl,
        resend_cooldown=settings.code_resend_cooldown,
        hourly_limit=settings.code_hourly_limit,
        default_region=settings.default_region,
        show_full_phones=settings.referral_phone_visibility == "full",
    )
