"""events and broadcasts: the outbox of outbound webhooks and the triggers that fill it; the
operators' broadcasts and the members they cannot reach

Revision ID: 0007
Revises: 0006

Each event is written by a trigger in the transaction of the change that causes it, so none is
lost when the process dies and none is sent for a change that rolled back. The triggers run only
where the connection's `referral.event_targets` is set (EVENTS_URL configured): otherwise a
change costs what it did. Adding an event is one `EventTrigger(...)` line in `EVENTS` (or, in a
later migration, `op.execute(EventTrigger(...).create())`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.events import DROP_EVENT_FUNCTIONS, EVENT_FUNCTIONS, EventTrigger

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_OF = "(SELECT invite_code FROM members WHERE id = {})"

EVENTS = [
    EventTrigger(
        "member.joined",
        table="members",
        on="INSERT",
        member="NEW.id",
        data="jsonb_build_object('member_id', NEW.id, 'invite_code', NEW.invite_code, "
        "'telegram_id', NEW.telegram_id, 'language', NEW.language, "
        "'joined_at', event_time(NEW.created_at)) || event_phone(NEW.phone)",
    ),
    EventTrigger(
        "referral.activated",
        table="members",
        on="UPDATE OF inviter_id",
        when="OLD.inviter_id IS NULL AND NEW.inviter_id IS NOT NULL",
        member="NEW.id",
        data="jsonb_build_object('member_id', NEW.id, 'invite_code', NEW.invite_code, "
        f"'inviter_id', NEW.inviter_id, 'inviter_code', {CODE_OF.format('NEW.inviter_id')}, "
        "'activated_at', event_time(NEW.invited_at)) || event_phone(NEW.phone)",
    ),
    EventTrigger(
        "member.blocked",
        table="member_blocks",
        on="INSERT",
        when="NEW.action = 'block'",
        member="NEW.member_id",
        data="jsonb_build_object('member_id', NEW.member_id, "
        f"'invite_code', {CODE_OF.format('NEW.member_id')}, 'operator_id', NEW.operator_id, "
        "'reason', NEW.reason, 'blocked_at', event_time(NEW.at))",
    ),
    EventTrigger(
        "member.unblocked",
        table="member_blocks",
        on="INSERT",
        when="NEW.action = 'unblock'",
        member="NEW.member_id",
        data="jsonb_build_object('member_id', NEW.member_id, "
        f"'invite_code', {CODE_OF.format('NEW.member_id')}, 'operator_id', NEW.operator_id, "
        "'unblocked_at', event_time(NEW.at))",
    ),
    EventTrigger(
        "member.deleted",
        table="members",
        on="UPDATE OF erased_at",
        when="OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL",
        member="NEW.id",
        data="jsonb_build_object('member_id', NEW.id, 'deleted_at', event_time(NEW.erased_at))",
    ),
    EventTrigger(
        "milestone.reached",
        table="milestones",
        on="INSERT",
        member="NEW.member_id",
        data="jsonb_build_object('member_id', NEW.member_id, "
        f"'invite_code', {CODE_OF.format('NEW.member_id')}, 'milestone', NEW.milestone, "
        "'reached_at', event_time(NEW.reached_at))",
    ),
]


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.SmallInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("retrying_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'failed')", name=op.f("ck_outbox_events_known_state")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox_events")),
    )
    op.create_index(
        "ix_outbox_events_due", "outbox_events", ["seq"], postgresql_where="state = 'pending'"
    )
    op.create_index(
        "ix_outbox_events_member",
        "outbox_events",
        ["member_id", "target", "seq"],
        postgresql_where="state = 'pending'",
    )
    op.add_column("members", sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo", sa.Text(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unreachable", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="sending", nullable=False),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("cursor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "in_flight",
            postgresql.ARRAY(sa.BigInteger()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("paced_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('sending', 'done', 'cancelled')", name=op.f("ck_broadcasts_known_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(
        "ix_broadcasts_sending", "broadcasts", ["id"], postgresql_where="status = 'sending'"
    )
    for statement in EVENT_FUNCTIONS:
        op.execute(statement)
    for event in EVENTS:
        op.execute(event.create())


def downgrade() -> None:
    for event in reversed(EVENTS):
        op.execute(event.drop())
    for statement in DROP_EVENT_FUNCTIONS:
        op.execute(statement)
    op.drop_table("outbox_events")
    op.drop_table("broadcasts")
    op.drop_column("members", "unreachable_at")
