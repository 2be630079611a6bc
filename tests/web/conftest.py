"""The web app in a real browser: Debian's Chromium driven by Playwright, headless, against the
program's application served by uvicorn on a free loopback port in this test's event loop (over
the real service and database of the test run).

Telegram's own script cannot be fetched here (and must not be, outside Telegram): inside a
Mini App test the browser gets `telegram_web_app_double.js` in its place, which reads the launch
parameters from the address like the real one does.
"""

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Route as PlaywrightRoute

from api import create_app
from db.service import ReferralService
from runtime.http import http_server
from settings import Settings
from tests.api.conftest import api_settings
from tests.conftest import new_phone
from tests.e2e.conftest import free_port

BOT_TOKEN = "424242:web-app-tests-bot-token"
BOT_USERNAME = "test_referral_bot"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
TELEGRAM_DOUBLE = Path(__file__).with_name("telegram_web_app_double.js").read_text()
TIMEOUT_MS = 10_000
# Answers the page expects and handles (wrong codes, unknown invite codes...): the browser logs
# each as a console error, which is not a fault of the page.
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status of 4")


def chromium_path() -> str:
    """Debian's Chromium (Playwright's own download cannot work here)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        message = "no chromium on PATH: `apt-get install chromium` (.ci/run does)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    """One headless Chromium for the run; closed at the end, whatever happened."""
    browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True)
    try:
        yield browser
    finally:
        await browser.close()


@dataclass
class WebApp:
    """The program's HTTP application, served on a loopback port."""

    url: str
    settings: Settings
    service: ReferralService

    def address(self, path: str = "/") -> str:
        return self.url + path


def web_settings(tmp_path: Path, port: int, **overrides: Any) -> Settings:
    return api_settings(
        tmp_path,
        bot_token=BOT_TOKEN,
        web_host="127.0.0.1",
        web_port=port,
        **overrides,
    )


ServeApp = Callable[..., Awaitable[WebApp]]


@pytest.fixture
async def serve_app(tmp_path: Path, service: ReferralService) -> AsyncIterator[ServeApp]:
    """`await serve_app(bot_username=..., **settings)` serves the application as the program does
    (`runtime.http`: uvicorn, httptools); every server is stopped at the end of the test."""
    servers = []

    async def serve(*, bot_username: str | None = None, **overrides: Any) -> WebApp:
        port = free_port()
        settings = web_settings(tmp_path, port, **overrides)
        server = http_server(settings, create_app(settings, service, bot_username=bot_username))
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        return WebApp(f"http://127.0.0.1:{port}", settings, service)

    yield serve
    for server, task in servers:
        server.should_exit = True
        await task


@pytest.fixture
async def web_app(serve_app: ServeApp) -> WebApp:
    """The application without a bot: invite links are the web app's own `/?ref=` links."""
    return await serve_app()


@dataclass
class Tab:
    """A page in a fresh browser context (its own storage), with what it did wrong recorded."""

    page: Page
    context: BrowserContext
    app: WebApp
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    expected_console: list[str] = field(default_factory=list)  # what a test provokes on purpose

    async def open(self, path: str = "/") -> None:
        await self.page.goto(self.app.address(path))

    async def screen(self, name: str) -> None:
        """Wait until the page shows the screen `name` (body[data-screen])."""
        await self.page.wait_for_selector(f"body[data-screen={name}]", timeout=TIMEOUT_MS)

    async def text(self, selector: str) -> str:
        return (await self.page.locator(selector).inner_text()).strip()


OpenTab = Callable[..., Awaitable[Tab]]


@pytest.fixture
async def open_tab(browser: Browser, web_app: WebApp) -> AsyncIterator[OpenTab]:
    """`await open_tab(app=..., **context_options)`: a tab in a new context; at the end every
    context is closed, and the test fails if the page threw, broke its Content-Security-Policy
    or asked for anything from another origin that was not Telegram's script."""
    tabs: list[Tab] = []

    async def open_one(app: WebApp | None = None, **options: Any) -> Tab:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        options.setdefault("locale", "en-US")
        context = await browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        tab = Tab(await context.new_page(), context, app or web_app)
        tabs.append(tab)

        async def elsewhere(route: PlaywrightRoute) -> None:
            url = route.request.url
            if url == TELEGRAM_SCRIPT:
                await route.fulfill(body=TELEGRAM_DOUBLE, content_type="text/javascript")
            else:
                tab.foreign_requests.append(url)
                await route.abort()

        await context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/)"), elsewhere)
        tab.page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
        tab.page.on(
            "console",
            lambda message: (
                tab.errors.append(f"console: {message.text}")
                if message.type == "error"
                and not EXPECTED_CONSOLE.search(message.text)
                and not any(expected in message.text for expected in tab.expected_console)
                else None
            ),
        )
        return tab

    yield open_one
    for tab in tabs:
        await tab.context.close()
    for tab in tabs:
        assert not tab.errors, tab.errors
        assert all(url == TELEGRAM_SCRIPT for url in tab.foreign_requests), tab.foreign_requests


async def wait_until(page: Page, expression: str) -> None:
    """Poll a JavaScript expression until it is true. (Playwright's wait_for_function evaluates its
    predicate with eval inside the page, which the page's Content-Security-Policy forbids, as it
    should.)"""
    for _ in range(TIMEOUT_MS // 25):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"still false after {TIMEOUT_MS} ms: {expression}")


async def log_in(tab: Tab, phone: str | None = None) -> str:
    """Log in through the page with a phone (a new one unless given); the phone."""
    phone = phone or new_phone()
    page = tab.page
    await tab.screen("phone")
    await page.fill("#phone", phone)
    await page.click("#phone-form [type=submit]")
    await tab.screen("code")
    demo = await tab.text("#code-demo")
    code = demo.rsplit(" ", 1)[-1]
    await page.fill("#code", code)
    await page.click("#code-form [type=submit]")
    await member_page_loaded(tab)
    return phone


async def member_page_loaded(tab: Tab) -> None:
    await tab.screen("member")
    await tab.page.wait_for_selector(".member-grid[aria-busy=false]", timeout=TIMEOUT_MS)


def telegram_launch(init_data: str, *, theme: str = "{}", start_param: str = "") -> str:
    """The fragment Telegram opens a Mini App with."""
    fragment = f"#tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=8.0"
    fragment += f"&tgWebAppPlatform=tdesktop&tgWebAppThemeParams={quote(theme, safe='')}"
    if start_param:
        fragment += f"&tgWebAppStartParam={quote(start_param, safe='')}"
    return "/" + fragment
