"""Adds referral stages: `referrals` (pending, qualified, reversed), filled as qualified.

Revision ID: 0011
Revises: 0010

Each activation now writes its referral (one row per invitee), pending until its rule qualifies
it (QUALIFY, passed to activate_invite as `p_waits_for`; NULL, the default, qualifies at once as
before). Counting moves from activate_invite to `move_referral_count`, which also takes a count
back (a reversal of a qualified referral); `qualify_referral` and `reverse_referral` change a
stage in one statement each; the trigger `emit_referral_stage` writes `referral.qualified` and
`referral.reversed` into the outbox. The existing activations are filled in as qualified at their
activation, so every count stays what it is.
"""

# ruff: noqa: E501  (the functions' text is kept as db/sql/ has it)
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_SIGNATURE = "activate_invite(bigint, text, timestamptz, int, int, int[])"

FILL = """
INSERT INTO referrals (invitee_id, inviter_id, stage, activated_at, qualified_at, qualified_reason)
SELECT id, inviter_id, 'qualified', invited_at, invited_at, 'activation' FROM members
WHERE inviter_id IS NOT NULL
"""

REFERRALS = """
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
"""

ACTIVATE_INVITE = """
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
"""

PREVIOUS_ACTIVATE_INVITE = """
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
"""


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("invitee_id", sa.BigInteger(), nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("waits_for", sa.String(length=10), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualified_reason", sa.Text(), nullable=True),
        sa.Column("qualified_by", sa.BigInteger(), nullable=True),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversed_reason", sa.Text(), nullable=True),
        sa.Column("reversed_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "stage IN ('pending', 'qualified', 'reversed')", name=op.f("ck_referrals_known_stage")
        ),
        sa.CheckConstraint(
            "stage = 'reversed' OR (stage = 'qualified') = (qualified_at IS NOT NULL)",
            name=op.f("ck_referrals_qualified_with_time"),
        ),
        sa.CheckConstraint(
            "(stage = 'reversed') = (reversed_at IS NOT NULL)",
            name=op.f("ck_referrals_reversed_with_time"),
        ),
        sa.ForeignKeyConstraint(
            ["invitee_id"],
            ["members.id"],
            name=op.f("fk_referrals_invitee_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["members.id"],
            name=op.f("fk_referrals_inviter_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invitee_id", name=op.f("pk_referrals")),
    )
    op.execute(FILL)
    op.create_index(
        "ix_referrals_pending", "referrals", ["invitee_id"], postgresql_where="stage = 'pending'"
    )
    op.create_index(
        "ix_referrals_due",
        "referrals",
        ["due_at"],
        postgresql_where="stage = 'pending' AND due_at IS NOT NULL",
    )
    op.create_index(
        "ix_referrals_held",
        "referrals",
        ["hold_until"],
        postgresql_where="stage = 'qualified' AND hold_until IS NOT NULL",
    )
    # One statement at a time (a function or the trigger, each beginning a line with CREATE).
    for statement in re.split(r"\n(?=CREATE )", REFERRALS):
        if "CREATE" in statement:
            op.execute(statement)
    op.execute(f"DROP FUNCTION {PREVIOUS_SIGNATURE}")
    op.execute(ACTIVATE_INVITE)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION activate_invite(bigint, text, timestamptz, int, int, int[], text, timestamptz, timestamptz)"
    )
    op.execute(PREVIOUS_ACTIVATE_INVITE)
    op.execute("DROP TRIGGER emit_referral_stage ON referrals")
    op.execute("DROP FUNCTION emit_referral_stage()")
    op.execute(
        "DROP FUNCTION qualify_referral(bigint, timestamptz, text, bigint, timestamptz, int, int, int[])"
    )
    op.execute(
        "DROP FUNCTION reverse_referral(bigint, timestamptz, text, bigint, boolean, int, int)"
    )
    op.execute(
        "DROP FUNCTION move_referral_count(bigint, bigint, date, timestamptz, int, boolean, int, int, int[])"
    )
    op.drop_table("referrals")
