"""One bench run: the database, the double, the program and its ceilings as subprocesses, each
scenario measured against the program and then against its ceiling, and the memory run."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from api.tokens import AccessTokens
from bench.api_server import CONSTANT_PATH
from bench.client import ApiClient, BotClient
from bench.database import ROOT, bench_database
from bench.load import Measurement, UserPool, closed_loop, count_loop, paced
from bench.processes import ServerProcess, base_environment, running
from bench.refs_pages import refs_page_db_ms
from bench.scenarios import (
    Activation,
    ApiData,
    Code,
    Journey,
    NewcomerStart,
    Refs,
    Scenario,
    Target,
)
from bench.seed import FIRST_REFERRAL, seed_members
from bench.telegram_double import BotApiDouble
from db.engine import create_engine, migrate

log = logging.getLogger("bench")

WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "bench-webhook-secret"
SECRET_KEY = "bench-secret-key-not-for-production"
API_DATA_PATH = "/api/data/"
SCENARIOS = ("code", "refs", "activation", "journey", "api_data")


@dataclass(frozen=True)
class Plan:
    quick: bool
    warmup: float  # seconds of closed loop before the measured window
    duration: float  # seconds of the measured closed-loop window
    paced_duration: float  # seconds of the paced run at half the rate
    workers: int  # closed-loop users
    memory_users: int  # distinct newcomers of the memory run
    memory_warmup_users: int


QUICK = Plan(True, 1.0, 3.0, 3.0, 64, 10_000, 1_000)
FULL = Plan(False, 5.0, 20.0, 20.0, 64, 1_000_000, 5_000)


@dataclass
class ScenarioResult:
    name: str
    program: Measurement
    program_paced: Measurement
    ceiling: Measurement
    note: str = ""
    notifications: tuple[int, int] | None = None  # (arrived, expected)


@dataclass
class MemoryResult:
    start_mb: float
    after_mb: float
    users: int
    seconds: float


@dataclass
class BenchResult:
    plan: Plan
    seconds: float = 0.0
    seeded_now: bool = False
    refs_page_ms: dict[str, float] = field(default_factory=dict)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    memory: MemoryResult | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)  # log lines per process


def bot_environment(double: BotApiDouble, port: int, database_url: str) -> dict[str, str]:
    return {
        **base_environment(),
        "BOT_TOKEN": double.token,
        "TELEGRAM_API_URL": double.url,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(ROOT / ".data" / "bench" / "data"),
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": SECRET_KEY,
    }


def program_process(
    name: str, double: BotApiDouble, database_url: str, settings: dict[str, str]
) -> ServerProcess:
    """`main.py` in webhook mode against the double."""
    process = ServerProcess(name, [str(ROOT / "main.py")], {})
    process.env = {**bot_environment(double, process.port, database_url), **settings}
    return process


def ceiling_process(double: BotApiDouble, database_url: str) -> ServerProcess:
    process = ServerProcess("ceiling", ["-m", "bench.ceiling"], {}, ready_status=None)
    process.env = bot_environment(double, process.port, database_url)
    return process


def api_ceiling_process(database_url: str, body_bytes: int) -> ServerProcess:
    env = {
        **base_environment(),
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "BENCH_BODY_BYTES": str(body_bytes),
    }
    return ServerProcess("api-ceiling", ["-m", "bench.api_server"], env)


class Bench:
    def __init__(self, plan: Plan, http: aiohttp.ClientSession, double: BotApiDouble) -> None:
        self.plan = plan
        self.http = http
        self.double = double
        self.tokens = AccessTokens(SECRET_KEY.encode(), 3600)
        self.result = BenchResult(plan)

    def target(
        self, name: str, bot_process: ServerProcess, api_process: ServerProcess, *, judge: bool
    ) -> Target:
        api_path = API_DATA_PATH if judge else CONSTANT_PATH
        return Target(
            name=name,
            judge=judge,
            bot=BotClient(
                self.http, self.double, bot_process.url + WEBHOOK_PATH, WEBHOOK_SECRET, judge
            ),
            api=ApiClient(self.http, api_process.url, judge),
            api_data_path=api_path,
            bot_process=bot_process,
            api_process=api_process,
        )

    def scenario(self, name: str, target: Target) -> Scenario:
        if name == "api_data":
            return ApiData(target, self.tokens)
        kinds: dict[str, Callable[[Target], Scenario]] = {
            "code": Code,
            "refs": Refs,
            "activation": Activation,
            "journey": Journey,
        }
        return kinds[name](target)

    async def closed(self, scenario: Scenario) -> Measurement:
        return await closed_loop(
            scenario,
            workers=scenario.workers or self.plan.workers,
            warmup=self.plan.warmup,
            duration=self.plan.duration,
            cpu_seconds=scenario.process.cpu_seconds,
        )

    async def measure(self, name: str, program: Target, ceiling: Target) -> ScenarioResult:
        log.warning("%s: the program", name)
        scenario = self.scenario(name, program)
        unwatched = self.double.unwatched
        closed = await self.closed(scenario)
        half_rate = closed.rate / 2 / scenario.updates_per_unit
        log.warning("%s: the program paced at %.0f updates/s", name, closed.rate / 2)
        steady = await paced(
            scenario,
            rate=max(half_rate, 1.0),
            duration=self.plan.paced_duration,
            cpu_seconds=scenario.process.cpu_seconds,
        )
        arrived = self.double.unwatched - unwatched
        log.warning("%s: the ceiling", name)
        bare = await self.closed(self.scenario(name, ceiling))
        notifications = (arrived, scenario.notifications) if scenario.notifications else None
        return ScenarioResult(name, closed, steady, bare, scenario.note, notifications)

    async def api_body_bytes(self, program: ServerProcess) -> int:
        """The size of one real `GET /api/data/` answer, for the constant route of the ceiling."""
        token = self.tokens.issue(FIRST_REFERRAL + 1)
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.get(program.url + API_DATA_PATH, headers=headers) as answer:
            body = await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"GET {API_DATA_PATH}: {answer.status} {body[:200]!r}")
        return len(body)

    async def memory(self, program: ServerProcess) -> MemoryResult:
        """RSS after warm-up, then after `memory_users` distinct newcomers sent `/start` once."""
        target = self.target("program", program, program, judge=True)
        plan = self.plan
        warmup = UserPool(0, plan.memory_warmup_users)
        await count_loop(NewcomerStart(target, warmup), workers=plan.workers, within=300)
        await asyncio.sleep(1)
        start_mb = program.rss_mb()
        log.warning("memory: %d newcomers, %.1f MB at start", plan.memory_users, start_mb)
        users = UserPool(plan.memory_warmup_users, plan.memory_users)
        started = time.perf_counter()
        served = await count_loop(
            NewcomerStart(target, users),
            workers=plan.workers,
            within=plan.memory_users / 20 + 120,  # far above any rate seen; bounds a stall
        )
        seconds = time.perf_counter() - started
        await asyncio.sleep(1)
        return MemoryResult(start_mb, program.rss_mb(), served, seconds)


@asynccontextmanager
async def keeping_problems(
    result: BenchResult, process: ServerProcess
) -> AsyncIterator[ServerProcess]:
    """Run `process`, then keep the error lines of its log."""
    try:
        async with running(process) as started:
            yield started
    finally:
        problems = process.problems()
        if problems:
            result.problems[process.name] = problems


async def run_bench(
    plan: Plan, names: tuple[str, ...] = SCENARIOS, memory: bool = True
) -> BenchResult:
    """Everything the plan asks for; every subprocess is stopped however this ends."""
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(bench_database())
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)
        log.warning("seeding (or checking the seed)")
        seeded_now = await seed_members(engine)
        log.warning("seed %s", "loaded" if seeded_now else "reused")
        double = await stack.enter_async_context(BotApiDouble())
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        )
        bench = Bench(plan, http, double)
        result = bench.result
        result.seeded_now = seeded_now
        result.refs_page_ms = await refs_page_db_ms(database_url)
        keep = stack.enter_async_context
        ceiling = await keep(keeping_problems(result, ceiling_process(double, database_url)))
        main_names = [name for name in names if name != "refs"]
        if main_names:
            program = await keep(
                keeping_problems(result, program_process("program", double, database_url, {}))
            )
            api_ceiling = await keep(
                keeping_problems(
                    result, api_ceiling_process(database_url, await bench.api_body_bytes(program))
                )
            )
            program_target = bench.target("program", program, program, judge=True)
            ceiling_target = bench.target("ceiling", ceiling, api_ceiling, judge=False)
            for name in main_names:
                result.scenarios.append(await bench.measure(name, program_target, ceiling_target))
            await program.stop()
            await api_ceiling.stop()
        if "refs" in names:
            async with keeping_problems(
                result, program_process("program-refs", double, database_url, Refs.program_env)
            ) as program:
                program_target = bench.target("program", program, program, judge=True)
                ceiling_target = bench.target("ceiling", ceiling, ceiling, judge=False)
                result.scenarios.append(await bench.measure("refs", program_target, ceiling_target))
        if memory:
            async with keeping_problems(
                result, program_process("program-memory", double, database_url, {})
            ) as program:
                result.memory = await bench.memory(program)
        order = {name: index for index, name in enumerate(SCENARIOS)}
        result.scenarios.sort(key=lambda scenario: order[scenario.name])
    result.seconds = time.perf_counter() - started
    return result
