"""How many processes serve HTTP, and each knowing which it is from what it is handed."""

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

import runtime
from runtime.workers import (
    ONE_PROCESS,
    Process,
    WorkersRefused,
    listening_socket,
    run_workers,
    worker_count,
)
from settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_web_workers_is_honoured_where_processes_can_share_the_work() -> None:
    assert worker_count(settings(web_workers=3), serves_webhook=False, polls=False) == 3
    redis = settings(web_workers=3, redis_url="redis://localhost")
    assert worker_count(redis, serves_webhook=True, polls=False) == 3


def test_what_cannot_be_shared_stays_one_process() -> None:
    assert worker_count(settings(), serves_webhook=False, polls=True) == 1
    assert worker_count(settings(), serves_webhook=True, polls=False) == 1
    assert worker_count(settings(web_workers=1), serves_webhook=True, polls=False) == 1
    with pytest.raises(WorkersRefused, match=r"^setting WEB_WORKERS: long polling"):
        worker_count(settings(web_workers=2), serves_webhook=False, polls=True)
    with pytest.raises(WorkersRefused, match="REDIS_URL"):
        worker_count(settings(web_workers=2), serves_webhook=True, polls=False)


def test_one_process_speaks_for_the_program_and_the_first_worker_does_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as listener:
        first, second = Process(1, listener), Process(2, listener)
        assert ONE_PROCESS.speaks_for_all and not ONE_PROCESS.is_worker
        assert first.speaks_for_all and first.is_worker
        assert not second.speaks_for_all and second.is_worker
        with caplog.at_level(logging.DEBUG, "referral"):
            for process in (ONE_PROCESS, first, second):
                process.announce("serving on %s", "here")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "serving on here"),
        (logging.INFO, "serving on here"),
        (logging.DEBUG, "serving on here"),
    ]


def ready_to_stop(ready: Path) -> None:
    """What a worker's own start-up does, in short: it stops cleanly on SIGTERM (`ready` then)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    ready.touch()


def wait_for(*paths: Path) -> None:
    for _ in range(500):
        if all(path.exists() for path in paths):
            return
        time.sleep(0.02)
    raise AssertionError(f"not there in time: {paths}")


def test_each_worker_is_handed_its_number_and_the_shared_socket(tmp_path: Path) -> None:
    """And SIGTERM to the parent stops them all, the program exiting 0."""
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]

    def work(process: Process) -> None:
        assert process.listener is not None
        served = process.listener.getsockname()[1]
        (tmp_path / f"{process.number}.txt").write_text(f"{served} {process.speaks_for_all}")
        ready_to_stop(tmp_path / f"{process.number}.ready")
        if process.number == 1:
            wait_for(tmp_path / "2.ready")
            os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(60)

    assert run_workers(2, listener, work) == 0
    assert (tmp_path / "1.txt").read_text() == f"{port} True"
    assert (tmp_path / "2.txt").read_text() == f"{port} False"


def test_a_failed_worker_stops_the_others_and_gives_the_program_its_exit_code(
    tmp_path: Path,
) -> None:
    def work(process: Process) -> None:
        if process.number == 2:
            wait_for(tmp_path / "1.ready")
            raise SystemExit(3)
        ready_to_stop(tmp_path / "1.ready")
        time.sleep(60)

    assert run_workers(2, listening_socket("127.0.0.1", 0), work) == 3


def test_the_playground_runs_in_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    """Without BOT_TOKEN its people live in the process: several are refused before anything
    starts; with the API alone they are not its concern."""
    assert runtime.start("bot", settings(web_workers=2)) == 2
    said = capsys.readouterr().err.strip()
    assert said.startswith("setting WEB_WORKERS: without BOT_TOKEN the bot runs in its playground")
    assert runtime.http_processes("api", settings(web_workers=2)) == 2
    assert runtime.http_processes("bot", settings()) == 1
