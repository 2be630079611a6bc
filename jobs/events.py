"""Delivery of outbound events: claim due events from the outbox, POST each, signed, to its
receiver, and record the answer. A 2xx is delivered; anything else, or no answer in time, is
tried again later (exponential backoff with jitter) until the retry period ends, then kept as
failed for operators to requeue.

One loop per instance; several instances share the outbox (`FOR UPDATE SKIP LOCKED`). A claim
expires (`HOLD` seconds), so the events of a killed process come back by themselves. Receivers
deduplicate on the event's `id`: an event is delivered at least once.
"""

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import aiohttp

from db.events import ClaimedEvent, EventOutbox, Retry, backoff
from metrics import EVENTS_DELIVERED

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Referral-Signature"
BATCH = 200  # events claimed at once
TIMEOUT = 10.0  # seconds a receiver has to answer
HOLD = 60.0  # seconds a claim lasts: longer than a batch can take
RETRY_PERIOD = 24 * 3600.0  # seconds an event is tried for
FIRST_RETRY = 2.0  # seconds before the second try; doubled each time
IDLE = 0.1  # seconds between looks at an empty outbox
OUTAGE = 5  # seconds before the next look after the database failed
STOP_GRACE = 15.0  # seconds a stop waits for the batch in flight
CONNECTIONS_PER_RECEIVER = 64


def signature(secret: bytes, body: bytes, at: int) -> str:
    """`X-Referral-Signature` of a body sent at `at` (Unix seconds)."""
    digest = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


class EventDelivery:
    """The delivery loop of one instance."""

    def __init__(
        self,
        outbox: EventOutbox,
        urls: Sequence[str],
        secret: str,
        *,
        batch: int = BATCH,
        timeout: float = TIMEOUT,
        hold: float = HOLD,
        first_retry: float = FIRST_RETRY,
        retry_period: float = RETRY_PERIOD,
        idle: float = IDLE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.urls = list(urls)
        self._secret = secret.encode()
        self.batch = batch
        self.timeout = timeout
        self.hold = hold
        self.first_retry = first_retry
        self.retry_period = retry_period
        self.idle = idle
        self._clock = clock
        self._stopping = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The loop runs while the block runs; leaving it finishes the batch in flight (or, after
        `STOP_GRACE`, hands it back)."""
        connector = aiohttp.TCPConnector(limit_per_host=CONNECTIONS_PER_RECEIVER)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            task = asyncio.create_task(self._run(session), name="event delivery")
            log.info("delivering events to %d receiver(s)", len(self.urls))
            try:
                yield
            finally:
                self._stopping.set()
                done, _ = await asyncio.wait([task], timeout=STOP_GRACE)
                if not done:
                    task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while not self._stopping.is_set():
            pause = 0.0
            try:
                if not await self.deliver_due(session):
                    pause = self.idle
            except Exception as error:  # the database is out of reach, say: the loop goes on
                log.error("event delivery interrupted (%s); trying again in %d s", error, OUTAGE)
                pause = OUTAGE
            if pause:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        """Claim a batch of due events and send them; how many were claimed."""
        events = await self.outbox.claim(self.batch, hold=self.hold)
        if not events:
            return 0
        try:
            answers = await asyncio.gather(*(self._send(session, event) for event in events))
        except asyncio.CancelledError:
            await asyncio.shield(self.outbox.release([event.seq for event in events]))
            raise
        delivered = [event.seq for event, error in zip(events, answers, strict=True) if not error]
        retries = [
            Retry(event.seq, backoff(event.attempts, base=self.first_retry), error)
            for event, error in zip(events, answers, strict=True)
            if error
        ]
        await self.outbox.delivered(delivered)
        EVENTS_DELIVERED.inc(len(delivered))
        failed = await self.outbox.retry_later(retries, give_up_after=self.retry_period)
        if retries:
            log.warning(
                "%d event(s) not delivered, tried again later (first: %s)",
                len(retries),
                retries[0].error,
            )
        if failed:
            log.error("%d event(s) given up after the retry period", failed)
        return len(events)

    async def _send(self, session: aiohttp.ClientSession, event: ClaimedEvent) -> str:
        """POST one event; an empty string when the receiver took it, else what went wrong."""
        if event.target >= len(self.urls):
            return f"no receiver {event.target + 1} in EVENTS_URL"
        body = event.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body, int(self._clock())),
        }
        try:
            async with session.post(self.urls[event.target], data=body, headers=headers) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return ""
                return f"HTTP {answer.status}"
        except TimeoutError:
            return "no answer in time"
        except aiohttp.ClientError as error:
            return type(error).__name__
