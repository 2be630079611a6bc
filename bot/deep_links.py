"""Deep links: what a `/start` payload carries, and the member's own deep link with this bot's
username (sharing.links makes it)."""

from dataclasses import dataclass

from aiogram import Bot

from db.codes import clean_invite_code, is_invite_code
from sharing.links import deep_link

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


async def member_link(bot: Bot, invite_code: str) -> str:
    """The member's deep link, with this bot's username (`getMe`, cached by aiogram)."""
    me = await bot.me()
    return deep_link(me.username or "", invite_code)
