"""The servers of a bench run: the program (`main.py` in webhook mode) and its ceilings, with
their settings, started side by side and stopped however the run ends."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from api import create_app
from bench.database import BENCH_DIR, ROOT
from bench.figures import BenchResult
from bench.processes import ServerProcess, base_environment, running
from db.connections import create_pool
from db.service import create_service
from playground.http import BotApiServer
from settings import load_settings

WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "bench-webhook-secret"
SECRET_KEY = "bench-secret-key-not-for-production"
API_DATA_PATH = "/api/data/"
API_LIST_PATH = "/api/data/?limit=1000"
API_LOGIN_PATH = "/api/telegram/login/"


def bot_environment(double: BotApiServer, port: int, database_url: str) -> dict[str, str]:
    return {
        **base_environment(),
        "BOT_TOKEN": double.api.token,
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
    name: str, double: BotApiServer, database_url: str, settings: dict[str, str] | None = None
) -> ServerProcess:
    """`main.py` in webhook mode against the double."""
    process = ServerProcess(name, [str(ROOT / "main.py")], {})
    process.env = {**bot_environment(double, process.port, database_url), **(settings or {})}
    return process


def api_program_process(name: str, database_url: str, workers: int) -> ServerProcess:
    """`main.py api` (the HTTP API and the web app alone) in `workers` processes; the API's
    clients log in from one address, so its limit is out of the way."""
    env = {
        **base_environment(),
        "DATABASE_URL": database_url,
        "DATA_DIR": str(BENCH_DIR / "data"),
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": SECRET_KEY,
        "WEB_WORKERS": str(workers),
        "API_ADDRESS_HOURLY_LIMIT": "100000",
    }
    return ServerProcess(name, [str(ROOT / "main.py"), "api"], env)


def ceiling_process(double: BotApiServer, database_url: str) -> ServerProcess:
    process = ServerProcess("ceiling", ["-m", "bench.ceiling"], {}, ready_status=None)
    process.env = bot_environment(double, process.port, database_url)
    return process


def api_ceiling_process(
    name: str, database_url: str, sizes: "AnswerSizes", workers: int
) -> ServerProcess:
    env = {
        **base_environment(),
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "WEB_WORKERS": str(workers),
        "BENCH_BODY_BYTES": str(sizes.data),
        "BENCH_LIST_BYTES": str(sizes.list),
        "BENCH_LOGIN_BYTES": str(sizes.login),
    }
    return ServerProcess(name, ["-m", "bench.api_server"], env)


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


@dataclass(frozen=True)
class AnswerSizes:
    data: int  # GET /api/data/ of a member with one referral
    list: int  # GET /api/data/?limit=1000 of an inviter with more
    login: int  # a Mini App login


async def api_body_bytes(
    database_url: str, token: str, inviter_token: str, bot_token: str, login: bytes
) -> AnswerSizes:
    """The sizes of real answers of the API, from the program's application run in this process
    (so that the ceiling need not wait for the program to start)."""
    settings = load_settings(database_url=database_url, secret_key=SECRET_KEY, bot_token=bot_token)
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    app = create_app(settings, create_service(pool, settings))
    headers = {"Authorization": f"Bearer {token}"}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            data = await client.get(API_DATA_PATH, headers=headers)
            listed = await client.get(
                API_LIST_PATH, headers={"Authorization": f"Bearer {inviter_token}"}
            )
            logged_in = await client.post(
                API_LOGIN_PATH, content=login, headers={"Content-Type": "application/json"}
            )
    finally:
        await pool.close()
    for path, answer in (
        (API_DATA_PATH, data),
        (API_LIST_PATH, listed),
        (API_LOGIN_PATH, logged_in),
    ):
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return AnswerSizes(len(data.content), len(listed.content), len(logged_in.content))


class Servers:
    """The servers of a run: each stopped with the run's exit stack, however the run ends."""

    def __init__(self, stack: AsyncExitStack, result: BenchResult) -> None:
        self.stack = stack
        self.result = result
        self.spawned: list[ServerProcess] = []

    async def spawn(self, process: ServerProcess) -> ServerProcess:
        """Start `process` without waiting for it: importing aiogram takes seconds."""
        await self.stack.enter_async_context(keeping_problems(self.result, process))
        self.spawned.append(process)
        return process

    async def ready(self) -> None:
        async with asyncio.TaskGroup() as group:
            for process in self.spawned:
                group.create_task(process.ready())
