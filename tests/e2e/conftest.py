"""The real program as a separate process, against the Bot API double, real PostgreSQL and Redis."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from playground.http import BotApiServer
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "e2e-secret_token"


class BotProcess:
    """`main.py` started with the given settings; stopped with SIGTERM like a service manager."""

    every_log: ClassVar[list[tuple[Path, str]]] = []  # of this run, with the bot token given

    def __init__(self, env: dict[str, str], log_path: Path, *, webhook: bool = False) -> None:
        self.port = free_port()
        self.env = {**env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(self.port)}
        if webhook:
            self.env |= {"WEBHOOK_URL": self.webhook_url, "WEBHOOK_SECRET": WEBHOOK_SECRET}
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.killed = False
        self.every_log.append((log_path, env.get("BOT_TOKEN", "")))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    async def start(self, command: str = "bot") -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "main.py",
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise AssertionError(f"main.py exited at start-up:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"main.py did not answer /healthz:\n{self.log()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, grace: float = 30) -> int:
        """SIGTERM, then the exit code; the process must stop by itself within `grace` s."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"main.py ignored SIGTERM for {grace} s:\n{self.log()}") from None

    async def kill(self) -> None:
        """SIGKILL: the process dies on the spot, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.killed = True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class DatabaseProxy:
    """A TCP door to PostgreSQL that a test can shut (dropping every connection) and reopen."""

    def __init__(self, target_url: str) -> None:
        url = make_url(target_url)
        socket_dir = url.query.get("host")
        self.unix_path = f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if socket_dir else None
        self.target = (url.host or "127.0.0.1", url.port or 5432)
        self.port = free_port()
        self.url = url.set(host="127.0.0.1", port=self.port, query={}).render_as_string(
            hide_password=False
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def shut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if isinstance(self.unix_path, str):
            upstream = await asyncio.open_unix_connection(self.unix_path)
        else:
            upstream = await asyncio.open_connection(*self.target)
        self._writers.update({writer, upstream[1]})
        await asyncio.gather(self._pipe(reader, upstream[1]), self._pipe(upstream[0], writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture(scope="session", autouse=True)
def no_bot_token_in_logs() -> Iterator[None]:
    """At the end of the run: no line that any bot process logged shows its token's secret."""
    yield
    leaks = [
        f"{path}: {line}"
        for path, token in BotProcess.every_log
        if token and path.exists()
        for line in path.read_text(errors="replace").splitlines()
        if token.partition(":")[2] in line
    ]
    assert not leaks, f"{len(leaks)} log lines show the bot token:\n" + "\n".join(leaks[:20])


@pytest.fixture
def bot_env(
    double_server: BotApiServer, database_url: str, clean_engine: AsyncEngine, tmp_path: Path
) -> dict[str, str]:
    """Settings of a bot process in polling mode against the double, on this run's database."""
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "BOT_TOKEN": double_server.api.token,
        "TELEGRAM_API_URL": double_server.url,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "e2e-secret-key-of-at-least-32-characters",
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "LOG_LEVEL": "INFO",
        "FLOOD_BURST": "30",  # scripted users type faster than people
    }


@pytest.fixture
async def start_bot(tmp_path: Path) -> AsyncIterator[object]:
    """`await start_bot(env)` starts a process; every process not killed by the test is stopped
    and must exit 0."""
    processes: list[BotProcess] = []

    async def start(
        env: dict[str, str], *, webhook: bool = False, command: str = "bot"
    ) -> BotProcess:
        process = BotProcess(env, tmp_path / f"bot{len(processes)}.log", webhook=webhook)
        processes.append(process)
        await process.start(command)
        return process

    yield start
    for process in processes:
        if process.killed:
            continue
        code = await process.stop()
        assert code == 0, f"exit code {code}:\n{process.log()}"
