"""Adds referral_counts, each member's count of referrals, filled from the members.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_counts",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_referral_counts_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "shard", name=op.f("pk_referral_counts")),
    )
    op.execute(
        "INSERT INTO referral_counts (member_id, shard, referrals) "
        "SELECT inviter_id, 0, count(*) FROM members WHERE inviter_id IS NOT NULL "
        "GROUP BY inviter_id"
    )


def downgrade() -> None:
    op.drop_table("referral_counts")
