"""The web app's first load, in a real browser: Debian's Chromium driven by Playwright, a fresh
profile each time (nothing cached), over loopback. The bytes are what the browser received for
the page, its assets and the requests it makes before its first screen (headers and bodies: the
server compresses nothing); the time runs from the navigation to the login screen."""

import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

LOADS = 10
# Set before the page's own scripts run: the moment the login screen appears.
FIRST_SCREEN_MARK = """
new MutationObserver((_, observer) => {
  if (document.body && document.body.dataset.screen === 'phone') {
    window.firstScreenAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-screen'] });
"""
RECEIVED = """() => {
  const [navigation] = performance.getEntriesByType('navigation');
  const entries = [navigation, ...performance.getEntriesByType('resource')];
  return {
    at: window.firstScreenAt,
    parts: entries.map((entry) => [new URL(entry.name).pathname, entry.transferSize]),
  };
}"""


@dataclass
class FirstLoad:
    bytes: int = 0  # received for one load (the largest of the loads)
    requests: int = 0
    milliseconds: list[float] = field(default_factory=list)  # to the first screen, each load
    parts: dict[str, int] = field(default_factory=dict)  # bytes by path, of the last load
    skipped: str = ""  # why it was not measured

    @property
    def median_ms(self) -> float:
        return statistics.median(self.milliseconds) if self.milliseconds else 0.0


def chromium() -> str | None:
    found = shutil.which("chromium")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    return found


async def first_load(url: str, *, loads: int = LOADS) -> FirstLoad:
    """`loads` cold loads of the page at `url`, each in a new browser context."""
    executable = chromium()
    if executable is None:
        return FirstLoad(skipped="no chromium on PATH (apt-get install chromium)")
    found = FirstLoad()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=executable, headless=True)
        try:
            for _ in range(loads):
                context = await browser.new_context(locale="en-US")
                try:
                    page = await context.new_page()
                    await page.add_init_script(FIRST_SCREEN_MARK)
                    await page.goto(url)
                    await page.wait_for_selector("body[data-screen=phone]", timeout=30_000)
                    received: dict[str, Any] = await page.evaluate(RECEIVED)
                finally:
                    await context.close()
                parts = {path: int(size) for path, size in received["parts"]}
                found.parts = parts
                found.requests = len(received["parts"])
                found.bytes = max(found.bytes, sum(parts.values()))
                found.milliseconds.append(float(received["at"]))
        finally:
            await browser.close()
    return found
