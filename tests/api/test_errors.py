"""Whatever arrives, the answer is JSON `{"message": ...}` with a fitting status, never a 500."""

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from fastapi import APIRouter

from api import create_app
from api.tokens import AccessTokens
from db.connections import STATEMENT_TIMEOUT, create_pool
from db.service import ReferralService
from delivery import ChatDelivery
from tests.api.conftest import (
    SECRET,
    TTL,
    api_settings,
    bearer,
    http_client,
    hung_database,
    served,
    sign_in,
)
from tests.conftest import new_phone

TEN_MEGABYTES = 10 * 1024 * 1024


def assert_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["message"] and isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    message: str = body["message"]
    return message


@pytest.mark.parametrize("path", ["/api/login/", "/api/verify/"])
@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[1, 2]", b'"a string"', b"null", b"\xff\xfe"]
)
async def test_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    response = await client.post(
        path, content=content, headers={"Content-Type": "application/json"}
    )
    assert_json_error(response, 400)


async def test_body_without_json_content_type_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", content=b'{"phone": "89123456789"}')
    assert "JSON object" in assert_json_error(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone"),
        ({"phone": None}, "phone"),
        ({"phone": True}, "phone"),
        ({"phone": 7.5}, "phone"),
        ({"phone": -79123456789}, "phone"),
        ({"phone": ["8912"]}, "phone"),
        ({"phone": {"number": "8912"}}, "phone"),
    ],
)
async def test_wrong_or_missing_login_field_is_400_naming_it(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/login/", json=body)
    assert assert_json_error(response, 400).startswith(f"{field}:")


@pytest.mark.parametrize(
    "body",
    [
        {"phone": new_phone()},
        {"phone": new_phone(), "code": 1234},
        {"phone": new_phone(), "code": None},
        {"phone": new_phone(), "code": "1234", "verify": 1234},
    ],
)
async def test_wrong_or_missing_verify_field_is_400(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    assert_json_error(await client.post("/api/verify/", json=body), 400)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/login/", {"phone": "+7912\x003456789"}),
        ("/api/verify/", {"phone": "+79123456789", "code": "12\x0034"}),
        ("/api/verify/", {"phone": "+79123456789", "code": "1234", "verify": "\x00"}),
        ("/api/data/", {"ref_code": "\x00"}),
        ("/api/data/", {"ref_code": "AB\x00CDE"}),
    ],
)
async def test_nul_characters_are_400_not_a_database_error(
    client: httpx.AsyncClient, path: str, body: dict[str, str]
) -> None:
    headers = bearer(await sign_in(client)) if path == "/api/data/" else {}
    response = await client.post(path, json=body, headers=headers)
    assert "NUL" in assert_json_error(response, 400)


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/login/", rb'{"phone": "\ud800"}'),
        ("/api/verify/", rb'{"phone": "+79123456789", "code": "12\udc0034"}'),
        ("/api/data/", rb'{"ref_code": "\ud800"}'),
        ("/api/data/", rb'{"ref_code": "AB\udfffCD"}'),
    ],
)
async def test_lone_surrogates_are_400_not_a_database_error(
    client: httpx.AsyncClient, path: str, raw: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    if path == "/api/data/":
        headers |= bearer(await sign_in(client))
    response = await client.post(path, content=raw, headers=headers)
    assert "surrogates" in assert_json_error(response, 400)


async def test_huge_phone_and_code_are_refused_calmly(client: httpx.AsyncClient) -> None:
    huge = "9" * 500_000
    assert_json_error(await client.post("/api/login/", json={"phone": huge}), 400)
    body = {"phone": new_phone(), "code": huge}
    assert_json_error(await client.post("/api/verify/", json=body), 400)
    headers = bearer(await sign_in(client))
    response = await client.post("/api/data/", json={"ref_code": huge}, headers=headers)
    assert_json_error(response, 404)


async def test_ten_megabyte_body_is_413(client: httpx.AsyncClient) -> None:
    content = b'{"phone": "' + b"9" * TEN_MEGABYTES + b'"}'
    response = await client.post(
        "/api/login/", content=content, headers={"Content-Type": "application/json"}
    )
    assert "larger than" in assert_json_error(response, 413)


async def test_ten_megabyte_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"phone": "'
        for _ in range(10):
            yield b"9" * (1024 * 1024)
        yield b'"}'

    response = await client.post(
        "/api/login/", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "transfer-encoding" in response.request.headers
    assert "larger than" in assert_json_error(response, 413)


@pytest.mark.parametrize(
    "path", ["/api/", "/api/nothing/", "/docs", "/api/data/x", "/web/1/nothing.js", "/index.html"]
)
async def test_unknown_path_is_404(client: httpx.AsyncClient, path: str) -> None:
    assert_json_error(await client.get(path), 404)


# Every path the application serves, and the methods it answers there.
ALLOWED = {
    "/api/login/": "POST",
    "/api/login": "POST",
    "/api/verify/": "POST",
    "/api/verify": "POST",
    "/api/data/": "GET, POST, DELETE",
    "/api/data": "GET, POST, DELETE",
    "/healthz": "GET",
    "/api/openapi.json": "GET, HEAD",
    "/api/redoc/": "GET",
    "/api/redoc": "GET",
}


@pytest.mark.parametrize(("path", "allowed"), ALLOWED.items())
async def test_other_methods_are_405_with_every_allowed_one(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method not in allowed.split(", "):
            response = await client.request(method, path)
            message = assert_json_error(response, 405)
            assert response.headers["Allow"] == allowed, (method, path)
            assert message == f"Method {method} is not allowed here; allowed: {allowed}."


@pytest.mark.parametrize("path", ["/api/login", "/api/verify", "/api/data", "/api/redoc"])
async def test_paths_without_slash_are_served_not_redirected(
    client: httpx.AsyncClient, path: str
) -> None:
    method = "GET" if path in ("/api/data", "/api/redoc") else "POST"
    response = await client.request(method, path, json={})
    assert response.status_code in (200, 400, 401)


async def test_unexpected_error_is_500_with_a_short_message_and_logged(
    service: ReferralService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = APIRouter()

    @broken.get("/broken")
    async def fail() -> None:
        raise RuntimeError("secret detail")

    app = create_app(api_settings(tmp_path), service, routers=[broken])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal error"}
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert any("secret detail" in str(error) for error in logged)
    assert "secret detail" not in response.text


async def test_unexpected_error_keeps_the_connection_and_logs_once(
    service: ReferralService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = APIRouter()

    @broken.get("/broken")
    async def fail() -> None:
        raise RuntimeError("a bug")

    opened: list[object] = []

    async def connection_opened(*_: object) -> None:
        opened.append(None)

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(connection_opened)
    app = create_app(api_settings(tmp_path), service, routers=[broken])
    server_log = logging.getLogger("uvicorn.error")  # does not propagate to caplog's handler
    server_log.addHandler(caplog.handler)
    try:
        async with (
            served(app, tmp_path) as url,
            aiohttp.ClientSession(url, trace_configs=[tracing]) as http,
        ):
            for path in ("/broken", "/broken", "/healthz"):
                async with http.get(path) as response:
                    assert response.status == (200 if path == "/healthz" else 500)
                    await response.read()
    finally:
        server_log.removeHandler(caplog.handler)
    assert len(opened) == 1
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == ["GET /broken failed"] * 2


async def test_unreachable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    pool = await create_pool("postgresql://nobody@127.0.0.1:9/nothing", min_size=0)
    service = ReferralService(pool, signing_key=b"k", delivery=ChatDelivery(delay=0))
    headers = bearer(AccessTokens(SECRET.encode(), TTL).issue(1))
    try:
        async with http_client(create_app(api_settings(tmp_path), service)) as client:
            answers = [
                await client.get("/api/data/", headers=headers),
                await client.post("/api/data/", json={"ref_code": "A3BC9D"}, headers=headers),
                await client.post("/api/login/", json={"phone": new_phone()}),
                await client.post("/api/verify/", json={"phone": new_phone(), "code": "1234"}),
            ]
    finally:
        await pool.close()
    for response in answers:
        assert "database is unavailable" in assert_json_error(response, 503)
        assert response.headers["Retry-After"] == "5"


async def test_statement_the_database_does_not_answer_is_503_in_bounded_time(
    lone_connection_service: ReferralService, tmp_path: Path
) -> None:
    app = create_app(api_settings(tmp_path), lone_connection_service)
    async with http_client(app) as client:
        headers = bearer(await sign_in(client))
        async with hung_database(lone_connection_service, for_seconds=20):
            started = time.monotonic()
            response = await client.get("/api/data/", headers=headers)
            waited = time.monotonic() - started
        assert "database is unavailable" in assert_json_error(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert waited < STATEMENT_TIMEOUT + 3
        assert (await client.get("/api/data/", headers=headers)).status_code == 200


async def test_routers_are_served_beside_the_api(service: ReferralService, tmp_path: Path) -> None:
    extra = APIRouter()

    @extra.post("/telegram/webhook", include_in_schema=False)
    async def webhook() -> dict[str, bool]:
        return {"ok": True}

    app = create_app(api_settings(tmp_path), service, routers=[extra])
    async with http_client(app) as client:
        assert (await client.post("/telegram/webhook")).json() == {"ok": True}
        assert (await client.post("/api/login/", json={"phone": "abcd"})).status_code == 400
