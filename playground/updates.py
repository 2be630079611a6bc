"""The updates waiting for the bot, by Telegram's rules: each kept until the bot confirms it,
served by `getUpdates` long polling, or handed to a webhook deliverer while a webhook is set."""

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from playground.errors import POLL_CONFLICT, WEBHOOK_ACTIVE, ApiError

JSON = dict[str, Any]
FIRST_UPDATE_ID = 100_000_001


@dataclass(slots=True)
class PendingUpdate:
    update_id: int
    chat_id: int  # updates of one chat reach a webhook one after another
    update: JSON
    body: bytes | None = None  # the update as JSON, made once for its deliveries


class Deliverer(Protocol):
    """Whoever takes updates to the webhook (the HTTP side)."""

    def deliver(self, pending: PendingUpdate) -> None:
        """Deliver until the bot confirms it (`Updates.acknowledge`) or gives up (`drop`)."""

    def cancel(self) -> None:
        """Stop every delivery: the webhook was removed."""


class Updates:
    """The bot's update queue: what it has not confirmed yet, and how it gets it."""

    def __init__(self) -> None:
        self.webhook_secret: str | None = None
        self.max_connections = 40
        self.deliverer: Deliverer | None = None
        self._webhook_targets: list[str] = []
        self._next_id = FIRST_UPDATE_ID
        self._unacked: dict[int, PendingUpdate] = {}
        self._dropped: set[int] = set()
        self._ack_waiters: dict[int, asyncio.Future[bool]] = {}
        self._allowed: frozenset[str] | None = None
        self._queue: deque[PendingUpdate] = deque()  # for getUpdates
        self._poll_event = asyncio.Event()
        self._poll_serial = 0
        self._closing = False

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def add(self, update: JSON, chat_id: int) -> int:
        """Queue an update for the bot (unless its allowed_updates exclude the kind)."""
        update_id = int(update["update_id"])
        kind = next(key for key in update if key != "update_id")
        if self._allowed is not None and kind not in self._allowed:
            self._dropped.add(update_id)
            return update_id
        pending = PendingUpdate(update_id, chat_id, update)
        self._unacked[update_id] = pending
        if self._webhook_targets:
            if self.deliverer is not None:
                self.deliverer.deliver(pending)
        else:
            self._queue.append(pending)
            self._wake_pollers()
        return update_id

    # --- the webhook --------------------------------------------------------------------------

    @property
    def webhook_targets(self) -> list[str]:
        """Webhook URLs, served round-robin (several: a balancer in front of several instances);
        setting some stops getUpdates and hands every unconfirmed update to the deliverer."""
        return list(self._webhook_targets)

    @webhook_targets.setter
    def webhook_targets(self, targets: Iterable[str]) -> None:
        was_set = bool(self._webhook_targets)
        self._webhook_targets = list(targets)
        if self._webhook_targets and not was_set:
            self._queue.clear()
            if self.deliverer is not None:
                for pending in self._unacked.values():
                    self.deliverer.deliver(pending)
            self._wake_pollers()
        elif was_set and not self._webhook_targets:
            if self.deliverer is not None:
                self.deliverer.cancel()
            self._queue = deque(self._unacked.values())

    def set_allowed(self, value: Any) -> None:
        if value is not None and not isinstance(value, list):
            raise ApiError(400, "Bad Request: can't parse allowed updates JSON array")
        self._allowed = frozenset(map(str, value)) if value else None

    def is_pending(self, update_id: int) -> bool:
        return update_id in self._unacked

    def acknowledge(self, update_id: int) -> None:
        if self._unacked.pop(update_id, None) is not None:
            waiter = self._ack_waiters.pop(update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)

    def drop(self, update_id: int) -> None:
        """Telegram gave up on the update (too many failed deliveries)."""
        if self._unacked.pop(update_id, None) is not None:
            self._dropped.add(update_id)
            waiter = self._ack_waiters.pop(update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(False)

    # --- long polling ---------------------------------------------------------------------------

    async def get_updates(
        self,
        *,
        offset: int,
        limit: int,
        timeout: int,  # noqa: ASYNC109 - the Bot API's own parameter
    ) -> list[JSON]:
        """getUpdates: an offset confirms every update before it; waits up to `timeout` s for one;
        a newer getUpdates ends a waiting one with a conflict, as with two bot instances."""
        if self._webhook_targets:
            raise ApiError(409, WEBHOOK_ACTIVE)
        self._poll_serial += 1
        serial = self._poll_serial
        self._wake_pollers()
        while self._queue and self._queue[0].update_id < offset:
            self.acknowledge(self._queue.popleft().update_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if serial != self._poll_serial:
                raise ApiError(409, POLL_CONFLICT)
            if self._webhook_targets:
                raise ApiError(409, WEBHOOK_ACTIVE)
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_event.wait(), remaining)

    def _take(self, limit: int) -> list[JSON]:
        queue, unacked = self._queue, self._unacked
        while queue and queue[0].update_id not in unacked:
            queue.popleft()
        batch: list[JSON] = []
        for pending in queue:
            if pending.update_id in unacked:
                batch.append(pending.update)
                if len(batch) >= limit:
                    break
        return batch

    def _wake_pollers(self) -> None:
        self._poll_event.set()
        self._poll_event = asyncio.Event()

    def close(self) -> None:
        """Waiting getUpdates calls answer now: the server is going away."""
        self._closing = True
        self._wake_pollers()

    # --- what the bot confirmed -----------------------------------------------------------------

    def is_acknowledged(self, update_id: int) -> bool:
        """Confirmed by a later getUpdates offset, or answered 2xx by the webhook."""
        return (
            FIRST_UPDATE_ID <= update_id < self._next_id
            and update_id not in self._unacked
            and update_id not in self._dropped
        )

    async def wait_until_acknowledged(
        self,
        update_ids: int | Iterable[int],
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' own deadline
    ) -> None:
        """Wait until the bot confirmed all these updates; AssertionError if one is dropped."""
        ids = [update_ids] if isinstance(update_ids, int) else list(update_ids)
        loop = asyncio.get_running_loop()
        waiters: dict[int, asyncio.Future[bool]] = {}
        for update_id in ids:
            if update_id in self._unacked:
                waiter = self._ack_waiters.get(update_id)
                if waiter is None:
                    waiter = self._ack_waiters[update_id] = loop.create_future()
                waiters[update_id] = waiter
            elif not self.is_acknowledged(update_id):
                raise AssertionError(f"update {update_id} was dropped or never existed")
        if waiters:
            await asyncio.wait(waiters.values(), timeout=timeout)
        late = [i for i, w in waiters.items() if not w.done()]
        dropped = [i for i, w in waiters.items() if w.done() and not w.result()]
        if late or dropped:
            mode = f"webhook {self._webhook_targets}" if self._webhook_targets else "polling"
            raise AssertionError(
                f"updates not acknowledged within {timeout} s: {late}; dropped: {dropped} ({mode})"
            )
