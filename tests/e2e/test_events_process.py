"""The real `main.py api` process with EVENTS_URL: an event committed but not yet delivered when
the process is killed (SIGKILL) arrives after the next start; /metrics scraped with its token."""

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import new_phone
from tests.e2e.conftest import BotProcess
from tests.jobs.conftest import SECRET, Receiver, receiver, until

StartProcess = Callable[..., Awaitable[BotProcess]]
__all__ = ["receiver"]  # the fixture


@pytest.fixture
def events_env(
    database_url: str, clean_engine: AsyncEngine, tmp_path: Path, receiver: Receiver
) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "e2e-secret-key-of-at-least-32-characters",
        "CODE_DELIVERY": "chat",
        "CODE_CHAT_DELAY": "0",
        "EVENTS_URL": receiver.url,
        "EVENTS_SECRET": SECRET,
        "METRICS_TOKEN": "scrape-token",
        "LOG_FORMAT": "json",
    }


async def join(url: str) -> None:
    phone = new_phone()
    async with aiohttp.ClientSession(base_url=url) as http:
        async with http.post("/api/login/", json={"phone": phone}) as response:
            code = (await response.json())["code"]
        async with http.post("/api/verify/", json={"phone": phone, "code": code}) as response:
            assert response.status == 201


async def test_an_event_pending_when_the_process_is_killed_arrives_after_the_next_start(
    start_bot: StartProcess,
    events_env: dict[str, str],
    engine: AsyncEngine,
    receiver: Receiver,
) -> None:
    receiver.refuse_first = 1_000_000  # the operator's system is down for now
    first = await start_bot(events_env, command="api")
    await join(first.url)

    async def refused_once() -> bool:
        async with engine.connect() as connection:
            tried = await connection.scalar(text("SELECT max(attempts) FROM outbox_events"))
        return bool(tried)

    await until(refused_once, within=90)
    await first.kill()
    receiver.refuse_first = 0
    second = await start_bot(events_env, command="api")
    [event] = await receiver.wait_for(1, within=90)  # the retry comes 1-2 s after the start
    assert event["type"] == "member.joined"
    async with aiohttp.ClientSession(base_url=second.url) as http:
        async with http.get("/metrics") as response:
            assert response.status == 401
        headers = {"Authorization": "Bearer scrape-token"}
        async with http.get("/metrics", headers=headers) as response:
            assert response.status == 200
            scraped = await response.text()
    # (pending may still count the event for a moment: it is deleted after its batch ends)
    assert "referral_events_pending " in scraped and "referral_events_failed 0.0" in scraped
    assert '"level": "INFO"' in second.log()  # LOG_FORMAT=json
