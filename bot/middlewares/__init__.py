"""Middlewares: flood control on every update, the member behind the update for handlers."""

from bot.middlewares.flood import FloodControl, FloodMiddleware
from bot.middlewares.member import (
    FOR_LANGUAGE,
    MEMBER_OPTIONAL,
    MEMBER_REQUIRED,
    MemberMiddleware,
)

__all__ = [
    "FOR_LANGUAGE",
    "MEMBER_OPTIONAL",
    "MEMBER_REQUIRED",
    "FloodControl",
    "FloodMiddleware",
    "MemberMiddleware",
]
