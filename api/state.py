"""What the HTTP application holds for its routes, typed: one `AppState`, built once by
`create_app` from the settings and kept in Starlette's `app.state` under one name. Routes take
its parts through the aliases of api/deps.py; the few busiest call `app_state` themselves."""

from dataclasses import dataclass
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request

from api.tokens import AccessTokens
from api.webapp import WebApp
from db.service import ReferralService
from settings import Settings
from sharing.links import InviteLinks


@dataclass(frozen=True, slots=True, kw_only=True)
class AppState:
    """What the routes work with: the service, the token issuer, where invite links point, the
    web app, and the settings they read."""

    service: ReferralService
    tokens: AccessTokens
    invite_links: InviteLinks
    web_app: WebApp
    address_hourly_limit: int  # API_ADDRESS_HOURLY_LIMIT: login and verify requests per address
    code_delivery: Literal["chat", "log", "telegram_gateway"]
    default_language: str  # DEFAULT_LANGUAGE, the web app's when nothing else tells
    bot_token: str | None  # None: no bot, so no login inside Telegram
    metrics_token: str | None  # None: /metrics answers anybody
    admin_api_token: str | None  # ADMIN_API_TOKEN; None: no machine access to /api/admin/

    @classmethod
    def create(
        cls, settings: Settings, service: ReferralService, *, bot_username: str | None
    ) -> "AppState":
        """Everything read from the settings once, so that no request reads a setting again."""
        bot_token, metrics_token = settings.bot_token, settings.metrics_token
        return cls(
            service=service,
            tokens=AccessTokens(settings.signing_key(), settings.jwt_ttl),
            invite_links=InviteLinks(bot_username, settings.web_app_url),
            web_app=WebApp.load(),
            address_hourly_limit=settings.api_address_hourly_limit,
            code_delivery=settings.code_delivery,
            default_language=settings.default_language,
            bot_token=bot_token.get_secret_value() if bot_token else None,
            metrics_token=metrics_token.get_secret_value() if metrics_token else None,
            admin_api_token=(
                settings.admin_api_token.get_secret_value() if settings.admin_api_token else None
            ),
        )


def keep_state(app: Starlette, state: AppState) -> None:
    app.state.referral_api = state


def state_of(app: Starlette) -> AppState:
    """The state `create_app` kept in `app`."""
    state: AppState = app.state.referral_api
    return state


def app_state(request: Request) -> AppState:
    """The state of the application answering `request`: a plain call, no dependency's cost."""
    return state_of(request.app)
