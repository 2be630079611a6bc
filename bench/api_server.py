"""The HTTP API's ceiling: the program's application (`create_app`) with two more routes that
answer a constant JSON body: `GET` of `BENCH_BODY_BYTES` bytes (the size of `GET /api/data/`), and
`POST`, which reads the request's body first, of `BENCH_LOGIN_BYTES` (the size of a Mini App
login's answer); served by `main.http_server`. Run like the program: `python -m bench.api_server`
with DATABASE_URL, WEB_HOST and WEB_PORT in the environment.
"""

import os

import uvloop
from fastapi import APIRouter, Request, Response

from api import create_app
from db.engine import create_pool
from db.service import create_service
from main import Shutdown, http_server, serve, settle_gc
from settings import load_settings

CONSTANT_PATH = "/bench/constant"
CONSTANT_LOGIN_PATH = "/bench/login-constant"


def constant_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 10)."""
    return b'{"pad":"' + b"x" * max(0, size - 10) + b'"}'


def constant_routes(body: bytes, login_body: bytes) -> APIRouter:
    router = APIRouter()

    @router.get(CONSTANT_PATH, include_in_schema=False)
    async def constant() -> Response:
        return Response(body, media_type="application/json")

    @router.post(CONSTANT_LOGIN_PATH, include_in_schema=False)
    async def constant_login(request: Request) -> Response:
        await request.body()
        return Response(login_body, media_type="application/json")

    return router


async def run() -> None:
    settings = load_settings()
    assert settings.database_url, "DATABASE_URL"
    body = constant_body(int(os.environ["BENCH_BODY_BYTES"]))
    login_body = constant_body(int(os.environ["BENCH_LOGIN_BYTES"]))
    shutdown = Shutdown()
    pool = await create_pool(settings.database_url)
    service = create_service(pool, settings)
    app = create_app(settings, service, routers=[constant_routes(body, login_body)])
    settle_gc()  # the same application as the program, run the same way
    try:
        await serve(http_server(settings, app), shutdown)
    finally:
        await pool.close()


if __name__ == "__main__":
    uvloop.run(run())  # the event loop main.py runs on
