"""Broadcasts against the Bot API double: at most 25 messages per second as the double measures
it, 429s waited out, members who blocked the bot marked unreachable, everybody reachable reached
once, through a restart and the death of the instance sending."""

import asyncio

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncEngine

from db.broadcasts import BroadcastStatus
from db.service import ReferralService
from jobs.broadcasts import BroadcastSender
from locales import create_i18n
from playground.bot_api import BotApi, User
from tests.jobs.conftest import until

OPERATOR_CHAT = 10


async def audience(engine: AsyncEngine, users: list[User]) -> None:
    """Members linked to these Telegram users, straight into the table."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql("TRUNCATE broadcasts")
        raw = await connection.get_raw_connection()
        await raw.driver_connection.executemany(  # type: ignore[union-attr]
            "INSERT INTO members (phone, invite_code, telegram_id) VALUES ($1, $2, $3)",
            [(f"+7990{index:07d}", f"Q{index:05d}", user.id) for index, user in enumerate(users)],
        )


def sender(service: ReferralService, bot: Bot, **options: float) -> BroadcastSender:
    options.setdefault("idle", 0.05)
    return BroadcastSender(service.broadcasts, bot, create_i18n("en"), **options)  # type: ignore[arg-type]


def received(double: BotApi, users: list[User]) -> dict[int, int]:
    return {user.id: len(double.messages(user.id)) for user in users}


async def test_two_thousand_members_at_the_limit_through_429s_403s_and_a_restart(
    clean_engine: AsyncEngine, service: ReferralService, double: BotApi, bot: Bot
) -> None:
    users = double.known_users(2000)
    await audience(clean_engine, users)
    blocked = users[::50]  # 40 members blocked the bot
    for user in blocked:
        double.block_bot(user.id)
    broadcast = await service.broadcasts.create(
        operator=1, chat_id=users[0].id, language="en", text="<b>News</b> for all", photo=None
    )
    assert broadcast.total == 2000

    first = sender(service, bot)
    async with first.running():

        async def a_quarter_sent() -> bool:
            return len(double.bot_calls("sendMessage")) >= 500

        await until(a_quarter_sent)
        double.fail_next("sendMessage", 429, retry_after=2, times=2)
    # The first instance stopped (SIGTERM): it finished its batch and handed the lease back.
    stopped_at = await service.broadcasts.read(broadcast.id)
    assert stopped_at is not None and stopped_at.status is BroadcastStatus.SENDING

    async def ended() -> bool:
        current = await service.broadcasts.read(broadcast.id)
        return current is not None and current.status is BroadcastStatus.DONE

    async with sender(service, bot).running():
        await until(ended, within=180)

    final = await service.broadcasts.read(broadcast.id)
    assert final is not None
    assert (final.sent, final.unreachable, final.failed) == (1960, 40, 0)
    counts = received(double, users)
    assert all(counts[user.id] == 0 for user in blocked)
    assert sum(counts.values()) == 1960 and set(counts.values()) == {0, 1}
    assert double.busiest_second("sendMessage") <= 25
    refused = [call for call in double.bot_calls("sendMessage") if call.status == 429]
    assert len(refused) == 2
    calls = double.bot_calls("sendMessage")
    for refusal in refused:  # nothing sent while Telegram asked to wait (what was in flight aside)
        during = [c for c in calls if refusal.time + 0.2 < c.time < refusal.time + 2]
        assert during == []
    async with service.connections.acquire() as connection:
        marked = await connection.fetchval(
            "SELECT count(*) FROM members WHERE unreachable_at IS NOT NULL"
        )
    assert marked == 40
    assert await service.broadcasts.audience_size() == 1960  # skipped next time


async def test_a_batch_in_flight_when_the_sender_died_is_not_sent_again(
    clean_engine: AsyncEngine, service: ReferralService, double: BotApi, bot: Bot
) -> None:
    users = double.known_users(30)
    await audience(clean_engine, users)
    broadcast = await service.broadcasts.create(
        operator=1, chat_id=users[0].id, language="en", text="Hello", photo=None
    )
    # An instance took the lease and a batch, and was killed before recording what it sent.
    assert await service.broadcasts.take_lease("killed", hold=0.2) is not None
    batch = await service.broadcasts.next_batch(broadcast.id, "killed", 5, hold=0.2, interval=0.04)
    assert batch is not None and len(batch.members) == 5
    async with sender(service, bot).running():

        async def ended() -> bool:
            current = await service.broadcasts.read(broadcast.id)
            return current is not None and current.status is BroadcastStatus.DONE

        await until(ended)
    final = await service.broadcasts.read(broadcast.id)
    assert final is not None and (final.sent, final.failed) == (25, 5)
    counts = received(double, users)
    assert [counts[chat] for chat in batch.chats] == [0] * 5
    assert sum(counts.values()) == 25


async def test_cancelled_while_sending_it_stops_and_reports(
    clean_engine: AsyncEngine, service: ReferralService, double: BotApi, bot: Bot
) -> None:
    users = double.known_users(200)
    await audience(clean_engine, users)
    operator = users[0]
    progress = await bot.send_message(operator.id, "…")
    broadcast = await service.broadcasts.create(
        operator=1, chat_id=operator.id, language="en", text="Hello", photo=None
    )
    await service.broadcasts.set_progress_message(broadcast.id, progress.message_id)
    async with sender(service, bot, progress_every=0).running():

        async def some_sent() -> bool:
            return len(double.bot_calls("sendMessage")) > 30

        await until(some_sent)
        assert await service.broadcasts.cancel(broadcast.id, operator=1)

        async def reported() -> bool:
            shown = double.message(operator.id, progress.message_id)
            return shown is not None and "Broadcast stopped" in shown["text"]

        await until(reported)
    final = await service.broadcasts.read(broadcast.id)
    assert final is not None and final.status is BroadcastStatus.CANCELLED
    assert final.sent < 200
    await asyncio.sleep(0)
