"""The API over the real service and database, driven through HTTP in this process."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api import create_app
from db.service import ReferralService
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
