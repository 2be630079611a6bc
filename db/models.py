"""The schema: members and the verification codes of phones."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    func,
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


class Member(Base):
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
    )


class VerificationCode(Base):
    """The current code of a phone (if any) and the phone's recent sends, for the rate limits."""

    __tablename__ = "verification_codes"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wrong_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    sent_at: Mapped[list[datetime]] = mapped_column(
        ARRAY(DateTime(timezone=True)), server_default="{}"
    )


class ReferralCount(Base):
    """How many people joined with a member's code, kept by the activation that adds one.

    Counting 100,000 index entries takes ~20 ms; summing these rows takes a fraction of one. They
    live in their own table, so bumping one never waits on locks held on the members' rows, and
    in `COUNT_SHARDS` rows per member, so that people joining with one popular code at the same
    moment do not queue behind one row lock (held until each commit is on disk).
    """

    __tablename__ = "referral_counts"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    referrals: Mapped[int] = mapped_column(Integer)


COUNT_SHARDS = 16
