-- Referral stages (db/referrals.py): a referral (an activation, one row of `referrals` per
-- invitee) is pending until its rule qualifies it, and a pending one, or a qualified one during
-- its hold, can be reversed. Only a qualified referral is counted, by move_referral_count, in
-- the counters activate_invite kept alone before: the stage changes are one statement each, the
-- row of the referral locked first, so each happens once however many try at the same time.
--
-- Created by migration 0011.

-- Count a referral (p_delta 1) or take it back (-1): the inviter's all-time and month counts
-- (p_month: the month it was counted in), the rank buckets of /top below p_single_row, the
-- totals of /stats, and, when counting, the milestones it reaches (a milestone stays reached).
-- The two counting blocks are one template, as in activate_invite. Shard 0 is read under a lock
-- first; a count taken back leaves the other shards first, so that below p_single_row a count
-- stays in shard 0; a shard 0 that falls to nothing goes, as before anybody joined. `p_ranked`:
-- false for an erased inviter, whose counts stay off the leaderboard.
CREATE FUNCTION move_referral_count(
    p_inviter bigint, p_invitee bigint, p_month date, p_at timestamptz, p_delta int,
    p_ranked boolean, p_shards int, p_single_row int, p_milestones int[]
)
RETURNS TABLE (referrals int, milestone int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_shard int := p_invitee % p_shards;
    v_old record;
    v_ranked boolean;
    v_reached timestamptz;
    v_total int;
    v_milestone int;
BEGIN

    SELECT c.referrals, c.reached_at INTO v_old FROM referral_counts AS c
    WHERE true AND c.member_id = p_inviter AND c.shard = 0 FOR UPDATE;
    IF FOUND AND v_old.referrals >= p_single_row AND p_delta > 0 THEN  -- shard 0 is full
        INSERT INTO referral_counts AS c (member_id, shard, referrals, reached_at)
        VALUES (p_inviter, v_shard, 1, p_at)
        ON CONFLICT (member_id, shard) DO UPDATE
        SET referrals = c.referrals + 1, reached_at = greatest(c.reached_at, p_at);
    ELSIF p_delta < 0 AND EXISTS (
        SELECT FROM referral_counts AS c
        WHERE true AND c.member_id = p_inviter AND c.shard > 0 AND c.referrals > 0
    ) THEN
        UPDATE referral_counts AS c SET referrals = c.referrals - 1
        FROM (
            SELECT s.shard FROM referral_counts AS s
            WHERE true AND s.member_id = p_inviter AND s.shard > 0 AND s.referrals > 0
            ORDER BY s.shard LIMIT 1 FOR UPDATE
        ) AS taken
        WHERE true AND c.member_id = p_inviter AND c.shard = taken.shard;
    ELSE
        v_ranked := p_ranked AND (NOT FOUND OR v_old.reached_at IS NOT NULL);
        v_reached := CASE WHEN NOT v_ranked THEN NULL
                          WHEN p_delta > 0 THEN greatest(v_old.reached_at, p_at)
                          ELSE v_old.reached_at END;
        IF NOT FOUND AND p_delta < 0 THEN
            RAISE EXCEPTION 'member % has no referral to take back', p_inviter;
        ELSIF NOT FOUND THEN
            INSERT INTO referral_counts (member_id, shard, referrals, reached_at)
            VALUES (p_inviter, 0, 1, v_reached);
        ELSIF v_old.referrals + p_delta > 0 THEN
            UPDATE referral_counts SET referrals = referrals + p_delta, reached_at = v_reached
            WHERE true AND member_id = p_inviter AND shard = 0;
        ELSE
            DELETE FROM referral_counts WHERE true AND member_id = p_inviter AND shard = 0;
        END IF;
        IF v_ranked THEN
            INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
            SELECT '1970-01-01'::date, moved.referrals, moved.day, v_shard, moved.members
            FROM (VALUES
                (coalesce(v_old.referrals, 0), 'infinity'::date, -1),
                (coalesce(v_old.referrals, 0), (v_old.reached_at AT TIME ZONE 'UTC')::date, -1),
                (coalesce(v_old.referrals, 0) + p_delta, 'infinity'::date, 1),
                (coalesce(v_old.referrals, 0) + p_delta, (v_reached AT TIME ZONE 'UTC')::date, 1)
            ) AS moved(referrals, day, members)
            WHERE moved.referrals BETWEEN 1 AND p_single_row - 1
            ORDER BY moved.referrals, moved.day
            ON CONFLICT (board, referrals, day, shard) DO UPDATE
            SET members = b.members + excluded.members;
        END IF;
    END IF;

    SELECT c.referrals, c.reached_at INTO v_old FROM referral_month_counts AS c
    WHERE month = p_month AND c.member_id = p_inviter AND c.shard = 0 FOR UPDATE;
    IF FOUND AND v_old.referrals >= p_single_row AND p_delta > 0 THEN  -- shard 0 is full
        INSERT INTO referral_month_counts AS c (month, member_id, shard, referrals, reached_at)
        VALUES (p_month, p_inviter, v_shard, 1, p_at)
        ON CONFLICT (month, member_id, shard) DO UPDATE
        SET referrals = c.referrals + 1, reached_at = greatest(c.reached_at, p_at);
    ELSIF p_delta < 0 AND EXISTS (
        SELECT FROM referral_month_counts AS c
        WHERE month = p_month AND c.member_id = p_inviter AND c.shard > 0 AND c.referrals > 0
    ) THEN
        UPDATE referral_month_counts AS c SET referrals = c.referrals - 1
        FROM (
            SELECT s.shard FROM referral_month_counts AS s
            WHERE month = p_month AND s.member_id = p_inviter AND s.shard > 0 AND s.referrals > 0
            ORDER BY s.shard LIMIT 1 FOR UPDATE
        ) AS taken
        WHERE month = p_month AND c.member_id = p_inviter AND c.shard = taken.shard;
    ELSE
        v_ranked := p_ranked AND (NOT FOUND OR v_old.reached_at IS NOT NULL);
        v_reached := CASE WHEN NOT v_ranked THEN NULL
                          WHEN p_delta > 0 THEN greatest(v_old.reached_at, p_at)
                          ELSE v_old.reached_at END;
        IF NOT FOUND AND p_delta < 0 THEN
            RAISE EXCEPTION 'member % has no referral to take back this month', p_inviter;
        ELSIF NOT FOUND THEN
            INSERT INTO referral_month_counts (month, member_id, shard, referrals, reached_at)
            VALUES (p_month, p_inviter, 0, 1, v_reached);
        ELSIF v_old.referrals + p_delta > 0 THEN
            UPDATE referral_month_counts SET referrals = referrals + p_delta, reached_at = v_reached
            WHERE month = p_month AND member_id = p_inviter AND shard = 0;
        ELSE
            DELETE FROM referral_month_counts WHERE month = p_month AND member_id = p_inviter AND shard = 0;
        END IF;
        IF v_ranked THEN
            INSERT INTO referral_rank_buckets AS b (board, referrals, day, shard, members)
            SELECT p_month, moved.referrals, moved.day, v_shard, moved.members
            FROM (VALUES
                (coalesce(v_old.referrals, 0), 'infinity'::date, -1),
                (coalesce(v_old.referrals, 0), (v_old.reached_at AT TIME ZONE 'UTC')::date, -1),
                (coalesce(v_old.referrals, 0) + p_delta, 'infinity'::date, 1),
                (coalesce(v_old.referrals, 0) + p_delta, (v_reached AT TIME ZONE 'UTC')::date, 1)
            ) AS moved(referrals, day, members)
            WHERE moved.referrals BETWEEN 1 AND p_single_row - 1
            ORDER BY moved.referrals, moved.day
            ON CONFLICT (board, referrals, day, shard) DO UPDATE
            SET members = b.members + excluded.members;
        END IF;
    END IF;

    -- /stats counts the invited among members (an erased one left the totals with erasure).
    IF NOT EXISTS (SELECT FROM members AS m WHERE m.id = p_invitee AND m.erased_at IS NOT NULL) THEN
        UPDATE member_totals SET invited = invited + p_delta WHERE shard = v_shard;
        IF NOT FOUND THEN
            INSERT INTO member_totals (shard, members, invited) VALUES (v_shard, 0, p_delta);
        END IF;
    END IF;
    -- Milestones: below p_single_row the count is one row that this transaction holds locked,
    -- so each change sees its own exact count and the one that reaches a milestone records it;
    -- above, a count missing simultaneous ones records it with the next one. The primary key
    -- lets a milestone in once: a second insert waits for the first and skips.
    SELECT coalesce(sum(c.referrals), 0)::int INTO v_total FROM referral_counts AS c
    WHERE c.member_id = p_inviter;
    IF p_milestones IS NOT NULL AND p_delta > 0 THEN
        WITH reached AS (
            INSERT INTO milestones (member_id, milestone, reached_at)
            SELECT p_inviter, goal, p_at FROM unnest(p_milestones) AS goal
            WHERE goal <= v_total AND NOT EXISTS (
                SELECT FROM milestones AS r WHERE r.member_id = p_inviter AND r.milestone = goal
            )
            ON CONFLICT DO NOTHING
            RETURNING milestones.milestone
        )
        SELECT max(reached.milestone) INTO v_milestone FROM reached;
    END IF;
    referrals := v_total;
    milestone := v_milestone;
    RETURN NEXT;
END
$$;

-- Qualify a pending referral (outcome 'qualified'), counted in the month of p_at and reversible
-- until p_hold_until (NULL: final at once); 'qualified_already', 'reversed_already' or
-- 'not_found' change nothing.
CREATE FUNCTION qualify_referral(
    p_invitee bigint, p_at timestamptz, p_reason text, p_by bigint, p_hold_until timestamptz,
    p_shards int, p_single_row int, p_milestones int[]
)
RETURNS TABLE (outcome text, inviter_id bigint, referrals int, milestone int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_referral record;
    v_moved record;
BEGIN
    SELECT r.inviter_id, r.stage INTO v_referral FROM referrals AS r
    WHERE r.invitee_id = p_invitee FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found'; RETURN NEXT; RETURN;
    END IF;
    inviter_id := v_referral.inviter_id;
    IF v_referral.stage <> 'pending' THEN
        outcome := v_referral.stage || '_already'; RETURN NEXT; RETURN;
    END IF;
    UPDATE referrals
    SET stage = 'qualified', qualified_at = p_at, qualified_reason = p_reason,
        qualified_by = p_by, hold_until = p_hold_until
    WHERE invitee_id = p_invitee;
    SELECT * INTO v_moved FROM move_referral_count(
        v_referral.inviter_id, p_invitee, date_trunc('month', p_at AT TIME ZONE 'UTC')::date,
        p_at, 1, (SELECT m.erased_at IS NULL FROM members AS m WHERE m.id = v_referral.inviter_id),
        p_shards, p_single_row, p_milestones
    );
    referrals := v_moved.referrals;
    milestone := v_moved.milestone;
    outcome := 'qualified'; RETURN NEXT;
END
$$;

-- Reverse a referral (outcome 'reversed'): a pending one always, a qualified one during its
-- hold, or at any time when an operator does it (p_operator), taken off the counts of the month
-- it was counted in. 'final' (qualified, hold over), 'reversed_already' or 'not_found' change
-- nothing.
CREATE FUNCTION reverse_referral(
    p_invitee bigint, p_at timestamptz, p_reason text, p_by bigint, p_operator boolean,
    p_shards int, p_single_row int
)
RETURNS TABLE (outcome text, inviter_id bigint, referrals int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_referral record;
    v_moved record;
BEGIN
    SELECT r.inviter_id, r.stage, r.qualified_at, r.hold_until INTO v_referral FROM referrals AS r
    WHERE r.invitee_id = p_invitee FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found'; RETURN NEXT; RETURN;
    END IF;
    inviter_id := v_referral.inviter_id;
    IF v_referral.stage = 'reversed' THEN
        outcome := 'reversed_already'; RETURN NEXT; RETURN;
    END IF;
    IF v_referral.stage = 'qualified' AND NOT p_operator
       AND coalesce(v_referral.hold_until <= p_at, true) THEN
        outcome := 'final'; RETURN NEXT; RETURN;
    END IF;
    UPDATE referrals
    SET stage = 'reversed', reversed_at = p_at, reversed_reason = p_reason, reversed_by = p_by,
        hold_until = NULL
    WHERE invitee_id = p_invitee;
    IF v_referral.stage = 'qualified' THEN
        SELECT * INTO v_moved FROM move_referral_count(
            v_referral.inviter_id, p_invitee,
            date_trunc('month', v_referral.qualified_at AT TIME ZONE 'UTC')::date, p_at, -1,
            (SELECT m.erased_at IS NULL FROM members AS m WHERE m.id = v_referral.inviter_id),
            p_shards, p_single_row, NULL
        );
        referrals := v_moved.referrals;
    END IF;
    outcome := 'reversed'; RETURN NEXT;
END
$$;

-- referral.qualified and referral.reversed: a pending referral qualified, or a referral was
-- reversed (the functions above). A referral qualified at its activation (QUALIFY=activation)
-- is inserted so: its referral.activated says it.
CREATE FUNCTION emit_referral_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('referral.' || NEW.stage, NEW.invitee_id, jsonb_build_object('member_id', NEW.invitee_id, 'inviter_id', NEW.inviter_id, 'stage', NEW.stage, 'reason', CASE WHEN NEW.stage = 'qualified' THEN NEW.qualified_reason ELSE NEW.reversed_reason END, 'operator_id', CASE WHEN NEW.stage = 'qualified' THEN NEW.qualified_by ELSE NEW.reversed_by END, 'activated_at', event_time(NEW.activated_at), 'at', event_time(CASE WHEN NEW.stage = 'qualified' THEN NEW.qualified_at ELSE NEW.reversed_at END)));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_referral_stage AFTER UPDATE OF stage ON referrals FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (OLD.stage IS DISTINCT FROM NEW.stage)
)
EXECUTE FUNCTION emit_referral_stage();
