"""Makes milestones.reached_at NOT NULL, as the models declare it.

Revision ID: 0010
Revises: 0009

Migration 0006 created the column nullable, unlike the models; its only writer, activate_invite,
sets it to the activation's time (`p_at`, the service's clock): no row holds NULL, none is filled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "milestones", "reached_at", existing_type=sa.DateTime(timezone=True), nullable=False
    )


def downgrade() -> None:
    op.alter_column(
        "milestones", "reached_at", existing_type=sa.DateTime(timezone=True), nullable=True
    )
