"""Group chats: the bot works in private chats and says so when it is addressed in a group."""

from aiogram import Bot, Router
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


async def refuse_group(message: Message, bot: Bot) -> None:
    await message.reply(texts.private_only((await bot.me()).username or ""))


async def ignore_group_chatter(message: Message) -> None:
    """Taken here so that no private-chat handler ever sees a group message."""


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(in_group)
    router.message.register(refuse_group, addressed_to_bot)
    router.message.register(ignore_group_chatter)
    return router
