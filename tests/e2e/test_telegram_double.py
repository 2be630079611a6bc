"""The Bot API double over real HTTP: raw requests, and a real aiogram Bot pointed at it."""

import asyncio
import itertools
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import web

from tests.e2e.telegram_double import NOT_MODIFIED, SECRET_HEADER, TelegramDouble


@pytest.fixture
async def bot(double: TelegramDouble) -> AsyncIterator[Bot]:
    """The bot as the program builds it: HTML by default, against the double."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(double.url))
    bot = Bot(
        double.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    yield bot
    if session._session is not None:  # plain HTTP: skip aiogram's 0.25 s grace for TLS
        await session._session.close()
    await session.close()


async def call(
    double: TelegramDouble, method: str, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    """A raw JSON request to the double."""
    url = f"{double.url}/bot{token or double.token}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, json=params) as response:
        return response.status, await response.json()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d.title(), callback_data=d) for d in data]]
    )


class Receiver:
    """A webhook endpoint of the bot: records each POST, answers the queued statuses (then 200)."""

    def __init__(self, *statuses: int, delay: float = 0.0) -> None:
        self.statuses = deque(statuses)
        self.delay = delay
        self.replies: deque[web.Response] = deque()  # answers with a body, before the statuses
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get(SECRET_HEADER), await request.json()))
        await asyncio.sleep(self.delay)
        if self.replies:
            return self.replies.popleft()
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


async def test_get_me_and_method_names_are_case_insensitive(
    bot: Bot, double: TelegramDouble
) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        123456,
        True,
        "test_referral_bot",
        "Referral Bot",
    )
    status, body = await call(double, "GETME")
    assert status == 200 and body["result"]["username"] == double.username
    assert [c.method for c in double.bot_calls()] == ["getMe", "getMe"]


async def test_unknown_method_and_token(double: TelegramDouble) -> None:
    assert await call(double, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert await call(double, "getMe", token="654321:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )


async def test_send_edit_and_not_modified(bot: Bot, double: TelegramDouble) -> None:
    alice = double.new_user("Alice")
    await double.send_text(alice, "/start")
    sent = await bot.send_message(alice.id, "Hi <b>there</b>", reply_markup=keyboard("yes", "no"))
    assert (sent.message_id, sent.text, sent.chat.type, sent.chat.id) == (
        2,
        "Hi there",
        "private",
        alice.id,
    )
    assert sent.from_user is not None and sent.from_user.id == double.bot_id
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [("bold", 3, 5)]
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard("yes", "no").model_dump()
    assert isinstance(sent.date.timestamp(), float) and abs(sent.date.timestamp() - time.time()) < 5

    shown = await double.wait_for_message(alice.id)
    assert (shown["text"], shown["edited"]) == ("Hi there", False)
    assert shown["reply_markup"]["inline_keyboard"][0][1] == {"text": "No", "callback_data": "no"}

    edited = await bot.edit_message_text(
        "Bye", chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("again")
    )
    assert not isinstance(edited, bool) and edited.text == "Bye" and edited.edit_date
    shown = await double.wait_for_message(alice.id)
    assert (shown["message_id"], shown["text"], shown["edited"]) == (2, "Bye", True)

    with pytest.raises(TelegramBadRequest) as raised:
        await bot.edit_message_text(
            "Bye", chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("again")
        )
    assert raised.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=99)

    # an edit without reply_markup removes the inline keyboard, as in Telegram
    await bot.edit_message_text("Plain", chat_id=alice.id, message_id=sent.message_id)
    history = double.messages(alice.id)
    assert [(m["message_id"], m.get("text")) for m in history] == [(1, "/start"), (2, "Plain")]
    assert "reply_markup" not in history[1] and history[0]["from"]["id"] == alice.id


async def test_reply_keyboards_and_unknown_chat(bot: Bot, double: TelegramDouble) -> None:
    bob = double.new_user("Bob")
    await double.send_text(bob, "hello")
    share = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    sent = await bot.send_message(bob.id, "Share your phone", reply_markup=share)
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    assert double.reply_keyboard(bob.id) == {
        "keyboard": [[{"text": "Share phone", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    shown = await double.wait_for_message(bob.id)
    assert shown["sent_reply_markup"]["keyboard"][0][0]["request_contact"] is True

    await bot.send_message(bob.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert double.reply_keyboard(bob.id) is None

    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(double.new_user().id, "nobody wrote to me")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "" at byte offset 2'):
        await bot.send_message(bob.id, "1 < 2")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(bob.id, "long", reply_markup=keyboard("x" * 65))


async def test_long_polling_delivers_and_offset_confirms(bot: Bot, double: TelegramDouble) -> None:
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
    assert not double.is_acknowledged(update_id) and double.pending_updates() == [update_id]

    # a second getUpdates ends the waiting one, as when two bot instances poll
    first = asyncio.create_task(bot.get_updates(offset=update_id + 1, timeout=5))
    await asyncio.sleep(0.05)
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert double.is_acknowledged(update_id)


async def test_unconfirmed_updates_are_served_again(bot: Bot, double: TelegramDouble) -> None:
    update_id = await double.send_text(double.new_user(), "hello")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    assert not double.is_acknowledged(update_id) and double.pending_updates() == [update_id]
    # an update not yet confirmed is served again; a higher offset confirms it
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    assert double.is_acknowledged(update_id) and double.pending_updates() == []
    await double.wait_until_acknowledged([update_id], timeout=1)


async def test_allowed_updates_and_contacts(bot: Bot, double: TelegramDouble) -> None:
    dave = double.new_user("Dave")
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    ignored = await double.send_text(dave, "not for the bot")
    assert not double.is_acknowledged(ignored) and double.pending_updates() == []

    await bot.get_updates(timeout=0, allowed_updates=["message"])
    own = await double.send_contact(dave, "+15550001")
    other = await double.send_contact(dave, "+15550002", contact_user_id=None, first_name="Eve")
    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [own, other]
    contacts = [u.message.contact for u in updates if u.message]
    assert [(c.phone_number, c.user_id, c.first_name) for c in contacts if c] == [
        ("+15550001", dave.id, "Dave"),
        ("+15550002", None, "Eve"),
    ]


async def test_buttons_and_callback_answers(bot: Bot, double: TelegramDouble) -> None:
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

    assert await bot.answer_callback_query(query.id, text="Done", show_alert=True)
    answer = await double.wait_for_callback_answer(pressed, timeout=1)
    assert (answer["text"], answer["show_alert"]) == ("Done", True)
    assert double.callback_answer(query.id) == answer
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_commands(bot: Bot, double: TelegramDouble) -> None:
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    scope = BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands(commands, scope=scope)
    assert [c.model_dump() for c in await bot.get_my_commands(scope=scope)] == [
        c.model_dump() for c in commands
    ]
    assert await bot.get_my_commands() == []
    assert [c["command"] for c in double.my_commands("all_private_chats")] == ["start", "help"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    assert await bot.delete_my_commands(scope=scope)
    assert double.my_commands("all_private_chats") == []


async def test_injected_failures(bot: Bot, double: TelegramDouble) -> None:
    frank, grace = double.new_user("Frank"), double.new_user("Grace")
    await double.send_text(frank, "hi")
    await double.send_text(grace, "hi")

    double.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(frank.id, "one")
    assert raised.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in raised.value.message
    await bot.send_message(frank.id, "two")  # only the next call failed

    double.fail_next("sendmessage", 403, chat_id=grace.id)
    await bot.send_message(frank.id, "to Frank")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(grace.id, "to Grace")

    double.fail_next("editMessageText", 500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.edit_message_text("x", chat_id=frank.id, message_id=2)

    double.block_bot(grace.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(grace.id, "still there?")
    await double.send_text(grace, "/start")  # writing to the bot again unblocks it
    await bot.send_message(grace.id, "welcome back")
    assert [m["text"] for m in double.messages(frank.id)] == ["hi", "two", "to Frank"]
    statuses = [(c.method, c.status) for c in double.bot_calls("sendMessage")]
    assert statuses.count(("sendMessage", 200)) == 3
    [refused] = [c for c in double.bot_calls("sendMessage") if c.get("error_code") == 429]
    assert refused["params"]["text"] == "one" and refused.description is not None
    assert ("sendMessage", 429) in statuses and ("sendMessage", 403) in statuses


async def test_form_bodies_are_decoded(double: TelegramDouble) -> None:
    heidi = double.new_user("Heidi")
    await double.send_text(heidi, "hi")
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    form = aiohttp.FormData(
        {
            "chat_id": str(heidi.id),
            "text": "123",
            "disable_notification": "true",
            "reply_markup": json.dumps(markup),
            "entities": json.dumps([{"type": "italic", "offset": 0, "length": 3}]),
        }
    )
    form.add_field("unused_file", b"data", filename="a.txt")  # forces multipart/form-data
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{double.url}/bot{double.token}/sendMessage", data=form) as response,
    ):
        body = await response.json()
    assert response.status == 200, body
    assert body["result"]["text"] == "123" and body["result"]["reply_markup"] == markup
    assert body["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    params = double.bot_calls("sendMessage")[0].params
    assert params["chat_id"] == heidi.id and params["disable_notification"] is True


async def test_group_messages_and_transcript(bot: Bot, double: TelegramDouble) -> None:
    ivan = double.new_user("Ivan")
    update_id = await double.send_group_text(ivan, -1001, "/start@test_referral_bot")
    [update] = await bot.get_updates(timeout=1)
    assert update.update_id == update_id and update.message is not None
    assert update.message.chat.type == "group" and update.message.chat.id == -1001
    assert update.message.entities is not None and update.message.entities[0].length == 24
    await bot.send_message(-1001, "Write to me in private")
    assert (await double.wait_for_message(-1001))["text"] == "Write to me in private"
    with pytest.raises(AssertionError, match="Ivan: /start@test_referral_bot"):
        await double.wait_for_message(-1001, timeout=0.05)


async def test_webhook_secret_and_redelivery(bot: Bot, double: TelegramDouble) -> None:
    judy = double.new_user("Judy")
    async with Receiver(500) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret-token")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        update_id = await double.send_text(judy, "/start")
        await double.wait_until_acknowledged(update_id, timeout=5)
    assert [secret for secret, _ in receiver.received] == ["s3cret-token", "s3cret-token"]
    assert receiver.update_ids() == [update_id, update_id]
    assert receiver.received[1][1]["message"]["text"] == "/start"
    assert [(d.update_id, d.status) for d in double.deliveries] == [
        (update_id, 500),
        (update_id, 200),
    ]
    assert double.deliveries[1].time - double.deliveries[0].time >= double.redelivery_delay * 0.9
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == (receiver.url, 0)
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_webhook_round_robin_and_order_per_chat(double: TelegramDouble) -> None:
    users = [double.new_user(f"User{i}") for i in range(2)]
    async with Receiver(delay=0.05) as first, Receiver(delay=0.05) as second:
        double.webhook_targets = [first.url, second.url]
        double.webhook_secret = "rr"
        sent = [await double.send_text(user, f"#{n}") for n in range(3) for user in users]
        await double.wait_until_acknowledged(sent, timeout=5)
    assert len(first.received) == len(second.received) == 3
    assert {secret for secret, _ in first.received + second.received} == {"rr"}
    assert sorted(first.update_ids() + second.update_ids()) == sent
    for user in users:
        # one chat: in order, each POST after the previous one was answered
        mine = [d for d in double.deliveries if d.update_id in sent[users.index(user) :: 2]]
        assert [d.update_id for d in mine] == sent[users.index(user) :: 2]
        assert all(b.time - a.time >= 0.045 for a, b in itertools.pairwise(mine))
    # two chats: at the same time
    assert abs(double.deliveries[0].time - double.deliveries[1].time) < 0.04


async def test_unreachable_webhook_then_back_to_polling(bot: Bot, double: TelegramDouble) -> None:
    kate = double.new_user("Kate")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    double.webhook_targets = [closed]
    update_id = await double.send_text(kate, "anyone?")
    await asyncio.sleep(0.1)
    assert double.deliveries and double.deliveries[0].error is not None
    assert not double.is_acknowledged(update_id)
    assert await bot.delete_webhook()
    [update] = await bot.get_updates(timeout=1)
    assert update.update_id == update_id
    await bot.delete_webhook(drop_pending_updates=True)
    assert double.pending_updates() == []
    with pytest.raises(AssertionError, match="dropped"):
        await double.wait_until_acknowledged(update_id, timeout=0.1)


async def test_webhook_answer_can_carry_a_method(double: TelegramDouble) -> None:
    """Telegram runs a method returned in the webhook answer; aiogram sends it as a form."""
    leo = double.new_user("Leo")
    form = aiohttp.MultipartWriter("form-data")
    for name, value in {"method": "sendMessage", "chat_id": str(leo.id), "text": "form"}.items():
        form.append(value).set_content_disposition("form-data", name=name)
    async with Receiver() as receiver:
        receiver.replies.extend(
            [
                web.json_response({"method": "sendMessage", "chat_id": leo.id, "text": "json"}),
                web.Response(body=form),
            ]
        )
        double.webhook_targets = [receiver.url]
        await double.send_text(leo, "one")
        assert (await double.wait_for_message(leo.id, timeout=2))["text"] == "json"
        await double.send_text(leo, "two")
        assert (await double.wait_for_message(leo.id, timeout=2))["text"] == "form"
