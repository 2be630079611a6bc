"""Where conversation state and seen update ids live: process memory for one instance, Redis for
several. The memory variants keep nothing for users who are not in the middle of a step, so a
bot that has seen a million people holds only those currently in a conversation."""

import asyncio
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, Protocol

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

DEDUP_TTL = 24 * 3600  # Telegram gives up re-delivering an update well within a day
# How long an update stays claimed by the instance handling it. Handling takes milliseconds, at
# worst seconds (Telegram's flood waits of up to 5 s are waited out, a code goes through the
# gateway with a 10 s timeout), and a stopping instance gives requests in flight 30 s. If the
# instance dies instead, the update is handled elsewhere once the claim runs out, as the user's
# lock in aiogram's RedisEventIsolation does (60 s): a shorter claim would only wait on that lock.
# An update that takes longer than this may be handled twice, which beats never.
CLAIM_TTL = 60
STATE_TTL = 7 * 24 * 3600  # a conversation left half-way is forgotten after a week


@dataclass(slots=True)
class _Record:
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class CompactMemoryStorage(BaseStorage):
    """aiogram's MemoryStorage without the record it keeps forever for every user it has seen.

    Only users in the middle of a step have a record, and at most `max_records` of them: when a
    link brings crowds who start and never finish, the oldest unfinished conversations go first.
    """

    def __init__(self, max_records: int = 20_000) -> None:
        self._records: dict[StorageKey, _Record] = {}  # oldest change first
        self._max_records = max_records

    @property
    def size(self) -> int:
        """Conversations held. (Not `__len__`: aiogram takes an empty storage for none at all.)"""
        return len(self._records)

    def _store(self, key: StorageKey, record: _Record) -> None:
        self._records.pop(key, None)
        if record.state is not None or record.data:
            self._records[key] = record
            if len(self._records) > self._max_records:
                del self._records[next(iter(self._records))]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        record = self._records.get(key) or _Record()
        record.state = state.state if isinstance(state, State) else state
        self._store(key, record)

    async def get_state(self, key: StorageKey) -> str | None:
        record = self._records.get(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        record = self._records.get(key) or _Record()
        record.data = dict(data)
        self._store(key, record)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = self._records.get(key)
        return dict(record.data) if record else {}

    async def close(self) -> None:
        self._records.clear()


class CompactEventIsolation(BaseEventIsolation):
    """One update at a time per user, with a lock that exists only while someone holds it."""

    def __init__(self) -> None:
        self._locks: dict[StorageKey, tuple[asyncio.Lock, int]] = {}

    @property
    def size(self) -> int:
        """Locks held or waited for."""
        return len(self._locks)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            users = self._locks.get(key, (lock, 0))[1]
            if users > 1:
                self._locks[key] = (lock, users - 1)
            else:  # the last one; or `close()` emptied the table meanwhile, and nothing is left
                self._locks.pop(key, None)

    async def close(self) -> None:
        self._locks.clear()


class Claim(Enum):
    """What a delivery of an update should do, by what the ledger knows of the update."""

    TAKEN = "taken"  # nobody has it: handle it
    HANDLED = "handled"  # answer that it arrived, and do nothing
    IN_PROGRESS = "in progress"  # being handled: have Telegram deliver it again later


class UpdateLedger(Protocol):
    """Which updates were handled, so that a re-delivered update is handled once."""

    async def claim(self, update_id: int) -> Claim: ...

    async def mark_handled(self, update_id: int) -> None:
        """Handled: later deliveries of the update are answered and not handled."""

    async def release(self, update_id: int) -> None:
        """Handling failed: let a re-delivery of the update be handled."""

    async def close(self) -> None: ...


class MemoryUpdateLedger:
    """Recently handled update ids as bits of a window over Telegram's sequential ids, and the
    ids being handled.

    A million updates fit in 128 KiB. An id just below the window is taken as handled long ago;
    one far away from it (Telegram picks a random id after a week without updates) starts anew.
    """

    WINDOW = 1 << 20

    def __init__(self) -> None:
        self._base = 0
        self._bits = bytearray(self.WINDOW // 8)
        self._empty = True
        self._in_progress: set[int] = set()

    def _restart_at(self, update_id: int) -> None:
        self._base = update_id - self.WINDOW // 2
        self._bits = bytearray(self.WINDOW // 8)
        self._empty = False

    def _handled(self, update_id: int) -> bool:
        if self._empty or not -self.WINDOW < update_id - self._base < 2 * self.WINDOW:
            self._restart_at(update_id)
        while update_id >= self._base + self.WINDOW:  # slide forward by half a window
            half = self.WINDOW // 16
            self._bits = self._bits[half:] + bytearray(half)
            self._base += self.WINDOW // 2
        if update_id < self._base:
            return True
        byte, bit = divmod(update_id - self._base, 8)
        return bool(self._bits[byte] >> bit & 1)

    async def claim(self, update_id: int) -> Claim:
        if update_id in self._in_progress:
            return Claim.IN_PROGRESS
        if self._handled(update_id):
            return Claim.HANDLED
        self._in_progress.add(update_id)
        return Claim.TAKEN

    async def mark_handled(self, update_id: int) -> None:
        self._in_progress.discard(update_id)
        if 0 <= update_id - self._base < self.WINDOW:
            byte, bit = divmod(update_id - self._base, 8)
            self._bits[byte] |= 1 << bit

    async def release(self, update_id: int) -> None:
        self._in_progress.discard(update_id)

    async def close(self) -> None:
        self._empty = True
        self._in_progress.clear()


class RedisUpdateLedger:
    """A key per update: "processing" while an instance handles it, for `claim_ttl` seconds at
    most, then "handled" for a day. If the instance dies half-way, its claim runs out and the
    next delivery, to any instance, is handled."""

    PROCESSING = b"processing"

    def __init__(self, redis: Redis, bot_id: int, *, claim_ttl: float = CLAIM_TTL) -> None:
        self._redis = redis
        self._prefix = f"update:{bot_id}:"
        self._claim_ttl = timedelta(seconds=claim_ttl)

    async def claim(self, update_id: int) -> Claim:
        key = self._prefix + str(update_id)
        if await self._redis.set(key, self.PROCESSING, nx=True, px=self._claim_ttl):
            return Claim.TAKEN
        # Gone meanwhile (released, or the claim ran out): Telegram's next delivery takes it.
        state = await self._redis.get(key)
        return Claim.IN_PROGRESS if state in (None, self.PROCESSING) else Claim.HANDLED

    async def mark_handled(self, update_id: int) -> None:
        await self._redis.set(self._prefix + str(update_id), "handled", ex=DEDUP_TTL)

    async def release(self, update_id: int) -> None:
        await self._redis.delete(self._prefix + str(update_id))

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class UpdateState:
    storage: BaseStorage
    isolation: BaseEventIsolation
    ledger: UpdateLedger


def create_update_state(redis_url: str | None, bot_id: int) -> UpdateState:
    """Redis-backed state shared by several instances when `redis_url` is set, else memory."""
    if redis_url is None:
        return UpdateState(CompactMemoryStorage(), CompactEventIsolation(), MemoryUpdateLedger())
    storage = RedisStorage.from_url(redis_url, state_ttl=STATE_TTL, data_ttl=STATE_TTL)
    return UpdateState(
        storage,
        storage.create_isolation(),
        RedisUpdateLedger(Redis.from_url(redis_url), bot_id),
    )
