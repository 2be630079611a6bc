-- activate_invite: the invitation rule, in the database, in one round trip (the service calls
-- `SELECT * FROM activate_invite($1, $2, $3, $4, $5, $6)`) instead of six (BEGIN, the chain walk,
-- two row locks, the record, COMMIT), each of which cost ~0.09 ms of the program's CPU on the
-- bench machine.
--
-- Created by migration 0003; this is the text of 0006, the last to replace it: 0004 added
-- erasure, 0005 blocking, the /stats counters and p_single_row, 0006 the monthly board, the rank
-- buckets and milestones (p_milestones).
--
-- `outcome` is a value of db.results.InviteOutcome; `found_code` is the code as understood, or
-- for already_activated the code activated before; the inviter's columns come with activated,
-- with their count and the largest milestone this activation reached.
--
-- The two counting blocks (all time, then this month) are one template of migration 0006 filled
-- twice, hence `WHERE true AND ...` and the blank lines around them. Shard 0 is read under a lock
-- first: below p_single_row a count moves from n to n + 1 and the rank buckets (members per
-- count, and per count and day reached) move with it. Shard 0 is inserted without ON CONFLICT:
-- two first activations at once fail one with a unique violation, which the service retries, so
-- that a member's count stays in one row until it is full (the leaderboards rely on it).
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

    SELECT c.referrals, c.reached_at INTO v_old FROM referral_counts AS c
    WHERE true AND c.member_id = v_inviter AND c.shard = 0 FOR UPDATE;
    IF NOT FOUND OR v_old.referrals < p_single_row THEN
        IF FOUND THEN
            UPDATE referral_counts SET referrals = referrals + 1, reached_at = greatest(reached_at, p_at)
            WHERE true AND member_id = v_inviter AND shard = 0;
        ELSE
            INSERT INTO referral_counts (member_id, shard, referrals, reached_at)
            VALUES (v_inviter, 0, 1, p_at);
        END IF;
        INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
        SELECT '1970-01-01'::date, moved.referrals, moved.day, v_shard, moved.members
        FROM (VALUES
            (coalesce(v_old.referrals, 0), 'infinity'::date, -1),
            (coalesce(v_old.referrals, 0), (v_old.reached_at AT TIME ZONE 'UTC')::date, -1),
            (coalesce(v_old.referrals, 0) + 1, 'infinity'::date, 1),
            (coalesce(v_old.referrals, 0) + 1, (p_at AT TIME ZONE 'UTC')::date, 1)
        ) AS moved(referrals, day, members)
        WHERE moved.referrals BETWEEN 1 AND p_single_row - 1
        ORDER BY moved.referrals, moved.day
        ON CONFLICT (board, referrals, day, shard) DO UPDATE
        SET members = b.members + excluded.members;
    ELSE  -- shard 0 is full
        INSERT INTO referral_counts AS c (member_id, shard, referrals, reached_at)
        VALUES (v_inviter, v_shard, 1, p_at)
        ON CONFLICT (member_id, shard) DO UPDATE
        SET referrals = c.referrals + 1, reached_at = greatest(c.reached_at, p_at);
    END IF;

    SELECT c.referrals, c.reached_at INTO v_old FROM referral_month_counts AS c
    WHERE month = v_month AND c.member_id = v_inviter AND c.shard = 0 FOR UPDATE;
    IF NOT FOUND OR v_old.referrals < p_single_row THEN
        IF FOUND THEN
            UPDATE referral_month_counts SET referrals = referrals + 1, reached_at = greatest(reached_at, p_at)
            WHERE month = v_month AND member_id = v_inviter AND shard = 0;
        ELSE
            INSERT INTO referral_month_counts (month, member_id, shard, referrals, reached_at)
            VALUES (v_month, v_inviter, 0, 1, p_at);
        END IF;
        INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
        SELECT v_month, moved.referrals, moved.day, v_shard, moved.members
        FROM (VALUES
            (coalesce(v_old.referrals, 0), 'infinity'::date, -1),
            (coalesce(v_old.referrals, 0), (v_old.reached_at AT TIME ZONE 'UTC')::date, -1),
            (coalesce(v_old.referrals, 0) + 1, 'infinity'::date, 1),
            (coalesce(v_old.referrals, 0) + 1, (p_at AT TIME ZONE 'UTC')::date, 1)
        ) AS moved(referrals, day, members)
        WHERE moved.referrals BETWEEN 1 AND p_single_row - 1
        ORDER BY moved.referrals, moved.day
        ON CONFLICT (board, referrals, day, shard) DO UPDATE
        SET members = b.members + excluded.members;
    ELSE  -- shard 0 is full
        INSERT INTO referral_month_counts AS c (month, member_id, shard, referrals, reached_at)
        VALUES (v_month, v_inviter, v_shard, 1, p_at)
        ON CONFLICT (month, member_id, shard) DO UPDATE
        SET referrals = c.referrals + 1, reached_at = greatest(c.reached_at, p_at);
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
$$;
