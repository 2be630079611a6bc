"""Per-user flood control: a token bucket per recent sender, in memory of bounded size."""

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum
from time import monotonic
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User

from bot.texts import _

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class FloodVerdict(Enum):
    ADMIT = "admit"
    WARN = "warn"  # the first update over the limit: answered once, then the sender is muted
    IGNORE = "ignore"


@dataclass(slots=True)
class _Sender:
    allowance: float
    seen_at: float
    muted_until: float = 0.0


class FloodControl:
    """Admits `rate` updates per second per user, bursts up to `burst`; then mutes for `mute` s.

    Remembers only the `max_users` most recent senders: whoever is forgotten starts afresh.
    """

    def __init__(
        self,
        *,
        rate: float = 3.0,
        burst: int = 6,
        mute: float = 5.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.mute = mute
        self.max_users = max_users
        self.clock = clock
        self._senders: dict[int, _Sender] = {}  # in order of the last update, oldest first

    def __len__(self) -> int:
        return len(self._senders)

    def check(self, user_id: int) -> FloodVerdict:
        now = self.clock()
        sender = self._senders.pop(user_id, None) or _Sender(self.burst, now)
        self._senders[user_id] = sender
        if len(self._senders) > self.max_users:
            del self._senders[next(iter(self._senders))]
        if now < sender.muted_until:
            return FloodVerdict.IGNORE
        sender.allowance = min(self.burst, sender.allowance + (now - sender.seen_at) * self.rate)
        sender.seen_at = now
        if sender.allowance >= 1:
            sender.allowance -= 1
            return FloodVerdict.ADMIT
        sender.muted_until = now + self.mute
        return FloodVerdict.WARN


class FloodMiddleware(BaseMiddleware):
    """Outer middleware on updates: drops a flooding user's updates, warning them once."""

    def __init__(self, control: FloodControl) -> None:
        self.control = control

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        verdict = self.control.check(user.id)
        if verdict is FloodVerdict.ADMIT:
            return await handler(event, data)
        if verdict is FloodVerdict.WARN and isinstance(event, Update):
            with suppress(TelegramAPIError):  # a warning that fails to arrive changes nothing
                await warn(event)
        return None


async def warn(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(_("flood"))
    elif update.message is not None and update.message.chat.type == ChatType.PRIVATE:
        await update.message.answer(_("flood"))
