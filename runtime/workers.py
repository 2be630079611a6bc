"""Several HTTP worker processes on one listening socket: the program's runtime when WEB_WORKERS
is more than 1.

The parent starts what is shared (the embedded PostgreSQL, when there is no DATABASE_URL), binds
the socket, then forks the workers; each runs the program's own start-up (its migration check,
pool, application and bot) and serves the inherited socket, where the kernel hands each new
connection to one of them. SIGTERM or SIGINT to the parent reaches every worker, which finishes
its requests in flight; a worker that ends on its own (a failed start-up) stops the others, and
its exit code is the program's. Each worker knows which it is by the `Process` it is given.

The workers add up their metrics through files (prometheus_client's multiprocess mode), in a
folder that must be chosen before the first series exists: `metrics_folder` restarts the program
once with a fresh one."""

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait
from types import FrameType

from settings import Settings

log = logging.getLogger("referral")
PR_SET_PDEATHSIG = 1  # prctl(2)
METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
OWN_METRICS_DIRECTORY = "REFERRAL_OWN_METRICS_DIR"  # the folder this program made, and removes


@dataclass(frozen=True)
class Process:
    """Which process of the program this is: the only one, or a worker of several."""

    number: int = 1  # of this worker, from 1; 1 in a single process
    listener: socket.socket | None = None  # the socket inherited from the parent, in a worker

    @property
    def speaks_for_all(self) -> bool:
        """Whether this process says what the program as a whole does (the start-up lines): a
        single process, or the first of the workers."""
        return self.number == 1

    @property
    def is_worker(self) -> bool:
        """Whether this is a worker of several, whose parent speaks for it at shutdown."""
        return self.listener is not None

    def announce(self, message: str, *args: object) -> None:
        """A start-up line at INFO, said once however many workers start."""
        log.log(logging.INFO if self.speaks_for_all else logging.DEBUG, message, *args)


ONE_PROCESS = Process()  # the program run as a single process


class WorkersRefused(Exception):
    """WEB_WORKERS cannot be honoured for this command; the message is one line naming it."""


def worker_count(settings: Settings, *, serves_webhook: bool, polls: bool) -> int:
    """How many HTTP processes to run: WEB_WORKERS, else one per core for the API alone, and for
    a webhook when REDIS_URL shares the bot's state between them."""
    requested = settings.web_workers
    if polls:
        if requested is not None and requested > 1:
            raise WorkersRefused(
                "setting WEB_WORKERS: long polling runs in one process (Telegram allows one "
                "consumer); set WEBHOOK_URL to run several"
            )
        return 1
    if serves_webhook and settings.redis_url is None:
        if requested is not None and requested > 1:
            raise WorkersRefused(
                "setting WEB_WORKERS: several webhook processes share conversations and seen "
                "updates through Redis: set REDIS_URL, or WEB_WORKERS=1"
            )
        return 1
    return requested if requested is not None else (os.cpu_count() or 1)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port, as uvicorn would bind it; SystemExit if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise SystemExit(f"cannot serve HTTP on {host}:{port}") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


@contextmanager
def metrics_folder() -> Iterator[None]:
    """A folder for the workers' metrics files in PROMETHEUS_MULTIPROC_DIR while the block runs:
    the one given, or a fresh one made here, for which the program starts again (the folder
    must be set before the first series exists) and which is removed when the block ends."""
    if METRICS_DIRECTORY not in os.environ:
        os.environ[METRICS_DIRECTORY] = os.environ[OWN_METRICS_DIRECTORY] = tempfile.mkdtemp(
            prefix="referral-metrics-"
        )
        os.execv(sys.executable, [sys.executable, *sys.argv])
    own = os.environ.pop(OWN_METRICS_DIRECTORY, None)
    try:
        yield
    finally:
        if own:
            shutil.rmtree(own, ignore_errors=True)


def run_workers(count: int, listener: socket.socket, work: Callable[[Process], None]) -> int:
    """Fork `count` processes that each run `work` as a `Process` serving `listener`; wait for
    them all. The exit code is the first non-zero one of a worker, else 0."""
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(
            target=_worker, args=(listener, work, os.getpid(), number), name=f"web-{number}"
        )
        for number in range(1, count + 1)
    ]
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("shutting down %d workers", count)
        stopping = True
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        listener.close()  # the workers hold it now
        log.info("%d HTTP workers started", count)
        running = list(processes)
        exit_code = 0
        while running:
            for sentinel in wait([process.sentinel for process in running]):
                ended = next(p for p in running if p.sentinel == sentinel)
                ended.join()
                running.remove(ended)
                if ended.exitcode and not exit_code:
                    exit_code = ended.exitcode if ended.exitcode > 0 else 1
                if not stopping:  # one ended on its own: the program stops as a whole
                    stop()
        return exit_code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the parent dies, even by SIGKILL, so that no
    worker goes on serving the port alone (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    listener: socket.socket, work: Callable[[Process], None], parent: int, number: int
) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):  # the worker's loop installs its own
        signal.signal(signum, signal.SIG_DFL)
    _stop_with_parent(parent)
    work(Process(number, listener))
