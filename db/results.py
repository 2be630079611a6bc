"""What the referral service answers: members, pages and the typed outcome of each request."""

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    phone: str
    invite_code: str
    telegram_id: int | None
    inviter_id: int | None
    invited_at: datetime | None
    language: str | None = None  # the member's own choice; None: none made
    blocked: bool = False  # by an operator: cannot activate a code, and their code is suspended
    unreachable: bool = False  # blocked the bot (a broadcast got 403): broadcasts skip them


@dataclass(frozen=True, slots=True)
class Profile:
    member: Member
    inviter_code: str | None
    referral_count: int


class CodeRequestOutcome(Enum):
    SENT = "sent"
    INVALID_PHONE = "invalid_phone"
    COOLDOWN = "cooldown"  # the last code was sent less than CODE_RESEND_COOLDOWN ago
    HOURLY_LIMIT = "hourly_limit"  # CODE_HOURLY_LIMIT codes in the last hour
    DELIVERY_FAILED = "delivery_failed"


@dataclass(frozen=True, slots=True)
class CodeRequest:
    outcome: CodeRequestOutcome
    phone: str | None = None
    code: str | None = None  # only when the delivery mode shows the code to the caller (`chat`)
    retry_after: int = 0  # seconds until the next code may be requested
    expires_in: int = 0


class VerifyOutcome(Enum):
    VERIFIED = "verified"
    INVALID_PHONE = "invalid_phone"
    MALFORMED_CODE = "malformed_code"  # not CODE_LENGTH digits; costs no attempt
    WRONG_CODE = "wrong_code"
    NO_CODE = "no_code"  # never requested, or already used
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # the code is dead; a new one must be requested


@dataclass(frozen=True, slots=True)
class Verification:
    outcome: VerifyOutcome
    phone: str | None = None
    member: Member | None = None
    created: bool = False  # a new membership, not a returning member
    attempts_left: int = 0
    retry_after: int = 0  # for TOO_MANY_ATTEMPTS, seconds until a new code may be requested


class InviteOutcome(Enum):
    ACTIVATED = "activated"
    EMPTY = "empty"
    OWN_CODE = "own_code"
    UNKNOWN = "unknown"  # no member has it, including codes of the wrong shape
    ALREADY_ACTIVATED = "already_activated"
    CYCLE = "cycle"  # the code's owner was invited, directly or further down, by this member
    MEMBER_NOT_FOUND = "member_not_found"
    MEMBER_BLOCKED = "member_blocked"  # an operator blocked the member
    CODE_SUSPENDED = "code_suspended"  # an operator blocked the code's owner


@dataclass(frozen=True, slots=True)
class Activation:
    outcome: InviteOutcome
    code: str = ""  # the code as understood; for ALREADY_ACTIVATED the code activated before
    inviter: Member | None = None  # for ACTIVATED, whom to notify
    inviter_referrals: int = 0  # for ACTIVATED, the inviter's count with this one
    milestone: int | None = None  # for ACTIVATED, the milestone the inviter newly reached


@dataclass(frozen=True, slots=True)
class InvitationOffer:
    """What activating a code would do now (nothing was changed to find out)."""

    outcome: InviteOutcome  # ACTIVATED: it would activate
    code: str = ""  # as in Activation
    owner: Member | None = None  # for ACTIVATED, the code's owner, whom the member would join


@dataclass(frozen=True, slots=True)
class CodeOwner:
    """Whose an invite code is, as anybody may be told: the owner's phone masked, and whether an
    operator suspended the code."""

    code: str
    phone: str  # masked, whatever REFERRAL_PHONE_VISIBILITY says
    suspended: bool


@dataclass(frozen=True, slots=True)
class Referral:
    member_id: int
    phone: str | None  # masked unless REFERRAL_PHONE_VISIBILITY=full; None: an erased member
    invited_at: datetime
    stage: str = "qualified"  # or "pending" (reversed ones are not listed)
    waits_for: str | None = None  # for a pending one: "in_chats", "manual" or "external"
    due_at: datetime | None = None  # for a pending one that qualifies by time (in_chats:<N>d)
    days_to_go: int | None = None  # until due_at, by the service's clock, counting a part as one


@dataclass(frozen=True, slots=True)
class ReferralPage:
    referrals: list[Referral]
    total: int
    next_cursor: str | None  # pass as `after` for the following page
    previous_cursor: str | None  # pass as `before` for the page in front of this one


@dataclass(frozen=True, slots=True)
class MemberData:
    """Everything kept about a member, as they may download it (`/mydata`)."""

    phone: str
    invite_code: str
    telegram_id: int | None
    inviter_code: str | None  # None also when the inviter erased their data
    invited_at: datetime | None
    joined_at: datetime
    last_login_at: datetime
    language: str | None
    referrals: list[Referral]  # every one, phones masked

    def as_document(self) -> dict[str, Any]:
        """The JSON document a member downloads, the same from the bot and the API."""
        return {
            "phone": self.phone,
            "telegram_id": self.telegram_id,
            "invite_code": self.invite_code,
            "inviter_code": self.inviter_code,
            "invited_at": _iso(self.invited_at),
            "joined_at": _iso(self.joined_at),
            "last_login_at": _iso(self.last_login_at),
            "language": self.language,
            "referrals": [
                {"phone": referral.phone, "invited_at": _iso(referral.invited_at)}
                for referral in self.referrals
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# Operators


@dataclass(frozen=True, slots=True)
class Inviter:
    member_id: int
    phone: str | None  # masked; None: an erased member
    referrals: int


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    joined: int
    activated: int  # invite codes activated that day


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """The figures of /stats, as of `at`; days are UTC days."""

    at: datetime
    members: int  # not erased
    joined_today: int
    joined_7_days: int  # today and the 6 days before
    joined_30_days: int
    invited: int  # members who joined with a code
    blocked: int
    top_inviters: list[Inviter]
    days: list[Day]  # the last 30, oldest first, today last

    @property
    def invited_share(self) -> float:
        return self.invited / self.members if self.members else 0.0


@dataclass(frozen=True, slots=True)
class MemberCard:
    """A member as operators see them: the full phone, and their status."""

    id: int
    phone: str
    invite_code: str
    telegram_id: int | None
    inviter_code: str | None
    referrals: int
    joined_at: datetime
    last_login_at: datetime
    language: str | None
    blocked_at: datetime | None
    blocked_by: int | None  # the operator's Telegram id
    block_reason: str | None

    @property
    def status(self) -> str:
        return "blocked" if self.blocked_at is not None else "active"


class MemberQueryKind(Enum):
    PHONE = "phone"
    INVITE_CODE = "invite_code"
    TELEGRAM_ID = "telegram_id"


@dataclass(frozen=True, slots=True)
class MemberSearch:
    """What a query could be (empty: nothing searchable) and the members it found."""

    kinds: tuple[MemberQueryKind, ...]
    members: list[MemberCard]


class BlockOutcome(Enum):
    DONE = "done"
    UNCHANGED = "unchanged"  # already blocked (or, unblocking, not blocked)
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class BlockChange:
    outcome: BlockOutcome
    card: MemberCard | None = None  # the member as they are now


@dataclass(frozen=True, slots=True)
class Export:
    """A CSV export of the members; `busy` when another was running (nothing was written)."""

    busy: bool
    rows: int = 0


@dataclass(frozen=True, slots=True)
class Leader:
    """A place on the leaderboard."""

    place: int
    member_id: int
    phone: str | None  # masked unless REFERRAL_PHONE_VISIBILITY=full
    referrals: int


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The members with most referrals in a period (ties: who reached the count first), and the
    asker's own place; `place` is None while they have no referral in the period."""

    leaders: list[Leader]
    place: int | None
    referrals: int


@dataclass(frozen=True, slots=True)
class TopBoards:
    """The two boards of /top: this month's and all time's, each with the asker's place."""

    month: date  # the first day of the month (UTC) the monthly board counts
    this_month: Leaderboard
    all_time: Leaderboard


@dataclass(frozen=True, slots=True)
class MilestoneProgress:
    """Where a count of referrals stands between the milestones (MILESTONES)."""

    referrals: int
    reached: int | None  # the largest milestone at or below the count
    next: int | None  # the next milestone; None past the last one


class StageOutcome(Enum):
    """What a referral's stage change did (db/referrals.py)."""

    QUALIFIED = "qualified"
    REVERSED = "reversed"
    QUALIFIED_ALREADY = "qualified_already"
    REVERSED_ALREADY = "reversed_already"
    FINAL = "final"  # qualified and its hold is over: only an operator reverses it
    NOT_FOUND = "not_found"  # no referral of that invitee


@dataclass(frozen=True, slots=True)
class StageChange:
    outcome: StageOutcome
    inviter_id: int | None = None
    inviter_referrals: int | None = None  # the inviter's count after a change that moved it
    milestone: int | None = None  # for QUALIFIED, the milestone the inviter newly reached


@dataclass(frozen=True, slots=True)
class PendingReferral:
    invitee_id: int
    invitee_code: str | None  # None: erased
    inviter_id: int
    inviter_code: str | None
    waits_for: str
    activated_at: datetime
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class PendingPage:
    referrals: list[PendingReferral]
    next_after: int | None  # pass as `after` for the following page
