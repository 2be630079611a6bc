"""The bodies the API reads and writes, named for their role, with the examples its docs show."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def _storable(text: str) -> str:
    # JSON strings may hold NUL and lone surrogates, which PostgreSQL text cannot: such input is
    # malformed, not a database error.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(_storable)]


def _digits_as_text(value: Any) -> Any:
    """A phone sent as a bare JSON number of digits is read like the same digits in a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a phone number cannot be negative")
        return str(value)
    return value


PhoneInput = Annotated[
    Text,
    BeforeValidator(_digits_as_text),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
            "title": "Phone",
            "description": "Free form, with or without the country code (a leading 8 means +7); "
            "a JSON number of digits is accepted too.",
            "examples": ["+7 (912) 345-67-89", "89123456789"],
        }
    ),
]


class ErrorMessage(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "Invalid code. 4 attempts left."}]}
    )

    message: str = Field(description="What went wrong, for a person to read.")


class WrongCode(ErrorMessage):
    """A wrong code: the message, and how many more tries the code allows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"message": "Invalid code. 4 attempts left.", "attempts_left": 4}]
        }
    )

    attempts_left: int = Field(description="Wrong codes still allowed before this one is dead.")


InviteOutcomeName = Literal[
    "activated",
    "own_code",
    "unknown",
    "already_activated",
    "cycle",
    "member_blocked",
    "code_suspended",
    "member_not_found",
]


class InviteRefused(ErrorMessage):
    """An invite code refused because an operator blocked somebody: which of the two."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": "This referral code is suspended.", "blocked": "code"},
                {
                    "message": "Your account is blocked: you cannot register a referral code.",
                    "blocked": "member",
                },
            ]
        }
    )

    blocked: Literal["code", "member"] = Field(
        description="`code`: the code's owner is blocked (the code is suspended); `member`: the "
        "member registering it is."
    )


class LoginRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+7 (912) 345-67-89"}]})

    phone: PhoneInput


class CodeSent(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "+79123456789",
                    "message": "Verification code sent.",
                    "code": "4821",
                    "expires_in": 300,
                    "resend_after": 60,
                }
            ]
        }
    )

    phone: str = Field(description="The phone in E.164 form; send it back to /api/verify/.")
    message: str
    code: str | None = Field(
        default=None,
        exclude_if=lambda code: code is None,
        description="The code itself: only in `chat` delivery mode (development and demo).",
    )
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be requested.")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"phone": "+7 (912) 345-67-89", "code": "4821"}]}
    )

    phone: PhoneInput
    code: Text = Field(description="The code received for this phone.")
    verify: Text | None = Field(
        default=None,
        description="Compatibility with the original web client, which sent the code it was "
        "given in `code` and the code the person typed in `verify`: when present, `verify` is "
        "the code checked.",
    )

    @property
    def typed_code(self) -> str:
        return self.code if self.verify is None else self.verify


class AccessGranted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "Login successful.",
                    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl",
                    "token_type": "Bearer",
                    "expires_in": 86400,
                }
            ]
        }
    )

    message: str
    token: str = Field(description="JWT access token: send `Authorization: Bearer <token>`.")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the token stays valid.")


class ReferralEntry(BaseModel):
    phone: str | None = Field(description="As in `users`; null for a member who erased their data.")
    joined_at: datetime = Field(description="When they registered the member's code.")


class ReferralData(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ref": "K7M2QX",
                    "invited": "A3BC9D",
                    "users": ["+7 912 ***-**-89", "+7 903 ***-**-12"],
                    "users_total": 2,
                    "language": "en",
                    "next": None,
                    "referrals": [
                        {"phone": "+7 912 ***-**-89", "joined_at": "2025-05-14T09:21:07.120000Z"},
                        {"phone": "+7 903 ***-**-12", "joined_at": "2025-05-15T18:02:44.501000Z"},
                    ],
                    "milestone_reached": None,
                    "milestone_next": 5,
                    "operator": False,
                }
            ]
        }
    )

    ref: str = Field(description="The member's own invite code.")
    invited: str = Field(description="The invite code the member registered, or an empty string.")
    users: list[str] = Field(
        description="Phones of the people who registered the member's code, in order of "
        "registration (masked unless the server shows full numbers); one page."
    )
    users_total: int = Field(description="How many people registered the member's code.")
    language: str | None = Field(
        default=None,
        description="The member's language (their choice, or the one they joined in), if known.",
    )
    next: str | None = Field(
        description="Pass as `cursor` for the next page of `users`; null on the last page."
    )
    referrals: list[ReferralEntry] = Field(
        description="The same page as `users`, with the time each one joined (not in the "
        "original API)."
    )
    milestone_reached: int | None = Field(
        default=None,
        description="The largest milestone (MILESTONES) `users_total` has reached; null before "
        "the first (not in the original API).",
    )
    milestone_next: int | None = Field(
        default=None,
        description="The next milestone, null past the last one (not in the original API).",
    )
    operator: bool = Field(
        default=False,
        description="Whether the member is an operator (their linked Telegram account is in "
        "ADMIN_IDS): the web app shows the way to /api/admin/ only then.",
    )


class InviteCodeCheck(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "A3BC9D", "owner": "+7 912 ***-**-89", "suspended": False, "offer": None},
                {
                    "code": "A3BC9D",
                    "owner": "+7 912 ***-**-89",
                    "suspended": False,
                    "offer": "cycle",
                },
            ]
        }
    )

    code: str = Field(description="The code, as stored (upper case).")
    owner: str = Field(description="Its owner's phone, masked.")
    suspended: bool = Field(description="An operator blocked the owner: nobody can join with it.")
    offer: InviteOutcomeName | None = Field(
        description="With a member's token: what registering the code would answer now "
        "(`activated`: it would be registered; else why not), nothing being changed; null "
        "without a token."
    )


class LanguageChoice(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"language": "ru"}]})

    language: Literal["en", "ru"] = Field(description="The language the member chose.")


class InviteCodeRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ref_code": "A3BC9D"}]})

    ref_code: Text = Field(
        default="",
        description="Another member's invite code; case and surrounding spaces do not matter.",
    )


class InviteCodeRegistered(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": "Referral code A3BC9D successfully registered.", "invited": "A3BC9D"}
            ]
        }
    )

    message: str
    invited: str = Field(description="The invite code the member has registered.")


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class TelegramLoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "init_data": "query_id=AAH...&user=%7B%22id%22%3A42%2C%22first_name%22%3A"
                    "%22Ann%22%7D&auth_date=1735000000&hash=6c1f..."
                }
            ]
        }
    )

    init_data: Text = Field(
        description="`Telegram.WebApp.initData` exactly as the Mini App received it: the query "
        "string Telegram signed with the bot's token."
    )


class WebAppDescription(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bot_username": "referral_club_bot",
                    "invite_link": "https://t.me/referral_club_bot?start={code}",
                    "code_delivery": "telegram_gateway",
                    "code_length": 4,
                    "invite_code_alphabet": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                    "invite_code_length": 6,
                    "languages": ["en", "ru"],
                    "default_language": "en",
                }
            ]
        }
    )

    bot_username: str | None = Field(description="The bot's username; null when no bot runs.")
    invite_link: str = Field(
        description="A member's invite link with `{code}` in place of their code: the bot's deep "
        "link, or the web app's `?ref=` link."
    )
    code_delivery: Literal["chat", "log", "telegram_gateway"] = Field(
        description="Where verification codes go: the login answer, the server log, or Telegram."
    )
    code_length: int = Field(description="Digits in a verification code.")
    invite_code_alphabet: str = Field(description="The characters an invite code is made of.")
    invite_code_length: int = Field(description="Characters in an invite code.")
    languages: list[str] = Field(description="Languages of `GET /api/texts/{language}/`.")
    default_language: str = Field(description="The language when nothing else tells.")


class WebAppTexts(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "language": "ru",
                    "texts": {
                        "web-login-title": "Вход",
                        "web-refs-count": {
                            "one": "По вашему коду присоединился {count} друг",
                            "few": "По вашему коду присоединились {count} друга",
                            "many": "По вашему коду присоединились {count} друзей",
                        },
                    },
                }
            ]
        }
    )

    language: str
    texts: dict[str, str | dict[str, str]] = Field(
        description="Each text by its msgid; plural ones by CLDR plural category."
    )


# Operators (api/routes/admin.py)


class AdminInviter(BaseModel):
    member_id: int
    phone: str | None = Field(description="Masked; null for a member who erased their data.")
    referrals: int


class AdminDay(BaseModel):
    day: date = Field(description="A UTC day.")
    joined: int = Field(description="Members who joined that day.")
    activated: int = Field(description="Invite codes activated that day.")


class AdminEvents(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pending": 3, "failed": 0}]})

    pending: int = Field(description="Outbound events waiting for delivery or their next try.")
    failed: int = Field(description="Outbound events given up after 24 hours of tries.")


class EventsRequeued(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"requeued": 12}]})

    requeued: int = Field(description="Failed events that are tried again from now.")


class AdminStats(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-30T09:13:00Z",
                    "members": 1000000,
                    "joined_today": 1520,
                    "joined_7_days": 10410,
                    "joined_30_days": 45002,
                    "invited": 800000,
                    "invited_share": 0.8,
                    "blocked": 12,
                    "top_inviters": [
                        {"member_id": 8, "phone": "+7 900 ***-**-08", "referrals": 100000}
                    ],
                    "days": [{"day": "2026-11-30", "joined": 1520, "activated": 1210}],
                }
            ]
        }
    )

    as_of: datetime
    members: int = Field(description="Members, not counting those who erased their data.")
    joined_today: int
    joined_7_days: int = Field(description="Today and the 6 days before (UTC).")
    joined_30_days: int
    invited: int = Field(description="Members who joined with an invite code.")
    invited_share: float = Field(description="`invited` / `members`, 0 to 1.")
    blocked: int
    top_inviters: list[AdminInviter] = Field(description="The 10 members with most referrals.")
    days: list[AdminDay] = Field(description="The last 30 UTC days, oldest first.")


class AdminMember(BaseModel):
    id: int
    phone: str = Field(description="In full: operators see whole numbers.")
    invite_code: str
    telegram_id: int | None
    inviter_code: str | None
    referrals: int
    joined_at: datetime
    last_login_at: datetime
    language: str | None = Field(description="The member's own choice; null: none made.")
    status: Literal["active", "blocked"]
    blocked_at: datetime | None
    blocked_by: int | None = Field(description="The Telegram id of the operator who blocked.")
    block_reason: str | None


class AdminMembers(BaseModel):
    members: list[AdminMember] = Field(
        description="Everyone whose phone, invite code or Telegram id the query is (at most 3)."
    )


class BlockRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "sells invite codes"}]})

    reason: Text | None = Field(
        default=None, max_length=500, description="Why; kept in the audit log with who and when."
    )


class LeaderEntry(BaseModel):
    place: int = Field(description="1 for the member with most referrals.")
    phone: str | None = Field(
        description="The member's phone, masked unless the server shows full numbers."
    )
    referrals: int = Field(description="How many people joined with their code in the period.")


class LeaderboardData(BaseModel):
    leaders: list[LeaderEntry] = Field(
        description="At most ten members with most referrals; of equal counts, who reached it "
        "first comes first."
    )
    place: int | None = Field(
        description="The asking member's own place; null while they have no referral in the period."
    )
    referrals: int = Field(description="The asking member's referrals in the period.")


class Leaderboards(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "month": "2026-11-01",
                    "this_month": {
                        "leaders": [{"place": 1, "phone": "+7 912 ***-**-89", "referrals": 12}],
                        "place": 1234,
                        "referrals": 3,
                    },
                    "all_time": {
                        "leaders": [{"place": 1, "phone": "+7 903 ***-**-12", "referrals": 480}],
                        "place": None,
                        "referrals": 0,
                    },
                }
            ]
        },
    )

    month: date = Field(description="The first day of the month (UTC) `this_month` counts.")
    this_month: LeaderboardData
    all_time: LeaderboardData


class StageRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "paid order #1234"}]})

    reason: Text | None = Field(
        default=None, max_length=500, description="Why; kept with the referral's change."
    )


class AdminReferral(BaseModel):
    member_id: int = Field(description="The invitee: a referral is known by its invitee's id.")
    inviter_id: int | None
    stage: str = Field(description="`qualified` or `reversed`, after the change.")
    inviter_referrals: int | None = Field(
        description="The inviter's count of qualified referrals after the change, if it moved."
    )


class AdminPendingReferral(BaseModel):
    member_id: int = Field(description="The invitee's id, which the qualify and reverse take.")
    invite_code: str | None = Field(description="The invitee's code; null once erased.")
    inviter_id: int
    inviter_code: str | None
    waits_for: str = Field(description="`in_chats`, `manual` or `external` (QUALIFY's rule).")
    activated_at: datetime
    due_at: datetime | None = Field(description="When it qualifies by time (`in_chats:<N>d`).")


class AdminPendingReferrals(BaseModel):
    referrals: list[AdminPendingReferral]
    next: int | None = Field(description="Pass as `after` for the next page; null on the last.")
