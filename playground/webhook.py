"""Telegram's side of a webhook: each update POSTed to the bot, with the secret header, until the
bot answers 2xx (then it is confirmed); a failed delivery is repeated a little later, and after
`max_redeliveries` the update is dropped. The updates of one chat go one after another; other
chats are delivered meanwhile, up to the webhook's max_connections at once."""

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass

import aiohttp

from playground.updates import PendingUpdate, Updates

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(slots=True)
class Delivery:
    """One POST of an update: the HTTP status, or the connection error."""

    update_id: int
    url: str
    time: float
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDelivery:
    """Delivers the updates of `updates` to its webhook targets (round-robin) over `http`."""

    def __init__(
        self,
        updates: Updates,
        http: aiohttp.ClientSession,
        *,
        redelivery_delay: float = 0.2,
        max_redeliveries: int = 10,
    ) -> None:
        self.updates = updates
        self.http = http
        self.redelivery_delay = redelivery_delay
        self.max_redeliveries = max_redeliveries
        self.deliveries: list[Delivery] = []
        self._round_robin = itertools.count()
        self._chat_queues: dict[int, deque[PendingUpdate]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = asyncio.Semaphore(updates.max_connections)
        self._limit = updates.max_connections

    def deliver(self, pending: PendingUpdate) -> None:
        queue = self._chat_queues.get(pending.chat_id)
        if queue is not None:
            queue.append(pending)
            return
        queue = self._chat_queues[pending.chat_id] = deque([pending])
        task = asyncio.get_running_loop().create_task(self._deliver_chat(pending.chat_id, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._chat_queues.clear()

    async def close(self) -> None:
        tasks = list(self._tasks)
        self.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver_chat(self, chat_id: int, queue: deque[PendingUpdate]) -> None:
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        finally:
            if self._chat_queues.get(chat_id) is queue:
                del self._chat_queues[chat_id]

    async def _deliver(self, pending: PendingUpdate) -> None:
        for attempt in range(self.max_redeliveries + 1):
            if attempt:
                await asyncio.sleep(self.redelivery_delay)
            targets = self.updates.webhook_targets
            if not self.updates.is_pending(pending.update_id) or not targets:
                return
            url = targets[next(self._round_robin) % len(targets)]
            if await self._post(pending, url):
                self.updates.acknowledge(pending.update_id)
                return
        log.warning("update %d dropped after %d failed deliveries", pending.update_id, attempt + 1)
        self.updates.drop(pending.update_id)

    async def _post(self, pending: PendingUpdate, url: str) -> bool:
        """One delivery attempt; True when the bot answered 2xx."""
        if pending.body is None:
            pending.body = json.dumps(pending.update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.updates.webhook_secret:
            headers[SECRET_HEADER] = self.updates.webhook_secret
        if self._limit != self.updates.max_connections:
            self._limit = self.updates.max_connections
            self._connections = asyncio.Semaphore(self._limit)
        delivery = Delivery(pending.update_id, url, time.time())
        try:
            async with (
                self._connections,
                self.http.post(url, data=pending.body, headers=headers) as response,
            ):
                delivery.status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            delivery.error = f"{type(error).__name__}: {error}"
        self.deliveries.append(delivery)
        return delivery.ok
