"""The playground's figures, from the real `main.py` started without a bot token:

    uv run python -m bench.playground          # about 3 minutes on 2 cores

- the page's first load in Chromium: bytes and requests (under 100 KB, as the web app's);
- from a person's message to the bot's answer on the page: p50 and p99 over 200 messages (`/code`,
  which reads the member and answers a card), beside the ceiling, a bare round trip of the same
  page to the same server (`GET /api/playground/`), with the machine's busy share meanwhile;
- the server's memory (RSS) before and after 1,000 played people with 50 messages each (each
  answered by the bot, so about 100 in each chat).

Writes `bench/results/playground.json`. The embedded PostgreSQL starts in a throwaway folder
(or set DATABASE_URL).
"""

import asyncio
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

from bench.database import ROOT
from bench.load import machine_jiffies
from bench.processes import ServerProcess, base_environment

MESSAGES = 200
PEOPLE = 1_000
MESSAGES_EACH = 50
CONCURRENT_PEOPLE = 20
PAGE_BUDGET = 100 * 1024
RESULTS = ROOT / "bench" / "results" / "playground.json"

# In the page: send `text` `count` times, each when the bot's answer to the one before has
# arrived; the milliseconds from the submit to the answer shown.
ROUND_TRIPS = """async ([text, count]) => {
  const list = document.getElementById('messages');
  const field = document.getElementById('composer-text');
  const lastAnswer = () =>
    Math.max(0, ...[...list.querySelectorAll('.pg-in')].map((item) => +item.dataset.messageId));
  const times = [];
  for (let i = 0; i < count; i += 1) {
    const before = lastAnswer();
    const started = performance.now();
    await new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        if (lastAnswer() > before) {
          observer.disconnect();
          resolve();
        }
      });
      observer.observe(list, { childList: true, subtree: true });
      field.value = text;
      document.getElementById('composer').requestSubmit();
    });
    times.push(performance.now() - started);
  }
  return times;
}"""
# The ceiling: the same page's bare round trip to the same server.
BARE_TRIPS = """async (count) => {
  const times = [];
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    await (await fetch('/api/playground/')).json();
    times.push(performance.now() - started);
  }
  return times;
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def join(http: aiohttp.ClientSession, url: str, person: int) -> None:
    """The person joins through the playground's API (chat delivery shows the code)."""
    path = f"{url}/api/playground/people/{person}"
    await http.post(f"{path}/messages/", json={"text": "/start"})
    await http.post(f"{path}/contact/", json={})
    for _ in range(400):
        async with http.get(f"{path}/") as answer:
            chats = await answer.json()
        texts = [m.get("text", "") for m in chats["messages"] if m["from"]["is_bot"]]
        found = next((re.search(r"Your code: (\d+)", t) for t in texts if "Your code" in t), None)
        if found:
            await http.post(f"{path}/messages/", json={"text": found.group(1)})
            return
        await asyncio.sleep(0.025)
    raise RuntimeError(f"no code for {person}")


async def first_load(page: Page, url: str) -> dict[str, Any]:
    sizes: list[int] = []

    async def counted(response: Any) -> None:
        sizes.append(len(await response.body()))

    bodies: list[asyncio.Future[None]] = []

    def listener(response: Any) -> None:
        if response.url.endswith("/events/"):  # the stream never ends; its bytes come later
            sizes.append(0)
            return
        bodies.append(asyncio.ensure_future(counted(response)))

    page.on("response", listener)
    await page.goto(f"{url}/playground/")
    await page.wait_for_selector("body[data-screen=playground]")
    await page.wait_for_load_state("networkidle")
    page.remove_listener("response", listener)
    await asyncio.gather(*bodies)
    return {"requests": len(sizes), "bytes": sum(sizes), "budget_bytes": PAGE_BUDGET}


async def crowd(http: aiohttp.ClientSession, url: str) -> float:
    """The playground filled to 1,000 people (Ann is one), 50 messages each from the newcomers,
    20 at a time; the seconds it took."""
    started = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(PEOPLE - 1):
        queue.put_nowait(number)

    async def one_after_another() -> None:
        while not queue.empty():
            number = queue.get_nowait()
            person = {"name": f"Person {number}", "language": "en", "phone": f"+7916{number:07d}"}
            async with http.post(f"{url}/api/playground/people/", json=person) as answer:
                made = await answer.json()
            path = f"{url}/api/playground/people/{made['id']}/messages/"
            for index in range(MESSAGES_EACH):
                await http.post(path, json={"text": f"hello {index}"})

    await asyncio.gather(*(one_after_another() for _ in range(CONCURRENT_PEOPLE)))
    return time.perf_counter() - started


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        env = base_environment() | {
            "DATA_DIR": data_dir,
            "CODE_DELIVERY": "chat",
            "CODE_CHAT_DELAY": "0",
            "FLOOD_BURST": "100000",  # scripted people type faster than people
            "LOG_LEVEL": "WARNING",
        }
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        program = ServerProcess("playground", [str(ROOT / "main.py")], env)
        await program.spawn()
        try:
            await program.ready()
            results = await measure(program)
        finally:
            await program.stop()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


async def measure(program: ServerProcess) -> dict[str, Any]:
    url = program.url
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with aiohttp.ClientSession() as http, async_playwright() as driver:
        async with http.post(
            f"{url}/api/playground/people/",
            json={"name": "Ann", "language": "en", "phone": "+7 912 345-67-89"},
        ) as answer:
            ann = (await answer.json())["id"]
        await join(http, url, ann)
        browser = await driver.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            load = await first_load(page, url)
            await page.wait_for_selector("#composer:not([hidden])")
            await page.evaluate(ROUND_TRIPS, ["/code", 10])  # warm up
            busy, total = machine_jiffies()
            cpu = program.cpu_seconds()
            started = time.perf_counter()
            answers = await page.evaluate(ROUND_TRIPS, ["/code", MESSAGES])
            seconds = time.perf_counter() - started
            busy_after, total_after = machine_jiffies()
            server_cpu = program.cpu_seconds() - cpu
            bare = await page.evaluate(BARE_TRIPS, MESSAGES)
        finally:
            await browser.close()
        rss_before = program.rss_mb()
        crowd_seconds = await crowd(http, url)
        rss_after = program.rss_mb()
    return {
        "first_load": load,
        "message_to_answer_ms": {
            "messages": MESSAGES,
            "p50": round(statistics.median(answers), 1),
            "p99": round(percentile(answers, 0.99), 1),
            "ceiling_p50": round(statistics.median(bare), 1),
            "ceiling_p99": round(percentile(bare, 0.99), 1),
            "ratio_p50": round(statistics.median(bare) / statistics.median(answers), 2),
            "machine_busy": round((busy_after - busy) / max(1, total_after - total), 2),
            "server_cpu_ms_per_message": round(server_cpu * 1000 / MESSAGES, 2),
            "seconds": round(seconds, 1),
        },
        "memory": {
            "people": PEOPLE,
            "messages_each": MESSAGES_EACH,
            "rss_mb_before": round(rss_before, 1),
            "rss_mb_after": round(rss_after, 1),
            "kb_per_person": round((rss_after - rss_before) * 1024 / PEOPLE, 1),
            "seconds": round(crowd_seconds, 1),
        },
        "cores": os.cpu_count(),
    }


if __name__ == "__main__":
    asyncio.run(main())
