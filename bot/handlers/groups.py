"""Group chats: the bot works in private chats and says so when it is addressed in a group."""

from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot import texts
from bot.filters import in_group


async def addressed_to_bot(message: Message, bot: Bot) -> bool:
    """A command meant for this bot (or for any bot) or a mention of it, not group chatter."""
    text = message.text or message.caption or ""
    username = (await bot.me()).username or ""
    if text.startswith("/"):
        _, _, addressee = text.split(maxsplit=1)[0].partition("@")
        return addressee.lower() in ("", username.lower())
    return f"@{username}".lower() in text.lower()


async def answer_group(message: Message, bot: Bot) -> None:
    """Takes every group message, so that no private-chat handler ever sees one; answers only
    when addressed, and ignores group chatter."""
    if await addressed_to_bot(message, bot):
        await message.reply(texts.private_only((await bot.me()).username or ""))


def register(dispatcher: Dispatcher) -> None:
    """On the dispatcher's own observer, tried before any router: a router of its own would cost
    every private message a pass through it (about a tenth of a bare aiogram update)."""
    dispatcher.message.register(answer_group, in_group)
