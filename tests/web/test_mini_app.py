"""The web app inside Telegram, as a Mini App: Telegram's signed initData instead of a phone,
Telegram's theme and language, and the way back to the bot."""

import json
from urllib.parse import parse_qsl, urlencode

import pytest

from api.routes.telegram_login import MAX_AGE
from db.service import ReferralService
from tests.conftest import join, signed_init_data
from tests.web.conftest import (
    BOT_TOKEN,
    BOT_USERNAME,
    TELEGRAM_SCRIPT,
    OpenTab,
    ServeApp,
    Tab,
    WebApp,
    member_page_loaded,
    telegram_launch,
    wait_until,
)

THEME = {
    "bg_color": "#17212b",
    "secondary_bg_color": "#232e3c",
    "section_bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
}
TELEGRAM_ID = 777_000_001


@pytest.fixture
async def bot_app(serve_app: ServeApp) -> WebApp:
    """The application of a program whose bot runs (so its username is known)."""
    return await serve_app(bot_username=BOT_USERNAME)


async def open_in_telegram(
    open_tab: OpenTab, app: WebApp, init_data: str, *, start_param: str = ""
) -> Tab:
    tab = await open_tab(app=app)
    await tab.open(telegram_launch(init_data, theme=json.dumps(THEME), start_param=start_param))
    return tab


def rgb(hex_color: str) -> str:
    red, green, blue = (int(hex_color[at : at + 2], 16) for at in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


async def test_a_linked_account_logs_in_with_signed_init_data(
    open_tab: OpenTab, bot_app: WebApp, service: ReferralService
) -> None:
    member = await join(service, telegram_id=TELEGRAM_ID)
    init_data = signed_init_data(BOT_TOKEN, TELEGRAM_ID, language_code="ru")
    tab = await open_in_telegram(open_tab, bot_app, init_data)
    await member_page_loaded(tab)
    page = tab.page
    assert await tab.text("#own-code") == member.invite_code
    assert await page.input_value("#invite-link") == (
        f"https://t.me/{BOT_USERNAME}?start={member.invite_code}"
    )
    assert await page.is_hidden("#logout"), "inside Telegram the account is Telegram's"
    assert await page.evaluate("window.telegramDouble.ready && window.telegramDouble.expanded")
    # Telegram's language and theme.
    assert await tab.text("#own-code-title") == "ВАШ КОД ПРИГЛАШЕНИЯ"
    background = "getComputedStyle(document.body).backgroundColor"
    assert await page.evaluate(background) == rgb(THEME["secondary_bg_color"])
    card = "getComputedStyle(document.querySelector('.card')).backgroundColor"
    assert await page.evaluate(card) == rgb(THEME["section_bg_color"])
    button = "getComputedStyle(document.getElementById('share')).backgroundColor"
    assert await page.evaluate(button) == rgb(THEME["button_color"])
    assert await page.evaluate("getComputedStyle(document.body).color") == rgb(THEME["text_color"])


async def test_an_account_not_linked_is_sent_to_the_bot(
    open_tab: OpenTab, bot_app: WebApp, service: ReferralService
) -> None:
    inviter = await join(service)
    tab = await open_in_telegram(
        open_tab,
        bot_app,
        signed_init_data(BOT_TOKEN, TELEGRAM_ID),
        start_param=inviter.invite_code,
    )
    await tab.screen("telegram")
    assert await tab.text("#telegram-title") == "Confirm your phone in the bot first"
    await tab.page.click("#telegram-open-bot")
    opened = await tab.page.evaluate("window.telegramDouble.opened")
    assert opened == [f"https://t.me/{BOT_USERNAME}?start={inviter.invite_code}"]
    # The person shares their phone in the bot, comes back and tries again.
    member = await join(service, telegram_id=TELEGRAM_ID)
    await tab.page.click("#telegram-retry")
    await member_page_loaded(tab)
    assert await tab.text("#own-code") == member.invite_code
    await tab.page.wait_for_selector("#join-confirm:not([hidden])")  # after the code's check
    assert await tab.text("#join-confirm-text") == (
        f"Join with the code {inviter.invite_code} from the link you opened?"
    )


def tampered(init_data: str) -> str:
    fields = dict(parse_qsl(init_data))
    fields["user"] = fields["user"].replace(str(TELEGRAM_ID), str(TELEGRAM_ID + 1))
    return urlencode(fields)


@pytest.mark.parametrize(
    "init_data",
    [
        pytest.param(tampered(signed_init_data(BOT_TOKEN, TELEGRAM_ID)), id="tampered"),
        pytest.param(signed_init_data(BOT_TOKEN, TELEGRAM_ID, age=MAX_AGE + 60), id="old"),
        pytest.param(signed_init_data("1:another-bot", TELEGRAM_ID), id="another bot"),
    ],
)
async def test_init_data_that_proves_nothing_is_refused(
    open_tab: OpenTab, bot_app: WebApp, service: ReferralService, init_data: str
) -> None:
    await join(service, telegram_id=TELEGRAM_ID)
    await join(service, telegram_id=TELEGRAM_ID + 1)
    tab = await open_in_telegram(open_tab, bot_app, init_data)
    await tab.screen("telegram")
    assert await tab.text("#telegram-title") == "Telegram could not confirm who you are"
    assert await tab.text("#telegram-text") == (
        "The sign-in data is invalid or more than a day old. Close the app and open it again "
        "from the bot."
    )
    assert await tab.page.evaluate("sessionStorage.getItem('referral.token')") is None


async def test_share_opens_telegrams_share_dialog(
    open_tab: OpenTab, bot_app: WebApp, service: ReferralService
) -> None:
    member = await join(service, telegram_id=TELEGRAM_ID)
    tab = await open_in_telegram(open_tab, bot_app, signed_init_data(BOT_TOKEN, TELEGRAM_ID))
    await member_page_loaded(tab)
    await tab.page.click("#share")
    await wait_until(tab.page, "window.telegramDouble.opened.length === 1")
    [opened] = await tab.page.evaluate("window.telegramDouble.opened")
    link = f"https://t.me/{BOT_USERNAME}?start={member.invite_code}"
    assert opened.startswith("https://t.me/share/url?url=")
    assert dict(parse_qsl(opened.split("?", 1)[1])) == {
        "url": link,
        "text": f"Join me with my invite code {member.invite_code}",
    }


async def test_a_plain_browser_never_loads_telegrams_script(open_tab: OpenTab) -> None:
    tab = await open_tab()
    requested: list[str] = []
    tab.page.on("request", lambda request: requested.append(request.url))
    await tab.open()
    await tab.screen("phone")
    assert TELEGRAM_SCRIPT not in requested
    assert await tab.page.evaluate("'Telegram' in window") is False
    assert await tab.page.evaluate("document.documentElement.dataset.telegram") is None
