"""The Bot API of one bot, as Telegram keeps it, without any transport: the methods the bot calls
with Telegram's rules (chats and their message ids, limits, HTML, edits of the right message,
callback and inline answers, file_ids, errors), the people who talk to the bot, and what happened.

`await api.call(method, params)` answers one Bot API call (the HTTP server in `playground.http`
puts it on the wire). People act through `new_user`, `send_text`, `send_contact`, `press_button`
and `inline_query`; their updates wait in `api.updates` for the bot. What the bot shows a person
arrives in their chat's feed (`wait_for_message`), or in the list of whoever `watch`es the chat.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from playground.errors import (
    BLOCKED,
    CHAT_NOT_FOUND,
    EDIT_NOT_FOUND,
    NOT_MODIFIED,
    QUERY_INVALID,
    ApiError,
    bad_request,
)
from playground.formatting import (
    callback_buttons,
    check_markup,
    command_entities,
    formatted,
    inline_keyboard,
)
from playground.updates import Updates

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Method = Callable[[JSON], Awaitable[Any]]
Listener = Callable[[int, "BotMessage"], None]

INLINE_RESULTS_LIMIT = 50
CALLBACK_TEXT_LIMIT = 200
CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True, slots=True)
class Retention:
    """What the stand-in remembers: everything for a test; a bounded amount for a long run, whose
    oldest chats, messages and queries are forgotten (as Telegram forgets old queries)."""

    messages_per_chat: int | None = None  # None: all
    chats: int | None = None  # None: all
    calls: bool = True  # every Bot API call, for `bot_calls`
    queries: int = 10_000  # callback and inline queries that can still be answered


@dataclass(frozen=True, slots=True)
class User:
    """A person who talks to the bot; their private chat has the same id."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"

    def to_api(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username is not None:
            user["username"] = self.username
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user


@dataclass(frozen=True, slots=True)
class Upload:
    """A file the bot uploads with its call (multipart on the wire)."""

    file_name: str
    content: bytes


@dataclass(frozen=True, slots=True)
class BotMessage:
    """What the bot showed a person, when it arrived: a message sent or edited in their chat
    (`content`: the Message as it then stood), or the answer to their inline query."""

    method: str
    content: JSON
    markup: JSON | None  # reply_markup as the bot sent it (a reply keyboard too)
    received: float  # time.perf_counter()

    @property
    def text(self) -> str:
        return str(self.content.get("text") or self.content.get("caption") or "")


@dataclass(slots=True)
class BotCall:
    """One Bot API call of the bot and its answer (`result`, or `description`)."""

    method: str
    params: JSON
    time: float
    status: int = 200
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def error_code(self) -> int | None:
        return None if self.ok else self.status


@dataclass(slots=True)
class Hold:
    """A call kept unanswered: `reached` when the bot made it, answered once `release()` is
    called; a bot that dies meanwhile never hears."""

    method: str
    chat_id: str | None
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass(slots=True)
class _Failure:
    method: str
    error: ApiError
    times: int
    chat_id: str | None


@dataclass(slots=True)
class _Chat:
    info: JSON
    next_message_id: int = 1
    messages: dict[int, JSON] = field(default_factory=dict)  # current state, in id order
    reply_keyboard: JSON | None = None
    feed: deque[BotMessage] = field(default_factory=deque)  # not yet waited for
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the last refusals, for the transcript


@dataclass(slots=True)
class _Query:
    """A callback or inline query, answered at most once."""

    chat_id: int
    answer: JSON | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


def _png_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG (0, 0 for anything else)."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    return 0, 0


def _int_param(params: JSON, key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


class BotApi:
    """One bot's Bot API and the people who talk to it.

    With `open_chats` every private chat exists, as if each person had started the bot: the
    bench's people write to the program straight, and its seeded members get notifications.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        username: str = "test_referral_bot",
        first_name: str = "Referral Bot",
        *,
        open_chats: bool = False,
        retention: Retention = Retention(),
    ) -> None:
        self.token = token
        self.bot_id = int(token.partition(":")[0])
        self.username = username
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.open_chats = open_chats
        self.retention = retention
        self.updates = Updates()
        self.unwatched = 0  # bot messages to chats nobody watched
        # Whoever shows the chats live (the playground's page): it gets what the bot shows, and
        # the answers to button presses, instead of the chats' feeds.
        self.listener: Listener | None = None
        self._calls: list[BotCall] = []
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._blocked: set[int] = set()
        self._user_ids = itertools.count(700_000_001)
        self._chats: dict[int, _Chat] = {}
        self._watches: dict[int, list[BotMessage]] = {}
        self._queries: dict[str, _Query] = {}
        self._query_prefix = str(secrets.randbelow(9_000) + 1_000)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_button: JSON = {"type": "default"}  # beside the message field of every chat
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> name and bytes uploaded
        self._methods: dict[str, tuple[str, Method]] = {
            name.lower(): (name, method) for name, method in self._api().items()
        }

    # --- the bot's calls ------------------------------------------------------------------------

    def _api(self) -> dict[str, Method]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._file_sender("photo"),
            "sendDocument": self._file_sender("document"),
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
        }

    async def call(self, name: str, params: JSON) -> Any:
        """One Bot API call (method names in any case, as Telegram takes them): its result, or
        the ApiError Telegram would answer."""
        entry = self._methods.get(name.lower())
        method = entry[0] if entry else name
        started = time.time()
        try:
            if entry is None:
                raise ApiError(404, "Not Found")
            if self._holds:
                await self._held(method, params)
            if self._failures:
                self._injected_failure(method, params)
            result = await entry[1](params)
        except ApiError as error:
            chat_id = params.get("chat_id")
            chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
            if chat is not None:
                chat.errors = [*chat.errors[-19:], f"{method} -> {error.code} {error.description}"]
            if self.retention.calls:
                self._calls.append(
                    BotCall(method, params, started, error.code, None, error.description)
                )
            raise
        except Exception:  # a bug of the stand-in: answered like Telegram's internal errors
            log.exception("%s failed in the Bot API stand-in", method)
            failure = ApiError.of(500)
            if self.retention.calls:
                self._calls.append(BotCall(method, params, started, 500, None, failure.description))
            raise failure from None
        if self.retention.calls:
            self._calls.append(BotCall(method, params, started, 200, result))
        return result

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if "allowed_updates" in params:
            self.updates.set_allowed(params["allowed_updates"])
        return await self.updates.get_updates(
            offset=_int_param(params, "offset", 0),
            limit=min(max(_int_param(params, "limit", 100), 1), 100),
            timeout=max(_int_param(params, "timeout", 0), 0),
        )

    async def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url and not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        connections = _int_param(params, "max_connections", 40)
        if not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if "allowed_updates" in params:
            self.updates.set_allowed(params["allowed_updates"])
        self.updates.max_connections = connections
        self.updates.webhook_secret = str(secret) if secret and url else None
        self.updates.webhook_targets = [url] if url else []
        return True

    async def _delete_webhook(self, params: JSON) -> bool:
        self.updates.webhook_targets = []
        self.updates.webhook_secret = None
        return True

    def _target_chat(self, params: JSON) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            if not (self.open_chats and isinstance(chat_id, int) and chat_id > 0):
                raise ApiError(400, CHAT_NOT_FOUND)
            chat = self._remember(_Chat({"id": chat_id, "first_name": "User", "type": "private"}))
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat

    def _remember(self, chat: _Chat) -> _Chat:
        self._chats[chat.info["id"]] = chat
        kept = self.retention.chats
        if kept is not None and len(self._chats) > kept:
            del self._chats[next(iter(self._chats))]
        return chat

    def _text(self, params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if text is None or text == "":
            raise bad_request("message text is empty")
        text, entities = formatted(str(text), params.get("parse_mode"))
        if not text:
            raise bad_request("message text is empty")
        return text, entities

    def _add_message(self, chat: _Chat, sender: JSON, **content: Any) -> JSON:
        message: JSON = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": chat.info,
            "date": int(time.time()),
        }
        message.update((key, value) for key, value in content.items() if value)
        chat.next_message_id += 1
        kept = self.retention.messages_per_chat
        if kept != 0:
            chat.messages[message["message_id"]] = message
            if kept is not None and len(chat.messages) > kept:
                del chat.messages[next(iter(chat.messages))]
        return message

    def _show(self, chat_id: int, event: BotMessage) -> None:
        """Hand what the bot showed to whoever watches the chat, or put it in the chat's feed."""
        inbox = self._watches.get(chat_id)
        if inbox is not None:
            inbox.append(event)
            return
        if self.listener is not None:
            self.listener(chat_id, event)
            return
        chat = self._chats.get(chat_id)
        if event.method == "answerInlineQuery" or chat is None:
            return
        self.unwatched += 1
        chat.feed.append(event)
        kept = self.retention.messages_per_chat
        if kept is not None and len(chat.feed) > kept:
            chat.feed.popleft()
        for waiter in chat.waiters:
            if not waiter.done():
                waiter.set_result(None)
        chat.waiters.clear()

    def _publish(self, method: str, chat: _Chat, message: JSON, markup: JSON | None) -> JSON:
        """The message as it now stands: shown to the person, and the call's result."""
        shown = dict(message)
        self._show(chat.info["id"], BotMessage(method, shown, markup, time.perf_counter()))
        return shown

    async def _send_message(self, params: JSON) -> JSON:
        chat = self._target_chat(params)
        text, entities = self._text(params)
        markup = check_markup(params.get("reply_markup"))
        message = self._add_message(
            chat,
            self.bot_user,
            text=text,
            entities=entities,
            reply_markup=inline_keyboard(markup),
        )
        if markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        return self._publish("sendMessage", chat, message, markup)

    def _file_sender(self, kind: Literal["document", "photo"]) -> Method:
        """sendDocument / sendPhoto: an upload (kept under a new file_id) or a file_id sent
        before; an optional caption, parsed like a text."""
        method = "sendDocument" if kind == "document" else "sendPhoto"

        async def send_file(params: JSON) -> JSON:
            chat = self._target_chat(params)
            caption, entities = None, None
            if params.get("caption"):
                caption, entities = formatted(
                    str(params["caption"]), params.get("parse_mode"), caption=True
                )
            markup = check_markup(params.get("reply_markup"))
            upload = params.get(kind)
            if isinstance(upload, str) and upload.startswith("attach://"):
                upload = params.get(upload.removeprefix("attach://"))  # aiogram's way
            if isinstance(upload, Upload):
                file_id = f"{kind}-{secrets.token_hex(8)}"
                self._files[file_id] = (upload.file_name or kind, upload.content)
            elif isinstance(upload, str) and upload in self._files:
                file_id = upload
            else:
                raise bad_request(f"there is no {kind} in the request")
            name, content = self._files[file_id]
            unique = {"file_id": file_id, "file_unique_id": file_id[-8:], "file_size": len(content)}
            if kind == "document":
                media: Any = {**unique, "file_name": name}
            else:
                width, height = _png_size(content)
                media = [{**unique, "width": width, "height": height}]
            message = self._add_message(
                chat,
                self.bot_user,
                caption=caption,
                caption_entities=entities,
                reply_markup=inline_keyboard(markup),
                **{kind: media},
            )
            return self._publish(method, chat, message, markup)

        return send_file

    async def _edit_message_text(self, params: JSON) -> JSON:
        chat = self._target_chat(params)
        message_id = _int_param(params, "message_id", 0)
        if not message_id:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise ApiError(400, EDIT_NOT_FOUND)
        if message["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(params)
        markup = check_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        markup = inline_keyboard(markup)
        current = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if (text, entities, markup) == current:
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        if entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        if markup:  # an edit without reply_markup removes the buttons, as in Telegram
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        return self._publish("editMessageText", chat, message, markup)

    async def _answer_callback_query(self, params: JSON) -> bool:
        query = self._queries.get(str(params.get("callback_query_id")))
        if query is None or query.answer is not None:
            raise ApiError(400, QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > CALLBACK_TEXT_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answer = {
            "text": None if text is None else str(text),
            "show_alert": bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": _int_param(params, "cache_time", 0),
        }
        query.answered.set()
        if self.listener is not None:
            event = BotMessage("answerCallbackQuery", query.answer, None, time.perf_counter())
            self.listener(query.chat_id, event)
        return True

    async def _answer_inline_query(self, params: JSON) -> bool:
        query = self._queries.get(str(params.get("inline_query_id")))
        if query is None or query.answer is not None:
            raise ApiError(400, QUERY_INVALID)
        results = params.get("results")
        if not isinstance(results, list) or len(results) > INLINE_RESULTS_LIMIT:
            raise bad_request("RESULTS_TOO_MUCH")
        for result in results:
            if not isinstance(result, dict) or not result.get("id") or not result.get("type"):
                raise bad_request("can't parse InlineQueryResult JSON object")
            check_markup(result.get("reply_markup"))
            content = result.get("input_message_content") or {}
            if "message_text" in content:
                formatted(str(content["message_text"]), content.get("parse_mode"))
        button = params.get("button")
        if button is not None and (
            not isinstance(button, dict)
            or not isinstance(button.get("text"), str)
            or ("start_parameter" not in button and "web_app" not in button)
        ):
            raise bad_request("can't parse InlineQueryResultsButton JSON object")
        query.answer = {
            "results": results,
            "button": button,
            "cache_time": _int_param(params, "cache_time", 300),
            "is_personal": bool(params.get("is_personal", False)),
        }
        query.answered.set()
        event = BotMessage("answerInlineQuery", query.answer, None, time.perf_counter())
        self._show(query.chat_id, event)
        return True

    async def _send_chat_action(self, params: JSON) -> bool:
        self._target_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        key = json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _set_chat_menu_button(self, params: JSON) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise bad_request("can't parse menu button JSON object")
        self.menu_button = button
        return True

    # --- injected trouble -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail with this error; a
        429 carries `parameters.retry_after`."""
        error = ApiError.of(error_code, description, retry_after)
        target = None if chat_id is None else str(chat_id)
        self._failures.append(_Failure(method.lower(), error, times, target))

    def _injected_failure(self, method: str, params: JSON) -> None:
        key, chat_id = method.lower(), str(params.get("chat_id"))
        for failure in self._failures:
            if failure.method == key and failure.chat_id in (None, chat_id):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                error = failure.error
                raise ApiError(error.code, error.description, error.retry_after)

    def hold_next(self, method: str, chat_id: int | None = None) -> Hold:
        """The next call of `method` (to `chat_id`, if given) waits for `release()`: the bot is
        then in the middle of its work, as long as the test likes."""
        hold = Hold(method.lower(), None if chat_id is None else str(chat_id))
        self._holds.append(hold)
        return hold

    async def _held(self, method: str, params: JSON) -> None:
        key, chat_id = method.lower(), str(params.get("chat_id"))
        for hold in self._holds:
            if hold.method == key and hold.chat_id in (None, chat_id) and not hold.reached.is_set():
                hold.reached.set()
                await hold.released.wait()
                return

    def close(self) -> None:
        """Answer whatever waits: held calls and long polls (the server is going away)."""
        for hold in self._holds:
            hold.release()
        self.updates.close()

    # --- the people's side ----------------------------------------------------------------------

    def new_user(self, first_name: str = "Alice", *, language_code: str | None = "en") -> User:
        """A new person with a unique id and the username `user<id>`."""
        user_id = next(self._user_ids)
        return User(user_id, first_name, f"user{user_id}", language_code)

    def known_users(self, count: int) -> list[User]:
        """`count` new people who have written to the bot before: their chats exist, so the bot
        can send to them (a broadcast's audience)."""
        users = [self.new_user(f"User {index}") for index in range(count)]
        for user in users:
            self._private_chat(user)
        return users

    def block_bot(self, user_id: int) -> None:
        """The person blocks the bot: sends to them answer 403 until they write again."""
        self._blocked.add(user_id)

    def unblock_bot(self, user_id: int) -> None:
        """The person unblocks the bot (writing to it does the same)."""
        self._blocked.discard(user_id)

    def has_blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    def _private_chat(self, user: User) -> _Chat:
        """The person's chat with the bot; writing to the bot also unblocks it, as in Telegram."""
        self._blocked.discard(user.id)
        chat = self._chats.get(user.id)
        if chat is None:
            info: JSON = {"id": user.id, "first_name": user.first_name}
            if user.username is not None:
                info["username"] = user.username
            info["type"] = "private"
            chat = self._remember(_Chat(info))
        return chat

    def _update(self, kind: str, payload: JSON) -> JSON:
        return {"update_id": self.updates.new_id(), kind: payload}

    def text_update(self, user: User, text: str) -> JSON:
        """The person writes `text` in their chat (a command gets its bot_command entity): the
        update Telegram makes of it, not yet handed to the bot (see `deliver`)."""
        message = self._add_message(
            self._private_chat(user), user.to_api(), text=text, entities=command_entities(text)
        )
        return self._update("message", message)

    def contact_update(
        self, user: User, phone_number: str, contact_user_id: int | Literal["self"] | None = "self"
    ) -> JSON:
        """The person shares a contact: their own by default, another's user_id, or None."""
        contact: JSON = {"phone_number": phone_number, "first_name": user.first_name}
        if contact_user_id is not None:
            contact["user_id"] = user.id if contact_user_id == "self" else contact_user_id
        message = self._add_message(self._private_chat(user), user.to_api(), contact=contact)
        return self._update("message", message)

    def callback_update(
        self, user: User, message_id: int, callback_data: str, *, check: bool = True
    ) -> JSON:
        """The person presses an inline button of a bot message in their chat; with `check` the
        message must exist and show a button with this callback_data."""
        chat = self._chats.get(user.id)
        if chat is None:
            raise AssertionError(f"user {user.id} has no chat with the bot")
        message = chat.messages.get(message_id)
        if check and (message is None or message["from"]["id"] != self.bot_id):
            raise AssertionError(f"no bot message {message_id}\n{self.transcript(chat)}")
        if check and callback_data not in callback_buttons(message or {}):
            raise AssertionError(
                f"message {message_id} has no button {callback_data!r}\n{self.transcript(chat)}"
            )
        update = self._update("callback_query", {})
        query_id = self._new_query(update["update_id"], chat.info["id"])
        update["callback_query"] = {
            "id": query_id,
            "from": user.to_api(),
            "message": dict(message)
            if message is not None
            else {"chat": chat.info, "message_id": message_id, "date": 0},
            "chat_instance": str(abs(hash((self.bot_id, chat.info["id"])))),
            "data": callback_data,
        }
        return update

    def inline_query_update(self, user: User, query: str = "") -> JSON:
        """The person types `@bot <query>` in some chat."""
        update = self._update("inline_query", {})
        query_id = self._new_query(update["update_id"], user.id)
        update["inline_query"] = {
            "id": query_id,
            "from": user.to_api(),
            "query": query,
            "offset": "",
        }
        return update

    def _new_query(self, update_id: int, chat_id: int) -> str:
        query_id = f"{self._query_prefix}{update_id}"
        self._queries[query_id] = _Query(chat_id)
        if len(self._queries) > self.retention.queries:
            del self._queries[next(iter(self._queries))]
        return query_id

    def deliver(self, update: JSON) -> int:
        """Hand an update to the bot (getUpdates or the webhook); its update_id."""
        if "message" in update:
            chat_id = update["message"]["chat"]["id"]
        elif "callback_query" in update:
            chat_id = update["callback_query"]["message"]["chat"]["id"]
        else:
            chat_id = update["inline_query"]["from"]["id"]
        return self.updates.add(update, int(chat_id))

    async def send_text(self, user: User, text: str) -> int:
        """The person writes `text`; the update_id."""
        return self.deliver(self.text_update(user, text))

    async def send_contact(
        self, user: User, phone_number: str, contact_user_id: int | Literal["self"] | None = "self"
    ) -> int:
        return self.deliver(self.contact_update(user, phone_number, contact_user_id))

    async def press_button(
        self, user: User, message_id: int, callback_data: str, *, check: bool = True
    ) -> int:
        """The callback query's update_id."""
        return self.deliver(self.callback_update(user, message_id, callback_data, check=check))

    def inline_query(self, user: User, query: str = "") -> int:
        """The inline query's update_id."""
        return self.deliver(self.inline_query_update(user, query))

    # --- what the bot showed --------------------------------------------------------------------

    def watch(self, chat_id: int) -> list[BotMessage]:
        """Collect what the bot shows in `chat_id` (and answers to that person's inline queries)
        into the returned list, instead of the chat's feed, until `unwatch`."""
        inbox: list[BotMessage] = []
        self._watches[chat_id] = inbox
        return inbox

    def unwatch(self, chat_id: int) -> None:
        self._watches.pop(chat_id, None)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' own deadline
    ) -> JSON:
        """The next bot message in the chat (sent, or edited) after those returned before, as it
        then stood; messages skipped by `predicate` are consumed too."""
        chat = self._chats.get(chat_id)
        if chat is None:
            raise AssertionError(f"chat {chat_id}: nobody wrote to the bot there")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while chat.feed:
                message = chat.feed.popleft().content
                if predicate is None or predicate(message):
                    return dict(message)
            remaining = deadline - loop.time()
            if remaining <= 0:
                matching = " matching the predicate" if predicate else ""
                raise AssertionError(
                    f"no new bot message{matching} in chat {chat_id} within {timeout} s\n"
                    f"{self.transcript(chat)}"
                )
            waiter = loop.create_future()
            chat.waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)

    async def wait_for_answer(
        self,
        update_id: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' own deadline
    ) -> JSON:
        """The bot's answer to a button press (answerCallbackQuery: text, show_alert, url,
        cache_time) or to an inline query (answerInlineQuery: results, button, cache_time,
        is_personal), by the update that asked."""
        query = self._queries.get(f"{self._query_prefix}{update_id}")
        if query is None:
            raise AssertionError(f"no query of update {update_id}")
        try:
            await asyncio.wait_for(query.answered.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the query of update {update_id} not answered within {timeout} s"
            ) from None
        assert query.answer is not None
        return query.answer

    def query_answer(self, update_id: int) -> JSON | None:
        """The bot's answer to the query of this update, if it answered (see `wait_for_answer`)."""
        query = self._queries.get(f"{self._query_prefix}{update_id}")
        return None if query is None else query.answer

    def messages(self, chat_id: int) -> list[JSON]:
        """Every message of the chat, the person's and the bot's (as they stand), oldest first."""
        chat = self._chats.get(chat_id)
        return [dict(message) for message in chat.messages.values()] if chat else []

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        chat = self._chats.get(chat_id)
        message = chat.messages.get(message_id) if chat else None
        return None if message is None else dict(message)

    def reply_keyboard(self, chat_id: int) -> JSON | None:
        """The reply keyboard the bot last set in the chat (None after remove_keyboard)."""
        chat = self._chats.get(chat_id)
        return chat.reply_keyboard if chat else None

    def file(self, file_id: str) -> tuple[str, bytes]:
        """The name and bytes of a file the bot uploaded."""
        return self._files[file_id]

    def uploads(self, chat_id: int) -> list[tuple[str, bytes]]:
        """The files (name, bytes) the bot sent to a chat, oldest first."""
        return [
            self._files[media["file_id"] if kind == "document" else media[-1]["file_id"]]
            for message in self.messages(chat_id)
            for kind in ("document", "photo")
            if (media := message.get(kind))
        ]

    def my_commands(self, scope: str | JSON = "default", language_code: str = "") -> list[JSON]:
        """The commands set by setMyCommands for a scope (type name or BotCommandScope)."""
        scope = {"type": scope} if isinstance(scope, str) else scope
        return list(self._commands.get((json.dumps(scope, sort_keys=True), language_code), []))

    def menu(self, chat_id: int, language_code: str = "") -> list[JSON]:
        """The command menu a person sees in a private chat, found as Telegram finds it: the
        narrowest scope with commands (the chat's, all private chats', the default), each in the
        person's language before the one without a language."""
        scopes: list[JSON] = [
            {"type": "chat", "chat_id": chat_id},
            {"type": "all_private_chats"},
            {"type": "default"},
        ]
        for scope in scopes:
            for language in dict.fromkeys((language_code, "")):
                commands = self._commands.get((json.dumps(scope, sort_keys=True), language))
                if commands:
                    return list(commands)
        return []

    def bot_calls(self, method: str | None = None) -> list[BotCall]:
        """The bot's calls (all, or of one method, any case), in order of completion."""
        if method is None:
            return list(self._calls)
        key = method.lower()
        return [call for call in self._calls if call.method.lower() == key]

    def busiest_second(self, *methods: str) -> int:
        """The most calls of `methods` that arrived within one second: the bot's peak rate as
        Telegram would measure it."""
        keys = {method.lower() for method in methods}
        times = sorted(call.time for call in self._calls if call.method.lower() in keys)
        most, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    def transcript(self, chat: "int | _Chat") -> str:
        """The chat as text, for assertion messages."""
        if isinstance(chat, int):
            found = self._chats.get(chat)
            if found is None:
                return f"chat {chat}: nobody wrote to the bot there"
            chat = found
        lines = [f"chat {chat.info['id']}:"]
        for message in chat.messages.values():
            sender = message["from"]
            who = "bot" if sender["id"] == self.bot_id else sender.get("first_name", "user")
            if "text" in message:
                body = message["text"]
            elif "contact" in message:
                body = f"<contact {message['contact'].get('phone_number')}>"
            elif "document" in message or "photo" in message:
                body = f"<{'document' if 'document' in message else 'photo'}> "
                body += message.get("caption", "")
            else:
                body = "<message>"
            buttons = callback_buttons(message)
            if buttons:
                body += " " + " ".join(f"[{data}]" for data in buttons)
            edited = " (edited)" if "edit_date" in message else ""
            lines.append(f"  #{message['message_id']} {who}: {body}{edited}")
        if chat.reply_keyboard:
            lines.append(f"  reply keyboard: {json.dumps(chat.reply_keyboard)}")
        lines.extend(f"  failed: {error}" for error in chat.errors)
        return "\n".join(lines)
