"""The public entry points: `create_bot`, `create_dispatcher` and its start-up."""

import logging
import re

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SetChatMenuButton, SetMyCommands
from aiogram.types import BotCommandScopeAllPrivateChats
from pydantic import SecretStr

from bot import create_bot
from bot.commands import register_commands
from settings import Settings, SettingsError
from tests.bot.conftest import MockedSession, People, shown_code


async def test_the_command_menu_is_registered_at_start_up(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    [menu] = [method for method in session.requests if isinstance(method, SetMyCommands)]
    assert [command.command for command in menu.commands] == [
        "start",
        "code",
        "refs",
        "invite",
        "me",
        "help",
        "cancel",
        "logout",
    ]
    assert isinstance(menu.scope, BotCommandScopeAllPrivateChats)


async def test_without_web_app_url_the_menu_button_is_left_alone(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    assert not [method for method in session.requests if isinstance(method, SetChatMenuButton)]


async def test_a_failed_command_menu_does_not_stop_start_up(
    bot: Bot, session: MockedSession, caplog: pytest.LogCaptureFixture
) -> None:
    from aiogram.exceptions import TelegramNetworkError

    session.fail_next(TelegramNetworkError(SetMyCommands(commands=[]), "unreachable"))
    await register_commands(bot)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


async def test_create_bot_uses_html_and_the_configured_api_server() -> None:
    settings = Settings(
        _env_file=None, bot_token=SecretStr("42:TEST"), telegram_api_url="http://127.0.0.1:8081/"
    )
    bot = create_bot(settings)
    try:
        assert bot.default.parse_mode == "HTML"
        assert bot.session.api.base == "http://127.0.0.1:8081/bot{token}/{method}"
    finally:
        await bot.session.close()


def test_create_bot_needs_a_token() -> None:
    with pytest.raises(SettingsError, match="BOT_TOKEN"):
        create_bot(Settings(_env_file=None))


async def test_verification_codes_are_never_logged(
    people: People, caplog: pytest.LogCaptureFixture
) -> None:
    newcomer = people()
    with caplog.at_level(logging.DEBUG):
        await newcomer.send("/start")
        code = shown_code(await newcomer.share_contact())
        await newcomer.send(code)
    assert not re.search(rf"\b{code}\b", caplog.text)


def test_no_filter_waits_for_a_worker_thread(dispatcher: Dispatcher) -> None:
    """aiogram runs a filter that is not a coroutine (a magic `F`, a bare `State`) in a thread."""
    for router in dispatcher.chain_tail:
        for observer in router.observers.values():
            for handler in observer.handlers:
                for event_filter in handler.filters or []:
                    assert event_filter.awaitable, (router.name, handler.callback.__name__)
