"""Sending operators' broadcasts (db/broadcasts.py): one instance at a time holds a broadcast's
lease and sends it, a batch of recipients at a time, at most `RATE` messages per second overall
(Telegram's limit for a bot is about 30), waiting out a 429's `retry_after` before anything else
goes out, marking members who blocked the bot (403) unreachable, and editing the operator's
progress message every few seconds, then into the report.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.utils.i18n import I18n

from bot import keyboards, texts
from db.broadcasts import Broadcast, Broadcasts, BroadcastStatus

log = logging.getLogger(__name__)

RATE = 25  # messages per second at most, across instances (one holds the lease)
INTERVAL = 1.05 / RATE  # seconds between two sends: a little more, to absorb network jitter
BATCH = 25  # recipients taken at a time (at most this many are unknown after a kill -9)
HOLD = 30.0  # seconds a lease lasts without renewal
PROGRESS_EVERY = 3.0  # seconds between edits of the progress message
IDLE = 1.0  # seconds between looks for a broadcast to send
ATTEMPTS = 3  # tries of one recipient on network errors and 429s


class Pace:
    """One send every `interval` seconds at most, and none while a 429 is waited out."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    def not_before(self, moment: float) -> None:
        """No send before `moment` (time.monotonic())."""
        self._next = max(self._next, moment)

    def ahead(self) -> float:
        """Seconds from now until the next send may go."""
        return max(0.0, self._next - time.monotonic())

    async def turn(self) -> None:
        async with self._lock:
            while (wait := self._next - time.monotonic()) > 0:  # noqa: ASYNC110 (a 429 moves it)
                await asyncio.sleep(wait)
            self._next = time.monotonic() + self.interval


class BroadcastSender:
    """The broadcast loop of one instance."""

    def __init__(
        self,
        broadcasts: Broadcasts,
        bot: Bot,
        i18n: I18n,
        *,
        interval: float = INTERVAL,
        batch: int = BATCH,
        hold: float = HOLD,
        idle: float = IDLE,
        progress_every: float = PROGRESS_EVERY,
    ) -> None:
        self.broadcasts = broadcasts
        # A session of its own, without the bot's 429 middleware: a 429 pauses every send here.
        self.bot = Bot(bot.token, session=AiohttpSession(api=bot.session.api), default=bot.default)
        self.i18n = i18n
        self.pace = Pace(interval)
        self.batch = batch
        self.hold = hold
        self.idle = idle
        self.progress_every = progress_every
        self.owner = secrets.token_hex(8)
        self._stopping = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run(), name="broadcasts")
        try:
            yield
        finally:
            self._stopping.set()
            with suppress(asyncio.CancelledError):
                await task
            await self.bot.session.close()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self.idle
            try:
                broadcast = await self.broadcasts.take_lease(self.owner, hold=self.hold)
                if broadcast is not None:
                    await self.send(broadcast)
                    pause = 0
            except Exception as error:  # the database is out of reach, say: the loop goes on
                log.error("broadcast interrupted (%s); going on shortly", error)
            if pause:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)

    async def send(self, broadcast: Broadcast) -> None:
        """Send a held broadcast until it is done, cancelled, or this instance stops (then the
        lease is handed back and another instance, or the next start, goes on)."""
        log.info(
            "sending broadcast %d (%d of %d done)", broadcast.id, broadcast.done, broadcast.total
        )
        last_progress = 0.0
        while True:
            if self._stopping.is_set():
                await self.broadcasts.release(broadcast.id, self.owner)
                return
            recipients = await self.broadcasts.next_batch(
                broadcast.id, self.owner, self.batch, hold=self.hold, interval=self.pace.interval
            )
            if recipients is None:  # cancelled, or the lease lapsed
                break
            if not recipients.members:
                await self.broadcasts.finish(broadcast.id, self.owner)
                break
            self.pace.not_before(time.monotonic() + recipients.wait)
            outcomes = await asyncio.gather(
                *(self._send_one(broadcast, chat) for chat in recipients.chats)
            )
            unreachable = [
                member
                for member, outcome in zip(recipients.members, outcomes, strict=True)
                if outcome == "unreachable"
            ]
            await self.broadcasts.record(
                broadcast.id,
                self.owner,
                sent=outcomes.count("sent"),
                unreachable=unreachable,
                failed=outcomes.count("failed"),
                paced_ahead=self.pace.ahead() + self.pace.interval,
            )
            if time.monotonic() - last_progress >= self.progress_every:
                last_progress = time.monotonic()
                current = await self.broadcasts.read(broadcast.id)
                if current is not None:
                    await self._show(current)
        final = await self.broadcasts.read(broadcast.id)
        if final is not None and final.status is not BroadcastStatus.SENDING:
            await self._show(final)
            log.info(
                "broadcast %d %s: %d sent, %d unreachable, %d failed",
                final.id,
                final.status.value,
                final.sent,
                final.unreachable,
                final.failed,
            )

    async def _send_one(self, broadcast: Broadcast, chat_id: int) -> str:
        for _attempt in range(ATTEMPTS):
            await self.pace.turn()
            try:
                if broadcast.photo:
                    await self.bot.send_photo(chat_id, broadcast.photo, caption=broadcast.text)
                else:
                    await self.bot.send_message(chat_id, broadcast.text)
                return "sent"
            except TelegramRetryAfter as error:
                log.warning("broadcast %d: 429, waiting %d s", broadcast.id, error.retry_after)
                self.pace.not_before(time.monotonic() + error.retry_after)
            except TelegramForbiddenError:
                return "unreachable"
            except TelegramNetworkError:
                continue
            except TelegramAPIError as error:  # chat not found, deactivated and the like
                log.info("broadcast %d: not sent: %s", broadcast.id, error.message)
                return "failed"
        return "failed"

    async def _show(self, broadcast: Broadcast) -> None:
        """The progress message, as the broadcast stands (the report once it has ended)."""
        if broadcast.progress_message_id is None:
            return
        with self.i18n.context(), self.i18n.use_locale(broadcast.language):
            text = texts.broadcast_progress(broadcast)
            markup = (
                keyboards.broadcast_progress(broadcast.id)
                if broadcast.status is BroadcastStatus.SENDING
                else None
            )
        await self.pace.turn()
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=broadcast.chat_id,
                message_id=broadcast.progress_message_id,
                reply_markup=markup,
            )
        except TelegramBadRequest:  # not modified, or the operator deleted it
            pass
        except TelegramAPIError as error:
            log.info("broadcast %d: progress not shown: %s", broadcast.id, error.message)
