"""Who the simulated users are: members handed out once each, or a few users taking turns."""

import asyncio

STRIDE = 611_953  # a prime: stepping by it visits a pool in scattered order, each member once


class PoolExhausted(Exception):
    """Every user of a pool had their turn."""


class UserPool:
    """Members `first .. first + size - 1`, each handed out once, in scattered order."""

    def __init__(self, first: int, size: int) -> None:
        assert size % STRIDE, "the stride must be coprime with the pool size"
        self.first = first
        self.size = size
        self.taken = 0

    def take(self) -> int:
        if self.taken >= self.size:
            raise PoolExhausted
        index = self.taken * STRIDE % self.size
        self.taken += 1
        return self.first + index


class IdleUsers:
    """A few users, each busy with one update at a time (the bot handles a user's updates one by
    one, and the double tells replies apart by chat)."""

    def __init__(self, users: list[int]) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        for user in users:
            self.queue.put_nowait(user)
        self.size = len(users)

    async def take(self) -> int:
        return await self.queue.get()

    def give_back(self, user: int) -> None:
        self.queue.put_nowait(user)
