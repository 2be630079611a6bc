-- activate_invite: the invitation rule, in the database, in one round trip (the service calls
-- `SELECT * FROM activate_invite($1, ..., $9)`) instead of six (BEGIN, the chain walk,
-- two row locks, the record, COMMIT), each of which cost ~0.09 ms of the program's CPU on the
-- bench machine.
--
-- Created by migration 0003; this is the text of 0011, the last to replace it: 0004 added
-- erasure, 0005 blocking, the /stats counters and p_single_row, 0006 the monthly board, the rank
-- buckets and milestones (p_milestones), 0011 the referral's row and stage (p_waits_for: what a
-- pending one waits for, NULL: qualified at once; p_due_at, p_hold_until), its counting moved
-- to move_referral_count (db/sql/referrals.sql).
--
-- `outcome` is a value of db.results.InviteOutcome; `found_code` is the code as understood, or
-- for already_activated the code activated before; the inviter's columns come with activated,
-- with their count and the largest milestone this activation reached.
--
-- Shard 0 of a count is inserted without ON CONFLICT (move_referral_count): two first
-- activations at once fail one with a unique violation, which the service retries, so that a
-- member's count stays in one row until it is full (the leaderboards rely on it).
CREATE FUNCTION activate_invite(
    p_member bigint, p_code text, p_at timestamptz, p_shards int, p_single_row int,
    p_milestones int[], p_waits_for text DEFAULT NULL, p_due_at timestamptz DEFAULT NULL,
    p_hold_until timestamptz DEFAULT NULL
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
    -- The referral: counted at once (move_referral_count, db/sql/referrals.sql) unless its
    -- rule (p_waits_for: QUALIFY's) keeps it pending.
    INSERT INTO referrals (invitee_id, inviter_id, stage, waits_for, activated_at, due_at,
                           qualified_at, qualified_reason, hold_until)
    VALUES (p_member, v_inviter, CASE WHEN p_waits_for IS NULL THEN 'qualified' ELSE 'pending' END,
            p_waits_for, p_at, p_due_at, CASE WHEN p_waits_for IS NULL THEN p_at END,
            CASE WHEN p_waits_for IS NULL THEN 'activation' END,
            CASE WHEN p_waits_for IS NULL THEN p_hold_until END);
    IF p_waits_for IS NULL THEN
        SELECT moved.referrals, moved.milestone INTO v_total, v_milestone
        FROM move_referral_count(v_inviter, p_member, v_month, p_at, 1, true, p_shards,
                                 p_single_row, p_milestones) AS moved;
    ELSE
        SELECT coalesce(sum(c.referrals), 0)::int INTO v_total FROM referral_counts AS c
        WHERE c.member_id = v_inviter;
    END IF;
    UPDATE daily_counts SET activated = activated + 1
    WHERE day = (p_at AT TIME ZONE 'UTC')::date AND shard = v_shard;
    IF NOT FOUND THEN
        INSERT INTO daily_counts (day, shard, joined, activated)
        VALUES ((p_at AT TIME ZONE 'UTC')::date, v_shard, 0, 1);
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
$$;
