"""Adds address_requests: the API's requests per client address, counted once for all workers.

Revision ID: 0009
Revises: 0007

Several processes of the program serve the API (WEB_WORKERS): the per-address limit of login
and verify requests is counted here, once for all of them, instead of in each process's memory.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_requests",
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("times", ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_accepted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_address_requests")),
    )
    op.create_index(op.f("ix_address_requests_last_at"), "address_requests", ["last_at"])


def downgrade() -> None:
    op.drop_table("address_requests")
