"""The command menu shown in private chats and, with WEB_APP_URL, the menu button that opens the
web app; both registered at start-up."""

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, MenuButtonWebApp, WebAppInfo

from bot import texts

log = logging.getLogger(__name__)


async def register_commands(bot: Bot) -> None:
    """`setMyCommands` for private chats; a failure is logged and start-up goes on."""
    commands = [BotCommand(command=name, description=text) for name, text in texts.COMMANDS.items()]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats())
    except TelegramAPIError as error:
        log.warning("command menu not registered: %s", type(error).__name__)


def menu_button_registration(web_app_url: str) -> Callable[[Bot], Awaitable[None]]:
    """A start-up handler: `setChatMenuButton`, so that the button beside the message field opens
    the web app (a Mini App). A failure is logged and start-up goes on."""

    async def register_menu_button(bot: Bot) -> None:
        button = MenuButtonWebApp(text=texts.OPEN_APP_BUTTON, web_app=WebAppInfo(url=web_app_url))
        try:
            await bot.set_chat_menu_button(menu_button=button)
        except TelegramAPIError as error:
            log.warning("menu button not set: %s", type(error).__name__)

    return register_menu_button
