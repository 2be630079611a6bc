"""`uv run python -m bench.events`: outbound events and broadcasts.

- events/s: 20,000 events (members joining, written by the triggers in one statement) in the
  outbox, then the delivery loop of one instance started: events delivered per second to a
  receiver in its own process (`bench/events_receiver.py`, which checks every signature);
- commit to delivery: members join one per transaction at 200/s for 10 s with the loop running;
  the receiver keeps, per event, the delay from its `created_at` to its arrival: p50 and p99;
- broadcast: 500 members, the broadcast job against the bench's Bot API double: messages per
  second and the busiest second as the double saw them, against the budget of 25/s.

It runs in a database of its own (`referral_bench_events`) on the bench's server, emptied first.
"""

import asyncio
import contextlib
import json
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bench.database import BENCH_DIR, bench_database, create_database_if_missing, exclusive_run
from bench.processes import free_port
from bench.updates import bench_bot_api
from db.broadcasts import BroadcastStatus
from db.connections import create_pool
from db.events import event_session_settings
from db.schema import create_engine, migrate
from db.service import ReferralService
from delivery import ChatDelivery
from jobs.broadcasts import RATE, BroadcastSender
from jobs.events import EventDelivery
from locales import create_i18n
from playground.http import BotApiServer

DATABASE = "referral_bench_events"
SECRET = "bench-events-secret"
BACKLOG = 20_000
STEADY_RATE = 200  # joins per second while the delay is measured
STEADY_SECONDS = 10
BROADCAST_MEMBERS = 500
TABLES = "members, verification_codes, referral_counts, daily_counts, member_totals, member_blocks"


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.events_receiver",
        str(port),
        SECRET,
        stdout=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/stats"):
                        break
                await asyncio.sleep(0.05)
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def delays(base: str) -> list[float]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/stats") as answer:
        stats = await answer.json()
    assert stats["forged"] == 0, "a signature did not verify"
    return list(stats["delays"])


async def wait_for(base: str, count: int) -> None:
    while len(await delays(base)) < count:  # noqa: ASYNC110 (another process counts)
        await asyncio.sleep(0.05)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run() -> dict[str, object]:
    async with bench_database() as server_url:
        url = await create_database_if_missing(server_url, DATABASE)
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        settings = event_session_settings(1, include_phones=False)
        pool = await create_pool(url, server_settings=settings, max_size=10)
        service = ReferralService(pool, signing_key=b"bench", delivery=ChatDelivery(delay=0))
        figures: dict[str, object] = {}
        try:
            async with pool.acquire() as connection:
                await connection.execute(
                    f"TRUNCATE {TABLES}, outbox_events, broadcasts RESTART IDENTITY CASCADE"
                )
            async with receiver() as base:
                figures |= await events_figures(service, base)
            figures |= await broadcast_figures(service)
        finally:
            await pool.close()
    return figures


async def events_figures(service: ReferralService, base: str) -> dict[str, object]:
    async with service.connections.acquire() as connection:
        await connection.execute(
            "INSERT INTO members (phone, invite_code) "
            "SELECT '+7991' || lpad(n::text, 7, '0'), 'B' || lpad(n::text, 5, '0') "
            "FROM generate_series(1, $1) AS n",
            BACKLOG,
        )
    delivery = EventDelivery(service.events, [f"{base}/events"], SECRET)
    started = time.perf_counter()
    async with delivery.running():
        await wait_for(base, BACKLOG)
        drained = time.perf_counter() - started
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base}/reset")
        count = STEADY_RATE * STEADY_SECONDS
        begun = time.perf_counter()
        async with service.connections.acquire() as connection:
            for index in range(count):
                await connection.execute(
                    "INSERT INTO members (phone, invite_code) VALUES ($1, $2)",
                    f"+7992{index:07d}",
                    f"C{index:05d}",
                )
                pause = begun + (index + 1) / STEADY_RATE - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
        await wait_for(base, count)
        steady = await delays(base)
    return {
        "events_per_second": round(BACKLOG / drained),
        "commit_to_delivery_p50_ms": round(statistics.median(steady) * 1000, 1),
        "commit_to_delivery_p99_ms": round(percentile(steady, 0.99) * 1000, 1),
    }


async def broadcast_figures(service: ReferralService) -> dict[str, object]:
    async with service.connections.acquire() as connection:
        await connection.execute(
            "UPDATE members SET telegram_id = 7000000000 + id WHERE id <= $1", BROADCAST_MEMBERS
        )
        chats = [
            row[0]
            for row in await connection.fetch(
                "SELECT telegram_id FROM members WHERE telegram_id IS NOT NULL"
            )
        ]
    async with BotApiServer(bench_bot_api()) as double:
        inboxes = [double.api.watch(chat) for chat in chats]
        session = AiohttpSession(api=TelegramAPIServer.from_base(double.url))
        bot = Bot(double.api.token, session=session)
        try:
            broadcast = await service.broadcasts.create(
                operator=1, chat_id=1, language="en", text="News", photo=None
            )
            sender = BroadcastSender(service.broadcasts, bot, create_i18n("en"), idle=0.05)
            async with sender.running():
                while True:
                    current = await service.broadcasts.read(broadcast.id)
                    if current is not None and current.status is BroadcastStatus.DONE:
                        break
                    await asyncio.sleep(0.1)
        finally:
            await bot.session.close()
    arrivals = sorted(message.received for inbox in inboxes for message in inbox)
    busiest, first = 0, 0
    for last, moment in enumerate(arrivals):
        while moment - arrivals[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    elapsed = arrivals[-1] - arrivals[0]
    return {
        "broadcast_messages": len(arrivals),
        "broadcast_per_second": round((len(arrivals) - 1) / elapsed, 1),
        "broadcast_busiest_second": busiest,
        "broadcast_budget": RATE,
    }


def main() -> None:
    with exclusive_run():
        figures = asyncio.run(run())
    figures["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    path = BENCH_DIR / "events.json"
    path.write_text(json.dumps(figures, indent=1))
    for name, value in figures.items():
        print(f"{name:>30}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
