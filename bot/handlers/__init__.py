"""The bot's handlers: group chats on the dispatcher itself, then one router per feature, in the
order they are tried."""

from aiogram import Dispatcher

from bot.handlers import (
    admin,
    common,
    errors,
    fallbacks,
    groups,
    invitations,
    language,
    privacy,
    referrals,
    sharing,
    verification,
)


def include_handlers(dispatcher: Dispatcher) -> None:
    """Group messages are taken before any router; the routers are fresh (a router joins one
    dispatcher only).

    aiogram passes a message through the routers one by one, each costing more than a handler,
    so the busiest come first: a member's own commands, then joining (three updates per newcomer).
    Their handlers and filters never overlap, so the order changes nothing else: operators' commands
    (let in by one filter on their router) just before the fallbacks, which answer everybody else
    as for any unknown command; errors last, where no message goes but every error still arrives.
    """
    groups.register(dispatcher)
    dispatcher.include_routers(
        referrals.create_router(),
        verification.create_router(),
        invitations.create_router(),
        sharing.create_router(),
        common.create_router(),
        language.create_router(),
        privacy.create_router(),
        admin.create_router(),
        fallbacks.create_router(),
        errors.create_router(),
    )
