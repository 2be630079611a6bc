"""Creates members (phone, invite code, Telegram account, inviter) and verification_codes.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("invite_code", sa.String(length=6), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("inviter_id", sa.BigInteger(), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_login_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(inviter_id IS NULL) = (invited_at IS NULL)", name=op.f("ck_members_invited_with_time")
        ),
        sa.CheckConstraint("inviter_id <> id", name=op.f("ck_members_not_own_inviter")),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["members.id"],
            name=op.f("fk_members_inviter_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_members_invite_code")),
        sa.UniqueConstraint("phone", name=op.f("uq_members_phone")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_members_telegram_id")),
    )
    op.create_index(
        "ix_members_referrals",
        "members",
        ["inviter_id", "invited_at", "id"],
        unique=False,
        postgresql_include=["phone"],
        postgresql_where="inviter_id IS NOT NULL",
    )
    op.create_table(
        "verification_codes",
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrong_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "sent_at",
            postgresql.ARRAY(sa.DateTime(timezone=True)),
            server_default="{}",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_verification_codes")),
    )


def downgrade() -> None:
    op.drop_table("verification_codes")
    op.drop_index(
        "ix_members_referrals",
        table_name="members",
        postgresql_include=["phone"],
        postgresql_where="inviter_id IS NOT NULL",
    )
    op.drop_table("members")
