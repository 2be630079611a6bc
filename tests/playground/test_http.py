"""The Bot API on the wire: method names in any case, Telegram's 404 and 401, and parameters
decoded from a form as Telegram decodes them."""

import json
from typing import Any

import aiohttp
from aiogram import Bot

from playground.bot_api import BotApi
from playground.http import BotApiServer


async def call(
    server: BotApiServer, method: str, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    """A raw JSON request."""
    url = f"{server.url}/bot{token or server.api.token}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, json=params) as response:
        return response.status, await response.json()


async def test_get_me_and_method_names_in_any_case(
    bot: Bot, double: BotApi, double_server: BotApiServer
) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        123456,
        True,
        "test_referral_bot",
        "Referral Bot",
    )
    assert me.supports_inline_queries is True
    status, body = await call(double_server, "GETME")
    assert status == 200 and body["result"]["username"] == double.username
    assert [c.method for c in double.bot_calls()] == ["getMe", "getMe"]


async def test_unknown_method_and_token(double_server: BotApiServer) -> None:
    assert await call(double_server, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert await call(double_server, "getMe", token="654321:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )


async def test_form_bodies_are_decoded(double: BotApi, double_server: BotApiServer) -> None:
    heidi = double.new_user("Heidi")
    await double.send_text(heidi, "hi")
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    form = aiohttp.FormData(
        {
            "chat_id": str(heidi.id),
            "text": "123",
            "disable_notification": "true",
            "reply_markup": json.dumps(markup),
        }
    )
    form.add_field("unused_file", b"data", filename="a.txt")  # forces multipart/form-data
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{double_server.url}/bot{double.token}/sendMessage", data=form) as response,
    ):
        body = await response.json()
    assert response.status == 200, body
    assert body["result"]["text"] == "123" and body["result"]["reply_markup"] == markup
    params = double.bot_calls("sendMessage")[0].params
    assert params["chat_id"] == heidi.id and params["disable_notification"] is True
    assert params["text"] == "123"  # a text stays a text
