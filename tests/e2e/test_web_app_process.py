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


async def test_without_a_token_the_program_runs_the_bot_in_its_playground_and_says_so(
    bot_env: dict[str, str], start_bot: StartBot
) -> None:
    env = {name: value for name, value in bot_env.items() if name != "BOT_TOKEN"}
    program = await start_bot(env)  # the default command, as on a fresh machine
    status, page, headers = await fetch(program.url + "/")
    assert status == 200 and "<title>Referral club</title>" in page
    assert "script-src 'self' https://telegram.org" in headers["Content-Security-Policy"]
    status, page, headers = await fetch(program.url + "/playground/")
    assert status == 200 and "<title>Playground</title>" in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    # The bot runs: its deep links are the web app's invite links.
    status, body, _ = await fetch(program.url + "/api/web-app/")
    assert status == 200 and '"bot_username":"playground_referral_bot"' in body
    said = [line for line in program.log().splitlines() if "playground" in line]
    assert len(said) == 1
    assert said[0].endswith(
        f"playground (the bot without Telegram) on {program.url}/playground/; web app and "
        f"HTTP API on {program.url}/ (BOT_TOKEN is not set)"
    )


async def test_with_a_token_there_is_no_playground(
    bot_env: dict[str, str], start_bot: StartBot
) -> None:
    program = await start_bot(bot_env)
    for path in ("/playground/", "/api/playground/"):
        status, body, _ = await fetch(program.url + path)
        assert status == 404, (path, body)


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
