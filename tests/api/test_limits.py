"""Rate limits per phone (the service's) and per client address (the API's), with Retry-After."""

from pathlib import Path

import httpx
import pytest

from api import create_app
from api.limits import AddressRateLimit
from db.service import ReferralService
from tests.api.conftest import api_settings, http_client, login_code
from tests.conftest import Clock, new_phone


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
    service.resend_cooldown = 0
    phone = new_phone()
    for _ in range(service.hourly_limit):
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


def test_address_window_slides() -> None:
    clock = FakeClock()
    limit = AddressRateLimit(2, window=100, clock=clock)
    assert limit.hit("a") == 0
    clock.now += 30
    assert limit.hit("a") == 0
    clock.now += 10
    assert limit.hit("a") == 60  # the first request leaves the window at +100
    clock.now += 60
    assert limit.hit("a") == 0
    assert limit.hit("a") == 30


def test_idle_addresses_are_forgotten() -> None:
    clock = FakeClock()
    limit = AddressRateLimit(5, window=100, clock=clock)
    for address in range(1000):
        limit.hit(str(address))
    assert len(limit) == 1000
    clock.now += 101
    limit.hit("late")
    assert len(limit) == 1


def test_address_count_is_bounded() -> None:
    limit = AddressRateLimit(5, window=100, max_addresses=50, clock=FakeClock())
    for address in range(1000):
        limit.hit(str(address))
    assert len(limit) == 50


@pytest.mark.parametrize("limit", [1, 3])
def test_limit_counts_accepted_requests_only(limit: int) -> None:
    clock = FakeClock()
    counter = AddressRateLimit(limit, window=100, clock=clock)
    assert [counter.hit("a") for _ in range(limit)] == [0] * limit
    for _ in range(10):
        clock.now += 1
        assert counter.hit("a") > 0
    clock.now += 100
    assert counter.hit("a") == 0
