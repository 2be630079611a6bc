"""With WEB_APP_URL, the bot opens the web app as a Mini App: its menu button and /code's button."""

import logging

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage, SetChatMenuButton
from aiogram.types import MenuButtonWebApp
from pydantic import SecretStr

from bot.commands import menu_button_registration
from db.service import ReferralService
from locales import create_i18n
from settings import Settings
from tests.bot.conftest import MockedSession, People, inline_buttons
from tests.conftest import en, join

WEB_APP_URL = "https://club.example/"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        bot_token=SecretStr("42:TEST"),
        secret_key=SecretStr("bot-tests-secret-key-of-32-characters"),
        web_app_url=WEB_APP_URL,
    )


async def test_the_menu_button_opens_the_web_app(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    [call] = [method for method in session.requests if isinstance(method, SetChatMenuButton)]
    assert call.chat_id is None, "every private chat's button, not one chat's"
    assert isinstance(call.menu_button, MenuButtonWebApp)
    assert call.menu_button.text == en("button-open-app")
    assert call.menu_button.web_app.url == WEB_APP_URL


async def test_a_failed_menu_button_does_not_stop_start_up(
    bot: Bot, session: MockedSession, caplog: pytest.LogCaptureFixture
) -> None:
    session.fail_next(TelegramNetworkError(SetChatMenuButton(), "unreachable"))
    await menu_button_registration(WEB_APP_URL, create_i18n("en"))(bot)
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


async def test_code_offers_to_open_the_web_app(people: People, service: ReferralService) -> None:
    owner = people()
    await join(service, owner.phone, telegram_id=owner.id)
    card = await owner.send("/code")
    assert isinstance(card[-1], SendMessage)
    _, share, _, _, open_app = inline_buttons(card[-1])
    assert share.text == en("button-share")
    assert open_app.text == en("button-open-app")
    assert open_app.web_app is not None and open_app.web_app.url == WEB_APP_URL
