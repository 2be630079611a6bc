"""Adds the function activate_invite: the invitation rule in one round trip.

Revision ID: 0003
Revises: 0002

The invitation rule (db/service.py, ReferralService.activate_invite) runs in the database: one
round trip instead of six (BEGIN, the chain walk, two row locks, the record, COMMIT), each of which
cost ~0.09 ms of the program's CPU on the bench machine.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Outcomes are the values of db.results.InviteOutcome. `found_code` is the code as understood, or
# for already_activated the code activated before; the inviter's columns come with activated.
ACTIVATE_INVITE = """
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
    op.execute(ACTIVATE_INVITE)


def downgrade() -> None:
    op.execute("DROP FUNCTION activate_invite(bigint, text, timestamptz, int)")
