"""GET and POST /api/data/: the member's referral data, and registering another member's code."""

from typing import Annotated, assert_never

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json

from api.deps import (
    ADDRESS_LIMIT,
    CHALLENGE,
    NO_CREDENTIALS,
    AddressCounted,
    MaybeMemberId,
    MemberId,
    ServiceDep,
)
from api.messages import english, say
from api.models import (
    InviteCodeCheck,
    InviteCodeRegistered,
    InviteCodeRequest,
    InviteRefused,
    LanguageChoice,
    ReferralData,
)
from api.openapi import BEARER_CHALLENGE, COMMON_ERRORS, documented_error
from api.replies import answer, refusal
from api.routing import slash_optional
from api.state import app_state
from db.results import Activation, InviteOutcome

router = APIRouter(prefix="/api", tags=["referrals"])

PAGE_SIZE = 100  # without `limit`
MAX_PAGE_SIZE = 1000  # a list of a thousand in one answer, as the original API gave it

# Messages, by their catalog id (locales/); "Referral code ... successfully registered.",
# "Referral code is required." and "You cannot invite yourself." are the original API's wording.
MEMBER_GONE = "api-member-gone"
MALFORMED_CURSOR = "api-malformed-cursor"
ALREADY_REGISTERED = "api-already-registered"
CYCLE = "api-cycle"
CODE_SUSPENDED = "api-code-suspended"
MEMBER_BLOCKED = "api-member-blocked"

UNAUTHORIZED = documented_error(
    "No token, or an expired, forged or malformed one.",
    headers=BEARER_CHALLENGE,
    no_token=english(NO_CREDENTIALS),
    expired=english("api-token-expired"),
    invalid=english("api-token-invalid"),
    member_gone=english(MEMBER_GONE),
)


PageCursor = Annotated[
    str | None,
    Query(description="The `next` value of the previous page, for the following page."),
]
PageSize = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Referrals per page, at most {MAX_PAGE_SIZE} (without it, {PAGE_SIZE}).",
    ),
]


def member_gone() -> Response:
    """401 for a valid token whose member no longer exists (erased): the token is dead."""
    return refusal(401, say(MEMBER_GONE), headers=CHALLENGE)


def activation_reply(activation: Activation) -> Response:
    code = activation.code
    match activation.outcome:
        case InviteOutcome.ACTIVATED:
            registered = InviteCodeRegistered(
                message=say("api-registered", code=code), invited=code
            )
            return answer(200, registered)
        case InviteOutcome.EMPTY:
            return refusal(400, say("api-code-required"))
        case InviteOutcome.OWN_CODE:
            return refusal(400, say("api-own-code"))
        case InviteOutcome.UNKNOWN:
            return refusal(404, say("api-unknown-code", shape=say("invite-code-shape")))
        case InviteOutcome.ALREADY_ACTIVATED:
            earlier = InviteCodeRegistered(message=say(ALREADY_REGISTERED, code=code), invited=code)
            return answer(409, earlier)
        case InviteOutcome.CYCLE:
            return refusal(400, say(CYCLE, code=code))
        case InviteOutcome.MEMBER_NOT_FOUND:
            return member_gone()
        case InviteOutcome.CODE_SUSPENDED:
            return answer(403, InviteRefused(message=say(CODE_SUSPENDED), blocked="code"))
        case InviteOutcome.MEMBER_BLOCKED:
            return answer(403, InviteRefused(message=say(MEMBER_BLOCKED), blocked="member"))
        case _:
            assert_never(activation.outcome)


@slash_optional(
    router,
    "/data",
    method="GET",
    operation_id="readReferralData",
    summary="The member's invite code, the code they registered, and who joined with theirs",
    response_model=ReferralData,
    responses={
        400: documented_error(
            "The cursor is not one this API made.", cursor=english(MALFORMED_CURSOR)
        ),
        401: UNAUTHORIZED,
        **COMMON_ERRORS,
    },
)
async def read_referral_data(
    request: Request, member_id: MemberId, cursor: PageCursor = None, limit: PageSize = PAGE_SIZE
) -> Response:
    """`users` holds up to `limit` phones (100 unless asked, at most 1,000); follow `next` (as
    `?cursor=`) for the rest."""
    # The busiest route takes the service from the application, not as a dependency (`ServiceDep`
    # elsewhere): a dependency costs ~30 µs, a tenth of the request.
    service = app_state(request).service
    try:
        found = await service.invitations.profile_and_referrals(
            member_id, after=cursor, limit=limit
        )
    except ValueError:
        return refusal(400, say(MALFORMED_CURSOR))
    if found is None:
        return member_gone()
    profile, page = found
    deleted = say("api-deleted-member")
    progress = service.growth.progress(page.total)
    # `ReferralData` field by field, as plain values: validating a model per referral cost 7 µs
    # each, two thirds of a page of 1,000 (tests/api/routes/test_referrals.py holds the two
    # together).
    data = {
        "ref": profile.member.invite_code,
        "invited": profile.inviter_code or "",
        "users": [referral.phone or deleted for referral in page.referrals],
        "users_total": page.total,
        "language": profile.member.language,
        "next": page.next_cursor,
        "referrals": [
            {"phone": referral.phone, "joined_at": referral.invited_at}
            for referral in page.referrals
        ],
        "milestone_reached": progress.reached,
        "milestone_next": progress.next,
        "operator": service.operators.is_operator(profile.member.telegram_id),
    }
    return Response(to_json(data), media_type="application/json")


@slash_optional(
    router,
    "/data",
    method="POST",
    operation_id="registerInviteCode",
    summary="Register another member's invite code, once",
    response_model=InviteCodeRegistered,
    response_description="The code is registered: its owner is now the member's inviter.",
    responses={
        400: documented_error(
            "No code, the member's own code, or a code that would make a cycle.",
            code_required=english("api-code-required"),
            own_code=english("api-own-code"),
            cycle=english(CYCLE, code="K7M2QX"),
        ),
        401: UNAUTHORIZED,
        403: {
            "model": InviteRefused,
            "description": "An operator blocked the code's owner (the code is suspended), or the "
            "member; `blocked` says which.",
        },
        404: documented_error(
            "No member has this code.",
            unknown_code=english("api-unknown-code", shape=english("invite-code-shape")),
        ),
        409: {
            "model": InviteCodeRegistered,
            "description": "The member registered a code before; `invited` names it.",
            "content": {
                "application/json": {
                    "example": {
                        "message": english(ALREADY_REGISTERED, code="A3BC9D"),
                        "invited": "A3BC9D",
                    }
                }
            },
        },
        **COMMON_ERRORS,
    },
)
async def register_invite_code(
    body: InviteCodeRequest, member_id: MemberId, service: ServiceDep
) -> Response:
    """A member registers one code, ever: never their own, never one that would make a cycle."""
    return activation_reply(await service.invitations.activate_invite(member_id, body.ref_code))


InviteCode = Annotated[str, Path(description="An invite code, as a link carries it.")]


@slash_optional(
    router,
    "/invite/{code}",
    method="GET",
    operation_id="checkInviteCode",
    summary="Whether an invite code exists, and whose it is (masked): before logging in with it",
    response_model=InviteCodeCheck,
    responses={
        404: documented_error(
            "No member has this code (or it is not shaped like one).",
            unknown_code=english("api-unknown-code", shape=english("invite-code-shape")),
        ),
        429: documented_error(
            "Too many login, verify and check requests from this address in the last hour.",
            address_limit=english(ADDRESS_LIMIT, seconds=1800),
        ),
        **COMMON_ERRORS,
    },
)
async def check_invite_code(
    code: InviteCode, member_id: MaybeMemberId, service: ServiceDep, _: AddressCounted
) -> Response:
    """Public, counted with login and verify per address. With a member's token, `offer` says
    what registering it would answer now, nothing being changed (a token that does not work is
    as none)."""
    owner = await service.invitations.code_owner(code)
    if owner is None:
        return refusal(404, say("api-unknown-code", shape=say("invite-code-shape")))
    offer = None
    if member_id is not None:
        offer = (await service.invitations.invitation_offer(member_id, owner.code)).outcome
    check = InviteCodeCheck(
        code=owner.code,
        owner=owner.phone,
        suspended=owner.suspended,
        offer=offer.value if offer else None,
    )
    return answer(200, check)


@slash_optional(
    router,
    "/data/export",
    method="GET",
    operation_id="exportMemberData",
    summary="Everything kept about the member, as /mydata in the bot sends it",
    response_model=None,
    responses={401: UNAUTHORIZED, **COMMON_ERRORS},
)
async def export_member_data(member_id: MemberId, service: ServiceDep) -> Response:
    """Phone, Telegram id, codes, times, language, and every referral (phones masked)."""
    data = await service.privacy.member_data(member_id)
    if data is None:
        return member_gone()
    return JSONResponse(data.as_document())


@slash_optional(
    router,
    "/data",
    method="DELETE",
    operation_id="eraseMember",
    summary="Erase the member: phone, code and Telegram link go; who invited whom stays anonymised",
    response_model=None,
    status_code=204,
    response_description="Erased; the token no longer works.",
    responses={401: UNAUTHORIZED, **COMMON_ERRORS},
)
async def erase_member(member_id: MemberId, service: ServiceDep) -> Response:
    """As `/delete` in the bot: one transaction; afterwards the token answers 401."""
    if not await service.privacy.erase_member(member_id):
        return member_gone()
    return Response(status_code=204)


@slash_optional(
    router,
    "/data/language",
    method="PUT",
    operation_id="chooseLanguage",
    summary="Keep the language the member chose (the web app's switch, /language in the bot)",
    response_model=None,
    status_code=204,
    response_description="Kept: the bot and the page speak it to the member from now on.",
    responses={401: UNAUTHORIZED, **COMMON_ERRORS},
)
async def choose_language(
    body: LanguageChoice, member_id: MemberId, service: ServiceDep
) -> Response:
    if not await service.members.set_language(member_id, body.language):
        return member_gone()
    return Response(status_code=204)
