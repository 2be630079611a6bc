"""The bot and its dispatcher, built from the program's settings and the referral service."""

import asyncio

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods.base import Response
from aiogram.types import Message
from aiogram.utils.i18n import I18n

from bot.charts import warm_up
from bot.commands import menu_button_registration, register_commands
from bot.dispatcher import GracefulDispatcher
from bot.handlers import include_handlers
from bot.handlers.admin import ExportSlot
from bot.middlewares import FloodControl, FloodMiddleware, MemberMiddleware
from bot.middlewares.language import ChosenLanguage, TelegramLanguage
from bot.middlewares.metrics import UpdateMetrics
from bot.retry import RetryAfterMiddleware
from db.service import ReferralService
from locales import create_i18n
from playground.bot_api import BotApi
from playground.session import PlaygroundSession
from settings import Settings, SettingsError

# aiogram reads every answer into `Response[T]`, a pydantic generic that pydantic keeps only
# weakly; after `gc.freeze()` full collections drop it and each answer rebuilt it (about a tenth
# of a /code update). Holding the ones the bot uses keeps them built.
RESPONSE_MODELS = (Response[Message], Response[bool])


def create_bot(settings: Settings, *, playground: BotApi | None = None) -> Bot:
    """A bot with HTML as its parse mode, talking to `TELEGRAM_API_URL` when that is set, or,
    with `playground`, to that Bot API stand-in in this process (no token needed).

    Requests refused with a short `retry_after` (429) are sent again after the wait."""
    session: BaseSession | None = None
    if playground is not None:
        token = playground.token
        session = PlaygroundSession(playground)
    elif settings.bot_token is None:
        raise SettingsError("setting BOT_TOKEN: required to run the bot")
    else:
        token = settings.bot_token.get_secret_value()
        if settings.telegram_api_url:
            session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    bot.session.middleware(RetryAfterMiddleware())
    return bot


def create_dispatcher(
    *,
    service: ReferralService,
    settings: Settings,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
    i18n: I18n | None = None,
) -> Dispatcher:
    """The dispatcher with every router; handlers get `service`, `settings`, `i18n` and `exports`
    (operators' one export at a time) by name. It finishes every update it took before it shuts
    down."""
    i18n = i18n or create_i18n(settings.default_language)
    dispatcher = GracefulDispatcher(
        storage=MemoryStorage() if storage is None else storage,
        events_isolation=events_isolation,
        service=service,
        settings=settings,
        i18n=i18n,
        exports=(exports := ExportSlot()),
    )
    dispatcher.update.outer_middleware(UpdateMetrics())
    dispatcher.update.outer_middleware(TelegramLanguage(i18n))
    if settings.flood_rate:  # FLOOD_RATE=0 turns flood control off
        control = FloodControl(rate=settings.flood_rate, burst=settings.flood_burst)
        dispatcher.update.outer_middleware(FloodMiddleware(control))
    member, language = MemberMiddleware(), ChosenLanguage(i18n)
    for observer in (dispatcher.message, dispatcher.callback_query, dispatcher.inline_query):
        observer.middleware(member)
        observer.middleware(language)
    include_handlers(dispatcher)

    async def register_menus(bot: Bot) -> None:
        await register_commands(bot, i18n, operators=settings.admin_ids)

    async def warm_up_charts() -> None:
        # Not awaited: start-up goes on while matplotlib loads in a worker thread.
        dispatcher["charts_warming"] = asyncio.get_running_loop().run_in_executor(None, warm_up)

    dispatcher.startup.register(register_menus)
    dispatcher.shutdown.register(exports.stop)
    if settings.admin_ids:
        dispatcher.startup.register(warm_up_charts)
    if settings.web_app_url:
        dispatcher.startup.register(menu_button_registration(settings.web_app_url, i18n))
    return dispatcher
