"""The referral stages' job: qualifies the referrals whose time has come (`in_chats:<N>d`) and
ends the holds that are over (`HOLD_DAYS`). Its state is the referrals' rows: a restart loses
nothing, and several instances share the work (`FOR UPDATE SKIP LOCKED`) while each change
happens once (the stage functions check the stage under the row's lock)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from db.referrals import Referrals

log = logging.getLogger(__name__)

INTERVAL = 30.0  # seconds between looks when nothing was due
OUTAGE = 5.0  # seconds before the next look after the database failed


class ReferralStages:
    """The job's loop in one instance."""

    def __init__(self, referrals: Referrals, *, interval: float = INTERVAL) -> None:
        self.referrals = referrals
        self.interval = interval
        self._stopping = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The loop runs while the block runs; leaving it stops after the statement in flight
        (which commits whole or not at all)."""
        task = asyncio.create_task(self._run(), name="referral stages")
        try:
            yield
        finally:
            self._stopping.set()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = 0.0
            try:
                if not await self.referrals.run_due():
                    pause = self.interval
            except Exception as error:  # the database is out of reach, say: the loop goes on
                log.error("referral stages interrupted (%s); trying again in %d s", error, OUTAGE)
                pause = OUTAGE
            if pause:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
