"""The HTTP API's ceiling: the program's application (`create_app`) with three more routes that
answer a constant JSON body: `GET` of `BENCH_BODY_BYTES` bytes (the size of `GET /api/data/`),
`GET` of `BENCH_LIST_BYTES` (the size of a page of 1,000 referrals), and `POST`, which reads the
request's body first, of `BENCH_LOGIN_BYTES` (the size of a Mini App login's answer); served by
`runtime.http.http_server`, in WEB_WORKERS processes like the program (`runtime/workers.py`).
Run like the program: `python -m bench.api_server` with DATABASE_URL, WEB_HOST, WEB_PORT and
WEB_WORKERS in the environment.
"""

import os

import uvloop
from fastapi import APIRouter, Request, Response

from api import create_app
from db.connections import create_pool
from db.service import create_service
from runtime.http import Shutdown, http_server, serve, settle_gc
from runtime.workers import ONE_PROCESS, Process, listening_socket, run_workers
from settings import Settings, load_settings

CONSTANT_PATH = "/bench/constant"
CONSTANT_LIST_PATH = "/bench/list-constant"
CONSTANT_LOGIN_PATH = "/bench/login-constant"


def constant_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 10)."""
    return b'{"pad":"' + b"x" * max(0, size - 10) + b'"}'


def constant_routes(body: bytes, list_body: bytes, login_body: bytes) -> APIRouter:
    router = APIRouter()

    @router.get(CONSTANT_PATH, include_in_schema=False)
    async def constant() -> Response:
        return Response(body, media_type="application/json")

    @router.get(CONSTANT_LIST_PATH, include_in_schema=False)
    async def constant_list() -> Response:
        return Response(list_body, media_type="application/json")

    @router.post(CONSTANT_LOGIN_PATH, include_in_schema=False)
    async def constant_login(request: Request) -> Response:
        await request.body()
        return Response(login_body, media_type="application/json")

    return router


async def run(settings: Settings, process: Process) -> None:
    assert settings.database_url, "DATABASE_URL"
    body = constant_body(int(os.environ["BENCH_BODY_BYTES"]))
    list_body = constant_body(int(os.environ["BENCH_LIST_BYTES"]))
    login_body = constant_body(int(os.environ["BENCH_LOGIN_BYTES"]))
    shutdown = Shutdown(process)
    pool = await create_pool(settings.database_url)
    service = create_service(pool, settings)
    app = create_app(settings, service, routers=[constant_routes(body, list_body, login_body)])
    settle_gc()  # the same application as the program, run the same way
    try:
        await serve(http_server(settings, app), shutdown, process)
    finally:
        await pool.close()


def main() -> int:
    settings = load_settings()
    count = settings.web_workers or 1
    if count == 1:
        uvloop.run(run(settings, ONE_PROCESS))  # the event loop the program runs on
        return 0
    listener = listening_socket(settings.web_host, settings.web_port)
    return run_workers(count, listener, lambda process: uvloop.run(run(settings, process)))


if __name__ == "__main__":
    raise SystemExit(main())
