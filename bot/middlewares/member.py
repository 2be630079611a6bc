"""The member behind an update, looked up once and only for the handlers that ask for it."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot.texts import _
from db.service import ReferralService

# Handler flags: `flags=MEMBER_REQUIRED` handlers get `member: Member` and never see a guest,
# who is told to share their phone first; `MEMBER_OPTIONAL` ones get `member: Member | None`;
# `FOR_LANGUAGE` ones need the member only for the language they chose, and are answered in the
# person's Telegram language when the database cannot tell.
MEMBER_REQUIRED = {"member": "required"}
MEMBER_OPTIONAL = {"member": "optional"}
FOR_LANGUAGE = {"member": "language"}

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class MemberMiddleware(BaseMiddleware):
    """Inner middleware: runs after the filters chose a handler, so it reads that handler's flag."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        need = get_flag(data, "member")
        if need is None:
            return await handler(event, data)
        user: User = data["event_from_user"]
        service: ReferralService = data["service"]
        if need == "language":
            try:
                member = await service.members.member_by_telegram(user.id)
            except Exception:  # an outage must not cost /help its answer
                log.debug("member of update not read: the database is unavailable")
                member = None
        else:
            member = await service.members.member_by_telegram(user.id)
        if member is None and need == "required":
            await refuse_guest(event)
            return None
        if member is not None and member.unreachable:  # they blocked the bot, and are back
            await service.broadcasts.reachable_again(member.id)
        data["member"] = member
        return await handler(event, data)


async def refuse_guest(event: TelegramObject) -> None:
    """Tell somebody who is not a member yet to share their phone first."""
    if isinstance(event, CallbackQuery):
        await event.answer(_("share-phone-first"), show_alert=True)
    elif isinstance(event, Message):
        await event.answer(_("share-phone-first"))
