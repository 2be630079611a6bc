"""Rate limits per phone (the service's) and per client address (the API's), with Retry-After."""

import asyncio
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from db.service import ReferralService
from tests.api.conftest import api_settings, http_client, login_code
from tests.conftest import Clock, new_phone


async def test_second_code_within_the_cooldown_is_429(client: httpx.AsyncClient) -> None:
    phone = new_phone()
    await login_code(client, phone)
    response = await client.post("/api/login/", json={"phone": phone})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert "60 s" in response.json()["message"]


async def test_codes_over_the_hourly_limit_are_429(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    for _ in range(service.members.hourly_limit):
        await login_code(client, phone)
    response = await client.post("/api/login/", json={"phone": phone})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 3600
    assert "hour" in response.json()["message"]


async def test_too_many_wrong_codes_is_429_and_kills_the_code(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    phone = new_phone()
    code = await login_code(client, phone)
    wrong = "0000" if code != "0000" else "1111"
    statuses = []
    clock.advance(20)
    for _ in range(5):
        response = await client.post("/api/verify/", json={"phone": phone, "code": wrong})
        statuses.append(response.status_code)
    assert statuses == [400, 400, 400, 400, 429]
    assert "new one (possible in 40 s)" in response.json()["message"]
    assert response.headers["Retry-After"] == "40"  # when the resend cooldown ends
    late = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert late.status_code == 429
    assert late.headers["Retry-After"] == "40"
    clock.advance(40)
    late = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert late.status_code == 429 and late.headers["Retry-After"] == "1"
    assert (await client.post("/api/login/", json={"phone": phone})).status_code == 200


async def test_login_and_verify_requests_per_address_are_limited(
    service: ReferralService, tmp_path: Path
) -> None:
    app = create_app(api_settings(tmp_path, api_address_hourly_limit=3), service)
    async with (
        http_client(app, "198.51.100.1") as greedy,
        http_client(app, "198.51.100.2") as other,
    ):
        await greedy.post("/api/login/", json={"phone": new_phone()})
        await greedy.post("/api/login/", json={"phone": "abcd"})
        await greedy.post("/api/verify/", json={"phone": new_phone(), "code": "1234"})
        for path in ("/api/login/", "/api/verify/"):
            response = await greedy.post(path, json={"phone": new_phone(), "code": "1234"})
            assert response.status_code == 429
            assert 3500 < int(response.headers["Retry-After"]) <= 3600
            assert "your address" in response.json()["message"]
        assert (await other.post("/api/login/", json={"phone": new_phone()})).status_code == 200


async def test_address_window_slides(service: ReferralService, clock: Clock) -> None:
    count = partial(service.addresses.count, limit=2, window=100)
    assert await count("a") == 0
    clock.advance(30)
    assert await count("a") == 0
    clock.advance(10)
    assert await count("a") == 60  # the first request leaves the window at +100
    clock.advance(60)
    assert await count("a") == 0
    assert await count("a") == 30


async def test_idle_addresses_are_forgotten(
    service: ReferralService, clock: Clock, clean_engine: AsyncEngine
) -> None:
    service.addresses.forget_every = 50
    for address in range(49):
        await service.addresses.count(str(address), limit=5, window=100)
    assert await addresses_kept(clean_engine) == 49
    clock.advance(101)
    await service.addresses.count("late", limit=5, window=100)
    assert await addresses_kept(clean_engine) == 1


async def addresses_kept(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT count(*) FROM address_requests"))
        return int(rows.one()[0])


@pytest.mark.parametrize("limit", [1, 3])
async def test_limit_counts_accepted_requests_only(
    service: ReferralService, clock: Clock, limit: int
) -> None:
    count = partial(service.addresses.count, limit=limit, window=100)
    assert [await count("a") for _ in range(limit)] == [0] * limit
    for _ in range(10):
        clock.advance(1)
        assert await count("a") > 0
    clock.advance(100)
    assert await count("a") == 0


async def test_concurrent_requests_of_one_address_are_counted_once_each(
    service: ReferralService,
) -> None:
    """Many processes (WEB_WORKERS) count into the same row: never more than the limit pass."""
    results = await asyncio.gather(
        *(service.addresses.count("203.0.113.9", limit=7, window=100) for _ in range(40))
    )
    assert sum(1 for retry_after in results if retry_after == 0) == 7
