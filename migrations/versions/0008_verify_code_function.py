"""Adds the function verify_code: checking a typed verification code in one round trip.

Revision ID: 0008
Revises: 0005

The code step was a transaction of five round trips (BEGIN, the phone's code locked, the attempt
counted or the code consumed with the account unlinked elsewhere, the member upserted, COMMIT),
each costing the program more CPU than the step's own work. `verify_code` does the same in one
call, as `activate_invite` does for invitations.

The program computes the keyed hash of the typed code (the key never reaches the database) and
the function compares it with the stored one in constant time: XOR of the two 256-bit strings,
then its bit count, which reads every bit whatever the contents. The refusals, in order: no code
(or a consumed one), too many wrong attempts, expired, wrong (counted). On success the code is
consumed, the Telegram account leaves any other member, and the phone's member is created or
updated, a new one counted for the operators' figures.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "verify_code(text, bytea, timestamptz, bigint, text, text, text, int, int)"

VERIFY_CODE = """
CREATE FUNCTION verify_code(
    p_phone text, p_hash bytea, p_at timestamptz, p_telegram_id bigint, p_invite_code text,
    p_language text, p_usual_language text, p_max_wrong int, p_shards int
)
RETURNS TABLE (
    outcome text, wrong_attempts int, sent_at timestamptz[], id bigint, phone text,
    invite_code text, telegram_id bigint, inviter_id bigint, invited_at timestamptz,
    language text, blocked boolean, created boolean
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_code record;
    v_member record;
    v_shard int;
BEGIN
    -- Locked: simultaneous guesses at one code are counted one after another.
    SELECT c.code_hash, c.expires_at, c.wrong_attempts, c.sent_at INTO v_code
    FROM verification_codes AS c WHERE c.phone = p_phone FOR UPDATE;
    IF NOT FOUND OR v_code.code_hash IS NULL THEN
        outcome := 'no_code'; RETURN NEXT; RETURN;
    END IF;
    sent_at := v_code.sent_at;
    wrong_attempts := v_code.wrong_attempts;
    IF v_code.wrong_attempts >= p_max_wrong THEN
        outcome := 'too_many_attempts'; RETURN NEXT; RETURN;
    END IF;
    IF v_code.expires_at <= p_at THEN
        outcome := 'expired'; RETURN NEXT; RETURN;
    END IF;
    IF bit_count(('x' || encode(v_code.code_hash, 'hex'))::bit(256)
                 # ('x' || encode(p_hash, 'hex'))::bit(256)) <> 0 THEN
        UPDATE verification_codes AS c SET wrong_attempts = c.wrong_attempts + 1
        WHERE c.phone = p_phone;
        wrong_attempts := v_code.wrong_attempts + 1;
        outcome := 'wrong_code'; RETURN NEXT; RETURN;
    END IF;
    UPDATE verification_codes AS c SET code_hash = NULL, expires_at = NULL, wrong_attempts = 0
    WHERE c.phone = p_phone;
    UPDATE members AS m SET telegram_id = NULL
    WHERE m.telegram_id = p_telegram_id AND m.phone <> p_phone;
    -- A drawn invite code that is taken fails the insert: the service calls again.
    INSERT INTO members AS m (phone, invite_code, last_login_at, telegram_id, language)
    VALUES (p_phone, p_invite_code, p_at, p_telegram_id, coalesce(p_language, p_usual_language))
    ON CONFLICT ON CONSTRAINT uq_members_phone DO UPDATE
    SET last_login_at = excluded.last_login_at,
        telegram_id = coalesce(p_telegram_id, m.telegram_id),
        language = coalesce(p_language, m.language, p_usual_language)
    RETURNING m.id, m.phone, m.invite_code, m.telegram_id, m.inviter_id, m.invited_at,
              m.language, m.blocked_at IS NOT NULL AS blocked, (m.xmax = 0) AS created
    INTO v_member;
    IF v_member.created THEN  -- counted for the operators' figures (db/operators.py)
        v_shard := v_member.id % p_shards;
        UPDATE daily_counts AS d SET joined = d.joined + 1
        WHERE d.day = (p_at AT TIME ZONE 'UTC')::date AND d.shard = v_shard;
        IF NOT FOUND THEN
            INSERT INTO daily_counts (day, shard, joined, activated)
            VALUES ((p_at AT TIME ZONE 'UTC')::date, v_shard, 1, 0);
        END IF;
        UPDATE member_totals AS t SET members = t.members + 1 WHERE t.shard = v_shard;
        IF NOT FOUND THEN
            INSERT INTO member_totals (shard, members, invited) VALUES (v_shard, 1, 0);
        END IF;
    END IF;
    outcome := 'verified';
    id := v_member.id;
    phone := v_member.phone;
    invite_code := v_member.invite_code;
    telegram_id := v_member.telegram_id;
    inviter_id := v_member.inviter_id;
    invited_at := v_member.invited_at;
    language := v_member.language;
    blocked := v_member.blocked;
    created := v_member.created;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    op.execute(VERIFY_CODE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
