"""What a message carries, checked as Telegram checks it: text in the HTML parse mode (the bot's
default) turned into plain text and entities, Telegram's length limits, and reply markup."""

import itertools
import re
from typing import Any, NoReturn

from playground.errors import bad_request

JSON = dict[str, Any]

TEXT_LIMIT = 4096  # characters of a message's text, after entities are parsed
CAPTION_LIMIT = 1024  # characters of a photo's or document's caption
INLINE_ACTIONS = frozenset(
    [
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
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def formatted(
    text: str, parse_mode: str | None, *, caption: bool = False
) -> tuple[str, list[JSON]]:
    """A text (or a caption) as Telegram keeps it: parsed, trimmed, within its limit; or its 400."""
    if not parse_mode:
        entities: list[JSON] = []
    elif parse_mode.lower() == "html":
        text, entities = parse_html(text)
    else:
        raise bad_request("unsupported parse_mode")  # the bot speaks HTML only
    text, entities = trim_text(text, entities)
    if caption and len(text) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    if len(text) > TEXT_LIMIT:
        raise bad_request("message is too long")
    return text, entities


_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")


def command_entities(text: str) -> list[JSON]:
    """The bot_command entities Telegram finds in what a person types."""
    if "/" not in text:
        return []
    return [
        {
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
            "type": "bot_command",
        }
        for match in _COMMAND.finditer(text)
    ]


def _parse_error(message: str) -> NoReturn:
    raise bad_request(f"can't parse entities: {message}")


def _byte_offset(source: str, index: int) -> str:
    return f"at byte offset {len(source[:index].encode())}"


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


def _buttons(markup: JSON, field: str, kind: str) -> list[Any]:
    """The buttons of a keyboard's rows, which must be an array of arrays."""
    rows = markup[field]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{field}" of the {kind} should be an Array of Arrays')
    return list(itertools.chain.from_iterable(rows))


def check_markup(markup: Any) -> JSON | None:
    """The reply_markup parameter validated like Telegram does; None when absent or empty."""
    if markup is None or markup == {}:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for button in _buttons(markup, "inline_keyboard", "InlineKeyboardMarkup"):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if INLINE_ACTIONS.isdisjoint(button):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
        return markup
    if "keyboard" in markup:
        for button in _buttons(markup, "keyboard", "ReplyKeyboardMarkup"):
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
