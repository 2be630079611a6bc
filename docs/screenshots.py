"""Take the README's screenshots of the web app from the real program:

    uv run python docs/screenshots.py

Starts `main.py api` (chat delivery, a throwaway DATA_DIR unless DATABASE_URL is set) on a free
local port, fills it through the HTTP API with a member who joined with a friend's code and has a
few referrals of their own, and saves with Debian's Chromium (Playwright):
`docs/web-login-desktop.png` (1280x800) and `docs/web-member-phone.png` (a 360 px wide phone,
the whole page).
"""

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from playwright.async_api import Browser, async_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FRIENDS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def sign_in(client: httpx.AsyncClient, phone: str) -> str:
    """An access token through login and verify (chat delivery answers with the code)."""
    code = (await client.post("/api/login/", json={"phone": phone})).json()["code"]
    answer = await client.post("/api/verify/", json={"phone": phone, "code": code})
    token: str = answer.json()["token"]
    return token


async def fill(client: httpx.AsyncClient, phone: str) -> None:
    """The member of the screenshots: joined with a friend's code, a few friends joined with
    theirs."""
    inviter = await sign_in(client, "+7 903 555-01-20")
    inviter_code = (await client.get("/api/data/", headers=bearer(inviter))).json()["ref"]
    member = await sign_in(client, phone)
    await client.post("/api/data/", json={"ref_code": inviter_code}, headers=bearer(member))
    own_code = (await client.get("/api/data/", headers=bearer(member))).json()["ref"]
    for number in range(FRIENDS):
        friend = await sign_in(client, f"+7 916 204-{30 + number:02d}-{17 + 7 * number:02d}")
        await client.post("/api/data/", json={"ref_code": own_code}, headers=bearer(friend))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def shoot(browser: Browser, url: str, phone: str) -> None:
    desktop = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = await desktop.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-screen=phone]")
    await page.screenshot(path=DOCS / "web-login-desktop.png")
    await desktop.close()

    mobile = await browser.new_context(
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    page = await mobile.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-screen=phone]")
    await page.fill("#phone", phone)
    await page.click("#phone-form [type=submit]")
    await page.wait_for_selector("body[data-screen=code]")
    code = (await page.inner_text("#code-demo")).rsplit(" ", 1)[-1]
    await page.fill("#code", code)
    await page.click("#code-form [type=submit]")
    await page.wait_for_selector(".member-grid[aria-busy=false]")
    await page.wait_for_selector("#qr[src]")
    await page.evaluate("document.getElementById('qr').decode()")
    await page.screenshot(path=DOCS / "web-member-phone.png", full_page=True)
    await mobile.close()


@asynccontextmanager
async def running_program(*arguments: str, **settings: str) -> AsyncIterator[str]:
    """`main.py <arguments>` on a free local port with `settings` (and a throwaway DATA_DIR
    unless DATABASE_URL is set), once it answers /healthz; its address. SIGTERM at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as data_dir:
        keep = ("PATH", "HOME", "LANG", "DATABASE_URL")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        env |= {"DATA_DIR": data_dir, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port), **settings}
        program = await asyncio.create_subprocess_exec(
            sys.executable,
            "main.py",
            *arguments,
            cwd=ROOT,
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                for _ in range(600):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            yield url
        finally:
            program.send_signal(signal.SIGTERM)
            await asyncio.wait_for(program.wait(), 30)


async def main() -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    settings = {
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "CODE_RESEND_COOLDOWN": "0",
        "API_ADDRESS_HOURLY_LIMIT": "1000",
    }
    async with running_program("api", **settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            phone = "+7 912 345-67-89"
            await fill(client, phone)
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium)
            try:
                await shoot(browser, url, phone)
            finally:
                await browser.close()
    print(f"written: {DOCS / 'web-login-desktop.png'}, {DOCS / 'web-member-phone.png'}")


if __name__ == "__main__":
    asyncio.run(main())
