"""The program's one HTTP application: the API of the original web version, the web app, health,
and whatever routers the caller adds (the Telegram webhook)."""

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import Lifespan

from api.errors import install_error_handlers
from api.limits import RequestBodyLimit
from api.messages import RequestLanguage
from api.openapi import OPENAPI_URL
from api.routes import (
    admin,
    admin_referrals,
    health,
    login,
    metrics,
    referrals,
    sharing,
    telegram_login,
    web,
)
from api.routes.docs import create_docs_router
from api.state import AppState, keep_state
from db.service import ReferralService
from metrics import RequestMetrics
from settings import Settings

TITLE = "Referral API"
DESCRIPTION = """\
Login by phone, then read and write referral data: the contract of the original web version.

1. `POST /api/login/` with a phone: a verification code is sent (in `chat` delivery mode it is in
   the answer).
2. `POST /api/verify/` with the phone and the code: an access token.
3. `GET /api/data/` and `POST /api/data/` with `Authorization: Bearer <token>`.

Inside Telegram, the web app (a Mini App) logs in with `POST /api/telegram/login/` instead.

Every error answers JSON `{"message": ...}`. Login and verify requests are limited per phone and
per client address; over a limit the answer is 429 with `Retry-After`.

The `admin` operations are for operators: members whose linked Telegram account is in the
server's `ADMIN_IDS`. To anybody else they answer 404, as a path that does not exist.
"""


# FastAPI's built-in OpenTelemetry reads three environment variables on every request; nothing
# here exports telemetry.
NO_TELEMETRY = TelemetryConfig(tracing=False, metrics=False, logs=False)


def create_app(
    settings: Settings,
    service: ReferralService,
    *,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan[FastAPI] | None = None,
    bot_username: str | None = None,
) -> FastAPI:
    """The HTTP application over `service`; `routers` are served beside the API (matched first:
    the webhook is the busiest route), and `lifespan` runs around serving when the server runs
    lifespans. `bot_username`, when a bot runs, makes invite links the bot's deep links."""
    app = FastAPI(
        telemetry=NO_TELEMETRY,
        title=TITLE,
        description=DESCRIPTION,
        version="1.0.0",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    state = AppState.create(settings, service, bot_username=bot_username)
    keep_state(app, state)
    app.add_middleware(RequestBodyLimit)
    install_error_handlers(app)
    app.add_middleware(RequestLanguage)  # every message, even a 500, in its language
    app.add_middleware(RequestMetrics)  # outermost: every request counted, whatever it became
    for router in routers:
        app.include_router(router)
    # The busiest first: each route passed costs a request a few µs of matching (the Mini App's
    # login has two routes, the referral data four).
    app.include_router(telegram_login.router)
    app.include_router(referrals.router)
    app.include_router(login.router)
    app.include_router(sharing.router)
    app.include_router(web.router)
    app.include_router(admin.router)
    app.include_router(admin_referrals.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(create_docs_router(title=TITLE, web_version=state.web_app.assets.version))
    app.include_router(web.files_router)
    return app
