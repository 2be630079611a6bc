"""The command menu shown in private chats and, with WEB_APP_URL, the menu button that opens the
web app; both registered at start-up."""

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, MenuButtonWebApp, WebAppInfo
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


def menu_button_registration(web_app_url: str, i18n: I18n) -> Callable[[Bot], Awaitable[None]]:
    """A start-up handler: `setChatMenuButton`, so that the button beside the message field opens
    the web app (a Mini App); its label is in the default language, as Telegram takes one label
    for everyone. A failure is logged and start-up goes on."""

    async def register_menu_button(bot: Bot) -> None:
        label = i18n.gettext("button-open-app", locale=i18n.default_locale)
        button = MenuButtonWebApp(text=label, web_app=WebAppInfo(url=web_app_url))
        try:
            await bot.set_chat_menu_button(menu_button=button)
        except TelegramAPIError as error:
            log.warning("menu button not set: %s", type(error).__name__)

    return register_menu_button
