"""The application itself: health, the OpenAPI document, ReDoc, and the caller's lifespan."""

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from api import create_app
from api.routes import health
from db.connections import create_pool
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Settings
from tests.api.conftest import api_settings, http_client, hung_database


async def test_health_is_ok_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_is_503_when_the_database_does_not(tmp_path: Path) -> None:
    pool = await create_pool("postgresql://nobody@127.0.0.1:9/nothing", min_size=0)
    service = ReferralService(pool, signing_key=b"k", delivery=ChatDelivery(delay=0))
    try:
        async with http_client(create_app(api_settings(tmp_path), service)) as client:
            response = await client.get("/healthz")
    finally:
        await pool.close()
    assert response.status_code == 503
    assert response.json() == {"message": "The database is unavailable."}


async def test_health_answers_in_its_own_time_while_the_database_hangs(
    lone_connection_service: ReferralService, tmp_path: Path
) -> None:
    app = create_app(api_settings(tmp_path), lone_connection_service)
    async with http_client(app) as client:
        async with hung_database(lone_connection_service, for_seconds=10):
            started = time.monotonic()
            response = await client.get("/healthz")
            waited = time.monotonic() - started
        assert response.status_code == 503
        assert waited < health.TIMEOUT + 1
        assert (await client.get("/healthz")).status_code == 200


async def test_openapi_lists_every_operation(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {
        (method.upper(), path, operation["operationId"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert operations == {
        ("POST", "/api/login/", "login"),
        ("POST", "/api/verify/", "verify"),
        ("GET", "/api/data/", "readReferralData"),
        ("POST", "/api/data/", "registerInviteCode"),
        ("GET", "/api/invite/{code}/", "checkInviteCode"),
        ("DELETE", "/api/data/", "eraseMember"),
        ("GET", "/api/data/export/", "exportMemberData"),
        ("PUT", "/api/data/language/", "chooseLanguage"),
        ("GET", "/api/data/qr.svg", "readInviteQrCode"),
        ("GET", "/api/top/", "readLeaderboards"),
        ("POST", "/api/telegram/login/", "telegramLogin"),
        ("GET", "/api/web-app/", "describeWebApp"),
        ("GET", "/api/texts/{language}/", "readWebAppTexts"),
        ("GET", "/api/admin/stats/", "adminStats"),
        ("GET", "/api/admin/members/", "adminFindMembers"),
        ("GET", "/api/admin/members/{member_id}/", "adminReadMember"),
        ("POST", "/api/admin/members/{member_id}/block/", "adminBlockMember"),
        ("POST", "/api/admin/members/{member_id}/unblock/", "adminUnblockMember"),
        ("GET", "/api/admin/export.csv", "adminExportMembers"),
        ("GET", "/api/admin/events/", "adminEvents"),
        ("POST", "/api/admin/events/retry/", "adminRetryEvents"),
        ("GET", "/api/admin/referrals/", "adminPendingReferrals"),
        ("POST", "/api/admin/referrals/{member_id}/qualify/", "adminQualifyReferral"),
        ("POST", "/api/admin/referrals/{member_id}/reverse/", "adminReverseReferral"),
    }
    for path, item in document["paths"].items():
        for operation in item.values():
            assert "422" not in operation["responses"]
            assert ("admin" in operation["tags"]) == path.startswith("/api/admin/")
            for status, response_doc in operation["responses"].items():
                special = {
                    ("/api/data/qr.svg", "200"): "image/svg+xml",
                    ("/api/admin/export.csv", "200"): "text/csv",
                }
                media = special.get((path, status))
                if media is not None:
                    assert list(response_doc["content"]) == [media]
                elif status != "204":  # No Content
                    assert "application/json" in response_doc["content"]
    assert document["components"]["securitySchemes"]["AccessToken"]["scheme"] == "bearer"


async def test_redoc_is_html_over_the_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/redoc/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/openapi.json" in response.text and "redoc" in response.text.lower()
    assert "https://" not in response.text, "no CDN, no web font: the page works offline"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' https://telegram.org" in policy and "unsafe" not in policy
    bundle = re.search(r'src="(/api/redoc/[0-9a-f]+/redoc\.standalone\.js)"', response.text)
    assert bundle is not None
    served = await client.get(bundle.group(1))
    assert served.status_code == 200 and "immutable" in served.headers["cache-control"]
    assert served.headers["content-type"].startswith("text/javascript")


async def test_swagger_ui_is_not_served(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/api/docs", "/openapi.json"):
        assert (await client.get(path)).status_code == 404


async def test_callers_lifespan_runs_around_serving(
    settings: Settings, service: ReferralService
) -> None:
    events = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    app = create_app(settings, service, lifespan=lifespan)
    async with app.router.lifespan_context(app):
        assert events == ["start"]
    assert events == ["start", "stop"]
