"""Connections to PostgreSQL as every area of the service gets them: the asyncpg pool, and the
`Database` over it that hands out connections, notices outages and retries lost races.

Outages are logged in one line when the database goes away and one when it is back, however many
requests fail in between (under load a line per failed request buried everything else: 200,000
lines in a 5 s outage).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# Seconds a statement of the service may take: each looks up or changes a few rows by key, which
# normally takes a millisecond.
STATEMENT_TIMEOUT = 5
RETRIES = 5  # attempts of a transaction that lost a deadlock, serialization or uniqueness race
RETRIED_SQLSTATES = ("40P01", "40001", "23505")

T = TypeVar("T")


class Connections(Protocol):
    """Where the service gets a connection: an asyncpg pool, or anything that hands one out."""

    def acquire(self) -> AbstractAsyncContextManager[Any]: ...

    async def expire_connections(self) -> None:
        """Replace every connection handed out so far on its next use."""


def asyncpg_dsn(url: str) -> str:
    """A `postgresql+asyncpg://` (or plain `postgresql://`) URL in the form asyncpg reads."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The service sets no session state (no SET, LISTEN, cursors or advisory locks), so the
    default reset on release, one more round trip per checkout, has nothing to undo. asyncpg
    still rolls back a transaction left open."""


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """The pool the service runs its statements on; each connection keeps its prepared ones.
    `server_settings` are added to each connection's (the outbox's, db/events.py)."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session,
        max_inactive_connection_lifetime=300,
        # A statement that takes longer fails (503 in the API) instead of holding its request and
        # its connection: the server cancels it itself; if the server hangs (a stopped process, a
        # lost network), the client gives up a second later, and connecting is bounded alike.
        command_timeout=STATEMENT_TIMEOUT + 1,
        timeout=STATEMENT_TIMEOUT + 1,
        server_settings={
            "statement_timeout": f"{STATEMENT_TIMEOUT}s",
            # Every statement of the service is a lookup by key, for which the generic plan is
            # the plan; left to itself PostgreSQL kept planning some anew on each run (0.4 ms).
            "plan_cache_mode": "force_generic_plan",
            **(server_settings or {}),
        },
    )


class DatabaseUnavailable(Exception):
    """The database could not be reached, or did not answer in time; the message says how."""


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Outages:
    """Whether the database is out, as far as requests can tell.

    Requests overlap, so one that began before the last change (an outage began or ended) may
    finish after it: its success or failure tells nothing new. Each request therefore names the
    `epoch` it began in, and only one of the current epoch changes the state."""

    def __init__(self) -> None:
        self.ongoing = False
        self.epoch = 0  # changes so far

    def failed(self, error: BaseException, epoch: int) -> DatabaseUnavailable:
        """Note that a request begun in `epoch` could not use the database; the error to raise."""
        if not self.ongoing and epoch == self.epoch:
            self.ongoing = True
            self.epoch += 1
            log.warning("database unavailable: %s", describe(error))
        return DatabaseUnavailable(describe(error))

    def answered(self, epoch: int) -> None:
        """Note that a request begun in `epoch` used the database."""
        if self.ongoing and epoch == self.epoch:
            self.ongoing = False
            self.epoch += 1
            # At the level of the outage's line, so that a log shows both or neither.
            log.warning("database is back")


def _connection_lost(error: BaseException) -> bool:
    """Whether an error means the connection (or the server) is gone, not the statement wrong."""
    if isinstance(error, asyncpg.QueryCanceledError):
        return False  # statement_timeout: the server is there, only slow
    if isinstance(error, asyncpg.PostgresError):
        return isinstance(error, asyncpg.PostgresConnectionError) or error.sqlstate[:2] == "57"
    return isinstance(error, OSError | asyncpg.InterfaceError)  # TimeoutError is an OSError


def _database_unavailable(error: BaseException) -> bool:
    """Whether an error means the request may work later: the database is out of reach or did
    not answer in time."""
    return isinstance(error, asyncpg.QueryCanceledError) or _connection_lost(error)


class Database:
    """The service's connections with their outage handling, shared by every area."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.outages = Outages()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; DatabaseUnavailable when the database is out of reach or does
        not answer in time. When a connection turns out dead (the server restarted or went
        away), every pooled connection is replaced on its next use, so an outage fails few
        requests."""
        epoch = self.outages.epoch
        try:
            async with self.connections.acquire() as connection:
                try:
                    yield connection
                except (TimeoutError, asyncio.CancelledError):
                    # A statement was interrupted. asyncpg would hold the connection until the
                    # server confirmed the cancellation, which a hung server never does (a health
                    # probe waited as long as the server hung); a new connection costs less.
                    connection.terminate()
                    raise
        except Exception as error:
            if not _database_unavailable(error):
                raise
            if _connection_lost(error):
                await self.connections.expire_connections()
            raise self.outages.failed(error, epoch) from error
        self.outages.answered(epoch)

    async def retrying(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, transaction: bool = True
    ) -> T:
        """Run `work` in a transaction (or, for one statement, in its own), again if it lost a
        deadlock, serialization or uniqueness race (a drawn invite code that is taken ends the
        same way)."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.connection() as connection:
                    if not transaction:
                        return await work(connection)
                    async with connection.transaction():
                        return await work(connection)
            except asyncpg.PostgresError as error:
                if error.sqlstate not in RETRIED_SQLSTATES or attempt == RETRIES:
                    raise
                log.debug("transaction retried after %s", error.sqlstate)
        raise AssertionError("unreachable")

    # The timeout is applied here rather than by the caller: running out of it is an outage.
    async def ping(self, *, timeout: float) -> None:  # noqa: ASYNC109
        """A round trip to the database within `timeout` seconds; raises DatabaseUnavailable."""
        epoch = self.outages.epoch
        try:
            async with asyncio.timeout(timeout), self.connection() as connection:
                await connection.fetchval("SELECT 1")
        except TimeoutError as error:  # no connection free, or no answer, in time
            raise self.outages.failed(error, epoch) from error
