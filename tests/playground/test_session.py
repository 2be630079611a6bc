"""The bot's in-process transport: aiogram's Bot answered by the stand-in without HTTP, with the
result types, the exceptions and the uploads of the real session; and the real dispatcher,
polling the stand-in in process, answering a person."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import create_bot, create_dispatcher
from db.service import ReferralService
from playground.bot_api import BotApi
from playground.session import PlaygroundSession
from tests.api.conftest import api_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (3).to_bytes(4, "big") * 2 + b"rest"


@pytest.fixture
async def api() -> BotApi:
    return BotApi(token="424242:in-process")


@pytest.fixture
async def bot(api: BotApi, tmp_path: Path) -> AsyncIterator[Bot]:
    bot = create_bot(api_settings(tmp_path), playground=api)  # no BOT_TOKEN: none is needed
    assert isinstance(bot.session, PlaygroundSession)
    async with bot.context():
        yield bot


async def test_results_are_the_methods_own_types(bot: Bot, api: BotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.username) == (424242, api.username)
    user = api.new_user()
    await api.send_text(user, "hello")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
    )
    sent = await bot.send_message(user.id, "<b>Hi</b> there", reply_markup=keyboard)
    assert isinstance(sent, Message)
    assert sent.text == "Hi there" and sent.entities and sent.entities[0].type == "bold"
    assert sent.chat.id == user.id and sent.message_id == 2  # after the person's own message
    edited = await bot.edit_message_text("Bye", chat_id=user.id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "Bye"
    kept = api.message(user.id, sent.message_id)
    assert kept is not None and kept["text"] == "Bye"
    assert "reply_markup" not in kept  # an edit without markup drops the buttons


async def test_the_stand_ins_errors_are_aiograms_exceptions(bot: Bot, api: BotApi) -> None:
    user = api.new_user()
    await api.send_text(user, "/start")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user.id, "<b>unclosed")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=99)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(user.id + 1, "nobody there")
    api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as waited:
        await bot.send_message(user.id, "too fast")
    assert waited.value.retry_after == 7
    api.block_bot(user.id)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(user.id, "still there?")


async def test_uploads_get_a_file_id_that_can_be_sent_again(bot: Bot, api: BotApi) -> None:
    user = api.new_user()
    await api.send_text(user, "/qr")
    sent = await bot.send_photo(user.id, BufferedInputFile(PNG, "qr.png"), caption="<i>yours</i>")
    assert sent.photo and (sent.photo[-1].width, sent.photo[-1].height) == (3, 3)
    assert sent.caption == "yours"
    file_id = sent.photo[-1].file_id
    assert api.file(file_id) == ("qr.png", PNG)
    again = await bot.send_photo(user.id, file_id)
    assert again.photo and again.photo[-1].file_id == file_id
    document = await bot.send_document(user.id, BufferedInputFile(b"a,b\n", "export.csv"))
    assert document.document and document.document.file_name == "export.csv"
    assert api.uploads(user.id) == [("qr.png", PNG), ("qr.png", PNG), ("export.csv", b"a,b\n")]


async def test_the_real_dispatcher_answers_a_person_in_process(
    api: BotApi, service: ReferralService, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path)  # no BOT_TOKEN: the stand-in's bot needs none
    dispatcher = create_dispatcher(service=service, settings=settings)
    bot = create_bot(settings, playground=api)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        user = api.new_user("Ann")
        update_id = await api.send_text(user, "/start")
        answer = await api.wait_for_message(user.id)
        assert answer["from"]["id"] == api.bot_id and answer["text"]
        keyboard = api.reply_keyboard(user.id)
        assert keyboard is not None and keyboard["keyboard"][0][0]["request_contact"] is True
        await api.updates.wait_until_acknowledged(update_id)
        assert api.my_commands("all_private_chats")  # the start-up's menu, registered too
    finally:
        await dispatcher.stop_polling()
        api.close()
        await polling
        await bot.session.close()
