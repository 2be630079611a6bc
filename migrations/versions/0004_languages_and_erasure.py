"""Adds members' language and erasure (erased_at); activate_invite refuses the erased.

Revision ID: 0004
Revises: 0003

Members get the language they chose (`language`, NULL: none chosen) and can be erased: an erased
member's row stays, so that the referral graph stays true (their inviter's count, their
referrals' inviter), with no phone, invite code, Telegram account or language (`erased_at`).
`activate_invite` refuses an erased member, re-reads the code's owner once everything is locked
(an erased owner's code no longer works), and returns the inviter's language for the notice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_FUNCTION = "DROP FUNCTION activate_invite(bigint, text, timestamptz, int)"

ACTIVATE_INVITE = """
CREATE FUNCTION activate_invite(p_member bigint, p_code text, p_at timestamptz, p_shards int)
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
        EXIT WHEN v_top_inviter IS NULL;  -- else the top gained an inviter: walk the longer chain
    END LOOP;
    -- The member is locked and has no inviter. The code's owner may have erased their data since
    -- the walk, and their code stopped working: read again, now, whether it is still theirs (an
    -- erasure still in progress commits after this activation, which is then simply earlier).
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

# The function of revision 0003, for the way down.
PREVIOUS_ACTIVATE_INVITE = """
CREATE FUNCTION activate_invite(p_member bigint, p_code text, p_at timestamptz, p_shards int)
RETURNS TABLE (
    outcome text, found_code text, inviter_id bigint, inviter_phone text,
    inviter_telegram_id bigint, inviter_inviter_id bigint, inviter_invited_at timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chain bigint[];  -- the code's owner, whoever invited them, and so on up to the top
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
        -- Lock the member and the top of the chain in the order of their ids, so that two members
        -- activating each other's codes queue instead of deadlocking. Only a member without an
        -- inviter can gain one: once the top is locked and still has none, the chain cannot grow
        -- into a cycle before we commit.
        v_top_inviter := NULL;
        IF v_top < p_member THEN
            SELECT m.inviter_id INTO v_top_inviter FROM members AS m WHERE m.id = v_top FOR SHARE;
        END IF;
        SELECT m.inviter_id, m.invite_code,
               (SELECT i.invite_code FROM members AS i WHERE i.id = m.inviter_id) AS earlier_code
        INTO v_me FROM members AS m WHERE m.id = p_member FOR NO KEY UPDATE OF m;
        IF NOT FOUND THEN
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
        EXIT WHEN v_top_inviter IS NULL;  -- else the top gained an inviter: walk the longer chain
    END LOOP;
    UPDATE members SET inviter_id = v_chain[1], invited_at = p_at
    WHERE id = p_member AND members.inviter_id IS NULL;
    IF FOUND THEN  -- always, with the member locked; counted only what was recorded
        INSERT INTO referral_counts AS c (member_id, shard, referrals)
        VALUES (v_chain[1], p_member % p_shards, 1)
        ON CONFLICT (member_id, shard) DO UPDATE SET referrals = c.referrals + 1;
    END IF;
    SELECT o.id, o.phone, o.telegram_id, o.inviter_id, o.invited_at
    INTO inviter_id, inviter_phone, inviter_telegram_id, inviter_inviter_id, inviter_invited_at
    FROM members AS o WHERE o.id = v_chain[1];
    outcome := 'activated'; found_code := p_code; RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    op.add_column("members", sa.Column("language", sa.String(8), nullable=True))
    op.add_column("members", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("members", "phone", existing_type=sa.String(16), nullable=True)
    op.alter_column("members", "invite_code", existing_type=sa.String(6), nullable=True)
    op.create_check_constraint(
        op.f("ck_members_erased_or_identified"),
        "members",
        "(erased_at IS NULL) = (phone IS NOT NULL AND invite_code IS NOT NULL)",
    )
    op.execute(DROP_FUNCTION)
    op.execute(ACTIVATE_INVITE)


def downgrade() -> None:
    op.execute(DROP_FUNCTION)
    op.execute(PREVIOUS_ACTIVATE_INVITE)
    erased = "SELECT id FROM members WHERE erased_at IS NOT NULL"
    op.execute(f"UPDATE members SET invited_at = NULL WHERE inviter_id IN ({erased})")
    op.execute("DELETE FROM members WHERE erased_at IS NOT NULL")
    op.drop_constraint(op.f("ck_members_erased_or_identified"), "members", type_="check")
    op.alter_column("members", "invite_code", existing_type=sa.String(6), nullable=False)
    op.alter_column("members", "phone", existing_type=sa.String(16), nullable=False)
    op.drop_column("members", "erased_at")
    op.drop_column("members", "language")
