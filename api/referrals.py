"""GET and POST /api/data/: the member's referral data, and registering another member's code."""

from typing import Annotated, assert_never

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import NO_CREDENTIALS, MemberId, ServiceDep
from api.docs import BEARER_CHALLENGE, COMMON_ERRORS, documented_error
from api.models import InviteCodeRegistered, InviteCodeRequest, ReferralData, ReferralEntry
from api.replies import answer, refusal
from api.routing import slash_optional
from db.codes import INVITE_CODE_SHAPE
from db.results import Activation, InviteOutcome

router = APIRouter(prefix="/api", tags=["referrals"])

PAGE_SIZE = 100

MEMBER_GONE = "User not found."  # the original API's wording
MALFORMED_CURSOR = "Malformed cursor: pass the `next` value of the previous page."
REGISTERED = "Referral code {code} successfully registered."  # the original API's wording
CODE_REQUIRED = "Referral code is required."  # the original API's wording
OWN_CODE = "You cannot invite yourself."  # the original API's wording
UNKNOWN_CODE = f"No such code exists. An invite code is {INVITE_CODE_SHAPE}."
ALREADY_REGISTERED = "You have already registered referral code {code}; it cannot be changed."
CYCLE = "Referral code {code} belongs to someone who joined through you; that would be a cycle."

UNAUTHORIZED = documented_error(
    "No token, or an expired, forged or malformed one.",
    headers=BEARER_CHALLENGE,
    no_token=NO_CREDENTIALS,
    expired="The token has expired; log in again.",
    invalid="The token is not valid.",
)


PageCursor = Annotated[
    str | None,
    Query(description="The `next` value of the previous page, for the following page."),
]
PageSize = Annotated[
    int, Query(ge=1, le=PAGE_SIZE, description=f"Referrals per page, at most {PAGE_SIZE}.")
]


def activation_reply(activation: Activation) -> Response:
    code = activation.code
    match activation.outcome:
        case InviteOutcome.ACTIVATED:
            registered = InviteCodeRegistered(message=REGISTERED.format(code=code), invited=code)
            return answer(200, registered)
        case InviteOutcome.EMPTY:
            return refusal(400, CODE_REQUIRED)
        case InviteOutcome.OWN_CODE:
            return refusal(400, OWN_CODE)
        case InviteOutcome.UNKNOWN:
            return refusal(404, UNKNOWN_CODE)
        case InviteOutcome.ALREADY_ACTIVATED:
            earlier = InviteCodeRegistered(
                message=ALREADY_REGISTERED.format(code=code), invited=code
            )
            return answer(409, earlier)
        case InviteOutcome.CYCLE:
            return refusal(400, CYCLE.format(code=code))
        case InviteOutcome.MEMBER_NOT_FOUND:
            return refusal(404, MEMBER_GONE)
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
        400: documented_error("The cursor is not one this API made.", cursor=MALFORMED_CURSOR),
        401: UNAUTHORIZED,
        404: documented_error("The token's member no longer exists.", member_gone=MEMBER_GONE),
        **COMMON_ERRORS,
    },
)
async def read_referral_data(
    member_id: MemberId, service: ServiceDep, cursor: PageCursor = None, limit: PageSize = PAGE_SIZE
) -> Response:
    """`users` holds up to 100 phones (`limit`); follow `next` (as `?cursor=`) for the rest."""
    try:
        found = await service.profile_and_referrals(member_id, after=cursor, limit=limit)
    except ValueError:
        return refusal(400, MALFORMED_CURSOR)
    if found is None:
        return refusal(404, MEMBER_GONE)
    profile, page = found
    data = ReferralData(
        ref=profile.member.invite_code,
        invited=profile.inviter_code or "",
        users=[referral.phone for referral in page.referrals],
        users_total=page.total,
        next=page.next_cursor,
        referrals=[
            ReferralEntry(phone=referral.phone, joined_at=referral.invited_at)
            for referral in page.referrals
        ],
    )
    return answer(200, data)


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
            code_required=CODE_REQUIRED,
            own_code=OWN_CODE,
            cycle=CYCLE.format(code="K7M2QX"),
        ),
        401: UNAUTHORIZED,
        404: documented_error(
            "No member has this code, or the token's member no longer exists.",
            unknown_code=UNKNOWN_CODE,
            member_gone=MEMBER_GONE,
        ),
        409: {
            "model": InviteCodeRegistered,
            "description": "The member registered a code before; `invited` names it.",
            "content": {
                "application/json": {
                    "example": {
                        "message": ALREADY_REGISTERED.format(code="A3BC9D"),
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
    return activation_reply(await service.activate_invite(member_id, body.ref_code))
