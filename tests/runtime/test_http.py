"""Where the program says its web app is, and what a signal stops."""

import asyncio
import logging
import signal
import socket

import pytest

from runtime.http import Shutdown, web_app_address
from runtime.workers import ONE_PROCESS, Process
from settings import Settings


@pytest.mark.parametrize(
    ("host", "url", "address"),
    [
        ("0.0.0.0", None, "http://localhost:8080/"),
        ("127.0.0.1", None, "http://127.0.0.1:8080/"),
        ("::1", None, "http://[::1]:8080/"),
        ("0.0.0.0", "https://example.org/app/", "https://example.org/app/"),
    ],
)
def test_the_web_app_address(host: str, url: str | None, address: str) -> None:
    settings = Settings(_env_file=None, web_host=host, web_port=8080, web_app_url=url)
    assert web_app_address(settings) == address


@pytest.mark.parametrize(("worker", "level"), [(False, logging.INFO), (True, logging.DEBUG)])
async def test_a_signal_during_start_up_cancels_it_and_is_said_once(
    caplog: pytest.LogCaptureFixture, worker: bool, level: int
) -> None:
    """A worker's parent says "shutting down" for them all; a single process says it itself."""
    with socket.socket() as listener:
        process = Process(2, listener) if worker else ONE_PROCESS

        async def start_up() -> None:
            shutdown = Shutdown(process)
            try:
                shutdown.request()
                shutdown.request()
                await asyncio.sleep(10)
            finally:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)

        with caplog.at_level(logging.DEBUG, "referral"), pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(start_up())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, "shutting down")]
