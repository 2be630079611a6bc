"""Telegram-shaped updates from private chats, as the bytes Telegram POSTs to a webhook, and the
initData Telegram signs for a Mini App."""

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Bench", "language_code": "en"}


def _message(user_id: int, **content: Any) -> dict[str, Any]:
    return {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
        "from": _user(user_id),
        **content,
    }


def _update(message: dict[str, Any]) -> bytes:
    return json.dumps({"update_id": next(_update_ids), "message": message}).encode()


def text_update(user_id: int, text: str) -> bytes:
    """A text message; a leading `/command` carries its bot_command entity, as Telegram sends it."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return _update(_message(user_id, **content))


def inline_query_update(user_id: int, query: str = "") -> bytes:
    """Somebody typing `@bot <query>` in some chat. The query's id starts with the user's id, so
    that the double knows whose the answer is (answerInlineQuery names no chat)."""
    inline_query = {
        "id": f"{user_id}-{next(_message_ids)}",
        "from": _user(user_id),
        "query": query,
        "offset": "",
    }
    return json.dumps({"update_id": next(_update_ids), "inline_query": inline_query}).encode()


def contact_update(user_id: int, phone_number: str) -> bytes:
    """The user's own contact, shared with the request_contact button (digits without a `+`)."""
    contact = {"phone_number": phone_number, "first_name": "Bench", "user_id": user_id}
    return _update(_message(user_id, contact=contact))


def mini_app_login(bot_token: str, user_id: int) -> bytes:
    """The body of `POST /api/telegram/login/`: initData as Telegram signs it for the bot's Mini
    App, opened just now by `user_id`."""
    data = {
        "query_id": f"AAH{user_id:x}",
        "user": json.dumps(_user(user_id), separators=(",", ":")),
        "auth_date": str(int(time.time())),
    }
    checked = "\n".join(f"{name}={value}" for name, value in sorted(data.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    data["hash"] = hmac.new(secret, checked.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"init_data": urlencode(data)}).encode()
