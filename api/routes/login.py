"""POST /api/login/ and /api/verify/: a code for a phone, then an access token for the code."""

from typing import assert_never

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ADDRESS_LIMIT, AddressCounted, ServiceDep, TokensDep
from api.errors import DATABASE_UNAVAILABLE, OUTAGE_RETRY_AFTER
from api.messages import english, say
from api.models import AccessGranted, CodeSent, LoginRequest, VerifyRequest, WrongCode
from api.openapi import COMMON_ERRORS, RETRY_AFTER, documented_error
from api.replies import answer, refusal
from api.routing import slash_optional
from api.tokens import AccessTokens
from db.results import CodeRequest, CodeRequestOutcome, Verification, VerifyOutcome

router = APIRouter(prefix="/api", tags=["login"])

# Messages, by their catalog id (locales/); "Login successful." and "User created and logged in."
# are the original API's wording.
INVALID_PHONE = "api-invalid-phone"
COOLDOWN = "api-cooldown"
HOURLY_LIMIT = "api-hourly-limit"


def code_request_reply(request: CodeRequest) -> Response:
    match request.outcome:
        case CodeRequestOutcome.SENT:
            assert request.phone is not None
            body = CodeSent(
                phone=request.phone,
                message=say("api-code-sent"),
                code=request.code,
                expires_in=request.expires_in,
                resend_after=request.retry_after,
            )
            return answer(200, body)
        case CodeRequestOutcome.INVALID_PHONE:
            return refusal(400, say(INVALID_PHONE))
        case CodeRequestOutcome.COOLDOWN:
            message = say(COOLDOWN, seconds=request.retry_after)
            return refusal(429, message, retry_after=request.retry_after)
        case CodeRequestOutcome.HOURLY_LIMIT:
            message = say(HOURLY_LIMIT, seconds=request.retry_after)
            return refusal(429, message, retry_after=request.retry_after)
        case CodeRequestOutcome.DELIVERY_FAILED:
            return refusal(503, say("api-delivery-failed"))
        case _:
            assert_never(request.outcome)


def verification_reply(
    verification: Verification, *, tokens: AccessTokens, code_length: int
) -> Response:
    match verification.outcome:
        case VerifyOutcome.VERIFIED:
            assert verification.member is not None
            token = tokens.issue(verification.member.id)
            status, message = (
                (201, "api-joined") if verification.created else (200, "api-logged-in")
            )
            return answer(
                status, AccessGranted(message=say(message), token=token, expires_in=tokens.ttl)
            )
        case VerifyOutcome.INVALID_PHONE:
            return refusal(400, say(INVALID_PHONE))
        case VerifyOutcome.MALFORMED_CODE:
            return refusal(400, say("api-malformed-code", length=code_length))
        case VerifyOutcome.WRONG_CODE:
            left = verification.attempts_left
            message = say("api-wrong-code", left=left)
            return answer(400, WrongCode(message=message, attempts_left=left))
        case VerifyOutcome.NO_CODE:
            return refusal(400, say("api-no-code"))
        case VerifyOutcome.EXPIRED:
            return refusal(400, say("api-expired"))
        case VerifyOutcome.TOO_MANY_ATTEMPTS:
            # `attempts_left: 0` tells this 429 (the code is dead) from the per-address limit's.
            message = say("api-too-many-attempts", seconds=verification.retry_after)
            retry = {"Retry-After": str(verification.retry_after)}
            return answer(429, WrongCode(message=message, attempts_left=0), headers=retry)
        case _:
            assert_never(verification.outcome)


@slash_optional(
    router,
    "/login",
    method="POST",
    operation_id="login",
    summary="Request a verification code for a phone",
    response_model=CodeSent,
    response_description="The code is on its way (and in the body, in `chat` delivery mode).",
    responses={
        400: documented_error("Not a possible phone number.", invalid_phone=english(INVALID_PHONE)),
        429: documented_error(
            "Too many codes for this phone, or too many requests from this address.",
            headers=RETRY_AFTER,
            cooldown=english(COOLDOWN, seconds=42),
            hourly_limit=english(HOURLY_LIMIT, seconds=1260),
            address_limit=english(ADDRESS_LIMIT, seconds=1260),
        ),
        **COMMON_ERRORS,
        503: documented_error(
            "The delivery gateway failed, or the database is unavailable.",
            headers=RETRY_AFTER,
            delivery_failed=english("api-delivery-failed"),
            database_unavailable=english(DATABASE_UNAVAILABLE, seconds=OUTAGE_RETRY_AFTER),
        ),
    },
)
async def login(body: LoginRequest, service: ServiceDep, _: AddressCounted) -> Response:
    """Sends a code to the phone (see CODE_DELIVERY); it is good for one successful verify."""
    return code_request_reply(await service.members.request_code(body.phone))


@slash_optional(
    router,
    "/verify",
    method="POST",
    operation_id="verify",
    summary="Exchange a phone's code for an access token",
    response_model=AccessGranted,
    response_description="A member logged in again.",
    responses={
        201: {"model": AccessGranted, "description": "A new member was created and logged in."},
        400: documented_error(
            "Not a possible phone, or the code is malformed, wrong, expired or not requested. "
            "A wrong code's answer also says how many tries are left (`attempts_left`).",
            invalid_phone=english(INVALID_PHONE),
            malformed_code=english("api-malformed-code", length=4),
            wrong_code=english("api-wrong-code", left=4),
            no_code=english("api-no-code"),
            expired=english("api-expired"),
        ),
        429: documented_error(
            "Too many wrong codes (request a new one), or too many requests from this address.",
            headers=RETRY_AFTER,
            too_many_attempts=english("api-too-many-attempts", seconds=42),
            address_limit=english(ADDRESS_LIMIT, seconds=1260),
        ),
        **COMMON_ERRORS,
    },
)
async def verify(
    body: VerifyRequest, service: ServiceDep, tokens: TokensDep, _: AddressCounted
) -> Response:
    """Checks the code the server issued for the phone; five wrong codes end it."""
    verification = await service.members.verify_code(body.phone, body.typed_code)
    return verification_reply(verification, tokens=tokens, code_length=service.members.code_length)
