"""Adds the events' outbox (outbox_events, its functions and triggers) and the broadcasts.

Revision ID: 0007
Revises: 0006

Each event is written by a trigger in the transaction of the change that causes it, so none is
lost when the process dies and none is sent for a change that rolled back. The triggers run only
where the connection's `referral.event_targets` is set (EVENTS_URL configured): otherwise a
change costs what it did. The functions and triggers as they stand now: db/sql/events.sql.
The operators' broadcasts are the table `broadcasts` and `members.unreachable_at` (the members
a broadcast found unreachable).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Times in events: UTC, ISO 8601 with microseconds.
EVENT_TIME = """
CREATE FUNCTION event_time(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$
"""

EVENT_PHONE = """
CREATE FUNCTION event_phone(p_phone text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('referral.event_phones', true) = 'on'
                THEN jsonb_build_object('phone', p_phone) ELSE '{}'::jsonb END
$$
"""

EMIT_EVENT = """
CREATE FUNCTION emit_event(p_type text, p_member bigint, p_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_at timestamptz := clock_timestamp();
    v_body text := jsonb_build_object(
        'id', v_id, 'type', p_type, 'created_at', event_time(v_at), 'data', p_data
    )::text;
BEGIN
    INSERT INTO outbox_events (id, target, type, member_id, created_at, retrying_since, body)
    SELECT v_id, target, p_type, p_member, v_at, v_at, v_body
    FROM generate_series(0, current_setting('referral.event_targets')::int - 1) AS target;
END
$$
"""

# Each event's trigger function and trigger, on its table: the trigger fires where events are on
# and the event's own condition holds. A line of SQL that ends in a backslash goes on in the next.
EVENTS = [
    (
        "members",
        "emit_member_joined",
        """
CREATE FUNCTION emit_member_joined() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.joined', NEW.id, jsonb_build_object('member_id', NEW.id, \
'invite_code', NEW.invite_code, 'telegram_id', NEW.telegram_id, 'language', NEW.language, \
'joined_at', event_time(NEW.created_at)) || event_phone(NEW.phone));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_member_joined AFTER INSERT ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (true)
)
EXECUTE FUNCTION emit_member_joined()
""",
    ),
    (
        "members",
        "emit_referral_activated",
        """
CREATE FUNCTION emit_referral_activated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('referral.activated', NEW.id, jsonb_build_object('member_id', NEW.id, \
'invite_code', NEW.invite_code, 'inviter_id', NEW.inviter_id, 'inviter_code', \
(SELECT invite_code FROM members WHERE id = NEW.inviter_id), 'activated_at', \
event_time(NEW.invited_at)) || event_phone(NEW.phone));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_referral_activated AFTER UPDATE OF inviter_id ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (OLD.inviter_id IS NULL AND NEW.inviter_id IS NOT NULL)
)
EXECUTE FUNCTION emit_referral_activated()
""",
    ),
    (
        "member_blocks",
        "emit_member_blocked",
        """
CREATE FUNCTION emit_member_blocked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.blocked', NEW.member_id, jsonb_build_object('member_id', \
NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), \
'operator_id', NEW.operator_id, 'reason', NEW.reason, 'blocked_at', event_time(NEW.at)));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_member_blocked AFTER INSERT ON member_blocks FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (NEW.action = 'block')
)
EXECUTE FUNCTION emit_member_blocked()
""",
    ),
    (
        "member_blocks",
        "emit_member_unblocked",
        """
CREATE FUNCTION emit_member_unblocked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.unblocked', NEW.member_id, jsonb_build_object('member_id', \
NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), \
'operator_id', NEW.operator_id, 'unblocked_at', event_time(NEW.at)));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_member_unblocked AFTER INSERT ON member_blocks FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (NEW.action = 'unblock')
)
EXECUTE FUNCTION emit_member_unblocked()
""",
    ),
    (
        "members",
        "emit_member_deleted",
        """
CREATE FUNCTION emit_member_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.deleted', NEW.id, jsonb_build_object('member_id', NEW.id, \
'deleted_at', event_time(NEW.erased_at)));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_member_deleted AFTER UPDATE OF erased_at ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
)
EXECUTE FUNCTION emit_member_deleted()
""",
    ),
    (
        "milestones",
        "emit_milestone_reached",
        """
CREATE FUNCTION emit_milestone_reached() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('milestone.reached', NEW.member_id, jsonb_build_object('member_id', \
NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), \
'milestone', NEW.milestone, 'reached_at', event_time(NEW.reached_at)));
    RETURN NULL;
END
$$
""",
        """
CREATE TRIGGER emit_milestone_reached AFTER INSERT ON milestones FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (true)
)
EXECUTE FUNCTION emit_milestone_reached()
""",
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
    for statement in (EVENT_TIME, EVENT_PHONE, EMIT_EVENT):
        op.execute(statement)
    for _, _, function, trigger in EVENTS:
        op.execute(function)
        op.execute(trigger)


def downgrade() -> None:
    for table, name, _, _ in reversed(EVENTS):
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
    op.execute("DROP FUNCTION emit_event(text, bigint, jsonb)")
    op.execute("DROP FUNCTION event_phone(text)")
    op.execute("DROP FUNCTION event_time(timestamptz)")
    op.drop_table("outbox_events")
    op.drop_table("broadcasts")
    op.drop_column("members", "unreachable_at")
