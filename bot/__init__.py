"""The Telegram front end of the referral service."""

from bot.factory import create_bot, create_dispatcher

__all__ = ["create_bot", "create_dispatcher"]
