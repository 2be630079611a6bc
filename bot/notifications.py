"""Best-effort messages to members other than the one who sent the update."""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import get_i18n

from bot import texts
from bot.texts import _
from db.results import Activation, Member
from db.service import ReferralService

log = logging.getLogger(__name__)


async def notify_inviter(
    bot: Bot, service: ReferralService, activation: Activation, referral: Member
) -> None:
    """Tell the inviter, in their language, that `referral` joined with their code, and
    congratulate them on a milestone this activation reached (the service recorded it once, with
    the activation); a failure is only logged."""
    inviter = activation.inviter
    if inviter is None or inviter.telegram_id is None:
        return
    i18n = get_i18n()
    with i18n.use_locale(inviter.language or i18n.default_locale):
        text = _("new-referral", phone=service.phones.referral(referral.phone))
        if activation.milestone is not None:
            upcoming = service.growth.next_milestone(activation.milestone)
            text += "\n\n" + texts.milestone_reached(activation.milestone, upcoming)
    try:
        await bot.send_message(inviter.telegram_id, text)
    except TelegramAPIError as error:  # blocked (403), rate limit, network: the join stands
        # A network error's message carries the Bot API URL: logs.BotTokenFilter hides its token.
        log.warning(
            "inviter %d not notified: %s: %s", inviter.id, type(error).__name__, error.message
        )
