"""The web app from the real `main.py`: served without a bot token on a fresh setup, and opened
from the bot as a Mini App when WEB_APP_URL is set."""

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from playground.bot_api import BotApi
from tests.conftest import en
from tests.e2e.conftest import BotProcess
from tests.e2e.test_bot_process import has, join

StartBot = Callable[..., Awaitable[BotProcess]]
WEB_APP_URL = "https://club.example/app/"


async def fetch(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_without_a_token_the_program_serves_the_web_app_and_says_so(
    bot_env: dict[str, str], start_bot: StartBot
) -> None:
    env = {name: value for name, value in bot_env.items() if name != "BOT_TOKEN"}
    program = await start_bot(env)  # the default command, as on a fresh machine
    status, page, headers = await fetch(program.url + "/")
    assert status == 200 and "<title>Referral club</title>" in page
    assert "script-src 'self' https://telegram.org" in headers["Content-Security-Policy"]
    status, body, _ = await fetch(program.url + "/api/web-app/")
    assert status == 200 and '"bot_username":null' in body
    said = [line for line in program.log().splitlines() if "bot is off" in line]
    assert len(said) == 1
    assert said[0].endswith(
        f"the bot is off (BOT_TOKEN is not set); the web app and the HTTP API are at {program.url}/"
    )


async def test_with_web_app_url_the_bot_opens_the_web_app(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    program = await start_bot({**bot_env, "WEB_APP_URL": WEB_APP_URL})
    [call] = double.bot_calls("setChatMenuButton")
    menu_button: dict[str, Any] = call.params["menu_button"]
    assert menu_button == {
        "type": "web_app",
        "text": en("button-open-app"),
        "web_app": {"url": WEB_APP_URL},
    }
    user = double.new_user("Member")
    code = await join(double, user)
    await double.send_text(user, "/code")
    card = await double.wait_for_message(user.id, has(code))
    rows = card["reply_markup"]["inline_keyboard"]
    assert [button["text"] for row in rows for button in row] == [
        en("button-copy-code"),
        en("button-share"),
        en("button-invite-in-chat"),
        en("button-qr"),
        en("button-open-app"),
    ]
    assert rows[-1][0]["web_app"] == {"url": WEB_APP_URL}
    # The page's invite links are the bot's deep links.
    status, body, _ = await fetch(program.url + "/api/web-app/")
    assert status == 200
    assert f'"invite_link":"https://t.me/{double.username}?start={{code}}"' in body
