"""The command menu shown in private chats, registered at start-up."""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

from bot import texts

log = logging.getLogger(__name__)


async def register_commands(bot: Bot) -> None:
    """`setMyCommands` for private chats; a failure is logged and start-up goes on."""
    commands = [BotCommand(command=name, description=text) for name, text in texts.COMMANDS.items()]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats())
    except TelegramAPIError as error:
        log.warning("command menu not registered: %s", type(error).__name__)
