"""Telegram's webhook deliveries as the bot meets them: the secret header, a failed delivery
repeated, the updates of one chat in order while chats go side by side, and polling refused
while a webhook is set."""

import asyncio
import itertools
import socket
from collections import deque
from types import TracebackType
from typing import Any, Self

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramConflictError
from aiohttp import web

from playground.bot_api import BotApi
from playground.webhook import SECRET_HEADER, WebhookDelivery


class Receiver:
    """A webhook endpoint of the bot: records each POST, answers the queued statuses (then 200)."""

    def __init__(self, *statuses: int, delay: float = 0.0) -> None:
        self.statuses = deque(statuses)
        self.delay = delay
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get(SECRET_HEADER), await request.json()))
        await asyncio.sleep(self.delay)
        return web.Response(status=self.statuses.popleft() if self.statuses else 200)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self.runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def update_ids(self) -> list[int]:
        return [update["update_id"] for _, update in self.received]


async def test_the_secret_and_a_failed_delivery_repeated(
    bot: Bot, double: BotApi, webhook: WebhookDelivery
) -> None:
    judy = double.new_user("Judy")
    deliveries = webhook.deliveries
    async with Receiver(500) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret-token")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        update_id = await double.send_text(judy, "/start")
        await double.updates.wait_until_acknowledged(update_id, timeout=5)
    assert [secret for secret, _ in receiver.received] == ["s3cret-token", "s3cret-token"]
    assert receiver.update_ids() == [update_id, update_id]
    assert receiver.received[1][1]["message"]["text"] == "/start"
    assert [(d.update_id, d.status) for d in deliveries] == [(update_id, 500), (update_id, 200)]
    delay = webhook.redelivery_delay
    assert deliveries[1].time - deliveries[0].time >= delay * 0.9


async def test_one_chat_in_order_and_chats_side_by_side(
    double: BotApi, webhook: WebhookDelivery
) -> None:
    users = [double.new_user(f"User{i}") for i in range(2)]
    deliveries = webhook.deliveries
    async with Receiver(delay=0.05) as first, Receiver(delay=0.05) as second:
        double.updates.webhook_targets = [first.url, second.url]
        double.updates.webhook_secret = "rr"
        sent = [await double.send_text(user, f"#{n}") for n in range(3) for user in users]
        await double.updates.wait_until_acknowledged(sent, timeout=5)
    assert len(first.received) == len(second.received) == 3
    assert {secret for secret, _ in first.received + second.received} == {"rr"}
    assert sorted(first.update_ids() + second.update_ids()) == sent
    for index in range(len(users)):
        # one chat: in order, each POST after the previous one was answered
        mine = [d for d in deliveries if d.update_id in sent[index::2]]
        assert [d.update_id for d in mine] == sent[index::2]
        assert all(b.time - a.time >= 0.045 for a, b in itertools.pairwise(mine))
    assert abs(deliveries[0].time - deliveries[1].time) < 0.04  # two chats: at the same time


async def test_an_unreachable_webhook_then_back_to_polling(
    bot: Bot, double: BotApi, webhook: WebhookDelivery
) -> None:
    kate = double.new_user("Kate")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    double.updates.webhook_targets = [closed]
    update_id = await double.send_text(kate, "anyone?")
    await asyncio.sleep(0.1)
    deliveries = webhook.deliveries
    assert deliveries and deliveries[0].error is not None
    assert not double.updates.is_acknowledged(update_id)
    assert await bot.delete_webhook()
    [update] = await bot.get_updates(timeout=1)
    assert update.update_id == update_id
