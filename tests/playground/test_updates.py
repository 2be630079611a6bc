"""Long polling as the bot meets it: getUpdates waits for an update, an offset confirms what came
before, an unconfirmed update comes again, a newer poll ends a waiting one, allowed_updates
filters; and what is confirmed is told apart from what is not."""

import asyncio
import time

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramConflictError

from playground.bot_api import BotApi


async def test_long_polling_delivers_and_an_offset_confirms(bot: Bot, double: BotApi) -> None:
    carol = double.new_user("Carol")
    polling = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not polling.done()
    started = time.monotonic()
    update_id = await double.send_text(carol, "/start ABC123")
    updates = await polling
    assert time.monotonic() - started < 1
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.text == "/start ABC123"
    assert message.from_user is not None and message.from_user.username == carol.username
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [("bot_command", 0, 6)]
    assert not double.updates.is_acknowledged(update_id)

    # a second getUpdates ends the waiting one, as when two bot instances poll
    first = asyncio.create_task(bot.get_updates(offset=update_id + 1, timeout=5))
    await asyncio.sleep(0.05)
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert double.updates.is_acknowledged(update_id)
    await double.updates.wait_until_acknowledged([update_id], timeout=1)


async def test_unconfirmed_updates_are_served_again(bot: Bot, double: BotApi) -> None:
    update_id = await double.send_text(double.new_user(), "hello")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    assert double.updates.is_acknowledged(update_id)


async def test_allowed_updates_and_contacts(bot: Bot, double: BotApi) -> None:
    dave = double.new_user("Dave")
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    ignored = await double.send_text(dave, "not for the bot")
    assert not double.updates.is_acknowledged(ignored)
    with pytest.raises(AssertionError, match="dropped or never existed"):
        await double.updates.wait_until_acknowledged(ignored, timeout=0.1)

    await bot.get_updates(timeout=0, allowed_updates=["message"])
    own = await double.send_contact(dave, "+15550001")
    other = await double.send_contact(dave, "+15550002", contact_user_id=None)
    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [own, other]
    contacts = [u.message.contact for u in updates if u.message]
    assert [(c.phone_number, c.user_id) for c in contacts if c] == [
        ("+15550001", dave.id),
        ("+15550002", None),
    ]
