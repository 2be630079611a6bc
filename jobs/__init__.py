"""Durable background work: the delivery of outbound events (jobs/events.py), operators'
broadcasts (jobs/broadcasts.py) and the referral stages' time (jobs/referrals.py). Their state
lives in PostgreSQL (the outbox, db/events.py), so nothing is lost or done twice when instances
restart or several run; the program's runtime starts and stops it beside the bot and the HTTP
server with `background_work`."""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiogram import Bot

from db.service import ReferralService
from jobs.broadcasts import BroadcastSender
from jobs.events import EventDelivery
from jobs.referrals import ReferralStages
from locales import create_i18n
from settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def background_work(
    settings: Settings, service: ReferralService, bot: Bot | None = None
) -> AsyncIterator[None]:
    """This instance's workers, running while the block runs; on leaving, each finishes (or
    hands back) what it holds. Broadcasts are sent where the bot runs (`bot`)."""
    async with AsyncExitStack() as stack:
        if bot is not None:
            sender = BroadcastSender(
                service.broadcasts, bot, create_i18n(settings.default_language)
            )
            await stack.enter_async_context(sender.running())
        if settings.events_url:
            secret = settings.events_secret
            assert secret is not None  # settings require it with EVENTS_URL
            delivery = EventDelivery(service.events, settings.events_url, secret.get_secret_value())
            await stack.enter_async_context(delivery.running())
        else:
            log.debug("outbound events are off (EVENTS_URL is not set)")
        if settings.qualify.days or settings.hold_days:  # something changes with time
            await stack.enter_async_context(ReferralStages(service.referrals).running())
        yield
