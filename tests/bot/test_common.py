"""Commands for everybody, guests and group chats."""

from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import ReplyKeyboardRemove

from db.service import ReferralService
from tests.bot.conftest import People, callback_update, texts_of
from tests.conftest import en, join


async def test_help_lists_the_commands(people: People) -> None:
    [help_text] = texts_of(await people().send("/help"))
    for command in ("/code", "/refs", "/invite CODE", "/me", "/cancel", "/logout"):
        assert command in help_text


async def test_member_commands_before_verification_ask_for_the_phone(people: People) -> None:
    guest = people()
    await guest.send("/start")
    for command in ("/code", "/refs", "/me", "/invite ABCDEF", "/invite"):
        assert texts_of(await guest.send(command)) == [en("share-phone-first")]
    pressed = await guest.feed(callback_update(guest.id, "menu:refs", 1))
    assert isinstance(pressed[0], AnswerCallbackQuery)
    assert pressed[0].text == en("share-phone-first") and pressed[0].show_alert


async def test_logout_unlinks_this_telegram_account(
    people: People, service: ReferralService
) -> None:
    member = people()
    await join(service, member.phone, telegram_id=member.id)

    logged_out = await member.send("/logout")
    assert texts_of(logged_out) == [en("logged-out")]
    assert isinstance(logged_out[0], SendMessage)
    assert isinstance(logged_out[0].reply_markup, ReplyKeyboardRemove)
    assert await service.members.member_by_telegram(member.id) is None
    assert texts_of(await member.send("/code")) == [en("share-phone-first")]
    assert texts_of(await member.send("/logout")) == [en("not-logged-in")]


async def test_cancel_with_nothing_to_cancel(people: People) -> None:
    assert texts_of(await people().send("/cancel")) == [en("nothing-to-cancel")]


async def test_anything_else_is_not_understood(people: People) -> None:
    assert texts_of(await people().send("what is this?")) == [en("not-understood")]
    assert texts_of(await people().send("/unknown")) == [en("not-understood")]


async def test_in_a_group_the_bot_answers_commands_and_mentions_only(people: People) -> None:
    someone = people()
    group = {"id": -100500, "type": "supergroup", "title": "Friends"}
    answer = en("private-only", username="test_referral_bot")

    for addressed in ("/start", "/code@test_referral_bot", "hi @Test_Referral_Bot"):
        calls = await someone.send(addressed, chat=group)
        assert [(m.chat_id, m.text) for m in calls if isinstance(m, SendMessage)] == [
            (-100500, answer)
        ]
    for chatter in ("hello everyone", "/start@other_bot", "12345"):
        assert await someone.send(chatter, chat=group) == []
