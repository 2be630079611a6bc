"""The program's HTTP server (uvicorn) and its shutdown: SIGTERM or SIGINT stops serving, after
the requests in flight, or stops a start-up still under way."""

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from runtime.workers import Process
from settings import Settings

log = logging.getLogger("referral")


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `Shutdown` decides what a signal stops."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Shutdown:
    """SIGTERM and SIGINT: stop serving (finishing what is in flight), or stop start-up."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.main_task = asyncio.current_task()
        self.server: uvicorn.Server | None = None
        self.requested = False
        self.before_stop: list[Callable[[], None]] = []  # run when a stop is asked for
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request)

    def request(self) -> None:
        if not self.requested:  # with several workers their parent says it, once
            log.log(logging.DEBUG if self.process.is_worker else logging.INFO, "shutting down")
        self.requested = True
        for callback in self.before_stop:
            callback()
        if self.server is not None:
            self.server.should_exit = True
        elif self.main_task is not None:
            self.main_task.cancel()


def http_server(settings: Settings, app: FastAPI) -> uvicorn.Server:
    """`app` served on WEB_HOST:WEB_PORT as the program serves it, in tests and the bench too."""
    config = uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port,
        log_level="warning",
        access_log=False,
        log_config=None,  # uvicorn's loggers go to the root's handlers, with their token filter
        timeout_graceful_shutdown=30,
        lifespan="off",
        http="httptools",
        # X-Forwarded-For names the client only when a proxy we trust sent it: from anyone else
        # it would let a client choose its own address and walk round the per-address limit.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
    )
    return HttpServer(config)


async def serve(server: uvicorn.Server, shutdown: Shutdown, process: Process) -> None:
    """Serve until a signal; uvicorn then finishes the requests in flight. A worker of several
    serves the socket it inherited; a single process binds its own."""
    shutdown.server = server
    listener = process.listener
    await server.serve(sockets=None if listener is None else [listener])
    if not server.started:
        raise SystemExit(f"cannot serve HTTP on {server.config.host}:{server.config.port}")


def settle_gc() -> None:
    """Once started: what start-up built is kept out of collections for good (`gc.freeze()`), and
    the young generation is collected every 10,000 allocations instead of 700. An update
    allocates thousands of short-lived objects (pydantic models, aiogram's context), so the default
    ran a collection every update or two: in the bench this cut CPU per update by 5-25%."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def web_app_address(settings: Settings) -> str:
    """Where a person opens the web app: WEB_APP_URL, else this machine's HTTP server."""
    if settings.web_app_url:
        return settings.web_app_url
    host = settings.web_host
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}/"
