"""Durable background work: the delivery of outbound events (jobs/events.py). Its state lives in
PostgreSQL (the outbox, db/events.py), so nothing is lost or done twice when instances restart or
several run; the program's runtime starts and stops it beside the bot and the HTTP server with
`background_work`."""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from db.service import ReferralService
from jobs.events import EventDelivery
from settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def background_work(settings: Settings, service: ReferralService) -> AsyncIterator[None]:
    """This instance's workers, running while the block runs; on leaving, each finishes (or
    hands back) what it holds."""
    async with AsyncExitStack() as stack:
        if settings.events_url:
            secret = settings.events_secret
            assert secret is not None  # settings require it with EVENTS_URL
            delivery = EventDelivery(service.events, settings.events_url, secret.get_secret_value())
            await stack.enter_async_context(delivery.running())
        else:
            log.debug("outbound events are off (EVENTS_URL is not set)")
        yield
