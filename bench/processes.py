"""The processes under measure (`main.py`, the ceilings): started with their own environment,
watched through /proc, and always stopped: SIGTERM, then SIGKILL."""

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.database import BENCH_DIR, ROOT

log = logging.getLogger("bench")

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROBLEMS = ("ERROR", "CRITICAL", "Traceback", "Exception")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_environment() -> dict[str, str]:
    """Nothing from the caller's environment but what Python needs: no stray setting leaks in."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**keep, "PYTHONPATH": str(ROOT)}


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (the state is the first)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = _stat_fields(pid)
    except OSError:  # ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == parent:
                    found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass
class ServerProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    ready_status: int | None = 200  # what GET /healthz answers when ready; None: any answer
    process: asyncio.subprocess.Process | None = None
    spawned_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return BENCH_DIR / "logs" / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        workdir = BENCH_DIR / "run"  # no .env here: the environment alone configures the process
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(self.port)}
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.argv, cwd=workdir, env=env, stdout=log, stderr=log
            )
        self.spawned_at = time.perf_counter()

    async def ready(self, within: float = 120) -> None:
        """Wait until GET /healthz answers as expected (the program has started)."""
        assert self.process is not None
        async with aiohttp.ClientSession() as http:
            for _ in range(int(within * 10)):
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
                if await self._answers(http):
                    seconds = time.perf_counter() - self.spawned_at
                    cpu = self.cpu_seconds()
                    log.info("%s ready in %.1f s, %.1f s of CPU", self.name, seconds, cpu)
                    return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not get ready in {within} s:\n{self.log_tail()}")

    async def _answers(self, http: aiohttp.ClientSession) -> bool:
        try:
            async with http.get(f"{self.url}/healthz") as answer:
                return self.ready_status in (None, answer.status)
        except aiohttp.ClientError:
            return False

    async def stop(self, within: float = 15) -> None:
        """SIGTERM (the program finishes what is in flight), then SIGKILL after `within` s."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 5)

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far of the process and of its worker processes
        (WEB_WORKERS), which are its children."""
        return sum(process_cpu_seconds(pid) for pid in (self.pid, *children_of(self.pid)))

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"{self.name}: no VmRSS")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self, limit: int = 12) -> list[str]:
        """The log lines that report errors (with the first lines of tracebacks)."""
        if not self.log_path.exists():
            return []
        found = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if any(word in line for word in PROBLEMS)
        ]
        return found[:limit]


@asynccontextmanager
async def running(process: ServerProcess) -> AsyncIterator[ServerProcess]:
    """The process spawned (not yet ready), and stopped however the block ends."""
    try:
        await process.spawn()
        yield process
    finally:
        await process.stop()
