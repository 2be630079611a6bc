"""Take the README's screenshot of the playground from the real program:

    uv run python docs/playground_screenshot.py

Starts `main.py` without a bot token (so the bot runs in its playground; chat delivery, a
throwaway DATA_DIR unless DATABASE_URL is set) on a free local port, plays two people through the
playground's API (Ann joins and asks for her code; Bob opens her link and joins), and saves Ann's
chat, as her page shows it, with Debian's Chromium: `docs/playground-desktop.png` (1280x800).
"""

import asyncio
import re
import shutil
from typing import Any

import httpx
from playwright.async_api import async_playwright
from screenshots import DOCS, running_program

SHOT = DOCS / "playground-desktop.png"


async def bot_said(client: httpx.AsyncClient, person: int, pattern: str) -> re.Match[str]:
    """Wait until the bot's messages to `person` match `pattern`."""
    for _ in range(200):
        chats = (await client.get(f"/api/playground/people/{person}/")).json()
        for message in reversed(chats["messages"]):
            found = re.search(pattern, message.get("text") or "")
            if found and message["from"]["is_bot"]:
                return found
        await asyncio.sleep(0.05)
    raise SystemExit(f"the bot never said {pattern!r} to {person}")


async def join(client: httpx.AsyncClient, person: dict[str, Any], start: str = "") -> None:
    path = f"/api/playground/people/{person['id']}"
    await client.post(f"{path}/messages/", json={"text": f"/start {start}".strip()})
    await bot_said(client, person["id"], "phone")
    await client.post(f"{path}/contact/", json={})
    code = await bot_said(client, person["id"], r"Your code: (\d+)")
    await client.post(f"{path}/messages/", json={"text": code.group(1)})
    await bot_said(client, person["id"], "confirmed")


async def play(client: httpx.AsyncClient) -> None:
    add = "/api/playground/people/"
    ann = {"name": "Ann", "language": "en", "phone": "+7 912 345-67-89"}
    bob = {"name": "Bob", "language": "en", "phone": "+7 916 204-30-17"}
    ann = (await client.post(add, json=ann)).json()
    bob = (await client.post(add, json=bob)).json()
    await join(client, ann)
    await client.post(f"{add}{ann['id']}/messages/", json={"text": "/code"})
    invite = await bot_said(client, ann["id"], r"Your invite code: ([A-Z2-9]{6})")
    await join(client, bob, invite.group(1))
    await bot_said(client, ann["id"], "joined with your invite code")


async def main() -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with running_program(CODE_DELIVERY="chat", CODE_CHAT_DELAY="0") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await play(client)
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium)
            try:
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 800}, locale="en-US"
                )
                page = await context.new_page()
                await page.goto(url + "playground/")
                await page.wait_for_selector(".pg-in:has-text('joined with your invite code')")
                await page.screenshot(path=SHOT)
            finally:
                await browser.close()
    print(f"written: {SHOT}")


if __name__ == "__main__":
    asyncio.run(main())
