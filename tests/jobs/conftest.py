"""A local receiver of outbound events, and the service and delivery loops over a pool whose
connections have events on."""

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from db.connections import create_pool
from db.events import event_session_settings
from db.service import ReferralService
from delivery import ChatDelivery
from jobs.events import EventDelivery
from tests.conftest import Clock, free_port

SECRET = "receiver-secret"


def verified(body: bytes, header: str, secret: str = SECRET) -> bool:
    """The check a receiver makes, as the README shows it."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Receiver:
    """An operator's system: records every event it accepts; can refuse the first deliveries,
    refuse at random, answer slowly, or be down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.refuse_first = 0
        self.refuse_share = 0.0
        self.delay = 0.0
        self.arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/events", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if not verified(body, request.headers["X-Referral-Signature"]):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.refuse_first > 0:
            self.refuse_first -= 1
            return web.Response(status=503)
        if random.random() < self.refuse_share:
            return web.Response(status=500)
        async with self.arrived:
            self.accepted.append(json.loads(body))
            self.arrived.notify_all()
        return web.Response(status=204)

    def ids(self) -> list[str]:
        return [event["id"] for event in self.accepted]

    async def wait_for(self, count: int, *, within: float = 30) -> list[dict[str, Any]]:
        """The events accepted, once `count` distinct ones have arrived (`within` s at most)."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(set(self.ids())) >= count)
        return self.accepted


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


PoolFactory = Callable[..., AbstractAsyncContextManager[asyncpg.Pool]]


@pytest.fixture
def events_pool(database_url: str) -> PoolFactory:
    """A pool whose connections emit events for `targets` receivers."""

    @asynccontextmanager
    async def open_pool(targets: int = 1, *, phones: bool = False) -> AsyncIterator[asyncpg.Pool]:
        settings = event_session_settings(targets, include_phones=phones)
        pool = await create_pool(database_url, min_size=1, max_size=8, server_settings=settings)
        try:
            yield pool
        finally:
            await pool.close()

    return open_pool


@pytest.fixture
async def emitting(
    clean_engine: AsyncEngine, events_pool: PoolFactory, clock: Clock
) -> AsyncIterator[ReferralService]:
    """The service over empty tables, its changes emitting events for one receiver."""
    async with clean_engine.begin() as connection:
        await connection.exec_driver_sql("TRUNCATE outbox_events")
    async with events_pool(1) as pool:
        yield ReferralService(
            pool, signing_key=b"test-secret", delivery=ChatDelivery(delay=0), clock=clock
        )


def delivery(service: ReferralService, *urls: str, **options: Any) -> EventDelivery:
    """A delivery loop with retries fast enough for a test."""
    options.setdefault("first_retry", 0.01)
    options.setdefault("idle", 0.01)
    return EventDelivery(service.events, list(urls), SECRET, **options)


async def until(condition: Callable[[], Awaitable[object]], *, within: float = 30) -> None:
    """Wait until `condition()` holds (the database is looked at, so nothing can signal it);
    `within` seconds at most."""
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
