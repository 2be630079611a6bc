"""The bench's people as Telegram shows them: the Bot API stand-in the program talks to, set up
for a load (every seeded member has a chat with the bot; little is kept), a person per Telegram
id, and the initData Telegram signs for their Mini App."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from playground.bot_api import BotApi, Retention, User

BOT_TOKEN = "7000000001:bench-token-for-the-double"


def bench_bot_api() -> BotApi:
    """Every private chat exists (the bench's people write to the program straight, and seeded
    members get notifications); what the bot sends goes to whoever watches the chat, and only
    the last thousand chats, without their messages, are kept over a run of a million people."""
    return BotApi(
        BOT_TOKEN,
        "referral_bench_bot",
        "Referral bench",
        open_chats=True,
        retention=Retention(messages_per_chat=0, chats=1_000, calls=False),
    )


def person(user_id: int) -> User:
    """The Telegram user behind one of the bench's ids (they speak English, the default)."""
    return User(user_id, "Bench", language_code="en")


def mini_app_login(bot_token: str, user_id: int) -> bytes:
    """The body of `POST /api/telegram/login/`: initData as Telegram signs it for the bot's Mini
    App, opened just now by `user_id`."""
    data = {
        "query_id": f"AAH{user_id:x}",
        "user": json.dumps(person(user_id).to_api(), separators=(",", ":")),
        "auth_date": str(int(time.time())),
    }
    checked = "\n".join(f"{name}={value}" for name, value in sorted(data.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    data["hash"] = hmac.new(secret, checked.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"init_data": urlencode(data)}).encode()
