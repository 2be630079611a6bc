"""The command menu shown in private chats, in every language, registered at start-up."""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from aiogram.utils.i18n import I18n

from bot.texts import COMMANDS

log = logging.getLogger(__name__)


def command_menu(i18n: I18n, language: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=i18n.gettext(f"command-{name}", locale=language))
        for name in COMMANDS
    ]


async def register_commands(bot: Bot, i18n: I18n) -> None:
    """`setMyCommands` for private chats: the default language's menu for everyone, and each
    other language's for people whose Telegram speaks it; a failure is logged and start-up goes
    on."""
    scope = BotCommandScopeAllPrivateChats()
    try:
        for language in i18n.available_locales:
            default = language == i18n.default_locale
            await bot.set_my_commands(
                command_menu(i18n, language),
                scope=scope,
                language_code=None if default else language,
            )
    except TelegramAPIError as error:
        log.warning("command menu not registered: %s", type(error).__name__)
