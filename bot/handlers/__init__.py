"""The bot's routers, one per feature, in the order they are tried."""

from aiogram import Router

from bot.handlers import (
    common,
    errors,
    fallbacks,
    groups,
    invitations,
    referrals,
    verification,
)


def create_routers() -> list[Router]:
    """Fresh routers (a router joins one dispatcher only): groups first, fallbacks last."""
    return [
        errors.create_router(),
        groups.create_router(),
        common.create_router(),
        referrals.create_router(),
        invitations.create_router(),
        verification.create_router(),
        fallbacks.create_router(),
    ]
