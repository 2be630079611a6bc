"""Deep links: what a `/start` payload carries, and the links a member hands to friends."""

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from aiogram import Bot

from db.codes import clean_invite_code, is_invite_code

AFFILIATE_PREFIX = "_tgr_"  # Telegram's own affiliate program links, not ours
FROM_INLINE_MODE = "inline"  # "Open the bot" under an inline answer to a stranger: a plain start


@dataclass(frozen=True, slots=True)
class StartPayload:
    invite_code: str | None = None  # a well-formed invite code (its owner may still not exist)
    malformed: bool = False  # a payload that is neither an invite code nor Telegram's own


def read_start_payload(args: str | None) -> StartPayload:
    """Classify the payload of `/start <payload>`."""
    if not args or args.startswith(AFFILIATE_PREFIX) or args == FROM_INLINE_MODE:
        return StartPayload()
    code = clean_invite_code(args)
    if is_invite_code(code):
        return StartPayload(invite_code=code)
    return StartPayload(malformed=True)


def invite_link(bot_username: str, invite_code: str) -> str:
    """The deep link that opens the bot with a member's invite code."""
    return f"https://t.me/{bot_username}?start={invite_code}"


def share_url(link: str, text: str) -> str:
    """Telegram's share dialog, prefilled with the link and a line of text."""
    return "https://t.me/share/url?" + urlencode({"url": link, "text": text}, quote_via=quote)


async def member_link(bot: Bot, invite_code: str) -> str:
    """The member's deep link, with this bot's username (`getMe`, cached by aiogram)."""
    me = await bot.me()
    return invite_link(me.username or "", invite_code)
