"""The bot in process: a session that answers like Telegram, the real service, people who chat."""

import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from itertools import count
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    Chat,
    Document,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)
from pydantic import SecretStr

from bot import create_bot, create_dispatcher
from bot.middlewares import FloodControl, FloodMiddleware
from bot.state_storage import create_update_state
from db.service import ReferralService
from settings import Settings
from tests.conftest import new_phone

BOT_USERNAME = "test_referral_bot"
TELEGRAM_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code"}
TELEGRAM_HTML_TAGS |= {"pre", "tg-spoiler", "blockquote", "span"}


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)


def _parses_as_telegram_html(text: str) -> bool:
    collector = _TagCollector()
    collector.feed(text)
    return collector.tags <= TELEGRAM_HTML_TAGS and not re.search(r"<(?![/a-z-])", text)


MESSAGE_LIMIT = 4096  # characters of a message's text that Telegram accepts


@dataclass
class Call:
    method: TelegramMethod[Any]
    result: Any


class MockedSession(BaseSession):
    """Records every API call and answers it as Telegram would; failures can be queued."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self._failures: list[tuple[Exception, int | None]] = []
        self._message_ids = count(1)
        self.uploads: dict[str, bytes] = {}  # files sent from disk, by name, read when sent

    @property
    def requests(self) -> list[TelegramMethod[Any]]:
        return [call.method for call in self.calls]

    def fail_next(self, error: Exception, *, chat_id: int | None = None) -> None:
        """The next call (to `chat_id`, if given) raises `error` instead of succeeding."""
        self._failures.append((error, chat_id))

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        for index, (error, chat_id) in enumerate(self._failures):
            if chat_id is None or getattr(method, "chat_id", None) == chat_id:
                del self._failures[index]
                self.calls.append(Call(method, error))
                raise error
        result = self._result(bot, method)
        self.calls.append(Call(method, result))
        return result  # type: ignore[no-any-return]

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return User(id=bot.id, is_bot=True, first_name="Referrals", username=BOT_USERNAME)
        text = getattr(method, "text", None)
        html = hasattr(method, "parse_mode")  # callback answers are plain text
        if html and text is not None and not _parses_as_telegram_html(text):
            raise TelegramBadRequest(method=method, message="Bad Request: can't parse entities")
        if text is not None and len(text) > MESSAGE_LIMIT:
            raise TelegramBadRequest(method=method, message="Bad Request: message is too long")
        if isinstance(method, SendDocument):
            if isinstance(method.document, FSInputFile):  # the file may be gone after the call
                self.uploads[method.document.filename or ""] = Path(
                    method.document.path
                ).read_bytes()
            chat = Chat(id=int(method.chat_id), type="private")
            document = Document(file_id=f"document-{len(self.calls)}", file_unique_id="d")
            return Message(
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=chat,
                document=document,
                caption=method.caption,
            )
        if isinstance(method, SendPhoto):
            chat = Chat(id=int(method.chat_id), type="private")
            photo = PhotoSize(
                file_id=f"photo-{len(self.calls)}", file_unique_id="p", width=1200, height=675
            )
            return Message(
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=chat,
                photo=[photo],
                caption=method.caption,
            )
        if isinstance(method, SendMessage | EditMessageText | EditMessageReplyMarkup):
            message_id = getattr(method, "message_id", None) or next(self._message_ids)
            chat = Chat(id=int(method.chat_id or 0), type="private")
            return Message(message_id=message_id, date=datetime.now(UTC), chat=chat, text=text)
        if method.__returning__ is bool:
            return True
        raise NotImplementedError(f"the mocked session has no answer for {type(method).__name__}")

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # pragma: no cover
        yield b""


_update_ids = count(1)
# Telegram ids have long outgrown 32 bits: every person in these tests has one above 2^32.
_user_ids = count(2**32 + 1001)


def user(user_id: int, language_code: str | None = None) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
    return sender | ({"language_code": language_code} if language_code else {})


def message_update(
    user_id: int,
    text: str,
    *,
    chat: dict[str, Any] | None = None,
    language_code: str | None = None,
) -> dict[str, Any]:
    chat = chat or {"id": user_id, "type": "private"}
    message = {
        "message_id": next(_update_ids),
        "date": 1_700_000_000,
        "chat": chat,
        "from": user(user_id, language_code),
    }
    return {"update_id": next(_update_ids), "message": {**message, "text": text}}


def contact_update(
    user_id: int, phone: str, contact_user_id: int | None, language_code: str | None = None
) -> dict[str, Any]:
    contact = {"phone_number": phone, "first_name": "Contact", "user_id": contact_user_id}
    update = message_update(user_id, "", language_code=language_code)
    del update["message"]["text"]
    update["message"]["contact"] = contact
    return update


def callback_update(
    user_id: int, data: str, message_id: int, language_code: str | None = None
) -> dict[str, Any]:
    message = {
        "message_id": message_id,
        "date": 1_700_000_000,
        "chat": {"id": user_id, "type": "private"},
    }
    query = {
        "id": str(next(_update_ids)),
        "from": user(user_id, language_code),
        "chat_instance": "1",
    }
    return {
        "update_id": next(_update_ids),
        "callback_query": {**query, "message": message, "data": data},
    }


def inline_query_update(
    user_id: int, query: str = "", language_code: str | None = None
) -> dict[str, Any]:
    """Somebody typing `@bot <query>` in any chat."""
    inline_query = {
        "id": str(next(_update_ids)),
        "from": user(user_id, language_code),
        "query": query,
        "offset": "",
    }
    return {"update_id": next(_update_ids), "inline_query": inline_query}


def texts_of(requests: Sequence[TelegramMethod[Any]]) -> list[str]:
    """The texts the person sees: sent and edited messages, callback answers."""
    return [text for method in requests if (text := getattr(method, "text", None)) is not None]


def inline_buttons(method: TelegramMethod[Any]) -> list[InlineKeyboardButton]:
    markup = getattr(method, "reply_markup", None)
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [button for row in markup.inline_keyboard for button in row]


def shown_code(requests: Sequence[TelegramMethod[Any]]) -> str:
    """The verification code the bot showed in the chat (`chat` delivery)."""
    for text in reversed(texts_of(requests)):
        if found := re.search(r": <code>(\d+)</code> \(", text):
            return found.group(1)
    raise AssertionError(f"no code shown in {texts_of(requests)}")


class Person:
    """Somebody chatting with the bot in private; each action returns the bot's API calls."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        user_id: int,
        phone: str,
        language_code: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.id = user_id
        self.phone = phone
        self.language_code = language_code  # of their Telegram app

    @property
    def session(self) -> MockedSession:
        assert isinstance(self.bot.session, MockedSession)
        return self.bot.session

    async def feed(self, update: dict[str, Any]) -> list[TelegramMethod[Any]]:
        before = len(self.session.calls)
        await self.dispatcher.feed_update(
            self.bot, Update.model_validate(update, context={"bot": self.bot})
        )
        return self.session.requests[before:]

    async def send(
        self, text: str, *, chat: dict[str, Any] | None = None
    ) -> list[TelegramMethod[Any]]:
        return await self.feed(
            message_update(self.id, text, chat=chat, language_code=self.language_code)
        )

    async def inline_query(self, query: str = "") -> list[TelegramMethod[Any]]:
        """Type `@bot <query>` in some chat."""
        return await self.feed(inline_query_update(self.id, query, self.language_code))

    async def share_contact(self) -> list[TelegramMethod[Any]]:
        """Press the button that shares one's own contact."""
        return await self.feed(contact_update(self.id, self.phone, self.id, self.language_code))

    async def share_contact_of(self, phone: str, user_id: int | None) -> list[TelegramMethod[Any]]:
        """Share somebody else's contact (`user_id` is None for a contact without an account)."""
        return await self.feed(contact_update(self.id, phone, user_id, self.language_code))

    async def press(
        self, button_text: str, *, message_id: int | None = None
    ) -> list[TelegramMethod[Any]]:
        """Press the inline button with this text on the latest message showing it."""
        for call in reversed(self.session.calls):
            shown = call.result
            if getattr(call.method, "chat_id", None) != self.id or not isinstance(shown, Message):
                continue
            if message_id is not None and shown.message_id != message_id:
                continue
            for button in inline_buttons(call.method):
                if button.text == button_text and button.callback_data is not None:
                    update = callback_update(
                        self.id, button.callback_data, shown.message_id, self.language_code
                    )
                    return await self.feed(update)
        raise AssertionError(f"no button {button_text!r} in the chat of {self.id}")

    async def verify(self, start: str = "/start") -> list[TelegramMethod[Any]]:
        """Go through `/start`, the contact and the code; the calls of the last step."""
        await self.send(start)
        code = shown_code(await self.share_contact())
        return await self.send(code)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        bot_token=SecretStr("42:TEST"),
        secret_key=SecretStr("bot-tests-secret-key-of-32-characters"),
    )


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[Bot]:
    """The bot of `create_bot`, its session (and the session's middlewares) on a mocked session."""
    bot = create_bot(settings)
    session = MockedSession()
    session.middleware = bot.session.middleware
    await bot.session.close()
    bot.session = session
    yield bot


@pytest.fixture
def session(bot: Bot) -> MockedSession:
    assert isinstance(bot.session, MockedSession)
    return bot.session


class Ticks:
    """A monotonic clock for flood control that moves only when told (`tick`) or on each read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def flood_control(dispatcher: Dispatcher) -> FloodControl:
    return next(
        middleware.control
        for middleware in dispatcher.update.outer_middleware
        if isinstance(middleware, FloodMiddleware)
    )


@pytest.fixture
async def dispatcher(
    bot: Bot, service: ReferralService, settings: Settings
) -> AsyncIterator[Dispatcher]:
    """The bot's dispatcher as the runtime builds it with no Redis, where people type at human
    speed: one update a second."""
    state = create_update_state(None, bot.id)
    dispatcher = create_dispatcher(
        service=service,
        settings=settings,
        storage=state.storage,
        events_isolation=state.isolation,
    )
    assert dispatcher.storage is state.storage  # aiogram swaps in its own for a falsy one
    assert dispatcher.fsm.events_isolation is state.isolation
    flood_control(dispatcher).clock = Ticks(step=1.0)
    await dispatcher.emit_startup(bot=bot)
    try:
        yield dispatcher
    finally:
        await dispatcher.emit_shutdown(bot=bot)


class People(Protocol):
    def __call__(self, language_code: str | None = None) -> Person: ...


@pytest.fixture
def people(dispatcher: Dispatcher, bot: Bot) -> People:
    """Makes a new person, with a Telegram id and a phone of their own, each call; their
    Telegram app speaks `language_code` (None: Telegram did not say)."""

    def new_person(language_code: str | None = None) -> Person:
        return Person(dispatcher, bot, next(_user_ids), new_phone(), language_code)

    return new_person
