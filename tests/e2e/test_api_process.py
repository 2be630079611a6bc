"""The real `main.py api` process: a database outage answered on connections that stay open, and
forwarding headers trusted only from the proxies named in FORWARDED_ALLOW_IPS."""

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import new_phone
from tests.e2e.conftest import BotProcess, DatabaseProxy

StartProcess = Callable[..., Awaitable[BotProcess]]
CLIENTS = 8


@pytest.fixture
def api_env(database_url: str, clean_engine: AsyncEngine, tmp_path: Path) -> dict[str, str]:
    """Settings of `main.py api` on this run's database."""
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "e2e-secret-key-of-at-least-32-characters",
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "LOG_LEVEL": "INFO",
    }


async def sign_in(url: str) -> str:
    phone = new_phone()
    async with aiohttp.ClientSession(base_url=url) as http:
        async with http.post("/api/login/", json={"phone": phone}) as response:
            code = (await response.json())["code"]
        async with http.post("/api/verify/", json={"phone": phone, "code": code}) as response:
            token: str = (await response.json())["token"]
    return token


class DataReaders:
    """Clients reading a member's data in a loop over keep-alive connections: what they were
    answered, what failed on their side, and how many connections they had to open."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.statuses: Counter[int] = Counter()
        self.odd_answers: list[str] = []
        self.errors: list[BaseException] = []
        self.connections_opened = 0
        self._stop = asyncio.Event()

    async def _opened(self, *_: object) -> None:
        self.connections_opened += 1

    async def _read(self, http: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            try:
                async with http.get(f"{self.url}/api/data/", headers=self.headers) as response:
                    body = await response.json(content_type=None)
            except aiohttp.ClientError as error:
                self.errors.append(error)
                await asyncio.sleep(0.01)
                continue
            self.statuses[response.status] += 1
            if response.status == 503:
                if list(body) != ["message"] or not response.headers.get("Retry-After"):
                    self.odd_answers.append(f"503 {body} {dict(response.headers)}")
            elif response.status != 200:
                self.odd_answers.append(f"{response.status} {body}")

    async def run_until(self, done: Callable[[], Awaitable[None]]) -> None:
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_end.append(self._opened)
        connector = aiohttp.TCPConnector(limit=CLIENTS)
        async with aiohttp.ClientSession(connector=connector, trace_configs=[tracing]) as http:
            readers = [asyncio.create_task(self._read(http)) for _ in range(CLIENTS)]
            try:
                await done()
            finally:
                self._stop.set()
                await asyncio.gather(*readers)


async def test_database_outage_is_503_on_connections_that_stay_open_and_logged_once(
    api_env: dict[str, str], start_bot: StartProcess
) -> None:
    proxy = DatabaseProxy(api_env["DATABASE_URL"])
    await proxy.open()
    # One process: its outage is logged once (each of several processes logs its own).
    single = {**api_env, "DATABASE_URL": proxy.url, "WEB_WORKERS": "1"}
    api = await start_bot(single, command="api")
    readers = DataReaders(api.url, await sign_in(api.url))
    lines_before = len(api.log().splitlines())
    answered_during_outage = 0

    async def outage() -> None:
        nonlocal answered_during_outage
        await asyncio.sleep(0.5)
        await proxy.shut()
        await asyncio.sleep(2)
        answered_during_outage = readers.statuses[503]
        await proxy.open()
        for _ in range(100):
            answered = readers.statuses[200]
            await asyncio.sleep(0.1)
            if readers.statuses[200] - answered > 10:
                return

    await readers.run_until(outage)
    logged = api.log().splitlines()[lines_before:]
    figures = (
        f"{readers.statuses}, {readers.connections_opened} connections opened by {CLIENTS} "
        f"clients, {len(readers.errors)} client errors, {len(logged)} log lines"
    )
    assert answered_during_outage > 0 and readers.statuses[200] > 0, figures
    assert readers.errors == [], f"{figures}: {readers.errors[:3]}"
    assert readers.connections_opened <= CLIENTS, figures
    assert readers.odd_answers == [], f"{figures}: {readers.odd_answers[:3]}"
    assert len(logged) <= 4, figures + "\n" + "\n".join(logged[:40])
    assert sum("database unavailable" in line for line in logged) == 1, logged
    assert sum("database is back" in line for line in logged) == 1, logged
    assert await api.stop() == 0
    await proxy.shut()


async def spoofed_logins(url: str, count: int) -> list[int]:
    """Statuses of `count` logins from this host, each claiming another client address."""
    statuses = []
    async with aiohttp.ClientSession(base_url=url) as http:
        for n in range(count):
            headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            async with http.post(
                "/api/login/", json={"phone": "not a phone"}, headers=headers
            ) as response:
                statuses.append(response.status)
    return statuses


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    api_env: dict[str, str], start_bot: StartProcess
) -> None:
    limited = {**api_env, "API_ADDRESS_HOURLY_LIMIT": "3"}
    direct = await start_bot(limited, command="api")
    assert await spoofed_logins(direct.url, 6) == [400, 400, 400, 429, 429, 429]
    behind_proxy = await start_bot({**limited, "FORWARDED_ALLOW_IPS": "127.0.0.1"}, command="api")
    assert await spoofed_logins(behind_proxy.url, 6) == [400] * 6
