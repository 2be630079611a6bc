"""The schema as SQLAlchemy tables (each class named for its row: `MemberRow` of `members`, ...),
which alembic compares with the database: members, the verification codes of phones, the
counters that the figures of operators read, the audit of blocking, the outbox, broadcasts and
the API's requests per client address. The service's results keep the domain's names
(db/results.py)."""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class MemberRow(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Both NULL once the member is erased (`erased_at`): the row stays for the referral graph.
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    invite_code: Mapped[str | None] = mapped_column(String(6), unique=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    inviter_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="SET NULL")
    )
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    language: Mapped[str | None] = mapped_column(String(8))  # the member's choice, if they made one
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by an operator: the member cannot activate a code and their code is suspended.
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when a broadcast got 403 (they blocked the bot); cleared when they write to it again.
    unreachable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("inviter_id <> id", name="not_own_inviter"),
        CheckConstraint("(inviter_id IS NULL) = (invited_at IS NULL)", name="invited_with_time"),
        CheckConstraint(
            "(erased_at IS NULL) = (phone IS NOT NULL AND invite_code IS NOT NULL)",
            name="erased_or_identified",
        ),
        # "My referrals" in activation order, counted and paged by keyset from this index alone.
        Index(
            "ix_members_referrals",
            "inviter_id",
            "invited_at",
            "id",
            postgresql_include=["phone"],
            postgresql_where="inviter_id IS NOT NULL",
        ),
        # The blocked members, counted by /stats from this index alone.
        Index("ix_members_blocked", "id", postgresql_where="blocked_at IS NOT NULL"),
    )


class VerificationCodeRow(Base):
    """The current code of a phone (if any) and the phone's recent sends, for the rate limits."""

    __tablename__ = "verification_codes"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wrong_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    sent_at: Mapped[list[datetime]] = mapped_column(
        ARRAY(DateTime(timezone=True)), server_default="{}"
    )


class AddressRequestRow(Base):
    """The API's login and verify requests of one client address within the last window of its
    limit (api/deps.py), so that every process of the program counts them in one place."""

    __tablename__ = "address_requests"

    address: Mapped[str] = mapped_column(Text, primary_key=True)
    times: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_accepted: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_address_requests_last_at", "last_at"),)


class ReferralCountRow(Base):
    """How many people joined with a member's code, kept by the activation that adds one.

    Counting 100,000 index entries takes ~20 ms; summing these rows takes a fraction of one. They
    live in their own table, so bumping one never waits on locks held on the members' rows, and,
    once a member has `SINGLE_ROW_REFERRALS` referrals, in up to `COUNT_SHARDS` rows, so that
    people joining with one popular code at the same moment do not queue behind one row lock
    (held until each commit is on disk). Below that every member has one row (shard 0), which is
    what lets the top inviters be read from the index on `referrals` (db/operators.py).
    """

    __tablename__ = "referral_counts"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    referrals: Mapped[int] = mapped_column(Integer)
    # When the last referral this row counts joined: of equal counts, who reached it first
    # ranks first on the leaderboard (db/growth.py). NULL once the member is erased: unranked.
    reached_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_referral_counts_referrals", "referrals", "member_id", "shard"),
        Index(
            "ix_referral_counts_ranking",
            text("referrals DESC"),
            "reached_at",
            "member_id",
            postgresql_where="shard = 0 AND reached_at IS NOT NULL",
        ),
    )


class ReferralMonthCountRow(Base):
    """`ReferralCountRow` per calendar month (UTC), kept by the same activation in the same way:
    the monthly leaderboard."""

    __tablename__ = "referral_month_counts"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    referrals: Mapped[int] = mapped_column(Integer)
    reached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_referral_month_counts_ranking",
            "month",
            text("referrals DESC"),
            "reached_at",
            "member_id",
            postgresql_where="shard = 0 AND reached_at IS NOT NULL",
        ),
    )


class ReferralRankBucketRow(Base):
    """How many members (below SINGLE_ROW_REFERRALS, ranked) have each count on a board (the
    all-time one, `ALL_TIME_BOARD`, or a month's first day), over all days (`day` infinity) and
    per day (UTC) they reached it; kept by the activation in `COUNT_SHARDS` rows per key. A
    member's place is summed from these (db/growth.py) instead of counting everybody ahead."""

    __tablename__ = "referral_rank_buckets"

    board: Mapped[date] = mapped_column(Date, primary_key=True)
    referrals: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)


class MilestoneRow(Base):
    """A milestone (a count of referrals, from MILESTONES) a member reached, recorded once by the
    activation that brought them to it, in its transaction."""

    __tablename__ = "milestones"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    milestone: Mapped[int] = mapped_column(Integer, primary_key=True)
    reached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MemberQrCodeRow(Base):
    """Telegram's file_id of the QR code the bot uploaded for a member, and the link it draws:
    later sends of the same link upload nothing."""

    __tablename__ = "member_qr_codes"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    link: Mapped[str] = mapped_column(Text)
    file_id: Mapped[str] = mapped_column(Text)


class ReferralRow(Base):
    """A referral (an activation), one per invitee, and its stage (db/referrals.py): pending
    until its rule (QUALIFY) qualifies it, then qualified, counted and reversible until
    `hold_until`; or reversed. Each change keeps its time, reason and operator (NULL: the rule
    or the job)."""

    __tablename__ = "referrals"

    invitee_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    inviter_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE")
    )
    stage: Mapped[str] = mapped_column(String(10))
    # What a pending referral waits for: `in_chats`, `manual` or `external` (QUALIFY's rule).
    waits_for: Mapped[str | None] = mapped_column(String(10))
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # in_chats:<N>d
    qualified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    qualified_reason: Mapped[str | None] = mapped_column(Text)
    qualified_by: Mapped[int | None] = mapped_column(BigInteger)
    hold_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reversed_reason: Mapped[str | None] = mapped_column(Text)
    reversed_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("stage IN ('pending', 'qualified', 'reversed')", name="known_stage"),
        CheckConstraint(
            "stage = 'reversed' OR (stage = 'qualified') = (qualified_at IS NOT NULL)",
            name="qualified_with_time",
        ),
        CheckConstraint(
            "(stage = 'reversed') = (reversed_at IS NOT NULL)", name="reversed_with_time"
        ),
        # The pending ones, for operators (keyset by invitee) and the job (by due time).
        Index("ix_referrals_pending", "invitee_id", postgresql_where="stage = 'pending'"),
        Index(
            "ix_referrals_due",
            "due_at",
            postgresql_where="stage = 'pending' AND due_at IS NOT NULL",
        ),
        Index(
            "ix_referrals_held",
            "hold_until",
            postgresql_where="stage = 'qualified' AND hold_until IS NOT NULL",
        ),
    )


class DailyCountRow(Base):
    """Joins and activations per day (UTC), kept by the statements that make them, in
    `COUNT_SHARDS` rows per day so that simultaneous joins do not queue on one row lock."""

    __tablename__ = "daily_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    joined: Mapped[int] = mapped_column(Integer, server_default="0")
    activated: Mapped[int] = mapped_column(Integer, server_default="0")


class MemberTotalRow(Base):
    """Members (not erased) and how many of them joined with a code, in `COUNT_SHARDS` rows:
    kept by joining, activation and erasure, read by /stats without counting the members."""

    __tablename__ = "member_totals"

    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    members: Mapped[int] = mapped_column(BigInteger, server_default="0")
    invited: Mapped[int] = mapped_column(BigInteger, server_default="0")


class MemberBlockRow(Base):
    """The audit of blocking: who (an operator's Telegram id) blocked or unblocked whom, when and
    why; written in the same statement as the change."""

    __tablename__ = "member_blocks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("action IN ('block', 'unblock')", name="known_action"),
        Index("ix_member_blocks_member_id_at", "member_id", "at"),
    )


class OutboxEventRow(Base):
    """An outbound event for one receiver (`target`, its place in EVENTS_URL), written by a
    trigger in the transaction of its cause (db/sql/events.sql), deleted once
    delivered. `body` is the JSON document as it is sent and signed."""

    __tablename__ = "outbox_events"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    target: Mapped[int] = mapped_column(SmallInteger)
    type: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    retrying_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'failed')", name="known_state"),
        Index("ix_outbox_events_due", "seq", postgresql_where="state = 'pending'"),
        Index(
            "ix_outbox_events_member",
            "member_id",
            "target",
            "seq",
            postgresql_where="state = 'pending'",
        ),
    )


class BroadcastRow(Base):
    """An operator's broadcast (db/broadcasts.py): its message, progress, cursor and lease."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    operator_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    sent: Mapped[int] = mapped_column(Integer, server_default="0")
    unreachable: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(10), server_default="sending")
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    cursor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    in_flight: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    # When the next message may go at the earliest: keeps the rate across instances.
    paced_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('sending', 'done', 'cancelled')", name="known_status"),
        Index("ix_broadcasts_sending", "id", postgresql_where="status = 'sending'"),
    )


COUNT_SHARDS = 16
SINGLE_ROW_REFERRALS = 64  # a member's referrals are counted in one row until there are this many
ALL_TIME_BOARD = date(1970, 1, 1)  # the all-time leaderboard's key in referral_rank_buckets
