"""The stand-in's rules that the bot depends on, met by a real aiogram Bot over HTTP: message ids
per chat, edits of the right message, Telegram's limits and HTML, reply markup, callback and
inline answers, file_ids sent again, and errors shaped as Telegram's."""

import time

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from playground.bot_api import BotApi, Retention
from playground.errors import NOT_MODIFIED, ApiError
from playground.formatting import CAPTION_LIMIT, TEXT_LIMIT

PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR"
    + (640).to_bytes(4, "big")
    + (360).to_bytes(4, "big")
)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d.title(), callback_data=d) for d in data]]
    )


async def test_sent_and_edited_as_telegram_keeps_them(bot: Bot, double: BotApi) -> None:
    alice, bob = double.new_user("Alice"), double.new_user("Bob")
    await double.send_text(alice, "/start")
    await double.send_text(bob, "/start")
    sent = await bot.send_message(alice.id, "Hi <b>there</b>", reply_markup=keyboard("yes", "no"))
    other = await bot.send_message(alice.id, "Another")
    assert (sent.message_id, other.message_id) == (2, 3)  # ids count per chat
    assert (await bot.send_message(bob.id, "Hi")).message_id == 2
    assert (sent.text, sent.chat.type, sent.chat.id) == ("Hi there", "private", alice.id)
    assert sent.from_user is not None and sent.from_user.id == double.bot_id
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [("bold", 3, 5)]
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard("yes", "no").model_dump()
    assert abs(sent.date.timestamp() - time.time()) < 5
    shown = await double.wait_for_message(alice.id)
    assert shown["text"] == "Hi there"
    assert shown["reply_markup"]["inline_keyboard"][0][1] == {"text": "No", "callback_data": "no"}

    edited = await bot.edit_message_text(
        "Bye", chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("again")
    )
    assert not isinstance(edited, bool) and edited.text == "Bye" and edited.edit_date
    await double.wait_for_message(alice.id)  # "Another"
    shown = await double.wait_for_message(alice.id)
    assert (shown["message_id"], shown["text"]) == (2, "Bye")
    untouched = double.message(alice.id, other.message_id)
    assert untouched is not None and untouched["text"] == "Another" and "edit_date" not in untouched
    with pytest.raises(TelegramBadRequest) as raised:
        await bot.edit_message_text(
            "Bye", chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("again")
        )
    assert raised.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=99)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=1)  # Alice's own

    # an edit without reply_markup removes the inline keyboard, as in Telegram
    await bot.edit_message_text("Plain", chat_id=alice.id, message_id=sent.message_id)
    history = double.messages(alice.id)
    assert [(m["message_id"], m.get("text")) for m in history] == [
        (1, "/start"),
        (2, "Plain"),
        (3, "Another"),
    ]
    assert "reply_markup" not in history[1] and history[0]["from"]["id"] == alice.id


async def test_limits_html_and_markup(bot: Bot, double: BotApi) -> None:
    carol = double.new_user("Carol")
    await double.send_text(carol, "hello")
    longest = await bot.send_message(carol.id, "<b>" + "x" * TEXT_LIMIT + "</b>")
    assert longest.text is not None and len(longest.text) == TEXT_LIMIT  # counted without tags
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(carol.id, "x" * (TEXT_LIMIT + 1))
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(
            carol.id, BufferedInputFile(PNG, "chart.png"), caption="x" * (CAPTION_LIMIT + 1)
        )
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(carol.id, "  <b> </b> ")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "" at byte offset 2'):
        await bot.send_message(carol.id, "1 < 2")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag corresponding to start tag"):
        await bot.send_message(carol.id, "<b>bold")
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(carol.id, "*bold*", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(carol.id, "long", reply_markup=keyboard("x" * 65))
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(double.new_user().id, "nobody wrote to me")

    share = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
        resize_keyboard=True,
    )
    sent = await bot.send_message(carol.id, "Share your phone", reply_markup=share)
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    assert double.reply_keyboard(carol.id) == {
        "keyboard": [[{"text": "Share phone", "request_contact": True}]],
        "resize_keyboard": True,
    }
    await bot.send_message(carol.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert double.reply_keyboard(carol.id) is None


async def test_buttons_and_callback_answers(bot: Bot, double: BotApi) -> None:
    erin = double.new_user("Erin")
    await double.send_text(erin, "/menu")
    sent = await bot.send_message(erin.id, "Pick", reply_markup=keyboard("left", "right"))
    with pytest.raises(AssertionError, match="no button 'up'"):
        await double.press_button(erin, sent.message_id, "up")
    pressed = await double.press_button(erin, sent.message_id, "right")
    updates = await bot.get_updates(timeout=1)
    query = updates[-1].callback_query
    assert updates[-1].update_id == pressed and query is not None
    assert query.data == "right" and query.from_user.id == erin.id
    assert query.message is not None and query.message.message_id == sent.message_id

    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query.id, text="x" * 201)
    assert await bot.answer_callback_query(query.id, text="Done", show_alert=True)
    answer = await double.wait_for_answer(pressed, timeout=1)
    assert (answer["text"], answer["show_alert"]) == ("Done", True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_inline_answers(bot: Bot, double: BotApi) -> None:
    frank = double.new_user("Frank")  # never wrote to the bot: inline mode works all the same
    asked = double.inline_query(frank, "hi")
    [update] = await bot.get_updates(timeout=1)
    assert update.inline_query is not None and update.inline_query.query == "hi"
    card = InlineQueryResultArticle(
        id="card",
        title="Invite",
        input_message_content=InputTextMessageContent(message_text="Join <b>me</b>"),
    )
    broken = card.model_copy(
        update={"input_message_content": InputTextMessageContent(message_text="<b>open")}
    )
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.answer_inline_query(update.inline_query.id, [broken])
    assert await bot.answer_inline_query(
        update.inline_query.id, [card], cache_time=60, is_personal=True
    )
    answer = await double.wait_for_answer(asked, timeout=1)
    assert answer["is_personal"] is True and answer["cache_time"] == 60
    assert answer["results"][0]["input_message_content"]["message_text"] == "Join <b>me</b>"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_inline_query(update.inline_query.id, [card])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_inline_query("unknown", [card])


async def test_commands_per_scope_and_language(bot: Bot, double: BotApi) -> None:
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    assert await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats())
    assert await bot.set_my_commands(
        commands[:1], scope=BotCommandScopeChat(chat_id=42), language_code="ru"
    )
    assert [c["command"] for c in double.my_commands("all_private_chats")] == ["start", "help"]
    assert double.my_commands({"type": "chat", "chat_id": 42}) == []
    assert double.my_commands({"type": "chat", "chat_id": 42}, "ru") == [
        {"command": "start", "description": "Start"}
    ]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


async def test_errors_shaped_as_telegrams(bot: Bot, double: BotApi) -> None:
    frank, grace = double.new_user("Frank"), double.new_user("Grace")
    await double.send_text(frank, "hi")
    await double.send_text(grace, "hi")

    double.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(frank.id, "one")
    assert raised.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in raised.value.message
    await bot.send_message(frank.id, "two")  # only the next call failed

    double.fail_next("sendmessage", 500, chat_id=grace.id)
    await bot.send_message(frank.id, "to Frank")
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(grace.id, "to Grace")

    double.block_bot(grace.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(grace.id, "still there?")
    await double.send_text(grace, "/start")  # writing to the bot again unblocks it
    await bot.send_message(grace.id, "welcome back")
    assert [m["text"] for m in double.messages(frank.id)] == ["hi", "two", "to Frank"]
    statuses = [(c.method, c.status) for c in double.bot_calls("sendMessage")]
    assert statuses == [
        ("sendMessage", 429),
        ("sendMessage", 200),
        ("sendMessage", 200),
        ("sendMessage", 500),
        ("sendMessage", 403),
        ("sendMessage", 200),
    ]
    [refused] = [c for c in double.bot_calls("sendMessage") if c.error_code == 429]
    assert refused.params["text"] == "one" and refused.description is not None
    assert "failed: sendMessage -> 403 Forbidden" in double.transcript(grace.id)


async def test_uploads_are_kept_and_sent_again_by_file_id(bot: Bot, double: BotApi) -> None:
    alice = double.new_user("Alice")
    await double.send_text(alice, "/start")
    content = b"id,phone\n1,+79120000000\n"
    sent = await bot.send_document(
        alice.id, BufferedInputFile(content, "members.csv"), caption="<b>2</b> rows"
    )
    assert sent.document is not None and sent.document.file_name == "members.csv"
    assert sent.document.file_size == len(content) and sent.caption == "2 rows"
    photo = await bot.send_photo(alice.id, BufferedInputFile(PNG, "chart.png"))
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (640, 360)
    shown = await double.wait_for_message(alice.id, lambda message: "document" in message)
    assert shown["caption"] == "2 rows"
    assert double.uploads(alice.id) == [("members.csv", content), ("chart.png", PNG)]

    again = await bot.send_photo(alice.id, photo.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_id == photo.photo[-1].file_id
    assert double.file(again.photo[-1].file_id) == ("chart.png", PNG)
    with pytest.raises(TelegramBadRequest, match="there is no document"):
        await bot.send_document(alice.id, "unknown-file-id")
    assert "<document> 2 rows" in double.transcript(alice.id)


async def test_the_rules_answer_without_http() -> None:
    """What a program calls in process: results and ApiErrors, no transport."""
    api = BotApi()
    dave = api.new_user("Dave")
    await api.send_text(dave, "/start")
    sent = await api.call(
        "sendMessage", {"chat_id": dave.id, "text": "<i>Hi</i>", "parse_mode": "HTML"}
    )
    assert (sent["message_id"], sent["text"]) == (2, "Hi")
    with pytest.raises(ApiError) as raised:
        await api.call("sendMessage", {"chat_id": dave.id + 1, "text": "Hi"})
    assert (raised.value.code, raised.value.description) == (400, "Bad Request: chat not found")
    with pytest.raises(ApiError) as raised:
        await api.call("deleteMessages", {"chat_id": dave.id, "message_ids": [1]})
    assert raised.value.code == 404  # not a method the bot calls


async def test_open_chats_watchers_and_retention() -> None:
    """The bench's stand-in: every chat exists, a watcher takes what arrives, little is kept."""
    api = BotApi(open_chats=True, retention=Retention(messages_per_chat=2, chats=2, calls=False))
    inbox = api.watch(5)
    for chat_id in (5, 5, 5, 6, 7):
        await api.call("sendMessage", {"chat_id": chat_id, "text": f"to {chat_id}"})
    api.unwatch(5)
    assert [(m.method, m.text) for m in inbox] == [("sendMessage", "to 5")] * 3
    assert [m.received for m in inbox] == sorted(m.received for m in inbox)
    assert api.unwatched == 2  # to 6 and 7
    assert api.messages(5) == []  # two chats are kept: the first is forgotten
    assert [m["text"] for m in api.messages(7)] == ["to 7"]
    sent = await api.call("sendMessage", {"chat_id": 7, "text": "again"})
    await api.call("sendMessage", {"chat_id": 7, "text": "and again"})
    assert [m["message_id"] for m in api.messages(7)] == [2, 3]  # the first is forgotten
    assert sent["message_id"] == 2 and api.bot_calls() == []
    with pytest.raises(ApiError, match="message to edit not found"):
        await api.call("editMessageText", {"chat_id": 7, "message_id": 1, "text": "x"})
    with pytest.raises(ApiError, match="chat not found"):
        await api.call("sendMessage", {"chat_id": -100, "text": "a group nobody added me to"})
