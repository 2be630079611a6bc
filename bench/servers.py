"""The servers of a bench run: the program (`main.py` in webhook mode) and its ceilings, with
their settings, started side by side and stopped however the run ends."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from bench.database import BENCH_DIR, ROOT
from bench.figures import BenchResult
from bench.processes import ServerProcess, base_environment, running
from bench.telegram_double import BotApiDouble

WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "bench-webhook-secret"
SECRET_KEY = "bench-secret-key-not-for-production"
API_DATA_PATH = "/api/data/"


def bot_environment(double: BotApiDouble, port: int, database_url: str) -> dict[str, str]:
    return {
        **base_environment(),
        "BOT_TOKEN": double.token,
        "TELEGRAM_API_URL": double.url,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(BENCH_DIR / "data"),
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


@asynccontextmanager
async def keeping_problems(
    result: BenchResult, process: ServerProcess
) -> AsyncIterator[ServerProcess]:
    """Run `process`, then keep the error lines of its log."""
    try:
        async with running(process) as spawned:
            yield spawned
    finally:
        problems = process.problems()
        if problems:
            result.problems[process.name] = problems


@dataclass
class Servers:
    ceiling: ServerProcess  # the bare bot
    program: ServerProcess | None  # code, activation, journey, api_data
    api_ceiling: ServerProcess | None  # the constant route, sized like the program's answer
    program_refs: ServerProcess | None  # with the flood limits of `refs_settings`
    program_memory: ServerProcess | None


async def api_body_bytes(http: aiohttp.ClientSession, program: ServerProcess, token: str) -> int:
    """The size of one real `GET /api/data/` answer, for the constant route of the ceiling."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(program.url + API_DATA_PATH, headers=headers) as answer:
        body = await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {API_DATA_PATH}: {answer.status} {body[:200]!r}")
    return len(body)


async def start_servers(
    stack: AsyncExitStack,
    result: BenchResult,
    *,
    double: BotApiDouble,
    database_url: str,
    http: aiohttp.ClientSession,
    api_token: str,
    main: bool,
    refs_settings: dict[str, str] | None,
    memory: bool,
) -> Servers:
    """Every server the run needs, started side by side (each takes seconds to import aiogram);
    on `stack`, so that they are stopped however the run ends."""

    async def launch(process: ServerProcess) -> ServerProcess:
        return await stack.enter_async_context(keeping_problems(result, process))

    def program(name: str, settings: dict[str, str]) -> ServerProcess:
        return program_process(name, double, database_url, settings)

    servers = Servers(
        ceiling=await launch(ceiling_process(double, database_url)),
        program=await launch(program("program", {})) if main else None,
        api_ceiling=None,
        program_refs=None,
        program_memory=await launch(program("program-memory", {})) if memory else None,
    )
    if refs_settings is not None:
        servers.program_refs = await launch(program("program-refs", refs_settings))

    async def start_api_ceiling(program: ServerProcess) -> None:
        await program.ready()
        body_bytes = await api_body_bytes(http, program, api_token)
        servers.api_ceiling = await launch(api_ceiling_process(database_url, body_bytes))
        await servers.api_ceiling.ready()

    async with asyncio.TaskGroup() as group:
        for process in (servers.ceiling, servers.program_refs, servers.program_memory):
            if process is not None:
                group.create_task(process.ready())
        if servers.program is not None:
            group.create_task(start_api_ceiling(servers.program))
    return servers
