"""A Telegram Bot API test double: an aiohttp server that the real bot talks to over HTTP.

Start it (``async with TelegramDouble() as double``), point aiogram at it with
``TelegramAPIServer.from_base(double.url)``, then act as Telegram's users: ``new_user``,
``send_text``, ``send_contact``, ``press_button``, and read the bot's answers with
``wait_for_message``. Updates reach the bot by ``getUpdates`` long polling or are POSTed to a
webhook, with Telegram's confirmation, redelivery and error rules. ``fail_next`` makes the bot's
calls fail, ``hold_next`` keeps one waiting (the bot is then in the middle of an update).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, NoReturn, Self

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Handler = Callable[[JSON], Awaitable[Any]]

BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UPDATE_TYPES = frozenset(
    [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    ]
)
DEFAULT_UPDATE_TYPES = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
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
INLINE_ACTIONS = [
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
]
TEXT_LIMIT = 4096
INLINE_RESULTS_LIMIT = 50
CALLBACK_TEXT_LIMIT = 200
UNRECORDED_KEEP = 100  # messages, unread events, callback queries kept per chat without history

# Form values that stay strings even when they look like numbers, booleans or JSON.
STRING_PARAMS = frozenset(
    [
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "action",
        "language_code",
        "description",
        "short_description",
        "name",
        "title",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "emoji",
        "query",
        "business_connection_id",
        "message_effect_id",
    ]
)
_INT = re.compile(r"-?\d{1,20}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


class ApiError(Exception):
    """A Bot API error answer: HTTP status == error_code."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def decode_param(key: str, value: str) -> Any:
    """A form value as Telegram reads it: JSON objects/arrays, booleans and integers decoded."""
    if key in STRING_PARAMS:
        return value
    head = value[:1]
    if head in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    if _INT.fullmatch(value):
        return int(value)
    return value


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _parse_error(message: str) -> NoReturn:
    raise bad_request(f"can't parse entities: {message}")


def _byte_offset(source: str, index: int) -> str:
    return f"at byte offset {len(source[:index].encode())}"


# --- HTML parse mode ---------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_SPECIAL = re.compile(r"[<&]")
_HTML_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,6}));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_char(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _HTML_NAMED.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else None


def _html_unescape(value: str) -> str:
    return _HTML_ENTITY.sub(lambda m: _html_char(m) or m.group(0), value)


def normalize_url(url: str) -> str | None:
    """A text_link URL as Telegram stores it: with a scheme, and a path for bare hosts."""
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None
    if url.startswith("tg:"):
        return url
    if "://" not in url:
        url = "http://" + url
    rest = url.split("://", 1)[1]
    if not rest:
        return None
    if not any(c in rest for c in "/?#"):
        url += "/"
    return url


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Telegram's HTML style: the plain text and its entities, or Telegram's parse error."""
    parts: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, dict[str, str], int, int]] = []  # tag, attributes, offset, part index
    u16 = pos = 0
    n = len(source)
    while pos < n:
        special = _HTML_SPECIAL.search(source, pos)
        end = special.start() if special else n
        if end > pos:
            chunk = source[pos:end]
            parts.append(chunk)
            u16 += utf16_len(chunk)
            pos = end
        if special is None:
            break
        if source[pos] == "&":
            match = _HTML_ENTITY.match(source, pos)
            char = _html_char(match) if match else None
            parts.append(char or "&")
            u16 += utf16_len(char) if char else 1
            pos = match.end() if match and char else pos + 1
            continue
        if source.startswith("</", pos):
            close = pos + 2
            while close < n and not source[close].isspace() and source[close] != ">":
                close += 1
            name = source[pos + 2 : close].lower()
            while close < n and source[close].isspace():
                close += 1
            if close >= n or source[close] != ">":
                _parse_error(f"Unclosed end tag {_byte_offset(source, pos)}")
            if not stack:
                _parse_error(f"Unexpected end tag {_byte_offset(source, pos)}")
            tag, attributes, begin, first_part = stack.pop()
            if name and name != tag:
                _parse_error(
                    f'Unmatched end tag {_byte_offset(source, pos)}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            if u16 > begin:
                inner = "".join(parts[first_part:])
                _add_html_entity(entities, tag, attributes, begin, u16 - begin, inner)
            pos = close + 1
            continue
        pos = _html_start_tag(source, pos, stack, u16, len(parts))
    if stack:
        _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return "".join(parts), entities


def _html_start_tag(
    source: str, pos: int, stack: list[tuple[str, dict[str, str], int, int]], u16: int, index: int
) -> int:
    n = len(source)
    j = pos + 1
    while j < n and not source[j].isspace() and source[j] != ">":
        j += 1
    if j >= n:
        _parse_error(f"Unclosed start tag {_byte_offset(source, pos)}")
    name = source[pos + 1 : j].lower()
    if name not in _HTML_TAGS:
        _parse_error(f'Unsupported start tag "{name}" {_byte_offset(source, pos)}')
    attributes: dict[str, str] = {}
    while True:
        while j < n and source[j].isspace():
            j += 1
        if j >= n:
            _parse_error(f'Unclosed start tag "{name}" {_byte_offset(source, pos)}')
        if source[j] == ">":
            break
        k = j
        while k < n and not source[k].isspace() and source[k] not in "=>/\"'":
            k += 1
        attribute = source[j:k].lower()
        if not attribute:
            _parse_error(f'Empty attribute name in the tag "{name}" {_byte_offset(source, pos)}')
        j = k
        while j < n and source[j].isspace():
            j += 1
        if j < n and source[j] != "=":
            attributes[attribute] = ""
            continue
        j += 1
        while j < n and source[j].isspace():
            j += 1
        if j >= n:
            _parse_error(f'Unclosed start tag "{name}" {_byte_offset(source, pos)}')
        if source[j] in "\"'":
            close = source.find(source[j], j + 1)
            if close < 0:
                _parse_error(f"Unclosed start tag {_byte_offset(source, pos)}")
            attributes[attribute] = _html_unescape(source[j + 1 : close])
            j = close + 1
        else:
            k = j
            while k < n and ((source[k].isascii() and source[k].isalnum()) or source[k] in ".-"):
                k += 1
            if k < n and not source[k].isspace() and source[k] != ">":
                _parse_error(f"Unexpected end of name token {_byte_offset(source, k)}")
            attributes[attribute] = source[j:k].lower()
            j = k
    if name == "span" and attributes.get("class") != "tg-spoiler":
        _parse_error(f'Tag "span" must have class "tg-spoiler" {_byte_offset(source, pos)}')
    stack.append((name, attributes, u16, index))
    return j + 1


def _add_html_entity(
    entities: list[JSON], tag: str, attributes: dict[str, str], offset: int, length: int, inner: str
) -> None:
    entity: JSON = {"offset": offset, "length": length, "type": _HTML_TAGS[tag]}
    if tag == "a":
        url = normalize_url(attributes.get("href") or inner)
        if url is None:
            return
        entity["url"] = url
    elif tag == "tg-emoji":
        emoji_id = attributes.get("emoji-id", "")
        if not emoji_id.isdigit():
            _parse_error("Invalid custom emoji identifier specified")
        entity["custom_emoji_id"] = emoji_id
    elif tag == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif tag == "code" and attributes.get("class", "").startswith("language-"):
        entity["language"] = attributes["class"].removeprefix("language-")
    elif tag == "pre" and entities:
        last = entities[-1]
        if last["type"] == "code" and (last["offset"], last["length"]) == (offset, length):
            last["type"] = "pre"
            return
    entities.append(entity)


# --- Markdown parse modes ----------------------------------------------------------------------

_MD_TYPES = {
    "```": "pre",
    "__": "underline",
    "||": "spoiler",
    "*": "bold",
    "_": "italic",
    "~": "strikethrough",
    "`": "code",
    "[": "text_link",
}
_MD1_MARKERS = ("```", "*", "_", "`", "[")
_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def parse_markdown(source: str, *, v2: bool) -> tuple[str, list[JSON]]:
    """Telegram's MarkdownV2 (``v2``) or legacy Markdown style: plain text and entities."""
    markers = tuple(_MD_TYPES) if v2 else _MD1_MARKERS
    parts: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, int, int, str]] = []  # marker, offset, source index, pre language
    u16 = i = 0
    n = len(source)
    while i < n:
        c = source[i]
        top = stack[-1][0] if stack else None
        following = source[i + 1] if i + 1 < n else ""
        if c == "\\" and following and (0 < ord(following) < 127 if v2 else following in "_*`[\\"):
            parts.append(following)
            u16 += 1
            i += 2
            continue
        if top in ("`", "```") and not source.startswith(top, i):
            parts.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        if top == "[" and c == "]":
            close = source.find(")", i + 2) if following == "(" else -1
            if v2:
                while close > 0 and source[close - 1] == "\\":
                    close = source.find(")", close + 1)
            if close < 0:
                _parse_error(f"Can't find end of a URL {_byte_offset(source, i)}")
            url = source[i + 2 : close]
            url = re.sub(r"\\(.)", r"\1", url) if v2 else url
            begin = stack.pop()[1]
            if (normalized := normalize_url(url)) and u16 > begin:
                entities.append(
                    {"offset": begin, "length": u16 - begin, "type": "text_link", "url": normalized}
                )
            i = close + 1
            continue
        marker = next((m for m in markers if source.startswith(m, i)), None)
        if marker is not None and (v2 or top is None or marker == top):
            i += len(marker)
            if marker == top:
                _, begin, _, language = stack.pop()
                if u16 > begin:
                    entity: JSON = {
                        "offset": begin,
                        "length": u16 - begin,
                        "type": _MD_TYPES[marker],
                    }
                    if language:
                        entity["language"] = language
                    entities.append(entity)
                continue
            language = ""
            if marker == "```":
                newline = source.find("\n", i)
                head = source[i:newline] if newline >= 0 else ""
                if head and not any(ch.isspace() for ch in head):
                    language, i = head, newline + 1
            stack.append((marker, u16, i - len(marker), language))
            continue
        if v2 and c in _MD2_RESERVED:
            _parse_error(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        parts.append(c)
        u16 += utf16_len(c)
        i += 1
    if stack:
        marker, _, index, _ = stack[-1]
        if v2:
            name = {"text_link": "TextUrl"}.get(_MD_TYPES[marker], _MD_TYPES[marker].capitalize())
            _parse_error(f"Can't find end of {name} entity {_byte_offset(source, index)}")
        _parse_error(f"Can't find end of the entity starting {_byte_offset(source, index)}")
    return "".join(parts), entities


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode in ("markdownv2", "markdown"):
        return parse_markdown(text, v2=mode == "markdownv2")
    raise bad_request("unsupported parse_mode")


# --- Entities Telegram finds by itself ---------------------------------------------------------

_AUTO_ENTITIES = re.compile(
    r"(?P<url>(?<![\w@/.])(?:https?://|(?:t|telegram)\.me/)[^\s<>\"]+)"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w@]))"
    r"|(?P<bot_command>(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@]))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{3,32}(?![\w@]))"
)
_OPAQUE = frozenset({"code", "pre", "text_link", "url", "email", "bot_command", "mention"})


def auto_entities(text: str, entities: list[JSON]) -> list[JSON]:
    """``entities`` plus the urls, e-mails, commands and mentions Telegram detects in ``text``."""
    if not any(c in text for c in "/@."):
        return sorted(entities, key=_entity_order)
    found = list(entities)
    opaque = [(e["offset"], e["offset"] + e["length"]) for e in entities if e["type"] in _OPAQUE]
    for match in _AUTO_ENTITIES.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        value = match.group()
        if kind == "url":
            value = value.rstrip(".,:;!?'\"")
            if value.count(")") > value.count("("):
                value = value.rstrip(")")
        start = utf16_len(text[: match.start()])
        end = start + utf16_len(value)
        if not any(start < e_end and e_start < end for e_start, e_end in opaque):
            found.append({"offset": start, "length": end - start, "type": kind})
    return sorted(found, key=_entity_order)


def _entity_order(entity: JSON) -> tuple[int, int]:
    return entity["offset"], -entity["length"]


def trim_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram drops leading and trailing whitespace, cutting entities to the rest."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


# --- Reply markup -----------------------------------------------------------------------------


def check_markup(markup: Any) -> JSON | None:
    """The reply_markup parameter validated like Telegram does; None when absent or empty."""
    if markup is None or markup == {}:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not any(action in button for action in INLINE_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, str) and not (
                isinstance(button, dict) and isinstance(button.get("text"), str)
            ):
                raise bad_request(
                    'can\'t parse keyboard button: Field "text" must be of type String'
                )
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def inline_keyboard(markup: JSON | None) -> JSON | None:
    """The markup a Message carries: only a non-empty inline keyboard."""
    return markup if markup and markup.get("inline_keyboard") else None


def callback_buttons(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [str(b["callback_data"]) for b in itertools.chain(*rows) if "callback_data" in b]


# --- Records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """A Telegram user who talks to the bot; their private chat has the same id."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None

    def to_api(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                user[key] = value
        return user


class _Record:
    """Fields readable as attributes or as keys: ``call.status == call["status"]``."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


@dataclass(slots=True)
class BotCall(_Record):
    """One Bot API request of the bot and its answer (``result``, or ``description``)."""

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
class Delivery(_Record):
    """One webhook POST of an update: the HTTP status, or the connection error."""

    update_id: int
    url: str
    time: float
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class _Pending:
    update_id: int
    chat_id: int
    update: JSON
    body: bytes | None = None


@dataclass(slots=True)
class _Chat:
    info: JSON
    next_message_id: int = 1
    messages: dict[int, JSON] = field(default_factory=dict)  # current state, in id order
    reply_keyboard: JSON | None = None
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=20))


@dataclass(slots=True)
class _Outbox:
    events: deque[JSON] = field(default_factory=deque)  # bot messages not yet waited for
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass(slots=True)
class _Callback:
    chat_id: int
    answer: JSON | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _InlineQuery:
    user_id: int
    answer: JSON | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Failure:
    method: str
    error: ApiError
    times: int | None
    chat_id: str | None


@dataclass(slots=True)
class Hold:
    """A call the double keeps unanswered: ``reached`` when the bot made it, answered (or
    failed, as injected) once ``release()`` is called; a bot that dies meanwhile never hears."""

    method: str
    chat_id: str | None
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass(slots=True)
class _Described:
    """A result that Telegram sends with a description, like setWebhook's."""

    result: Any
    description: str


async def _read_params(request: web.Request) -> JSON:
    """Query, JSON, urlencoded or multipart parameters, decoded as Telegram decodes them."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    raw[key] = {
                        "file_name": value.filename,
                        "mime_type": value.content_type,
                        "content": value.file.read(),  # kept for the tests: see uploads()
                    }
                else:
                    raw[key] = value.decode() if isinstance(value, bytes) else value
    return {k: decode_param(k, v) if isinstance(v, str) else v for k, v in raw.items()}


def _png_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG (0, 0 for anything else)."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    return 0, 0


def _respond(status: int, payload: JSON) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _int_param(params: JSON, key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


class TelegramDouble:
    """The Bot API of one bot, served on 127.0.0.1, plus the user side for the tests."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_id: int = 123456,
        username: str = "test_referral_bot",
        first_name: str = "Referral Bot",
        redelivery_delay: float = 0.2,
        max_redeliveries: int = 10,
        *,
        record_history: bool = True,
        webhook_timeout: float = 30.0,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        self.redelivery_delay = redelivery_delay
        self.max_redeliveries = max_redeliveries
        self.record_history = record_history
        self.webhook_timeout = webhook_timeout
        self.url = ""
        self.webhook_secret: str | None = None
        self.max_connections = 40
        self.deliveries: list[Delivery] = []
        self.call_counts: Counter[str] = Counter()
        self.on_bot_message: Callable[[int, JSON], None] | None = None
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._closing = False
        self._calls: list[BotCall] = []
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._blocked: set[int] = set()
        self._users: dict[int, User] = {}
        self._user_ids = itertools.count(700_000_001)
        self._chats: dict[int, _Chat] = {}
        self._outboxes: dict[int, _Outbox] = {}
        self._callbacks: dict[str, _Callback] = {}
        self._inline_queries: dict[str, _InlineQuery] = {}
        self._query_prefix = str(secrets.randbelow(9_000) + 1_000)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._profile: dict[tuple[str, str], Any] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> name and bytes uploaded
        # updates
        self._first_update_id = self._next_update_id = 100_000_001
        self._unacked: dict[int, _Pending] = {}
        self._dropped: set[int] = set()
        self._ack_waiters: dict[int, asyncio.Future[bool]] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._queue: deque[_Pending] = deque()
        self._poll_event = asyncio.Event()
        self._poll_serial = 0
        self._webhook_targets: list[str] = []
        self._round_robin = itertools.count()
        self._chat_queues: dict[int, deque[_Pending]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = asyncio.Semaphore(self.max_connections)
        self._last_error: tuple[int, str] | None = None
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._api().items()
        }

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        for hold in self._holds:
            hold.release()
        self._wake_pollers()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- HTTP -----------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return _respond(404, ApiError(404, "Not Found").payload())

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _respond(401, ApiError(401, "Unauthorized").payload())
        try:
            params = await _read_params(request)
        except ApiError as error:
            return _respond(error.code, error.payload())
        return _respond(*await self._invoke(request.match_info["method"], params))

    async def _invoke(self, name: str, params: JSON) -> tuple[int, JSON]:
        """Run one Bot API method as the bot asked for it; record the call."""
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
            status = 200
            if isinstance(result, _Described):
                payload = {"ok": True, "result": result.result, "description": result.description}
            else:
                payload = {"ok": True, "result": result}
        except ApiError as error:
            status, payload = error.code, error.payload()
            chat_id = params.get("chat_id")
            chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
            if chat is not None:
                chat.errors.append(f"{method} -> {status} {error.description}")
        except Exception:  # a bug of the double: answer like Telegram's internal errors
            log.exception("%s failed in the Telegram double", method)
            status, payload = 500, ApiError(500, "Internal Server Error").payload()
        self.call_counts[method] += 1
        if self.record_history:
            self._calls.append(
                BotCall(
                    method,
                    params,
                    started,
                    status,
                    payload.get("result"),
                    payload.get("description"),
                )
            )
        return status, payload

    def _injected_failure(self, method: str, params: JSON) -> None:
        key = method.lower()
        chat_id = str(params.get("chat_id"))
        for failure in self._failures:
            if failure.method == key and failure.chat_id in (None, chat_id):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                error = failure.error
                raise ApiError(error.code, error.description, error.retry_after)

    # --- updates --------------------------------------------------------------------------------

    def _new_update_id(self) -> int:
        self._next_update_id += 1
        return self._next_update_id - 1

    def _emit(self, kind: str, payload: JSON, chat_id: int, update_id: int | None = None) -> int:
        """Store an update for the bot (unless allowed_updates excludes it); its update_id."""
        update_id = self._new_update_id() if update_id is None else update_id
        allowed = DEFAULT_UPDATE_TYPES if self._allowed_updates is None else self._allowed_updates
        if kind not in allowed:
            self._dropped.add(update_id)
            return update_id
        pending = _Pending(update_id, chat_id, {"update_id": update_id, kind: payload})
        self._unacked[update_id] = pending
        if self._webhook_targets:
            self._enqueue_webhook(pending)
        else:
            self._queue.append(pending)
            self._wake_pollers()
        return update_id

    def _ack(self, update_id: int) -> None:
        if self._unacked.pop(update_id, None) is not None:
            waiter = self._ack_waiters.pop(update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)

    def _drop(self, update_id: int) -> None:
        if self._unacked.pop(update_id, None) is not None:
            self._dropped.add(update_id)
            waiter = self._ack_waiters.pop(update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(False)

    def _drop_pending(self) -> None:
        for update_id in list(self._unacked):
            self._drop(update_id)
        self._queue.clear()
        self._cancel_deliveries()

    def _set_allowed_updates(self, value: Any) -> None:
        if value is not None and not isinstance(value, list):
            raise bad_request("can't parse allowed updates JSON array")
        self._allowed_updates = frozenset(map(str, value)) & UPDATE_TYPES if value else None

    def _wake_pollers(self) -> None:
        self._poll_event.set()
        self._poll_event = asyncio.Event()

    def _confirm(self, offset: int) -> None:
        queue = self._queue
        if offset < 0:
            while len(queue) > -offset:
                self._ack(queue.popleft().update_id)
        else:
            while queue and queue[0].update_id < offset:
                self._ack(queue.popleft().update_id)

    def _take(self, limit: int) -> list[JSON]:
        queue, unacked = self._queue, self._unacked
        while queue and queue[0].update_id not in unacked:
            queue.popleft()
        batch: list[JSON] = []
        for pending in queue:
            if pending.update_id in unacked:
                batch.append(pending.update)
                if len(batch) >= limit:
                    break
        return batch

    # --- webhook --------------------------------------------------------------------------------

    @property
    def webhook_targets(self) -> list[str]:
        """Webhook URLs, served round-robin; setting a list switches the double to webhook mode."""
        return list(self._webhook_targets)

    @webhook_targets.setter
    def webhook_targets(self, targets: Iterable[str]) -> None:
        was_set = bool(self._webhook_targets)
        self._webhook_targets = list(targets)
        if self._webhook_targets and not was_set:
            self._queue.clear()
            for pending in self._unacked.values():
                self._enqueue_webhook(pending)
            self._wake_pollers()
        elif was_set and not self._webhook_targets:
            self._cancel_deliveries()
            self._queue = deque(self._unacked.values())

    def _cancel_deliveries(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._chat_queues.clear()

    def _enqueue_webhook(self, pending: _Pending) -> None:
        queue = self._chat_queues.get(pending.chat_id)
        if queue is not None:
            queue.append(pending)
            return
        queue = self._chat_queues[pending.chat_id] = deque([pending])
        task = asyncio.get_running_loop().create_task(self._deliver_chat(pending.chat_id, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_chat(self, chat_id: int, queue: deque[_Pending]) -> None:
        """The updates of one chat, one after another; other chats are delivered meanwhile."""
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        finally:
            if self._chat_queues.get(chat_id) is queue:
                del self._chat_queues[chat_id]

    async def _deliver(self, pending: _Pending) -> None:
        for attempt in range(self.max_redeliveries + 1):
            if attempt:
                await asyncio.sleep(self.redelivery_delay)
            targets = self._webhook_targets
            if pending.update_id not in self._unacked or not targets:
                return
            url = targets[next(self._round_robin) % len(targets)]
            if await self._post(pending, url):
                return
        log.warning("update %d dropped after %d failed deliveries", pending.update_id, attempt + 1)
        self._drop(pending.update_id)

    async def _post(self, pending: _Pending, url: str) -> bool:
        """One delivery attempt; True when the bot answered 2xx (the update is then confirmed)."""
        assert self._http is not None, "the double is not started"
        if pending.body is None:
            pending.body = json.dumps(pending.update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers[SECRET_HEADER] = self.webhook_secret
        delivery = Delivery(pending.update_id, url, time.time())
        reply: JSON | None = None
        try:
            async with (
                self._connections,
                self._http.post(url, data=pending.body, headers=headers) as response,
            ):
                delivery.status = response.status
                if 200 <= response.status < 300:
                    reply = await self._webhook_reply(response)
                else:
                    await response.read()
                    reason = f"{response.status} {response.reason}"
                    self._last_error = (
                        int(time.time()),
                        f"Wrong response from the webhook: {reason}",
                    )
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            delivery.error = f"{type(error).__name__}: {error}"
            self._last_error = (int(time.time()), delivery.error)
        if self.record_history:
            self.deliveries.append(delivery)
        if not delivery.ok:
            return False
        self._ack(pending.update_id)
        if reply is not None:
            method = str(reply.pop("method"))
            await self._invoke(method, reply)
        return True

    async def _webhook_reply(self, response: aiohttp.ClientResponse) -> JSON | None:
        """A Bot API method the bot put in its webhook answer, which Telegram then runs."""
        if response.content_type == "application/json":
            body = await response.json()
            if isinstance(body, dict) and "method" in body:
                return {
                    k: decode_param(k, v) if isinstance(v, str) and k != "method" else v
                    for k, v in body.items()
                }
        elif response.content_type == "multipart/form-data":
            params: JSON = {}
            async for part in aiohttp.MultipartReader.from_response(response):
                if isinstance(part, aiohttp.BodyPartReader) and part.name:
                    value = await part.text()
                    params[part.name] = (
                        value if part.name == "method" else decode_param(part.name, value)
                    )
            return params if "method" in params else None
        else:
            await response.read()
        return None

    # --- Bot API methods ------------------------------------------------------------------------

    def _api(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendDocument": self._file_sender("document"),
            "sendPhoto": self._file_sender("photo"),
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyName": self._profile_setter("name"),
            "getMyName": self._profile_getter("name"),
            "setMyDescription": self._profile_setter("description"),
            "getMyDescription": self._profile_getter("description"),
            "setMyShortDescription": self._profile_setter("short_description"),
            "getMyShortDescription": self._profile_getter("short_description"),
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
        }

    async def _true(self, params: JSON) -> bool:
        return True

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self._webhook_targets:
            raise ApiError(409, WEBHOOK_ACTIVE)
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            self._set_allowed_updates(params["allowed_updates"])
        self._poll_serial += 1
        serial = self._poll_serial
        self._wake_pollers()  # an earlier, still waiting getUpdates ends with a conflict
        if offset:
            self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if serial != self._poll_serial:
                raise ApiError(409, POLL_CONFLICT)
            if self._webhook_targets:
                raise ApiError(409, WEBHOOK_ACTIVE)
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_event.wait(), remaining)

    async def _set_webhook(self, params: JSON) -> _Described:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if url and not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if "allowed_updates" in params:
            self._set_allowed_updates(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._drop_pending()
        if not url:
            return self._remove_webhook()
        connections = _int_param(params, "max_connections", 40)
        if not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if connections != self.max_connections:
            self.max_connections = connections
            self._connections = asyncio.Semaphore(connections)
        unchanged = self._webhook_targets == [url] and self.webhook_secret == secret
        self.webhook_secret = str(secret) if secret else None
        self.webhook_targets = [url]
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    async def _delete_webhook(self, params: JSON) -> _Described:
        if params.get("drop_pending_updates"):
            self._drop_pending()
        return self._remove_webhook()

    def _remove_webhook(self) -> _Described:
        was_set = bool(self._webhook_targets)
        self.webhook_targets = []
        self.webhook_secret = None
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _get_webhook_info(self, params: JSON) -> JSON:
        targets = self._webhook_targets
        info: JSON = {
            "url": targets[0] if targets else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._unacked),
        }
        if targets:
            info["max_connections"] = self.max_connections
            info["ip_address"] = "127.0.0.1"
            if self._last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._last_error
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _target_chat(self, params: JSON, *, blockable: bool = True) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError(400, CHAT_NOT_FOUND)
        if blockable and chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat

    def _formatted_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if text is None or text == "":
            raise bad_request("message text is empty")
        text = str(text)
        entities = params.get("entities")
        if entities is not None:
            if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
                raise bad_request("can't parse entities JSON object")
        else:
            text, entities = parse_text(text, params.get("parse_mode"))
        text, entities = trim_text(text, entities)
        if not text:
            raise bad_request("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return text, auto_entities(text, entities)

    def _add_message(self, chat: _Chat, sender: JSON, **content: Any) -> JSON:
        message: JSON = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": chat.info,
            "date": int(time.time()),
        }
        message.update((key, value) for key, value in content.items() if value)
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        if not self.record_history and len(chat.messages) > UNRECORDED_KEEP:
            del chat.messages[next(iter(chat.messages))]
        return message

    def _publish(self, chat_id: int, message: JSON, *, edited: bool, markup: JSON | None) -> None:
        event = {**message, "edited": edited}
        if markup is not None:
            event["sent_reply_markup"] = markup
        outbox = self._outboxes.get(chat_id)
        if outbox is None:
            outbox = self._outboxes[chat_id] = _Outbox()
        outbox.events.append(event)
        if not self.record_history and len(outbox.events) > UNRECORDED_KEEP:
            outbox.events.popleft()
        for waiter in outbox.waiters:
            if not waiter.done():
                waiter.set_result(None)
        outbox.waiters.clear()
        if self.on_bot_message is not None:
            self.on_bot_message(chat_id, event)

    def _replied_message(self, chat: _Chat, params: JSON) -> JSON | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        if not isinstance(reply, dict):
            return None
        target = chat.messages.get(_int_param(reply, "message_id", 0))
        if target is None:
            if reply.get("allow_sending_without_reply") or params.get(
                "allow_sending_without_reply"
            ):
                return None
            raise bad_request("message to be replied not found")
        return {key: value for key, value in target.items() if key != "reply_to_message"}

    async def _send_message(self, params: JSON) -> JSON:
        chat = self._target_chat(params)
        text, entities = self._formatted_text(params)
        markup = check_markup(params.get("reply_markup"))
        message = self._add_message(
            chat,
            self.bot_user,
            reply_to_message=self._replied_message(chat, params),
            text=text,
            entities=entities,
            has_protected_content=bool(params.get("protect_content")),
            reply_markup=inline_keyboard(markup),
        )
        if markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        self._publish(chat.info["id"], message, edited=False, markup=markup)
        return dict(message)

    def _file_sender(self, kind: Literal["document", "photo"]) -> Handler:
        """sendDocument / sendPhoto: a multipart upload (its bytes kept for `uploads`) or a
        file_id sent before; an optional caption, parsed like a text."""

        async def send_file(params: JSON) -> JSON:
            chat = self._target_chat(params)
            upload = params.get(kind)
            if isinstance(upload, str) and upload.startswith("attach://"):
                upload = params.get(upload.removeprefix("attach://"))  # aiogram's way
            if isinstance(upload, dict) and isinstance(upload.get("content"), bytes):
                content: bytes = upload["content"]
                file_id = f"{kind}-{secrets.token_hex(8)}"
                self._files[file_id] = (str(upload.get("file_name") or kind), content)
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
            caption, entities = None, None
            if params.get("caption"):
                caption, entities = parse_text(str(params["caption"]), params.get("parse_mode"))
            markup = check_markup(params.get("reply_markup"))
            message = self._add_message(
                chat,
                self.bot_user,
                caption=caption,
                caption_entities=entities,
                reply_markup=inline_keyboard(markup),
                **{kind: media},
            )
            self._publish(chat.info["id"], message, edited=False, markup=markup)
            return dict(message)

        return send_file

    def uploads(self, chat_id: int) -> list[tuple[str, bytes]]:
        """The files (name, bytes) the bot sent to a chat with sendDocument or sendPhoto."""
        return [
            self._files[media["file_id"] if kind == "document" else media[-1]["file_id"]]
            for message in self.messages(chat_id)
            for kind in ("document", "photo")
            if (media := message.get(kind))
        ]

    def _editable(self, params: JSON) -> tuple[_Chat, JSON]:
        if params.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._target_chat(params)
        message_id = _int_param(params, "message_id", 0)
        if not message_id:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise ApiError(400, EDIT_NOT_FOUND)
        if message["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        return chat, message

    def _edited(self, chat: _Chat, message: JSON, markup: JSON | None, **changes: Any) -> JSON:
        for key, value in changes.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self._publish(chat.info["id"], message, edited=True, markup=markup)
        return dict(message)

    def _inline_markup(self, params: JSON) -> JSON | None:
        markup = check_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        return inline_keyboard(markup)

    async def _edit_message_text(self, params: JSON) -> JSON:
        chat, message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted_text(params)
        markup = self._inline_markup(params)
        if (text, entities, markup) == (
            message["text"],
            message.get("entities", []),
            message.get("reply_markup"),
        ):
            raise ApiError(400, NOT_MODIFIED)
        return self._edited(chat, message, markup, text=text, entities=entities)

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        chat, message = self._editable(params)
        markup = self._inline_markup(params)
        if markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._edited(chat, message, markup)

    async def _delete_message(self, params: JSON) -> bool:
        chat = self._target_chat(params, blockable=False)
        if chat.messages.pop(_int_param(params, "message_id", 0), None) is None:
            raise bad_request("message to delete not found")
        return True

    async def _delete_messages(self, params: JSON) -> bool:
        chat = self._target_chat(params, blockable=False)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must be a list of 1-100 message identifiers")
        for message_id in ids:
            if isinstance(message_id, int):
                chat.messages.pop(message_id, None)
        return True

    async def _answer_callback_query(self, params: JSON) -> bool:
        query = self._callbacks.get(str(params.get("callback_query_id")))
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
        return True

    async def _answer_inline_query(self, params: JSON) -> bool:
        query = self._inline_queries.get(str(params.get("inline_query_id")))
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
                parse_text(str(content["message_text"]), content.get("parse_mode"))
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
        return True

    async def _send_chat_action(self, params: JSON) -> bool:
        self._target_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _get_chat(self, params: JSON) -> JSON:
        chat = self._target_chat(params, blockable=False)
        return {**chat.info, "accent_color_id": 0, "max_reaction_count": 11}

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

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
        key = self._commands_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return list(self._commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _profile_setter(self, name: str) -> Handler:
        async def set_value(params: JSON) -> bool:
            self._profile[name, str(params.get("language_code") or "")] = str(
                params.get(name) or ""
            )
            return True

        return set_value

    def _profile_getter(self, name: str) -> Handler:
        async def get_value(params: JSON) -> JSON:
            language = str(params.get("language_code") or "")
            default = self.first_name if name == "name" else ""
            value = self._profile.get((name, language), self._profile.get((name, ""), default))
            return {name: value}

        return get_value

    async def _set_chat_menu_button(self, params: JSON) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise bad_request("can't parse menu button JSON object")
        self._profile["menu_button", str(params.get("chat_id") or "")] = button
        return True

    async def _get_chat_menu_button(self, params: JSON) -> JSON:
        key = ("menu_button", str(params.get("chat_id") or ""))
        return dict(
            self._profile.get(key) or self._profile.get(("menu_button", "")) or {"type": "default"}
        )

    # --- the users' side ------------------------------------------------------------------------

    def new_user(
        self,
        first_name: str = "Alice",
        *,
        last_name: str | None = None,
        username: str | None = None,
        with_username: bool = True,
        language_code: str | None = "en",
    ) -> User:
        """A new user with a unique id (and username ``user<id>`` unless given or disabled)."""
        user_id = next(self._user_ids)
        if username is None and with_username:
            username = f"user{user_id}"
        return User(user_id, first_name, username, language_code, last_name)

    def known_users(self, count: int) -> list[User]:
        """``count`` new users who have written to the bot before: their chats exist, so the
        bot can send to them (a broadcast's audience)."""
        users = [self.new_user(f"User {index}") for index in range(count)]
        for user in users:
            self._private_chat(user)
        return users

    def _private_chat(self, user: User) -> _Chat:
        """The user's chat with the bot; writing to the bot also unblocks it, as in Telegram."""
        self._users[user.id] = user
        self._blocked.discard(user.id)
        chat = self._chats.get(user.id)
        if chat is None:
            info: JSON = {"id": user.id, "first_name": user.first_name}
            if user.last_name is not None:
                info["last_name"] = user.last_name
            if user.username is not None:
                info["username"] = user.username
            info["type"] = "private"
            chat = self._chats[user.id] = _Chat(info)
        return chat

    def _user_message(self, chat: _Chat, user: User, reply_to: int | None, **content: Any) -> int:
        replied = None
        if reply_to is not None:
            replied = chat.messages.get(reply_to)
            if replied is None:
                raise AssertionError(f"no message {reply_to} to reply to\n{self.transcript(chat)}")
            replied = {key: value for key, value in replied.items() if key != "reply_to_message"}
        message = self._add_message(chat, user.to_api(), reply_to_message=replied, **content)
        return self._emit("message", message, chat.info["id"])

    async def send_text(
        self,
        user: User,
        text: str,
        *,
        entities: list[JSON] | None = None,
        reply_to: int | None = None,
    ) -> int:
        """The user writes ``text`` (commands get a bot_command entity); the update_id."""
        found = auto_entities(text, []) if entities is None else entities
        return self._user_message(
            self._private_chat(user), user, reply_to, text=text, entities=found
        )

    async def send_contact(
        self,
        user: User,
        phone_number: str,
        contact_user_id: int | Literal["self"] | None = "self",
        *,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> int:
        """The user shares a contact: their own by default, another's user_id, or None for none."""
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or user.first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = user.id if contact_user_id == "self" else contact_user_id
        return self._user_message(self._private_chat(user), user, None, contact=contact)

    async def send_group_text(
        self, user: User, chat_id: int, text: str, *, title: str | None = None
    ) -> int:
        """The user writes ``text`` in the group ``chat_id`` where the bot is a member."""
        self._users[user.id] = user
        chat = self._chats.get(chat_id)
        if chat is None:
            info = {"id": chat_id, "title": title or f"Group {abs(chat_id)}", "type": "group"}
            chat = self._chats[chat_id] = _Chat(info)
        entities = auto_entities(text, [])
        return self._user_message(chat, user, None, text=text, entities=entities)

    async def press_button(
        self,
        user: User,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        check: bool = True,
    ) -> int:
        """The user presses an inline button of a bot message; the callback query's update_id.

        With ``check`` the message must exist and show a button with this callback_data.
        """
        chat = self._chats.get(user.id if chat_id is None else chat_id)
        if chat is None:
            raise AssertionError(f"user {user.id} has no chat with the bot")
        self._users[user.id] = user
        message = chat.messages.get(message_id)
        if check and (message is None or message["from"]["id"] != self.bot_id):
            raise AssertionError(f"no bot message {message_id}\n{self.transcript(chat)}")
        if check and callback_data not in callback_buttons(message or {}):
            raise AssertionError(
                f"message {message_id} has no button {callback_data!r}\n{self.transcript(chat)}"
            )
        update_id = self._new_update_id()
        query_id = f"{self._query_prefix}{update_id}"
        self._callbacks[query_id] = _Callback(chat.info["id"])
        if not self.record_history and len(self._callbacks) > UNRECORDED_KEEP * 100:
            del self._callbacks[next(iter(self._callbacks))]
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": dict(message)
            if message is not None
            else {"chat": chat.info, "message_id": message_id, "date": 0},
            "chat_instance": str(abs(hash((self.bot_id, chat.info["id"])))),
            "data": callback_data,
        }
        return self._emit("callback_query", query, chat.info["id"], update_id)

    def inline_query(self, user: User, query: str = "") -> int:
        """The user types `@bot <query>` in some chat; the inline query's update_id."""
        self._users[user.id] = user
        update_id = self._new_update_id()
        query_id = f"{self._query_prefix}{update_id}"
        self._inline_queries[query_id] = _InlineQuery(user.id)
        payload = {"id": query_id, "from": user.to_api(), "query": query, "offset": ""}
        return self._emit("inline_query", payload, user.id, update_id)

    async def wait_for_inline_answer(
        self,
        query: int | str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> JSON:
        """The bot's answerInlineQuery (results, button, cache_time, is_personal) for the query."""
        record = self._inline_queries.get(self._query_id(query))
        if record is None:
            raise AssertionError(f"no inline query {query}")
        try:
            await asyncio.wait_for(record.answered.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"inline query {query} not answered within {timeout} s") from None
        assert record.answer is not None
        return record.answer

    def block_bot(self, user_id: int, *, notify: bool = False) -> int | None:
        """The user blocks the bot: sends to them answer 403 until they write again.

        With ``notify`` the bot also gets Telegram's my_chat_member update; its update_id.
        """
        self._blocked.add(user_id)
        chat, user = self._chats.get(user_id), self._users.get(user_id)
        if not notify or chat is None or user is None:
            return None
        change = {
            "chat": chat.info,
            "from": user.to_api(),
            "date": int(time.time()),
            "old_chat_member": {"user": self.bot_user, "status": "member"},
            "new_chat_member": {"user": self.bot_user, "status": "kicked", "until_date": 0},
        }
        return self._emit("my_chat_member", change, user_id)

    def unblock_bot(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given; None: every call)
        fail with this error; 429 carries ``parameters.retry_after``."""
        if description is None:
            description = DEFAULT_DESCRIPTIONS.get(error_code, "Error")
            if error_code == 429 and retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        error = ApiError(error_code, description, retry_after)
        target = None if chat_id is None else str(chat_id)
        self._failures.append(_Failure(method.lower(), error, times, target))

    def clear_failures(self) -> None:
        self._failures.clear()

    def hold_next(self, method: str, chat_id: int | str | None = None) -> Hold:
        """The next call of ``method`` (to ``chat_id``, if given) waits for ``release()``: the
        bot is then in the middle of its work, as long as the test likes."""
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

    # --- what happened --------------------------------------------------------------------------

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' own deadline
    ) -> JSON:
        """The next bot message to the chat (sent, or edited: ``"edited": True``) after those
        returned before; messages skipped by ``predicate`` are consumed too."""
        outbox = self._outboxes.get(chat_id)
        if outbox is None:
            outbox = self._outboxes[chat_id] = _Outbox()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while outbox.events:
                event = outbox.events.popleft()
                if predicate is None or predicate(event):
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                matching = " matching the predicate" if predicate else ""
                raise AssertionError(
                    f"no new bot message{matching} in chat {chat_id} within {timeout} s\n"
                    f"{self.transcript(chat_id)}"
                )
            waiter = loop.create_future()
            outbox.waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)

    def messages(self, chat_id: int) -> list[JSON]:
        """Every message of the chat, the users' and the bot's (current state), oldest first."""
        chat = self._chats.get(chat_id)
        return [dict(message) for message in chat.messages.values()] if chat else []

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        chat = self._chats.get(chat_id)
        message = chat.messages.get(message_id) if chat else None
        return None if message is None else dict(message)

    def reply_keyboard(self, chat_id: int) -> JSON | None:
        """The reply keyboard markup the bot last set in the chat (None after remove_keyboard)."""
        chat = self._chats.get(chat_id)
        return chat.reply_keyboard if chat else None

    def transcript(self, chat: int | _Chat) -> str:
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

    def busiest_second(self, *methods: str) -> int:
        """The most calls of ``methods`` (any case) that arrived within one second, over the
        whole history: the bot's peak rate as Telegram would measure it."""
        keys = {method.lower() for method in methods}
        times = sorted(call.time for call in self._calls if call.method.lower() in keys)
        most, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    def bot_calls(self, method: str | None = None) -> list[BotCall]:
        """The bot's API calls (all, or of one method, any case), in order of completion."""
        if method is None:
            return list(self._calls)
        key = method.lower()
        return [call for call in self._calls if call.method.lower() == key]

    def my_commands(self, scope: str | JSON = "default", language_code: str = "") -> list[JSON]:
        """The commands set by setMyCommands for a scope (type name or BotCommandScope)."""
        scope = {"type": scope} if isinstance(scope, str) else scope
        return list(self._commands.get((json.dumps(scope, sort_keys=True), language_code), []))

    def callback_answer(self, query: int | str) -> JSON | None:
        """The answerCallbackQuery of a callback query (by update_id or query id), if any."""
        record = self._callbacks.get(self._query_id(query))
        return None if record is None else record.answer

    def _query_id(self, query: int | str) -> str:
        return f"{self._query_prefix}{query}" if isinstance(query, int) else query

    async def wait_for_callback_answer(
        self,
        query: int | str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> JSON:
        """The bot's answerCallbackQuery (text, show_alert, url, cache_time) for the query."""
        record = self._callbacks.get(self._query_id(query))
        if record is None:
            raise AssertionError(f"no callback query {query}")
        try:
            await asyncio.wait_for(record.answered.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"callback query {query} not answered within {timeout} s\n"
                f"{self.transcript(record.chat_id)}"
            ) from None
        assert record.answer is not None
        return record.answer

    def is_acknowledged(self, update_id: int) -> bool:
        """Confirmed by a later getUpdates offset, or answered 2xx by the webhook."""
        return (
            self._first_update_id <= update_id < self._next_update_id
            and update_id not in self._unacked
            and update_id not in self._dropped
        )

    def pending_updates(self) -> list[int]:
        """Updates that the bot has not confirmed yet, oldest first."""
        return list(self._unacked)

    async def wait_until_acknowledged(
        self,
        update_ids: int | Iterable[int],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot confirmed all these updates; AssertionError if one is dropped."""
        ids = [update_ids] if isinstance(update_ids, int) else list(update_ids)
        loop = asyncio.get_running_loop()
        waiters: dict[int, asyncio.Future[bool]] = {}
        for update_id in ids:
            if update_id in self._unacked:
                waiter = self._ack_waiters.get(update_id)
                if waiter is None:
                    waiter = self._ack_waiters[update_id] = loop.create_future()
                waiters[update_id] = waiter
            elif not self.is_acknowledged(update_id):
                raise AssertionError(f"update {update_id} was dropped or never existed")
        if waiters:
            await asyncio.wait(waiters.values(), timeout=timeout)
        late = [i for i, w in waiters.items() if not w.done()]
        dropped = [i for i, w in waiters.items() if w.done() and not w.result()]
        if late or dropped:
            mode = f"webhook {self._webhook_targets}" if self._webhook_targets else "polling"
            tail = "".join(f"\n  {d}" for d in self.deliveries[-5:])
            raise AssertionError(
                f"updates not acknowledged within {timeout} s: {late}; dropped: {dropped} "
                f"({mode}){tail}"
            )
