"""aiogram's dispatcher, made to finish every update it took before it shuts down."""

import asyncio
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update


class GracefulDispatcher(Dispatcher):
    """Counts the updates being handled, from the moment each is fed in; shutdown waits for them.

    The count starts before any middleware: aiogram's FSM middleware queues a user's updates on
    that user's lock, and an update waiting there was already confirmed to Telegram (polling) and
    must be answered before the storage, the locks and the bot's session are closed.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def emit_shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Wait for the updates in flight, then shut down (aiogram closes the FSM storage and
        the locks here, once).

        Polling hands each update to a task of its own, which enters `feed_update` on the next
        turn of the event loop; aiogram stops polling and emits shutdown only turns later, so
        every update polling took is counted by then."""
        await self._idle.wait()
        await super().emit_shutdown(*args, **kwargs)
