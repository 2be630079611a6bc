"""GET /metrics: the series in Prometheus's format, by route template and outcome, never by
person; METRICS_TOKEN, when set, required as a Bearer token."""

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from db.service import ReferralService
from tests.api.conftest import api_settings, bearer, http_client, sign_in


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[tuple[str, tuple], float]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_requests_codes_and_activations_are_counted_without_people(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    before = await scrape(client)
    phone = "+79990001122"
    token = await sign_in(client, phone)
    await client.post("/api/data/", json={"ref_code": "ZZZZZZ"}, headers=bearer(token))
    await client.get("/api/texts/ru/")
    response = await client.get("/metrics")
    after = samples(response.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("referral_code_requests_total", outcome="sent") == 1
    assert grew("referral_code_checks_total", outcome="verified") == 1
    assert grew("referral_activations_total", outcome="unknown") == 1
    login = {"route": "/api/login/", "method": "POST", "status": "200"}
    assert grew("referral_api_requests_total", **login) == 1
    texts = {"route": "/api/texts/{language}/", "method": "GET", "status": "200"}
    assert grew("referral_api_requests_total", **texts) == 1
    latency = {"route": "/api/login/", "method": "POST"}
    assert grew("referral_api_request_seconds_count", **latency) == 1
    assert ("referral_events_pending", ()) in after and ("referral_events_failed", ()) in after
    assert after[("referral_database_connections", (("state", "in_use"),))] == 0  # all back
    assert after[("referral_database_connections", (("state", "idle"),))] >= 1
    assert phone[1:] not in response.text and token not in response.text


async def test_the_token_is_required_when_set(tmp_path: Path, service: ReferralService) -> None:
    app = create_app(api_settings(tmp_path, metrics_token="scrape-me"), service)
    async with http_client(app) as client:
        for headers in ({}, bearer("wrong"), {"Authorization": "scrape-me"}):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.json()["message"].startswith("The metrics need the token")
        await scrape(client, **bearer("scrape-me"))
