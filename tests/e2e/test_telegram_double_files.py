"""The Bot API double's sendDocument and sendPhoto: multipart uploads, kept for the tests, and
sent again by file_id."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from tests.e2e.telegram_double import TelegramDouble

PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR"
    + (640).to_bytes(4, "big")
    + (360).to_bytes(4, "big")
)


@pytest.fixture
async def files_bot(double: TelegramDouble) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(double.url))
    bot = Bot(
        double.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_documents_and_photos_are_uploaded_and_kept(
    files_bot: Bot, double: TelegramDouble
) -> None:
    alice = double.new_user("Alice")
    await double.send_text(alice, "/start")
    content = b"id,phone\n1,+79120000000\n"
    sent = await files_bot.send_document(
        alice.id, BufferedInputFile(content, "members.csv"), caption="<b>2</b> rows"
    )
    assert sent.document is not None and sent.document.file_name == "members.csv"
    assert sent.document.file_size == len(content) and sent.caption == "2 rows"
    photo = await files_bot.send_photo(alice.id, BufferedInputFile(PNG, "chart.png"))
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (640, 360)
    shown = await double.wait_for_message(alice.id, lambda message: "document" in message)
    assert shown["caption"] == "2 rows"
    assert double.uploads(alice.id) == [("members.csv", content), ("chart.png", PNG)]

    again = await files_bot.send_document(alice.id, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest, match="there is no document"):
        await files_bot.send_document(alice.id, "unknown-file-id")
    assert "<document> 2 rows" in double.transcript(alice.id)
