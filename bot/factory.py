"""The bot and its dispatcher, built from the program's settings and the referral service."""

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.commands import menu_button_registration, register_commands
from bot.handlers import include_handlers
from bot.middlewares import FloodControl, FloodMiddleware, MemberMiddleware
from bot.retry import RetryAfterMiddleware
from db.service import ReferralService
from settings import Settings, SettingsError

# aiogram reads every answer into `Response[T]`, a pydantic generic that pydantic keeps only
# weakly; after `gc.freeze()` full collections drop it and each answer rebuilt it (about a tenth
# of a /code update). Holding the ones the bot uses keeps them built.
RESPONSE_MODELS = (Response[Message], Response[bool])


def create_bot(settings: Settings) -> Bot:
    """A bot with HTML as its parse mode, talking to `TELEGRAM_API_URL` when that is set.

    Requests refused with a short `retry_after` (429) are sent again after the wait."""
    if settings.bot_token is None:
        raise SettingsError("setting BOT_TOKEN: required to run the bot")
    session = None
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        settings.bot_token.get_secret_value(),
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
) -> Dispatcher:
    """The dispatcher with every router; handlers get `service` and `settings` by name."""
    dispatcher = Dispatcher(
        storage=MemoryStorage() if storage is None else storage,
        events_isolation=events_isolation,
        service=service,
        settings=settings,
    )
    if settings.flood_rate:  # FLOOD_RATE=0 turns flood control off
        control = FloodControl(rate=settings.flood_rate, burst=settings.flood_burst)
        dispatcher.update.outer_middleware(FloodMiddleware(control))
    member = MemberMiddleware()
    dispatcher.message.middleware(member)
    dispatcher.callback_query.middleware(member)
    include_handlers(dispatcher)
    dispatcher.startup.register(register_commands)
    if settings.web_app_url:
        dispatcher.startup.register(menu_button_registration(settings.web_app_url))
    return dispatcher
