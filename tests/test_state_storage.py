"""The in-memory conversation state and update ledger stay small however many users pass by."""

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.state_storage import CompactEventIsolation, CompactMemoryStorage, MemoryUpdateLedger


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
    assert await ledger.claim(1000)
    assert not await ledger.claim(1000)
    await ledger.release(1000)
    assert await ledger.claim(1000)
    assert await ledger.claim(999)  # out of order, still new


async def test_ledger_window_slides_and_restarts_on_a_far_jump() -> None:
    ledger = MemoryUpdateLedger()
    window = MemoryUpdateLedger.WINDOW
    assert await ledger.claim(10)
    assert await ledger.claim(10 + window)  # slides forward
    assert not await ledger.claim(10 + window)
    assert not await ledger.claim(11)  # now below the window: taken as handled long ago
    assert await ledger.claim(10**12)  # Telegram restarted its ids at random
    assert await ledger.claim(5)


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
