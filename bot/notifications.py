"""Best-effort messages to members other than the one who sent the update."""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot import texts
from db.results import Activation, Member
from db.service import ReferralService

log = logging.getLogger(__name__)


async def notify_inviter(
    bot: Bot, service: ReferralService, activation: Activation, referral: Member
) -> None:
    """Tell the inviter that `referral` joined with their code; a failure is only logged."""
    inviter = activation.inviter
    if inviter is None or inviter.telegram_id is None:
        return
    try:
        await bot.send_message(
            inviter.telegram_id, texts.new_referral(service.shown_phone(referral.phone))
        )
    except TelegramAPIError as error:  # blocked (403), rate limit, network: the join stands
        reason = error.message.replace(bot.token, "<token>")
        log.warning("inviter %d not notified: %s: %s", inviter.id, type(error).__name__, reason)
