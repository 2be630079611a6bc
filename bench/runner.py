"""One bench run: the database and the double here, the servers as subprocesses; each scenario
measured against the program and then against its ceiling, then the memory run."""

import asyncio
import logging
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import aiohttp

from api.tokens import AccessTokens
from bench import db_waits
from bench.admin import OPERATOR, measure_admin
from bench.api_server import CONSTANT_LIST_PATH, CONSTANT_LOGIN_PATH, CONSTANT_PATH
from bench.client import ApiClient, BotClient
from bench.database import bench_database, exclusive_run
from bench.figures import BenchResult, MemoryResult, Plan, ScenarioResult
from bench.leaderboard import top_db_ms
from bench.load import Measurement, closed_loop, count_loop, machine_busy, paced
from bench.pools import UserPool
from bench.processes import ServerProcess
from bench.profile import recording, summary
from bench.refs_pages import refs_page_db_ms
from bench.report import table
from bench.scenarios import (
    Activation,
    ApiData,
    ApiDataOneWorker,
    ApiList,
    ApiSession,
    ApiSessionOneWorker,
    Code,
    Inline,
    Journey,
    NewcomerStart,
    Refs,
    Scenario,
    Target,
    WebLogin,
    telegram_id,
)
from bench.seed import FIRST_REFERRAL, seed_members
from bench.servers import (
    API_DATA_PATH,
    API_LIST_PATH,
    API_LOGIN_PATH,
    SECRET_KEY,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Servers,
    api_body_bytes,
    api_ceiling_process,
    api_program_process,
    ceiling_process,
    program_process,
)
from bench.updates import bench_bot_api, mini_app_login
from bench.web import first_load
from db.schema import create_engine, migrate
from playground.http import BotApiServer

log = logging.getLogger("bench")

API_SCENARIOS = ("api_data", "api_data_1w", "api_session", "api_session_1w", "api_list")
SCENARIOS = ("code", "refs", "activation", "journey", *API_SCENARIOS, "web", "inline")
# The API's scenarios run against `main.py api` in WEB_WORKERS processes (one per core, its
# default) and in one, each beside a ceiling in as many processes.
API_WORKERS = os.cpu_count() or 1
ADMIN = "admin"  # the operators' part (bench/admin.py): not a rate scenario
TOP = "top"  # /top's database time (bench/leaderboard.py): not a rate scenario
PARTS = (*SCENARIOS, ADMIN, TOP)


class Bench:
    """Measures scenarios against targets, into `result`."""

    def __init__(
        self,
        plan: Plan,
        http: aiohttp.ClientSession,
        double: BotApiServer,
        result: BenchResult,
        *,
        database_url: str,
        profile: bool,
    ) -> None:
        self.plan = plan
        self.database_url = database_url
        self.http = http
        self.double = double
        self.result = result
        self.profile = profile
        self.tokens = AccessTokens(SECRET_KEY.encode(), 3600)
        # (program, ceiling) of the API's scenarios, in one process (True) and in API_WORKERS.
        self.api_servers: dict[bool, tuple[ServerProcess, ServerProcess]] = {}

    async def scenarios(
        self,
        names: tuple[str, ...],
        program: ServerProcess,
        ceiling: ServerProcess,
        api_ceiling: ServerProcess,
    ) -> None:
        """Each scenario against `program` then the ceilings; the program is stopped after."""
        on_program = self.target("program", program, program, judge=True)
        on_ceiling = self.target("ceiling", ceiling, api_ceiling, judge=False)
        for name in names:
            if name in API_SCENARIOS:
                one = name.endswith("_1w")
                api_program, api_ceiling_now = self.api_servers[one]
                measured = await self.measure(
                    name,
                    self.target("program", program, api_program, judge=True),
                    self.target("ceiling", ceiling, api_ceiling_now, judge=False),
                )
            else:
                measured = await self.measure(name, on_program, on_ceiling)
            self.result.scenarios.append(measured)
        await program.stop()
        for api_program, _ in self.api_servers.values():
            await api_program.stop()

    def target(
        self, name: str, bot_process: ServerProcess, api_process: ServerProcess, *, judge: bool
    ) -> Target:
        api_path = API_DATA_PATH if judge else CONSTANT_PATH
        list_path = API_LIST_PATH if judge else CONSTANT_LIST_PATH
        login_path = API_LOGIN_PATH if judge else CONSTANT_LOGIN_PATH
        return Target(
            name=name,
            judge=judge,
            bot=BotClient(
                self.http, self.double.api, bot_process.url + WEBHOOK_PATH, WEBHOOK_SECRET, judge
            ),
            api=ApiClient(self.http, api_process.url, judge),
            api_data_path=api_path,
            api_list_path=list_path,
            api_login_path=login_path,
            bot_token=self.double.api.token,
            bot_process=bot_process,
            api_process=api_process,
        )

    def scenario(self, name: str, target: Target) -> Scenario:
        with_tokens: dict[str, Callable[[Target, AccessTokens], Scenario]] = {
            "api_data": ApiData,
            "api_data_1w": ApiDataOneWorker,
            "api_session": ApiSession,
            "api_session_1w": ApiSessionOneWorker,
            "api_list": ApiList,
        }
        if name in with_tokens:
            return with_tokens[name](target, self.tokens)
        kinds: dict[str, Callable[[Target], Scenario]] = {
            "code": Code,
            "refs": Refs,
            "activation": Activation,
            "journey": Journey,
            "web": WebLogin,
            "inline": Inline,
        }
        return kinds[name](target)

    async def closed(self, scenario: Scenario, *, warmup: float) -> Measurement:
        return await closed_loop(
            scenario,
            workers=scenario.workers or self.plan.workers,
            warmup=warmup,
            duration=self.plan.duration / self.plan.rounds,
            cpu_seconds=scenario.process.cpu_seconds,
        )

    async def rates(self, on_program: Scenario, on_ceiling: Scenario) -> list[Measurement]:
        """The closed loop against the program and the ceiling in turns, so that both meet the
        same neighbours on the machine; the first program turn is profiled with --profile."""
        program_turns, ceiling_turns = [], []
        for turn in range(self.plan.rounds):
            warmup = self.plan.warmup if turn == 0 else self.plan.turn_warmup
            if self.profile and turn == 0:
                seconds = warmup + self.plan.duration / self.plan.rounds
                pid = on_program.process.pid
                async with (
                    recording(pid, on_program.name, seconds) as path,
                    db_waits.sampling(self.database_url) as waits,
                ):
                    program_turns.append(await self.closed(on_program, warmup=warmup))
                on_program.profile = summary(path) + db_waits.summary(waits)
            else:
                program_turns.append(await self.closed(on_program, warmup=warmup))
            ceiling_turns.append(await self.closed(on_ceiling, warmup=warmup))
        return [Measurement.combined(program_turns), Measurement.combined(ceiling_turns)]

    async def measure(self, name: str, program: Target, ceiling: Target) -> ScenarioResult:
        log.info("%s: the program and the ceiling in turns", name)
        scenario = self.scenario(name, program)
        unwatched = self.double.api.unwatched
        closed, bare = await self.rates(scenario, self.scenario(name, ceiling))
        log.info("%s: the program paced at %.0f updates/s", name, closed.rate / 2)
        steady = await paced(
            scenario,
            rate=max(closed.rate / 2 / scenario.updates_per_unit, 1.0),
            duration=self.plan.paced_duration,
            cpu_seconds=scenario.process.cpu_seconds,
        )
        arrived = self.double.api.unwatched - unwatched
        notifications = (arrived, scenario.notifications) if scenario.notifications else None
        return ScenarioResult(
            name, closed, steady, bare, scenario.note, notifications, scenario.profile
        )

    async def memory(self, program: ServerProcess) -> MemoryResult:
        """RSS after warm-up, then after `memory_users` distinct newcomers sent `/start` once,
        taken along the way too (after each tenth of them)."""
        target = self.target("program", program, program, judge=True)
        plan = self.plan
        warmup = UserPool(0, plan.memory_warmup_users)
        await count_loop(NewcomerStart(target, warmup), workers=plan.workers, within=300)
        await asyncio.sleep(1)
        result = MemoryResult(program.rss_mb(), 0.0, 0, 0.0)
        log.info("memory: %d newcomers, %.1f MB at start", plan.memory_users, result.start_mb)
        started = time.perf_counter()
        first = plan.memory_warmup_users
        for tenth in range(10):
            size = plan.memory_users * (tenth + 1) // 10 - plan.memory_users * tenth // 10
            users = UserPool(first, size)
            first += size
            result.users += await count_loop(
                NewcomerStart(target, users),
                workers=plan.workers,
                within=size / 20 + 60,  # far above any rate seen: only bounds a stall
            )
            result.curve.append((result.users, program.rss_mb()))
            log.info("memory: %d newcomers served, %.1f MB", *result.curve[-1])
        result.seconds = time.perf_counter() - started
        await asyncio.sleep(1)
        result.after_mb = program.rss_mb()
        return result


async def prepare_database(url: str) -> bool:
    """Migrate and seed (or reset the seed); True if the seed was loaded now."""
    engine = create_engine(url)
    try:
        await migrate(engine)
        log.info("seeding (or checking the seed)")
        seeded_now = await seed_members(engine)
    finally:
        await engine.dispose()
    log.info("seed %s", "loaded" if seeded_now else "reused")
    return seeded_now


async def run_bench(
    plan: Plan,
    names: tuple[str, ...] = PARTS,
    *,
    memory: bool = True,
    profile: bool = False,
) -> BenchResult:
    """Everything the plan asks for; every subprocess is stopped however this ends."""
    started = time.perf_counter()
    result = BenchResult(plan, api_workers=API_WORKERS)
    result.busy_before = await machine_busy(1.0)
    async with AsyncExitStack() as stack:
        stack.enter_context(exclusive_run())
        database_url = await stack.enter_async_context(bench_database())
        double = await stack.enter_async_context(BotApiServer(bench_bot_api()))
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        )
        bench = Bench(plan, http, double, result, database_url=database_url, profile=profile)
        servers = Servers(stack, result)
        # The servers import aiogram while the database is seeded (or the seed reset).
        ceiling = await servers.spawn(ceiling_process(double, database_url))
        main = tuple(name for name in names if name not in ("refs", ADMIN, TOP))
        program = api_ceiling = program_refs = program_memory = None
        if main:
            program = await servers.spawn(program_process("program", double, database_url))
        measures_api = any(name in API_SCENARIOS for name in names)
        api_programs: dict[bool, ServerProcess] = {}
        if measures_api:
            for one in (False, True):
                workers = 1 if one else API_WORKERS
                spawned = api_program_process(f"program-api-{workers}w", database_url, workers)
                api_programs[one] = await servers.spawn(spawned)
        if "refs" in names:
            refs = program_process("program-refs", double, database_url, Refs.program_env)
            program_refs = await servers.spawn(refs)
        program_admin = None
        if ADMIN in names:
            # One operator sends /stats again and again: flood control would mute them.
            operators = {"ADMIN_IDS": str(OPERATOR), "FLOOD_RATE": "0"}
            admin = program_process("program-admin", double, database_url, operators)
            program_admin = await servers.spawn(admin)
        if memory:
            fresh = program_process("program-memory", double, database_url)
            program_memory = await servers.spawn(fresh)
        result.seeded_now = await prepare_database(database_url)
        if main:
            sizes = await api_body_bytes(
                database_url,
                bench.tokens.issue(FIRST_REFERRAL + 1),
                bench.tokens.issue(1),
                double.api.token,
                mini_app_login(double.api.token, telegram_id(FIRST_REFERRAL + 1)),
            )
            api_ceiling = await servers.spawn(
                api_ceiling_process("api-ceiling-1w", database_url, sizes, 1)
            )
            if measures_api:
                many = api_ceiling_process(
                    f"api-ceiling-{API_WORKERS}w", database_url, sizes, API_WORKERS
                )
                ceilings = {True: api_ceiling, False: await servers.spawn(many)}
                bench.api_servers = {one: (api_programs[one], ceilings[one]) for one in ceilings}
        await servers.ready()
        result.refs_page_ms = await refs_page_db_ms(database_url)
        if TOP in names:
            log.info("top: database time of /top over the seeded members")
            result.top_db_ms = await top_db_ms(database_url)
        if program is not None and "web" in names:
            log.info("web: the first load of the page, in a browser")
            result.first_load = await first_load(program.url + "/")
        if program is not None and api_ceiling is not None:
            await bench.scenarios(main, program, ceiling, api_ceiling)
        if program_refs is not None:
            await bench.scenarios(("refs",), program_refs, ceiling, ceiling)
        if program_admin is not None:
            log.info("admin: /stats, /find and /export over the seeded members")
            client = bench.target("program", program_admin, program_admin, judge=True).bot
            result.admin = await measure_admin(database_url, client, double.api, program_admin)
            await program_admin.stop()
        order = {name: index for index, name in enumerate(SCENARIOS)}
        result.scenarios.sort(key=lambda scenario: order[scenario.name])
        if program_memory is not None:
            result.seconds = time.perf_counter() - started
            log.info("scenarios done, the memory run follows:\n%s", table(result))
            result.memory = await bench.memory(program_memory)
    result.seconds = time.perf_counter() - started
    return result
