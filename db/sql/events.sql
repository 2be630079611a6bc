-- The outbox's events: each is a row of outbox_events per receiver, written by a trigger in the
-- transaction of the change that causes it, so none is lost when the process dies and none is
-- sent for a change that rolled back. The delivery job (jobs/events.py, over db/events.py) sends
-- them and deletes the delivered.
--
-- The triggers fire only on connections whose `referral.event_targets` names how many receivers
-- there are (the pool sets it when EVENTS_URL is configured, db/events.py's event_settings):
-- without it a change costs what it did. `referral.event_phones` = 'on' adds the members' phones
-- (EVENTS_INCLUDE_PHONES).
--
-- Created by migration 0007, unchanged since. 0007 wrote each trigger's condition as
-- `<events on> AND (<the event's own condition>)`: `AND (true)` where there is none, kept so that
-- the definitions stay the ones the databases hold.

-- Times in events: UTC, ISO 8601 with microseconds.
CREATE FUNCTION event_time(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The member's phone, in the events that carry one, only with EVENTS_INCLUDE_PHONES on.
CREATE FUNCTION event_phone(p_phone text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('referral.event_phones', true) = 'on'
                THEN jsonb_build_object('phone', p_phone) ELSE '{}'::jsonb END
$$;

-- One event: its id (on which receivers deduplicate: delivery is at least once), type and time
-- around `p_data`, in one row per receiver (`target`, its place in EVENTS_URL), so that a dead
-- receiver holds back only its own stream.
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
$$;

-- member.joined: a member was created (verify_code, on their first verified code).
CREATE FUNCTION emit_member_joined() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.joined', NEW.id, jsonb_build_object('member_id', NEW.id, 'invite_code', NEW.invite_code, 'telegram_id', NEW.telegram_id, 'language', NEW.language, 'joined_at', event_time(NEW.created_at)) || event_phone(NEW.phone));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_member_joined AFTER INSERT ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (true)
)
EXECUTE FUNCTION emit_member_joined();

-- referral.activated: a member gained their inviter (activate_invite), once ever.
CREATE FUNCTION emit_referral_activated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('referral.activated', NEW.id, jsonb_build_object('member_id', NEW.id, 'invite_code', NEW.invite_code, 'inviter_id', NEW.inviter_id, 'inviter_code', (SELECT invite_code FROM members WHERE id = NEW.inviter_id), 'activated_at', event_time(NEW.invited_at)) || event_phone(NEW.phone));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_referral_activated AFTER UPDATE OF inviter_id ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (OLD.inviter_id IS NULL AND NEW.inviter_id IS NOT NULL)
)
EXECUTE FUNCTION emit_referral_activated();

-- member.blocked: an operator blocked a member (the audit row in member_blocks).
CREATE FUNCTION emit_member_blocked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.blocked', NEW.member_id, jsonb_build_object('member_id', NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), 'operator_id', NEW.operator_id, 'reason', NEW.reason, 'blocked_at', event_time(NEW.at)));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_member_blocked AFTER INSERT ON member_blocks FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (NEW.action = 'block')
)
EXECUTE FUNCTION emit_member_blocked();

-- member.unblocked: an operator unblocked a member.
CREATE FUNCTION emit_member_unblocked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.unblocked', NEW.member_id, jsonb_build_object('member_id', NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), 'operator_id', NEW.operator_id, 'unblocked_at', event_time(NEW.at)));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_member_unblocked AFTER INSERT ON member_blocks FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (NEW.action = 'unblock')
)
EXECUTE FUNCTION emit_member_unblocked();

-- member.deleted: a member erased their data (the row stays, without it).
CREATE FUNCTION emit_member_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('member.deleted', NEW.id, jsonb_build_object('member_id', NEW.id, 'deleted_at', event_time(NEW.erased_at)));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_member_deleted AFTER UPDATE OF erased_at ON members FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
)
EXECUTE FUNCTION emit_member_deleted();

-- milestone.reached: the activation that brought a member's count to a milestone recorded it.
CREATE FUNCTION emit_milestone_reached() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('milestone.reached', NEW.member_id, jsonb_build_object('member_id', NEW.member_id, 'invite_code', (SELECT invite_code FROM members WHERE id = NEW.member_id), 'milestone', NEW.milestone, 'reached_at', event_time(NEW.reached_at)));
    RETURN NULL;
END
$$;
CREATE TRIGGER emit_milestone_reached AFTER INSERT ON milestones FOR EACH ROW
WHEN (
    coalesce(current_setting('referral.event_targets', true), '') NOT IN ('', '0')
    AND (true)
)
EXECUTE FUNCTION emit_milestone_reached();
