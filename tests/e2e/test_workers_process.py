"""`main.py` with WEB_WORKERS=2: two processes on one socket, sharing what must be shared (the
bot's conversations through Redis, the per-address limit through PostgreSQL), each reached on
purpose through a door that only opens connections the chosen worker accepted."""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from playground.bot_api import BotApi
from playground.webhook import WebhookDelivery
from tests.conftest import free_port
from tests.e2e.conftest import WEBHOOK_PATH, WEBHOOK_SECRET, BotProcess
from tests.e2e.test_api_process import api_env  # noqa: F401 (a fixture)
from tests.e2e.test_bot_process import invite_journey
from tests.runtime.test_entry import run_main

StartProcess = Callable[..., Awaitable[BotProcess]]


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            if int(stat.read().rpartition(")")[2].split()[1]) == parent:
                found.append(int(entry))
    return sorted(found)


def exists(pid: int) -> bool:
    """Running (a zombie left for its new parent to reap has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def accepted_by(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server's end of the connection from `client_port`."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    with open("/proc/net/tcp") as table:
        inodes = [
            fields[9]
            for fields in (line.split() for line in table.readlines()[1:])
            if fields[1].endswith(local) and fields[2].endswith(remote) and fields[9] != "0"
        ]
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}:
                    return pid
    return None


async def connect_to_worker(
    port: int, worker: int, workers: list[int]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to `port` that the process `worker` accepted."""
    for _ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client_port = writer.get_extra_info("sockname")[1]
        owner = None
        for _ in range(100):
            if owner := accepted_by(port, client_port, workers):
                break
            await asyncio.sleep(0.01)
        if owner == worker:
            return reader, writer
        writer.close()
        await writer.wait_closed()
    raise AssertionError(f"worker {worker} accepted none of 200 connections")


class WorkerDoor:
    """A local port whose every connection is relayed to one chosen worker of the program."""

    def __init__(self, program_port: int, worker: int, workers: list[int]) -> None:
        self.program_port, self.worker, self.workers = program_port, worker, workers
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "WorkerDoor":
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await connect_to_worker(self.program_port, self.worker, self.workers)
        for source, target in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, target))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def doors_to_each_worker(program: BotProcess) -> AsyncIterator[list[WorkerDoor]]:
    assert program.process is not None
    workers = children_of(program.process.pid)
    assert len(workers) == 2, workers
    async with (
        WorkerDoor(program.port, workers[0], workers) as first,
        WorkerDoor(program.port, workers[1], workers) as second,
    ):
        yield [first, second]


async def test_one_conversation_alternating_between_two_workers(
    double: BotApi,
    webhook: WebhookDelivery,
    bot_env: dict[str, str],
    start_bot: StartProcess,
    redis_url: str,
) -> None:
    env = {**bot_env, "REDIS_URL": redis_url, "WEB_WORKERS": "2"}
    program = await start_bot(env, webhook=True)
    async with doors_to_each_worker(program) as doors:
        double.updates.webhook_secret = WEBHOOK_SECRET
        double.updates.webhook_targets = [door.url + WEBHOOK_PATH for door in doors]  # alternate
        await invite_journey(double)
        assert {delivery.url for delivery in webhook.deliveries} == set(
            double.updates.webhook_targets
        )
        double.updates.webhook_targets = []


async def test_the_address_limit_is_counted_once_across_workers(
    api_env: dict[str, str],  # noqa: F811
    start_bot: StartProcess,
) -> None:
    env = {**api_env, "WEB_WORKERS": "2", "API_ADDRESS_HOURLY_LIMIT": "3"}
    program = await start_bot(env, command="api")
    statuses = []
    async with doors_to_each_worker(program) as doors:
        for number in range(6):
            async with (
                aiohttp.ClientSession(base_url=doors[number % 2].url) as http,
                http.post("/api/login/", json={"phone": "not a phone"}) as response,
            ):
                statuses.append(response.status)
    assert statuses == [400, 400, 400, 429, 429, 429]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"WEBHOOK_URL": "https://example.org/hook", "WEBHOOK_SECRET": "s"}, "REDIS_URL"),
        ({}, "long polling runs in one process"),
    ],
)
async def test_several_workers_without_what_they_need_stop_start_up_with_one_line(
    tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "BOT_TOKEN": "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "WEB_WORKERS": "2",
        **settings,
    }
    code, output = await run_main(env, "bot")
    assert code == 2
    [line] = output.strip().splitlines()
    assert line.startswith("setting WEB_WORKERS:") and expected in line
    assert not (tmp_path / "postgres").exists()


async def test_every_worker_finishes_on_sigterm_and_the_program_exits_0(
    api_env: dict[str, str],  # noqa: F811
    start_bot: StartProcess,
    clean_engine: AsyncEngine,
) -> None:
    program = await start_bot({**api_env, "WEB_WORKERS": "2"}, command="api")
    assert program.process is not None
    workers = children_of(program.process.pid)
    assert len(workers) == 2
    for _ in range(100):  # the other worker may have answered /healthz before the first spoke
        said = [line for line in program.log().splitlines() if "HTTP API and web app on" in line]
        if said:
            break
        await asyncio.sleep(0.05)
    assert len(said) == 1, said  # the start-up lines are said once, not once per worker
    assert await program.stop() == 0
    assert not any(exists(pid) for pid in workers), "a worker outlived the program"


async def test_workers_do_not_outlive_a_killed_program(
    api_env: dict[str, str],  # noqa: F811
    start_bot: StartProcess,
) -> None:
    program = await start_bot({**api_env, "WEB_WORKERS": "2"}, command="api")
    assert program.process is not None
    workers = children_of(program.process.pid)
    await program.kill()  # SIGKILL: the parent cannot tell them
    for _ in range(100):
        if not any(exists(pid) for pid in workers):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("a worker outlived its killed parent")


def metrics_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("referral-metrics-*"))


async def test_metrics_add_up_every_workers_requests(
    api_env: dict[str, str],  # noqa: F811
    start_bot: StartProcess,
) -> None:
    folders_before = metrics_folders()
    program = await start_bot({**api_env, "WEB_WORKERS": "2"}, command="api")
    series = 'referral_api_requests_total{method="GET",route="/api/top/",status="401"}'
    async with doors_to_each_worker(program) as doors:
        for number in range(5):  # 3 to the first worker, 2 to the second
            async with (
                aiohttp.ClientSession(base_url=doors[number % 2].url) as http,
                http.get("/api/top/") as response,
            ):
                assert response.status == 401
        for door in doors:  # whichever worker is scraped counts both
            async with (
                aiohttp.ClientSession(base_url=door.url) as http,
                http.get("/metrics") as response,
            ):
                lines = (await response.text()).splitlines()
            assert f"{series} 5.0" in lines
    assert await program.stop() == 0
    assert metrics_folders() == folders_before
