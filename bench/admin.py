"""The `admin` part of the bench: the operators' functions over the seeded million members.

- database time of `/stats` and of `/find` by phone, invite code and Telegram id: the statements
  the service runs (captured from its connection), each timed by `EXPLAIN (ANALYZE)`, the median
  of `REPEATS`; and the service's own wall time for the figures, round trips included;
- `/stats` end to end through the program (webhook): from the POST of the update to the arrival
  of the chart photo at the double, the first time and `REPEATS` times after;
- `/export` end to end: from the POST to the arrival of the whole document at the double, with
  the program's RSS sampled every 0.1 s meanwhile (growth = peak minus the RSS before); its
  lines are counted afterwards (decompressed, when gzip).
"""

import asyncio
import json
import logging
import statistics
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg

from bench.client import BotClient
from bench.processes import ServerProcess
from bench.seed import MEMBERS, TELEGRAM_BASE, invite_code_of, phone_of
from bench.updates import person
from db.connections import create_pool
from db.service import ReferralService
from delivery import ChatDelivery
from playground.bot_api import BotApi, BotMessage

log = logging.getLogger("bench")

REPEATS = 15
OPERATOR = TELEGRAM_BASE  # a Telegram id in the program's ADMIN_IDS (no seeded member has it)
FOUND_MEMBER = 123_457  # a seeded member, looked up by each key
EXPORT_WITHIN = 180.0  # seconds
Statement = tuple[str, tuple[Any, ...]]

# Targets (the issue's): database time, end to end, the export's time and memory.
MAX_STATS_DB_MS = 100.0
MAX_STATS_ANSWER_MS = 1000.0
MAX_FIND_DB_MS = 5.0
MAX_EXPORT_SECONDS = 60.0
MAX_EXPORT_GROWTH_MB = 50.0


@dataclass
class AdminResult:
    stats_db_ms: float = 0.0  # EXPLAIN ANALYZE total of the statements of one /stats, median
    stats_statements: int = 0
    stats_service_ms: float = 0.0  # wall time of the service call (round trips included), median
    find_db_ms: dict[str, float] = field(default_factory=dict)  # per kind of query
    stats_first_ms: float = 0.0  # /stats: POST to the chart's arrival, the first time
    stats_answer_ms: list[float] = field(default_factory=list)  # and the times after
    export_seconds: float = 0.0
    export_rows: int = 0  # lines of the document, header included
    export_bytes: int = 0
    export_rss_before_mb: float = 0.0
    export_rss_peak_mb: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def export_growth_mb(self) -> float:
        return self.export_rss_peak_mb - self.export_rss_before_mb


async def captured(pool: asyncpg.Pool, work: Callable[[], Awaitable[object]]) -> list[Statement]:
    """The statements `work` sends through the pool (of one connection, so its connection)."""
    found: list[Statement] = []

    def capture(query: Any) -> None:
        if not query.query.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            found.append((query.query, tuple(query.args)))

    async with pool.acquire() as connection:
        connection.add_query_logger(capture)
    try:
        await work()
    finally:
        async with pool.acquire() as connection:
            connection.remove_query_logger(capture)
    return found


async def explained_ms(connection: asyncpg.Connection, statements: list[Statement]) -> float:
    """Median over REPEATS of the summed `Execution Time` of the statements."""
    totals = []
    for _ in range(REPEATS):
        total = 0.0
        for sql, parameters in statements:
            plan = await connection.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *parameters)
            total += json.loads(plan)[0]["Execution Time"]
        totals.append(total)
    return statistics.median(totals)


async def database_times(url: str, result: AdminResult) -> None:
    pool = await create_pool(url, min_size=1, max_size=1)
    service = ReferralService(pool, signing_key=b"bench", delivery=ChatDelivery(0))
    operators = service.operators
    try:
        stats = await captured(pool, partial(operators.stats, operator=OPERATOR))
        finds = {}
        for kind, query in (
            ("phone", phone_of(FOUND_MEMBER)),
            ("invite code", invite_code_of(FOUND_MEMBER).lower()),
            ("telegram id", str(TELEGRAM_BASE + FOUND_MEMBER)),
        ):
            search = partial(operators.find_members, query, operator=OPERATOR)
            finds[kind] = await captured(pool, search)
        walls = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            figures = await operators.stats(operator=OPERATOR)
            walls.append((time.perf_counter() - started) * 1000)
        if figures.members < MEMBERS:
            result.problems.append(f"/stats counted {figures.members} members")
        async with pool.acquire() as connection:
            result.stats_db_ms = await explained_ms(connection, stats)
            result.stats_statements = len(stats)
            for kind, statements in finds.items():
                result.find_db_ms[kind] = await explained_ms(connection, statements)
        result.stats_service_ms = statistics.median(walls)
    finally:
        await pool.close()


def file_size(message: BotMessage) -> int:
    """The bytes of the document or the (largest) photo a message carries."""
    document = message.content.get("document")
    photo = message.content.get("photo")
    media = document or (photo[-1] if photo else {})
    return int(media.get("file_size", 0))


def lines_of(name: str, content: bytes) -> int:
    """The lines of a file the bot sent; a gzip one decompressed a part at a time."""
    if not name.endswith(".gz"):
        return content.count(b"\n")
    unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
    view = memoryview(content)
    lines = sum(
        unpack.decompress(view[start : start + 2**20]).count(b"\n")
        for start in range(0, len(content), 2**20)
    )
    return lines + unpack.flush().count(b"\n")


async def stats_answers(client: BotClient, result: AdminResult) -> None:
    """/stats from the operator: the time until the chart arrives."""
    for turn in range(REPEATS + 1):
        exchange = await client.text(OPERATOR, "/stats")
        photos = [m for m in exchange.replies if m.method == "sendPhoto"]
        if exchange.status != 200 or not photos or not file_size(photos[0]):
            texts = [m.text[:60] for m in exchange.replies]
            result.problems.append(f"/stats: HTTP {exchange.status}, replies {texts}")
            return
        elapsed = (photos[0].received - exchange.started) * 1000
        if turn == 0:
            result.stats_first_ms = elapsed
        else:
            result.stats_answer_ms.append(elapsed)


async def export(
    client: BotClient, double: BotApi, program: ServerProcess, result: AdminResult
) -> None:
    """/export from the operator: until the whole document has arrived, RSS sampled meanwhile."""
    await asyncio.sleep(1)
    result.export_rss_before_mb = result.export_rss_peak_mb = program.rss_mb()
    update = json.dumps(double.text_update(person(OPERATOR), "/export")).encode()
    inbox: list[BotMessage] = double.watch(OPERATOR)
    started = time.perf_counter()
    try:
        async with client.http.post(
            client.webhook_url, data=update, headers=client.headers
        ) as answer:
            await answer.read()
        while time.perf_counter() - started < EXPORT_WITHIN:
            result.export_rss_peak_mb = max(result.export_rss_peak_mb, program.rss_mb())
            documents = [m for m in inbox if m.method == "sendDocument"]
            if documents:
                result.export_seconds = documents[0].received - started
                result.export_bytes = file_size(documents[0])
                document = double.file(documents[0].content["document"]["file_id"])
                result.export_rows = lines_of(*document)
                return
            await asyncio.sleep(0.1)
        texts = [m.text[:60] for m in inbox]
        result.problems.append(f"/export: no document within {EXPORT_WITHIN:g} s: {texts}")
    finally:
        double.unwatch(OPERATOR)


async def measure_admin(
    url: str, client: BotClient, double: BotApi, program: ServerProcess
) -> AdminResult:
    result = AdminResult()
    log.info("admin: database time of /stats and /find")
    await database_times(url, result)
    await asyncio.sleep(5)  # the program warms its charts up in a worker thread after start
    log.info("admin: /stats end to end")
    await stats_answers(client, result)
    log.info("admin: /export end to end")
    await export(client, double, program, result)
    return result
