"""The command menu shown in private chats, in every language, and, with WEB_APP_URL, the menu
button that opens the web app; both registered at start-up. Operators get their menu in their own
chat, with their commands added, which nobody else's menu shows."""

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    MenuButtonWebApp,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n

from bot.texts import COMMANDS, OPERATOR_COMMANDS

log = logging.getLogger(__name__)


def command_menu(i18n: I18n, language: str, commands: Sequence[str] = COMMANDS) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=i18n.gettext(f"command-{name}", locale=language))
        for name in commands
    ]


async def _set_menus(
    bot: Bot,
    i18n: I18n,
    scope: BotCommandScopeAllPrivateChats | BotCommandScopeChat,
    commands: Sequence[str],
) -> None:
    """The default language's menu for the scope, and each other language's for people whose
    Telegram speaks it."""
    for language in i18n.available_locales:
        default = language == i18n.default_locale
        await bot.set_my_commands(
            command_menu(i18n, language, commands),
            scope=scope,
            language_code=None if default else language,
        )


async def register_commands(bot: Bot, i18n: I18n, *, operators: Iterable[int] = ()) -> None:
    """`setMyCommands` for private chats, then for each operator's chat (`BotCommandScopeChat`,
    which Telegram prefers to the menu of all private chats); a failure is logged and start-up
    goes on (an operator who never wrote to the bot has no chat yet: their menu comes with the
    next start)."""
    try:
        await _set_menus(bot, i18n, BotCommandScopeAllPrivateChats(), COMMANDS)
    except TelegramAPIError as error:
        log.warning("command menu not registered: %s", type(error).__name__)
    for operator in operators:
        scope = BotCommandScopeChat(chat_id=operator)
        try:
            await _set_menus(bot, i18n, scope, (*COMMANDS, *OPERATOR_COMMANDS))
        except TelegramAPIError as error:
            log.warning("menu of operator %d not registered: %s", operator, type(error).__name__)


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
