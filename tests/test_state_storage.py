"""The in-memory conversation state and update ledger stay small however many users pass by;
the update ledgers hand each update to one handler at a time, and again if it failed."""

import asyncio
import secrets

from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from bot.state_storage import (
    CLAIM_TTL,
    DEDUP_TTL,
    Claim,
    CompactEventIsolation,
    CompactMemoryStorage,
    MemoryUpdateLedger,
    RedisUpdateLedger,
)


def key(user_id: int) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=user_id, user_id=user_id)


async def test_storage_forgets_users_with_no_state_and_no_data() -> None:
    storage = CompactMemoryStorage()
    for user_id in range(1000):
        assert await storage.get_state(key(user_id)) is None
        assert await storage.get_data(key(user_id)) == {}
    assert storage.size == 0
    await storage.set_state(key(1), "Verification:code")
    await storage.set_data(key(1), {"phone": "+79123456789"})
    assert await storage.get_state(key(1)) == "Verification:code"
    assert await storage.get_data(key(1)) == {"phone": "+79123456789"}
    await storage.set_state(key(1), None)
    assert storage.size == 1  # the data is still there
    await storage.set_data(key(1), {})
    assert storage.size == 0


async def test_storage_keeps_the_most_recent_conversations() -> None:
    storage = CompactMemoryStorage(max_records=3)
    for user_id in range(5):
        await storage.set_state(key(user_id), "Verification:contact")
    await storage.set_data(key(2), {"phone": "+79123456789"})  # a change makes it recent
    await storage.set_state(key(5), "Verification:contact")
    assert storage.size == 3
    assert [await storage.get_state(key(user_id)) is not None for user_id in range(6)] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]


async def test_isolation_lock_exists_only_while_held() -> None:
    isolation = CompactEventIsolation()
    async with isolation.lock(key(1)):
        assert isolation.size == 1
    assert isolation.size == 0


async def test_ledger_claims_each_update_once_and_releases_failed_ones() -> None:
    ledger = MemoryUpdateLedger()
    assert await ledger.claim(1000) is Claim.TAKEN
    assert await ledger.claim(1000) is Claim.IN_PROGRESS  # Telegram gave up waiting, sent again
    await ledger.release(1000)
    assert await ledger.claim(1000) is Claim.TAKEN
    await ledger.mark_handled(1000)
    assert await ledger.claim(1000) is Claim.HANDLED
    assert await ledger.claim(999) is Claim.TAKEN  # out of order, still new


async def test_ledger_window_slides_and_restarts_on_a_far_jump() -> None:
    ledger = MemoryUpdateLedger()
    window = MemoryUpdateLedger.WINDOW

    async def handle(update_id: int) -> Claim:
        claim = await ledger.claim(update_id)
        if claim is Claim.TAKEN:
            await ledger.mark_handled(update_id)
        return claim

    assert await handle(10) is Claim.TAKEN
    assert await handle(10 + window) is Claim.TAKEN  # slides forward
    assert await handle(10 + window) is Claim.HANDLED
    assert await handle(11) is Claim.HANDLED  # now below the window: taken as handled long ago
    assert await handle(10**12) is Claim.TAKEN  # Telegram restarted its ids at random
    assert await handle(5) is Claim.TAKEN


async def test_redis_ledger_claim_runs_out_so_an_update_whose_handler_died_is_handled(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    ledger = RedisUpdateLedger(redis, bot_id=secrets.randbelow(10**9), claim_ttl=0.3)
    try:
        assert await ledger.claim(1) is Claim.TAKEN
        assert await ledger.claim(1) is Claim.IN_PROGRESS  # another instance is on it
        await asyncio.sleep(0.4)  # ... and died: nobody marked it handled or released it
        assert await ledger.claim(1) is Claim.TAKEN
        await ledger.mark_handled(1)
        assert await ledger.claim(1) is Claim.HANDLED
        assert await ledger.claim(2) is Claim.TAKEN
        await ledger.release(2)  # failed: the next delivery is handled
        assert await ledger.claim(2) is Claim.TAKEN
    finally:
        await ledger.close()


async def test_redis_ledger_keeps_claims_short_and_handled_updates_for_a_day(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    bot_id = secrets.randbelow(10**9)
    ledger = RedisUpdateLedger(redis, bot_id=bot_id)
    try:
        assert await ledger.claim(1) is Claim.TAKEN
        assert 0 < await redis.ttl(f"update:{bot_id}:1") <= CLAIM_TTL
        await ledger.mark_handled(1)
        assert CLAIM_TTL < await redis.ttl(f"update:{bot_id}:1") <= DEDUP_TTL
    finally:
        await ledger.close()


async def test_isolation_closed_under_held_and_awaited_locks_lets_them_finish() -> None:
    isolation = CompactEventIsolation()
    order: list[str] = []

    async def update(name: str) -> None:
        async with isolation.lock(key(1)):
            order.append(name)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(update("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(update("second"))
    await asyncio.sleep(0)
    await isolation.close()
    await asyncio.gather(first, second)  # no KeyError from a lock released into an empty table
    assert order == ["first", "second"]
    assert isolation.size == 0
