"""POST /api/login/ and /api/verify/: a code for a phone, then an access token for the code."""

from typing import assert_never

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ADDRESS_LIMIT, AddressCounted, ServiceDep, TokensDep
from api.docs import COMMON_ERRORS, RETRY_AFTER, documented_error
from api.models import AccessGranted, CodeSent, LoginRequest, VerifyRequest, WrongCode
from api.replies import answer, refusal
from api.routing import slash_optional
from api.tokens import AccessTokens
from db.results import CodeRequest, CodeRequestOutcome, Verification, VerifyOutcome

router = APIRouter(prefix="/api", tags=["login"])

INVALID_PHONE = "Invalid phone number: give it with the country code, e.g. +7 912 345-67-89."
CODE_SENT = "Verification code sent."
COOLDOWN = "A code was sent to this phone a moment ago; try again in {seconds} s."
HOURLY_LIMIT = "Too many codes for this phone in the last hour; try again in {seconds} s."
DELIVERY_FAILED = "The code could not be sent; try again later."
LOGGED_IN = "Login successful."  # the original API's wording
JOINED = "User created and logged in."  # the original API's wording
MALFORMED_CODE = "The code is {length} digits."
WRONG_CODE = "Invalid code. {left} attempts left."
NO_CODE = "No code is waiting for this phone (never requested, or already used); log in again."
EXPIRED = "The code has expired; log in again for a new one."
TOO_MANY_ATTEMPTS = "Too many wrong codes; log in again for a new one."


def code_request_reply(request: CodeRequest) -> Response:
    match request.outcome:
        case CodeRequestOutcome.SENT:
            assert request.phone is not None
            body = CodeSent(
                phone=request.phone,
                message=CODE_SENT,
                code=request.code,
                expires_in=request.expires_in,
                resend_after=request.retry_after,
            )
            return answer(200, body)
        case CodeRequestOutcome.INVALID_PHONE:
            return refusal(400, INVALID_PHONE)
        case CodeRequestOutcome.COOLDOWN:
            message = COOLDOWN.format(seconds=request.retry_after)
            return refusal(429, message, retry_after=request.retry_after)
        case CodeRequestOutcome.HOURLY_LIMIT:
            message = HOURLY_LIMIT.format(seconds=request.retry_after)
            return refusal(429, message, retry_after=request.retry_after)
        case CodeRequestOutcome.DELIVERY_FAILED:
            return refusal(503, DELIVERY_FAILED)
        case _:
            assert_never(request.outcome)


def verification_reply(
    verification: Verification, *, tokens: AccessTokens, code_length: int
) -> Response:
    match verification.outcome:
        case VerifyOutcome.VERIFIED:
            assert verification.member is not None
            token = tokens.issue(verification.member.id)
            status, message = (201, JOINED) if verification.created else (200, LOGGED_IN)
            return answer(
                status, AccessGranted(message=message, token=token, expires_in=tokens.ttl)
            )
        case VerifyOutcome.INVALID_PHONE:
            return refusal(400, INVALID_PHONE)
        case VerifyOutcome.MALFORMED_CODE:
            return refusal(400, MALFORMED_CODE.format(length=code_length))
        case VerifyOutcome.WRONG_CODE:
            left = verification.attempts_left
            return answer(400, WrongCode(message=WRONG_CODE.format(left=left), attempts_left=left))
        case VerifyOutcome.NO_CODE:
            return refusal(400, NO_CODE)
        case VerifyOutcome.EXPIRED:
            return refusal(400, EXPIRED)
        case VerifyOutcome.TOO_MANY_ATTEMPTS:
            return refusal(429, TOO_MANY_ATTEMPTS)
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
        400: documented_error("Not a possible phone number.", invalid_phone=INVALID_PHONE),
        429: documented_error(
            "Too many codes for this phone, or too many requests from this address.",
            headers=RETRY_AFTER,
            cooldown=COOLDOWN.format(seconds=42),
            hourly_limit=HOURLY_LIMIT.format(seconds=1260),
            address_limit=ADDRESS_LIMIT.format(seconds=1260),
        ),
        503: documented_error("The delivery gateway failed.", delivery_failed=DELIVERY_FAILED),
        **COMMON_ERRORS,
    },
)
async def login(body: LoginRequest, service: ServiceDep, _: AddressCounted) -> Response:
    """Sends a code to the phone (see CODE_DELIVERY); it is good for one successful verify."""
    return code_request_reply(await service.request_code(body.phone))


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
            invalid_phone=INVALID_PHONE,
            malformed_code=MALFORMED_CODE.format(length=4),
            wrong_code=WRONG_CODE.format(left=4),
            no_code=NO_CODE,
            expired=EXPIRED,
        ),
        429: documented_error(
            "Too many wrong codes (request a new one), or too many requests from this address.",
            headers=RETRY_AFTER,
            too_many_attempts=TOO_MANY_ATTEMPTS,
            address_limit=ADDRESS_LIMIT.format(seconds=1260),
        ),
        **COMMON_ERRORS,
    },
)
async def verify(
    body: VerifyRequest, service: ServiceDep, tokens: TokensDep, _: AddressCounted
) -> Response:
    """Checks the code the server issued for the phone; five wrong codes end it."""
    verification = await service.verify_code(body.phone, body.typed_code)
    return verification_reply(verification, tokens=tokens, code_length=service.code_length)
