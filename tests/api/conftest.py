"""The API over the real service and database, driven through HTTP in this process."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from db.connections import create_pool
from db.service import ReferralService
from delivery import ChatDelivery
from runtime.http import http_server
from settings import Settings
from tests.conftest import new_phone

SECRET = "api-tests-secret-key-long-enough-for-hs256"
TTL = 3600


def api_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that do not depend on the developer's environment where the API reads them."""
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "jwt_ttl": TTL,
        "api_address_hourly_limit": 1000,
        "code_delivery": "chat",
        "data_dir": tmp_path,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return api_settings(tmp_path)


@pytest.fixture
def app(settings: Settings, service: ReferralService) -> FastAPI:
    return create_app(settings, service)


def http_client(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login_code(client: httpx.AsyncClient, phone: str) -> str:
    """The code the API returns for a phone in `chat` delivery mode."""
    response = await client.post("/api/login/", json={"phone": phone})
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


async def sign_in(client: httpx.AsyncClient, phone: str | None = None) -> str:
    """A member's access token, through login and verify."""
    phone = phone or new_phone()
    code = await login_code(client, phone)
    response = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert response.status_code in (200, 201), response.text
    token: str = response.json()["token"]
    return token


@pytest.fixture
async def lone_connection_service(
    database_url: str, clean_engine: AsyncEngine
) -> AsyncIterator[ReferralService]:
    """The service over a pool made as the program makes it, of one connection: a test knows
    which PostgreSQL process serves it."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        yield ReferralService(pool, signing_key=b"test-secret", delivery=ChatDelivery(delay=0))
    finally:
        await pool.close()


@asynccontextmanager
async def hung_database(service: ReferralService, *, for_seconds: float) -> AsyncIterator[None]:
    """The PostgreSQL process of the service's one connection stopped (SIGSTOP), as if the server
    hung, until `for_seconds` have passed or the block ends."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("stops a process of the embedded test server; TEST_DATABASE_URL is set")
    async with service.connections.acquire() as connection:
        pid = connection.get_server_pid()
    os.kill(pid, signal.SIGSTOP)
    resume = asyncio.get_running_loop().call_later(for_seconds, os.kill, pid, signal.SIGCONT)
    try:
        yield
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)


@asynccontextmanager
async def served(app: FastAPI, tmp_path: Path) -> AsyncIterator[str]:
    """`app` served over HTTP as the program serves it (`runtime.http`: uvicorn, httptools) on a
    free loopback port; yields its URL."""
    server = http_server(api_settings(tmp_path, web_host="127.0.0.1", web_port=0), app)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    [listening] = server.servers
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
