"""The public entry points: `create_bot`, `create_dispatcher` and its start-up."""

import asyncio
import logging
import re

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.methods import Response, SetChatMenuButton, SetMyCommands, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommandScopeAllPrivateChats, Update
from pydantic import SecretStr

from bot import create_bot, create_dispatcher
from bot.commands import register_commands
from bot.middlewares import FloodMiddleware
from bot.state_storage import CompactEventIsolation, create_update_state
from db.service import ReferralService
from locales import create_i18n
from settings import Settings, SettingsError
from tests.bot.conftest import MockedSession, People, message_update, shown_code, texts_of
from tests.conftest import en


async def test_the_command_menu_is_registered_at_start_up_in_each_language(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    english, russian = [method for method in session.requests if isinstance(method, SetMyCommands)]
    names = [
        "start", "code", "refs", "invite", "me", "top", "qr", "language", "privacy", "mydata",
        "delete", "help", "cancel", "logout",
    ]  # fmt: skip
    for menu in (english, russian):
        assert [command.command for command in menu.commands] == names
        assert isinstance(menu.scope, BotCommandScopeAllPrivateChats)
    assert english.language_code is None  # the default language's menu, for everyone
    assert english.commands[0].description == "Start, or log in again"
    assert russian.language_code == "ru"
    assert russian.commands[0].description == "Начать или войти снова"


async def test_without_web_app_url_the_menu_button_is_left_alone(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    assert not [method for method in session.requests if isinstance(method, SetChatMenuButton)]


async def test_a_failed_command_menu_does_not_stop_start_up(
    bot: Bot, session: MockedSession, caplog: pytest.LogCaptureFixture
) -> None:
    from aiogram.exceptions import TelegramNetworkError

    session.fail_next(TelegramNetworkError(SetMyCommands(commands=[]), "unreachable"))
    await register_commands(bot, create_i18n("en"))
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


@pytest.mark.parametrize(("rate", "flood_control"), [(3.0, True), (0.0, False)])
async def test_flood_rate_zero_turns_flood_control_off(
    service: ReferralService, rate: float, flood_control: bool
) -> None:
    settings = Settings(_env_file=None, bot_token=SecretStr("42:TEST"), flood_rate=rate)
    dispatcher = create_dispatcher(service=service, settings=settings)
    middlewares = dispatcher.update.outer_middleware
    assert any(isinstance(m, FloodMiddleware) for m in middlewares) is flood_control


async def test_shutdown_waits_for_updates_queued_on_a_users_lock(
    bot: Bot, session: MockedSession, service: ReferralService, settings: Settings
) -> None:
    """One person's updates wait for each other on their lock; shutdown waits for all of them,
    and only then closes the storage and the locks."""
    state = create_update_state(None, bot.id)
    dispatcher = create_dispatcher(
        service=service, settings=settings, storage=state.storage, events_isolation=state.isolation
    )
    await dispatcher.emit_startup(bot=bot)
    answering = asyncio.Event()

    async def slow_telegram(
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        await answering.wait()
        return await make_request(bot, method)

    session.middleware(slow_telegram)
    updates = [Update.model_validate(message_update(4242, "/help")) for _ in range(3)]
    handling = [asyncio.create_task(dispatcher.feed_update(bot, u)) for u in updates]
    await asyncio.sleep(0.05)  # the first holds the lock, waiting for Telegram; two queue behind
    shutdown = asyncio.create_task(dispatcher.emit_shutdown(bot=bot))
    await asyncio.sleep(0.05)
    assert not shutdown.done(), "shutdown did not wait for the updates in flight"
    answering.set()
    await asyncio.wait_for(shutdown, 5)
    assert all(task.done() and task.exception() is None for task in handling)
    assert texts_of(session.requests).count(en("help")) == 3
    assert isinstance(state.isolation, CompactEventIsolation) and state.isolation.size == 0
