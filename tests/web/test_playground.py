"""The playground in a real browser, against the real `main.py` started without a bot token, as a
newcomer starts it: two people and an operator, by clicking and typing only."""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import new_phone
from tests.e2e.conftest import BotProcess, bot_env, start_bot  # noqa: F401 - fixtures
from tests.web.conftest import TIMEOUT_MS, Tab, WebApp, wait_until

OPERATOR = 4242
CODE_LINE = re.compile(r"verification code for .+?: (\d{4,8}) \(valid")
StartBot = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def program(bot_env: dict[str, str], start_bot: StartBot) -> BotProcess:  # noqa: F811
    """`main.py` as on a fresh machine (no BOT_TOKEN, codes in the log), with an operator."""
    env = {name: value for name, value in bot_env.items() if name != "BOT_TOKEN"}
    # The operator logs into the web app right after confirming the phone in the bot: no
    # cooldown between the two codes.
    env |= {"CODE_DELIVERY": "log", "ADMIN_IDS": str(OPERATOR), "CODE_RESEND_COOLDOWN": "0"}
    return await start_bot(env)


@pytest.fixture
async def open_playground(
    browser: Browser, program: BotProcess, open_tab: Callable[..., Awaitable[Tab]]
) -> Callable[..., Awaitable[Tab]]:
    app = WebApp(program.url, None, None)  # type: ignore[arg-type]

    async def open_one(**options: object) -> Tab:
        tab = await open_tab(app=app, **options)
        await tab.open("/playground/")
        try:
            await tab.screen("playground")
        except Exception:
            raise AssertionError(tab.errors) from None
        return tab

    return open_one


async def new_code(program: BotProcess, seen: int) -> str:
    """The code the program logged after the `seen` codes before it (CODE_DELIVERY=log)."""
    for _ in range(TIMEOUT_MS // 25):
        codes = CODE_LINE.findall(program.log())
        if len(codes) > seen:
            return str(codes[seen])
        await asyncio.sleep(0.025)
    raise AssertionError(f"no new code in the log:\n{program.log()}")


async def add_person(
    page: Page, name: str, phone: str, *, language: str = "en", id: str = ""
) -> None:
    await page.fill("#person-name", name)
    await page.fill("#person-phone", phone)
    await page.select_option("#person-language", language)
    await page.fill("#person-id", id)
    await page.click("#person-form [type=submit]")
    await page.wait_for_selector(f".pg-person[aria-pressed=true]:has-text('{name}')")


async def type_message(page: Page, text: str) -> None:
    await page.fill("#composer-text", text)
    await page.press("#composer-text", "Enter")


def bot_says(page: Page, text: str) -> str:
    return f".pg-in:has-text({json.dumps(text, ensure_ascii=False)})"


async def join(
    page: Page, program: BotProcess, codes_seen: int, *, share: str, welcome: str
) -> None:
    """Share the phone with the reply button, type the code from the log."""
    await page.click(f"#reply-keyboard button:has-text({json.dumps(share, ensure_ascii=False)})")
    code = await new_code(program, codes_seen)
    await type_message(page, code)
    await page.wait_for_selector(bot_says(page, welcome))


async def test_two_people_and_an_operator_walk_the_whole_journey(
    open_playground: Callable[..., Awaitable[Tab]], program: BotProcess, tmp_path: Path
) -> None:
    first = await open_playground()
    page = first.page
    await first.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # Ann joins: /start, the contact button, the code from the program's log.
    await add_person(page, "Ann", new_phone())
    await type_message(page, "/start")
    await page.wait_for_selector(bot_says(page, "share your phone number"))
    await join(page, program, 0, share="Share my phone number", welcome="Your number is confirmed")
    # The menu's My code: the card, its copy button.
    await page.click(".pg-inline-button:has-text('My code')")
    card = page.locator(bot_says(page, "Your invite code")).last
    await card.wait_for()
    code = re.search(r"Your invite code: ([A-Z2-9]{6})", await card.inner_text())
    assert code, await card.inner_text()
    await card.locator(".pg-inline-button:has-text('Copy code')").click()
    await page.wait_for_selector("#notice:has-text('Copied')")
    assert await page.evaluate("navigator.clipboard.readText()") == code.group(1)
    # Her own code is refused.
    await type_message(page, f"/invite {code.group(1)}")
    await page.wait_for_selector(bot_says(page, "That is your own code"))

    # A second tab follows Ann, on a phone's screen.
    second = await open_playground(viewport={"width": 360, "height": 740})
    await wait_until(second.page, "document.querySelector('#messages').children.length > 3")
    assert await second.page.evaluate("document.documentElement.scrollWidth <= 360")

    # Bob, in Russian, opens Ann's link from her card.
    await add_person(page, "Боб", new_phone(), language="ru")
    await page.click(".pg-person:has-text('Ann')")
    await card.wait_for()
    await card.locator(f"a:has-text('start={code.group(1)}')").click()
    await page.click("#pick-list button:has-text('Боб')")
    await page.wait_for_selector(bot_says(page, "Привет"))
    await join(page, program, 1, share="Поделиться номером", welcome="Номер подтверждён")
    # Ann's page hears of it without a reload.
    await second.page.wait_for_selector(bot_says(second.page, "joined with your invite code"))
    await type_message(page, "/invite")
    await page.wait_for_selector(bot_says(page, "Вы уже присоединились"))

    # The operator: /stats shows its chart; /mydata downloads.
    olga_phone = new_phone()
    await add_person(page, "Olga", olga_phone, id=str(OPERATOR))
    await page.wait_for_selector("#operator-web:has-text('log into the web app')")
    await type_message(page, "/start")
    await join(page, program, 2, share="Share my phone number", welcome="Your number is confirmed")
    await page.click("#menu-button")
    await page.click("#menu button:has-text('/stats')")
    chart = page.locator(".pg-photo").last
    await chart.wait_for()
    await wait_until(page, "[...document.querySelectorAll('.pg-photo')].at(-1).naturalWidth > 0")
    await type_message(page, "/mydata")
    link = page.locator(".pg-document").last
    async with page.expect_download() as downloading:
        await link.click()
    download = await downloading.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.stat().st_size > 0 and str(OPERATOR) in saved.read_text(errors="replace")

    # The played operator logs into the web app with the same phone: the operators' view opens.
    web = await open_playground()
    await web.open("/")
    await web.screen("phone")
    await web.page.fill("#phone", olga_phone)
    await web.page.click("#phone-form [type=submit]")
    await web.screen("code")
    await web.page.fill("#code", await new_code(program, 3))
    await web.page.click("#code-form [type=submit]")
    await web.page.click("#admin-open")
    await web.screen("admin")
