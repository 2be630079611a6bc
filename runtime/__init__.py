"""The program's runtime: it starts and stops what serves people, the database, the HTTP server
and the bot, in one process or in several workers; the referral rules are the service's.

`start` is the entry `main.py` hands a command and the settings to."""

import asyncio
import logging
import sys
from contextlib import ExitStack

import uvloop

from api import create_app
from bot import create_bot
from db.service import ReferralService, create_service
from jobs import background_work
from logs import configure_logging
from playground.people import Playground
from runtime.database import embedded_postgres, open_database
from runtime.http import Shutdown, http_server, serve, settle_gc, web_app_address
from runtime.telegram import change_webhook, run_bot
from runtime.workers import (
    ONE_PROCESS,
    Process,
    WorkersRefused,
    listening_socket,
    metrics_folder,
    run_workers,
    worker_count,
)
from settings import Settings

log = logging.getLogger("referral")

COMMANDS = ("bot", "api", "migrate", "set-webhook", "delete-webhook")
NO_TOKEN = (
    "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot) and put its token "
    "in BOT_TOKEN (environment or .env)."
)


def start(command: str, settings: Settings) -> int:
    """Run `command` (one of COMMANDS) to its end; the exit code. What cannot run is refused in
    one line (exit 2) before anything starts."""
    try:
        processes = http_processes(command, settings)
    except WorkersRefused as error:
        print(error, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    needs_bot = command in ("set-webhook", "delete-webhook")
    if needs_bot and settings.bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if processes > 1:
        return run_in_workers(command, settings, processes)
    run_process(command, settings, ONE_PROCESS)
    return 0


def http_processes(command: str, settings: Settings) -> int:
    """How many processes serve HTTP for `command` (WEB_WORKERS and what allows it)."""
    if command not in ("bot", "api"):
        return 1
    if command == "bot" and settings.bot_token is None:
        if settings.web_workers is not None and settings.web_workers > 1:
            raise WorkersRefused(
                "setting WEB_WORKERS: without BOT_TOKEN the bot runs in its playground, whose "
                "people live in one process; set WEB_WORKERS=1, or BOT_TOKEN"
            )
        return 1
    bot = command == "bot"
    webhook = bot and settings.webhook_url is not None
    return worker_count(settings, serves_webhook=webhook, polls=bot and not webhook)


def run_in_workers(command: str, settings: Settings, count: int) -> int:
    """`command` in `count` processes on one socket; the embedded PostgreSQL, when there is no
    DATABASE_URL, is started here once and shared by them."""
    with metrics_folder(), ExitStack() as stack:
        url = settings.database_url
        if url is None:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
        shared = settings.model_copy(update={"database_url": url})
        listener = listening_socket(settings.web_host, settings.web_port)
        return run_workers(count, listener, lambda process: run_process(command, shared, process))


def run_process(command: str, settings: Settings, process: Process) -> None:
    try:
        uvloop.run(run(command, settings, process))
    except asyncio.CancelledError:
        log.info("stopped during start-up")


async def run(command: str, settings: Settings, process: Process) -> None:
    shutdown = Shutdown(process)
    async with open_database(settings) as pool:
        if command == "migrate":
            log.info("database schema is up to date")
            return
        service = create_service(pool, settings)
        if settings.code_delivery == "chat" and process.speaks_for_all:
            log.warning("CODE_DELIVERY=chat shows codes to whoever asks: not for production")
        try:
            if command == "api":
                await run_api(settings, service, shutdown, process)
                return
            # Without a token the bot talks to a Bot API of its own, in its playground.
            playground = None
            if settings.bot_token is None:
                playground = Playground.create(admin_ids=frozenset(settings.admin_ids))
            stand_in = playground.api if playground is not None else None
            async with create_bot(settings, playground=stand_in) as bot:
                if command == "bot":
                    await run_bot(settings, service, bot, shutdown, process, playground)
                else:
                    await change_webhook(command, settings, bot)
        finally:
            await service.delivery.close()


async def run_api(
    settings: Settings, service: ReferralService, shutdown: Shutdown, process: Process
) -> None:
    """The HTTP server alone: the API and the web app."""
    server = http_server(settings, create_app(settings, service))
    process.announce("HTTP API and web app on %s", web_app_address(settings))
    settle_gc()
    async with background_work(settings, service):
        await serve(server, shutdown, process)
