"""The program's one HTTP application: the API of the original web version, the web app, health,
and whatever routers the caller adds (the Telegram webhook)."""

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import Lifespan

from api import admin, health, login, metrics, referrals, sharing, telegram_login, web_app
from api.docs import OPENAPI_URL, create_docs_router
from api.errors import install_error_handlers
from api.limits import RequestBodyLimit
from api.sharing import InviteLinks
from api.texts import RequestLanguage
from api.tokens import AccessTokens
from api.web import WebAssets, create_web_router
from api.web_texts import load_web_texts
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
    app.state.service = service
    app.state.tokens = AccessTokens(settings.signing_key(), settings.jwt_ttl)
    app.state.address_hourly_limit = settings.api_address_hourly_limit
    token = settings.bot_token
    app.state.bot_token = token.get_secret_value() if token else None
    app.state.default_language = settings.default_language
    metrics_token = settings.metrics_token
    app.state.metrics_token = metrics_token.get_secret_value() if metrics_token else None
    app.state.code_delivery = settings.code_delivery
    app.state.invite_links = InviteLinks(bot_username, settings.web_app_url)
    app.state.web_texts = load_web_texts()
    app.state.web_assets = WebAssets.load(
        also_versioned=[texts.body for texts in app.state.web_texts.values()]
    )
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
    app.include_router(web_app.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(create_docs_router(title=TITLE))
    app.include_router(create_web_router())
    return app
