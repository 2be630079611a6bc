"""Adds the leaderboards' counters, milestones and the QR codes' file ids, kept by activate_invite.

Revision ID: 0006
Revises: 0008 (developed on 0005; relinked after 0008 reached main)

`referral_counts` rows carry `reached_at`, the time of the last activation they counted, and
`referral_month_counts` keeps the same counts per month (UTC), kept by the activation like
`referral_counts`: one row (shard 0) until `p_single_row`, then spread over the shards. Both are
ranked by an index on shard 0, (referrals DESC, reached_at, member_id): most referrals first, and
of equal counts who reached it first (db/growth.py reads them). Erasure keeps an erased member's
counts, as before, and takes them off the ranking (`reached_at` NULL).

`referral_rank_buckets` counts the members below `p_single_row` per board (all time, or a
month), per count, and per count and day reached, kept by the activation as a count moves from n
to n + 1: a member's place is then a sum of buckets and a count within their own day, instead of
a count of everybody ahead of them.

`milestones` records which milestone each member reached, written by the activation that brought
their count to it (`p_milestones`, from the MILESTONES setting) in the same transaction; its
primary key makes a milestone reached once, whatever runs at the same time. `activate_invite`
returns the inviter's count and the largest milestone it newly reached.

`member_qr_codes` keeps, per member, Telegram's file_id of the QR code the bot first uploaded and
the link it draws, so that later `/qr` upload nothing and a changed link is drawn again.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_SIGNATURE = "activate_invite(bigint, text, timestamptz, int, int)"
SIGNATURE = "activate_invite(bigint, text, timestamptz, int, int, int[])"

SINGLE_ROW_REFERRALS = 64  # db.models' value when this revision was written
# The all-time board's key in referral_rank_buckets (the monthly ones are the months' first days).
ALL_TIME = "1970-01-01"
# The day bucket of a count value's total (over all days) in referral_rank_buckets.
ANY_DAY = "infinity"

# A counter bumped in place, inserted when missing. Shard 0 is read under a lock first: below
# p_single_row its count moves from n to n + 1, and the rank buckets (members per count, and per
# count and day reached) move with it. It is inserted without ON CONFLICT: two first activations
# at once fail one with a unique violation, which the service retries, so that a member's count
# stays in shard 0 until it is full (the ranking relies on it).
_COUNT = """
    SELECT c.referrals, c.reached_at INTO v_old FROM {table} AS c
    WHERE {key} AND c.member_id = v_inviter AND c.shard = 0 FOR UPDATE;
    IF NOT FOUND OR v_old.referrals < p_single_row THEN
        IF FOUND THEN
            UPDATE {table} SET referrals = referrals + 1, reached_at = greatest(reached_at, p_at)
            WHERE {key} AND member_id = v_inviter AND shard = 0;
        ELSE
            INSERT INTO {table} ({key_columns}member_id, shard, referrals, reached_at)
            VALUES ({key_values}v_inviter, 0, 1, p_at);
        END IF;
        INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
        SELECT {board}, moved.referrals, moved.day, v_shard, moved.members
        FROM (VALUES
            (coalesce(v_old.referrals, 0), '{any_day}'::date, -1),
            (coalesce(v_old.referrals, 0), (v_old.reached_at AT TIME ZONE 'UTC')::date, -1),
            (coalesce(v_old.referrals, 0) + 1, '{any_day}'::date, 1),
            (coalesce(v_old.referrals, 0) + 1, (p_at AT TIME ZONE 'UTC')::date, 1)
        ) AS moved(referrals, day, members)
        WHERE moved.referrals BETWEEN 1 AND p_single_row - 1
        ORDER BY moved.referrals, moved.day
        ON CONFLICT (board, referrals, day, shard) DO UPDATE
        SET members = b.members + excluded.members;
    ELSE  -- shard 0 is full
        INSERT INTO {table} AS c ({key_columns}member_id, shard, referrals, reached_at)
        VALUES ({key_values}v_inviter, v_shard, 1, p_at)
        ON CONFLICT ({key_columns}member_id, shard) DO UPDATE
        SET referrals = c.referrals + 1, reached_at = greatest(c.reached_at, p_at);
    END IF;
"""
COUNT_ALL_TIME = _COUNT.format(
    table="referral_counts",
    key="true",
    key_columns="",
    key_values="",
    board=f"'{ALL_TIME}'::date",
    any_day=ANY_DAY,
)
COUNT_MONTH = _COUNT.format(
    table="referral_month_counts",
    key="month = v_month",
    key_columns="month, ",
    key_values="v_month, ",
    board="v_month",
    any_day=ANY_DAY,
)

ACTIVATE_INVITE = (
    """
CREATE FUNCTION activate_invite(
    p_member bigint, p_code text, p_at timestamptz, p_shards int, p_single_row int,
    p_milestones int[]
)
RETURNS TABLE (
    outcome text, found_code text, inviter_id bigint, inviter_phone text,
    inviter_telegram_id bigint, inviter_inviter_id bigint, inviter_invited_at timestamptz,
    inviter_language text, inviter_referrals int, milestone int
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chain bigint[];  -- the code's owner, whoever invited them, and so on up to the top
    v_top bigint;
    v_top_inviter bigint;
    v_me record;
    v_owner record;
    v_shard int := p_member % p_shards;
    v_inviter bigint;
    v_month date := date_trunc('month', p_at AT TIME ZONE 'UTC')::date;
    v_total int;
    v_milestone int;
    v_old record;
BEGIN
    LOOP
        SELECT array_agg(walk.id ORDER BY walk.depth) INTO v_chain
        FROM (
            WITH RECURSIVE chain(id, up, depth) AS (
                SELECT m.id, m.inviter_id, 0 FROM members AS m WHERE m.invite_code = p_code
              UNION ALL
                SELECT m.id, m.inviter_id, c.depth + 1
                FROM members AS m JOIN chain AS c ON m.id = c.up
            )
            SELECT chain.id, chain.depth FROM chain
        ) AS walk;
        v_top := v_chain[cardinality(v_chain)];
        -- Lock the member and the top of the chain in the order of their ids, so that two members
        -- activating each other's codes queue instead of deadlocking. Only a member without an
        -- inviter can gain one: once the top is locked and still has none, the chain cannot grow
        -- into a cycle before we commit.
        v_top_inviter := NULL;
        IF v_top < p_member THEN
            SELECT m.inviter_id INTO v_top_inviter FROM members AS m WHERE m.id = v_top FOR SHARE;
        END IF;
        SELECT m.inviter_id, m.invite_code, m.erased_at, m.blocked_at,
               (SELECT i.invite_code FROM members AS i WHERE i.id = m.inviter_id) AS earlier_code
        INTO v_me FROM members AS m WHERE m.id = p_member FOR NO KEY UPDATE OF m;
        IF NOT FOUND OR v_me.erased_at IS NOT NULL THEN
            outcome := 'member_not_found'; found_code := p_code; RETURN NEXT; RETURN;
        END IF;
        IF v_me.blocked_at IS NOT NULL THEN
            outcome := 'member_blocked'; found_code := p_code; RETURN NEXT; RETURN;
        END IF;
        IF v_top > p_member THEN
            SELECT m.inviter_id INTO v_top_inviter FROM members AS m WHERE m.id = v_top FOR SHARE;
        END IF;
        IF v_me.inviter_id IS NOT NULL THEN
            outcome := 'already_activated'; found_code := v_me.earlier_code; RETURN NEXT; RETURN;
        END IF;
        IF v_me.invite_code = p_code THEN
            outcome := 'own_code'; found_code := p_code; RETURN NEXT; RETURN;
        END IF;
        IF v_chain IS NULL THEN
            outcome := 'unknown'; found_code := p_code; RETURN NEXT; RETURN;
        END IF;
        IF p_member = ANY (v_chain) THEN
            outcome := 'cycle'; found_code := p_code; RETURN NEXT; RETURN;
        END IF;
        EXIT WHEN v_top_inviter IS NULL;  -- else the top gained an inviter: walk the longer chain
    END LOOP;
    -- The member is locked and has no inviter. Read the code's owner again, now, under a lock
    -- that erasure and blocking (FOR UPDATE) wait for: whichever commits first is seen by the
    -- other. An erased owner's code no longer works; a blocked owner's code is suspended.
    SELECT o.invite_code, o.blocked_at, o.phone, o.telegram_id, o.inviter_id, o.invited_at,
           o.language
    INTO v_owner FROM members AS o WHERE o.id = v_chain[1] FOR KEY SHARE;
    IF v_owner.invite_code IS DISTINCT FROM p_code THEN
        outcome := 'unknown'; found_code := p_code; RETURN NEXT; RETURN;
    END IF;
    IF v_owner.blocked_at IS NOT NULL THEN
        outcome := 'code_suspended'; found_code := p_code; RETURN NEXT; RETURN;
    END IF;
    v_inviter := v_chain[1];
    UPDATE members SET inviter_id = v_inviter, invited_at = p_at WHERE id = p_member;
    -- Counted in one row (shard 0) until the inviter has p_single_row referrals, then spread
    -- over the shards: all time, and this month.
"""
    + COUNT_ALL_TIME
    + COUNT_MONTH
    + """
    UPDATE member_totals SET invited = invited + 1 WHERE shard = v_shard;
    IF NOT FOUND THEN
        INSERT INTO member_totals (shard, members, invited) VALUES (v_shard, 0, 1);
    END IF;
    UPDATE daily_counts SET activated = activated + 1
    WHERE day = (p_at AT TIME ZONE 'UTC')::date AND shard = v_shard;
    IF NOT FOUND THEN
        INSERT INTO daily_counts (day, shard, joined, activated)
        VALUES ((p_at AT TIME ZONE 'UTC')::date, v_shard, 0, 1);
    END IF;
    -- Milestones: below p_single_row the count is one row that this transaction holds locked,
    -- so each activation sees its own exact count and the one that reaches a milestone records
    -- it; above, a count missing simultaneous activations records it with the next one. The
    -- primary key lets a milestone in once: a second insert waits for the first and skips.
    SELECT sum(c.referrals)::int INTO v_total FROM referral_counts AS c
    WHERE c.member_id = v_inviter;
    IF p_milestones IS NOT NULL THEN
        WITH reached AS (
            INSERT INTO milestones (member_id, milestone, reached_at)
            SELECT v_inviter, goal, p_at FROM unnest(p_milestones) AS goal
            WHERE goal <= v_total AND NOT EXISTS (
                SELECT FROM milestones AS r WHERE r.member_id = v_inviter AND r.milestone = goal
            )
            ON CONFLICT DO NOTHING
            RETURNING milestones.milestone
        )
        SELECT max(reached.milestone) INTO v_milestone FROM reached;
    END IF;
    inviter_id := v_inviter;
    inviter_phone := v_owner.phone;
    inviter_telegram_id := v_owner.telegram_id;
    inviter_inviter_id := v_owner.inviter_id;
    inviter_invited_at := v_owner.invited_at;
    inviter_language := v_owner.language;
    inviter_referrals := v_total;
    milestone := v_milestone;
    outcome := 'activated'; found_code := p_code; RETURN NEXT;
END
$$
"""
)

# Counts as the data stands: reached at each member's latest referral, per month too.
FILL_REACHED_AT = """
UPDATE referral_counts AS c SET reached_at = latest.at
FROM (
    SELECT inviter_id, max(invited_at) AS at FROM members WHERE inviter_id IS NOT NULL
    GROUP BY inviter_id
) AS latest
WHERE c.member_id = latest.inviter_id
"""
FILL_MONTH_COUNTS = """
INSERT INTO referral_month_counts (month, member_id, shard, referrals, reached_at)
SELECT date_trunc('month', invited_at AT TIME ZONE 'UTC')::date, inviter_id, 0, count(*),
       max(invited_at)
FROM members WHERE inviter_id IS NOT NULL GROUP BY 1, 2
"""
# Erased members are not members: their counts stay (as erasure leaves them) but are not ranked.
UNRANK_ERASED = """
UPDATE {table} SET reached_at = NULL
WHERE member_id IN (SELECT id FROM members WHERE erased_at IS NOT NULL)
"""


# The rank buckets as the counts stand (members below SINGLE_ROW_REFERRALS, in shard 0, ranked):
# per board and count, over all days (ANY_DAY) and per day reached. Also run by the bench.
FILL_RANK_BUCKETS = f"""
INSERT INTO referral_rank_buckets (board, referrals, day, shard, members)
SELECT board, referrals, day, 0, count(*) FROM (
    SELECT '{ALL_TIME}'::date AS board, referrals, reached_at FROM referral_counts
    WHERE shard = 0 AND reached_at IS NOT NULL AND referrals < {SINGLE_ROW_REFERRALS}
  UNION ALL
    SELECT month, referrals, reached_at FROM referral_month_counts
    WHERE shard = 0 AND reached_at IS NOT NULL AND referrals < {SINGLE_ROW_REFERRALS}
) AS ranked,
LATERAL (VALUES ('{ANY_DAY}'::date), ((reached_at AT TIME ZONE 'UTC')::date)) AS days(day)
GROUP BY board, referrals, day
"""


def _previous_function() -> str:
    """The function of revision 0005, for the way down."""
    path = Path(__file__).with_name("0005_operators.py")
    spec = importlib.util.spec_from_file_location("operators_revision", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.ACTIVATE_INVITE)


def upgrade() -> None:
    op.add_column(
        "referral_counts",
        sa.Column(
            "reached_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
    )
    op.execute(FILL_REACHED_AT)
    op.execute(UNRANK_ERASED.format(table="referral_counts"))
    op.create_index(
        "ix_referral_counts_ranking",
        "referral_counts",
        [sa.text("referrals DESC"), "reached_at", "member_id"],
        postgresql_where="shard = 0 AND reached_at IS NOT NULL",
    )
    op.create_table(
        "referral_month_counts",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_referral_month_counts_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "month", "member_id", "shard", name=op.f("pk_referral_month_counts")
        ),
    )
    op.execute(FILL_MONTH_COUNTS)
    op.execute(UNRANK_ERASED.format(table="referral_month_counts"))
    op.create_index(
        "ix_referral_month_counts_ranking",
        "referral_month_counts",
        ["month", sa.text("referrals DESC"), "reached_at", "member_id"],
        postgresql_where="shard = 0 AND reached_at IS NOT NULL",
    )
    op.create_table(
        "referral_rank_buckets",
        sa.Column("board", sa.Date(), nullable=False),
        sa.Column("referrals", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "board", "referrals", "day", "shard", name=op.f("pk_referral_rank_buckets")
        ),
    )
    op.execute(FILL_RANK_BUCKETS)
    op.create_table(
        "milestones",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("milestone", sa.Integer(), nullable=False),
        sa.Column(
            "reached_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_milestones_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "milestone", name=op.f("pk_milestones")),
    )
    op.create_table(
        "member_qr_codes",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_qr_codes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_qr_codes")),
    )
    op.execute(f"DROP FUNCTION {PREVIOUS_SIGNATURE}")
    op.execute(ACTIVATE_INVITE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    op.execute(_previous_function())
    op.drop_table("member_qr_codes")
    op.drop_table("milestones")
    op.drop_table("referral_rank_buckets")
    op.drop_index("ix_referral_month_counts_ranking", table_name="referral_month_counts")
    op.drop_table("referral_month_counts")
    op.drop_index("ix_referral_counts_ranking", table_name="referral_counts")
    op.drop_column("referral_counts", "reached_at")
