"""Adds blocking, its audit and the counters of /stats; activate_invite refuses the blocked.

Revision ID: 0005
Revises: 0004

Members can be blocked by an operator (`blocked_at`); `member_blocks` keeps who blocked or
unblocked whom, when and why. The figures of /stats are read from counters that the statements
changing them keep (`daily_counts`, `member_totals`), and the top inviters from an index on
`referral_counts.referrals`, which needs a member's count in one row until it is large: the
existing counts are folded into shard 0 here.

`activate_invite` refuses a blocked member (`member_blocked`) and a blocked owner's code
(`code_suspended`). It re-reads the code's owner with a lock (KEY SHARE: activations of one code
do not wait for each other) that blocking and erasure, which take FOR UPDATE, conflict with: a
block either waits for an activation in progress to commit, or commits first and the activation,
reading the owner again once it has the lock, refuses.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_SIGNATURE = "activate_invite(bigint, text, timestamptz, int)"
SIGNATURE = "activate_invite(bigint, text, timestamptz, int, int)"

ACTIVATE_INVITE = """
CREATE FUNCTION activate_invite(
    p_member bigint, p_code text, p_at timestamptz, p_shards int, p_single_row int
)
RETURNS TABLE (
    outcome text, found_code text, inviter_id bigint, inviter_phone text,
    inviter_telegram_id bigint, inviter_inviter_id bigint, inviter_invited_at timestamptz,
    inviter_language text
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
    UPDATE members SET inviter_id = v_chain[1], invited_at = p_at WHERE id = p_member;
    -- Counted in one row (shard 0) until the inviter has p_single_row referrals, then spread
    -- over the shards. The counters are updated first and inserted only when missing (rarely):
    -- cheaper than an upsert, and a racing insert fails with a unique violation, which the
    -- service retries.
    UPDATE referral_counts SET referrals = referrals + 1
    WHERE member_id = v_chain[1] AND shard = 0 AND referrals < p_single_row;
    IF NOT FOUND THEN
        INSERT INTO referral_counts (member_id, shard, referrals) VALUES (v_chain[1], 0, 1)
        ON CONFLICT (member_id, shard) DO NOTHING;
        IF NOT FOUND THEN  -- shard 0 is full
            INSERT INTO referral_counts AS c (member_id, shard, referrals)
            VALUES (v_chain[1], v_shard, 1)
            ON CONFLICT (member_id, shard) DO UPDATE SET referrals = c.referrals + 1;
        END IF;
    END IF;
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
    inviter_id := v_chain[1];
    inviter_phone := v_owner.phone;
    inviter_telegram_id := v_owner.telegram_id;
    inviter_inviter_id := v_owner.inviter_id;
    inviter_invited_at := v_owner.invited_at;
    inviter_language := v_owner.language;
    outcome := 'activated'; found_code := p_code; RETURN NEXT;
END
$$
"""

# The function of revision 0004, for the way down.
PREVIOUS_ACTIVATE_INVITE = """
CREATE FUNCTION activate_invite(p_member bigint, p_code text, p_at timestamptz, p_shards int)
RETURNS TABLE (
    outcome text, found_code text, inviter_id bigint, inviter_phone text,
    inviter_telegram_id bigint, inviter_inviter_id bigint, inviter_invited_at timestamptz,
    inviter_language text
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chain bigint[];
    v_top bigint;
    v_top_inviter bigint;
    v_me record;
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
        v_top_inviter := NULL;
        IF v_top < p_member THEN
            SELECT m.inviter_id INTO v_top_inviter FROM members AS m WHERE m.id = v_top FOR SHARE;
        END IF;
        SELECT m.inviter_id, m.invite_code, m.erased_at,
               (SELECT i.invite_code FROM members AS i WHERE i.id = m.inviter_id) AS earlier_code
        INTO v_me FROM members AS m WHERE m.id = p_member FOR NO KEY UPDATE OF m;
        IF NOT FOUND OR v_me.erased_at IS NOT NULL THEN
            outcome := 'member_not_found'; found_code := p_code; RETURN NEXT; RETURN;
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
        EXIT WHEN v_top_inviter IS NULL;
    END LOOP;
    UPDATE members SET inviter_id = v_chain[1], invited_at = p_at
    WHERE id = p_member
      AND EXISTS (SELECT FROM members AS o WHERE o.id = v_chain[1] AND o.invite_code = p_code);
    IF NOT FOUND THEN
        outcome := 'unknown'; found_code := p_code; RETURN NEXT; RETURN;
    END IF;
    INSERT INTO referral_counts AS c (member_id, shard, referrals)
    VALUES (v_chain[1], p_member % p_shards, 1)
    ON CONFLICT (member_id, shard) DO UPDATE SET referrals = c.referrals + 1;
    SELECT o.id, o.phone, o.telegram_id, o.inviter_id, o.invited_at, o.language
    INTO inviter_id, inviter_phone, inviter_telegram_id, inviter_inviter_id, inviter_invited_at,
         inviter_language
    FROM members AS o WHERE o.id = v_chain[1];
    outcome := 'activated'; found_code := p_code; RETURN NEXT;
END
$$
"""

# Counters as the data stands: joins and activations per day, members and the invited among them.
FILL_DAILY_COUNTS = """
INSERT INTO daily_counts (day, shard, joined, activated)
SELECT day, 0, sum(joined), sum(activated) FROM (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS joined, 0 AS activated
    FROM members GROUP BY 1
  UNION ALL
    SELECT (invited_at AT TIME ZONE 'UTC')::date, 0, count(*)
    FROM members WHERE invited_at IS NOT NULL GROUP BY 1
) AS days GROUP BY day
"""
FILL_MEMBER_TOTALS = """
INSERT INTO member_totals (shard, members, invited)
SELECT 0, count(*), count(inviter_id) FROM members WHERE erased_at IS NULL
"""
FOLD_REFERRAL_COUNTS = """
WITH folded AS (
    DELETE FROM referral_counts RETURNING member_id, referrals
)
INSERT INTO referral_counts (member_id, shard, referrals)
SELECT member_id, 0, sum(referrals) FROM folded GROUP BY member_id
"""


def upgrade() -> None:
    op.add_column("members", sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_members_blocked", "members", ["id"], postgresql_where="blocked_at IS NOT NULL"
    )
    op.create_table(
        "member_blocks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('block', 'unblock')", name=op.f("ck_member_blocks_known_action")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_blocks_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_blocks")),
    )
    op.create_index("ix_member_blocks_member_id_at", "member_blocks", ["member_id", "at"])
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("joined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("activated", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "shard", name=op.f("pk_daily_counts")),
    )
    op.create_table(
        "member_totals",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("members", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("invited", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_member_totals")),
    )
    op.execute(FILL_DAILY_COUNTS)
    op.execute(FILL_MEMBER_TOTALS)
    op.execute(FOLD_REFERRAL_COUNTS)
    op.create_index(
        "ix_referral_counts_referrals", "referral_counts", ["referrals", "member_id", "shard"]
    )
    op.execute(f"DROP FUNCTION {PREVIOUS_SIGNATURE}")
    op.execute(ACTIVATE_INVITE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    op.execute(PREVIOUS_ACTIVATE_INVITE)
    op.drop_index("ix_referral_counts_referrals", table_name="referral_counts")
    op.drop_table("member_totals")
    op.drop_table("daily_counts")
    op.drop_index("ix_member_blocks_member_id_at", table_name="member_blocks")
    op.drop_table("member_blocks")
    op.drop_index(
        "ix_members_blocked", table_name="members", postgresql_where="blocked_at IS NOT NULL"
    )
    op.drop_column("members", "blocked_at")
