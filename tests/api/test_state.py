"""What the application holds for its routes: one typed state, read from the settings once."""

from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from api.state import AppState, state_of
from api.tokens import AccessTokens
from api.webapp import LANGUAGES
from db.service import ReferralService
from tests.api.conftest import SECRET, TTL, api_settings


def test_the_state_holds_the_settings_the_routes_read(
    tmp_path: Path, service: ReferralService
) -> None:
    settings = api_settings(
        tmp_path,
        bot_token=SecretStr("42:TOKEN"),
        metrics_token=SecretStr("scrape"),
        web_app_url="https://club.example/app",
        api_address_hourly_limit=7,
        default_language="ru",
    )
    state = AppState.create(settings, service, bot_username="club_bot")
    assert state.service is service
    assert (state.bot_token, state.metrics_token) == ("42:TOKEN", "scrape")
    assert (state.address_hourly_limit, state.code_delivery, state.default_language) == (
        7,
        "chat",
        "ru",
    )
    assert (state.invite_links.bot_username, state.invite_links.web_app_url) == (
        "club_bot",
        "https://club.example/app",
    )
    assert state.tokens.member_id(state.tokens.issue(5)) == 5 and state.tokens.ttl == TTL
    assert set(state.web_app.texts) == set(LANGUAGES)


def test_secrets_left_unset_are_none(tmp_path: Path, service: ReferralService) -> None:
    state = AppState.create(api_settings(tmp_path), service, bot_username=None)
    assert (state.bot_token, state.metrics_token, state.invite_links.bot_username) == (
        None,
        None,
        None,
    )


def test_the_app_keeps_one_state_made_from_its_settings(
    app: FastAPI, service: ReferralService
) -> None:
    state = state_of(app)
    assert state is state_of(app) and state.service is service
    assert state.tokens.member_id(AccessTokens(SECRET.encode(), TTL).issue(9)) == 9
