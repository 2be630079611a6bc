"""What routes receive by type: the application's state or its parts (the service, the token
issuer, the web app), the authenticated member, and the per-address limit of login and verify
requests.

All are coroutines: FastAPI runs plain functions in a thread pool."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.http import HTTPBase
from fastapi.security.utils import get_authorization_scheme_param

from api.messages import say
from api.state import AppState, app_state
from api.tokens import AccessTokens, InvalidToken
from api.webapp import WebApp
from db.service import ReferralService

NO_CREDENTIALS = "api-no-credentials"  # catalog ids (locales/)
ADDRESS_LIMIT = "api-address-limit"
HOUR = 3600.0
CHALLENGE = {"WWW-Authenticate": "Bearer"}
TOKEN_SCHEMES = ("bearer", "token")  # `Token <key>` is how the original API's clients send it

SCHEME_DESCRIPTION = (
    "The JWT from POST /api/verify/ as `Authorization: Bearer <token>`; the original API's form "
    "`Authorization: Token <token>` is accepted too."
)
access_token = HTTPBase(
    scheme="bearer", scheme_name="AccessToken", description=SCHEME_DESCRIPTION, auto_error=False
)


async def token_member(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(access_token)],
    request: Request,
) -> int | None:
    """The member id in the request's token if it has a valid one, else None (no 401)."""
    if credentials is None or credentials.scheme.lower() not in TOKEN_SCHEMES:
        return None
    try:
        return app_state(request).tokens.member_id(credentials.credentials)
    except InvalidToken:
        return None


async def get_state(request: Request) -> AppState:
    return app_state(request)


async def get_service(request: Request) -> ReferralService:
    return app_state(request).service


async def get_tokens(request: Request) -> AccessTokens:
    return app_state(request).tokens


async def get_web_app(request: Request) -> WebApp:
    return app_state(request).web_app


StateDep = Annotated[AppState, Depends(get_state)]
ServiceDep = Annotated[ReferralService, Depends(get_service)]
TokensDep = Annotated[AccessTokens, Depends(get_tokens)]
WebAppDep = Annotated[WebApp, Depends(get_web_app)]


class MemberToken(HTTPBase):
    """The API's bearer scheme (documented as `access_token` is) answering with the member id
    itself: one dependency where a scheme under a dependency made two, and each level cost a
    request ~30 µs, a tenth of a whole `GET /api/data/`."""

    async def __call__(self, request: Request) -> int:  # type: ignore[override]
        """The member id in a valid access token; 401 without one."""
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        if not token or scheme.lower() not in TOKEN_SCHEMES:
            raise HTTPException(401, say(NO_CREDENTIALS), headers=CHALLENGE)
        try:
            return app_state(request).tokens.member_id(token)
        except InvalidToken as error:
            raise HTTPException(401, say(error.message_id), headers=CHALLENGE) from None


member_token = MemberToken(
    scheme="bearer", scheme_name="AccessToken", description=SCHEME_DESCRIPTION, auto_error=False
)


async def count_address_request(request: Request) -> None:
    """Count a login or verify request of the client address; 429 over the hourly limit."""
    state = app_state(request)
    address = request.client.host if request.client else "unknown"
    retry_after = await state.service.addresses.count(
        address, limit=state.address_hourly_limit, window=HOUR
    )
    if retry_after:
        raise HTTPException(
            429,
            say(ADDRESS_LIMIT, seconds=retry_after),
            headers={"Retry-After": str(retry_after)},
        )


MemberId = Annotated[int, Security(member_token)]
MaybeMemberId = Annotated[int | None, Depends(token_member)]
AddressCounted = Annotated[None, Depends(count_address_request)]
