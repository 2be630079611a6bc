"""The bot's runners: long polling, or the webhook as a route of the HTTP application, each
beside the HTTP server; and the webhook's registration with Telegram (`set-webhook`,
`delete-webhook`), which instances never do themselves."""

import asyncio
import logging
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from fastapi import FastAPI

from api import create_app
from api.routes.playground import create_playground_router
from bot import create_dispatcher
from bot.state_storage import UpdateState, create_update_state
from db.service import ReferralService
from jobs import background_work
from logs import hide_bot_tokens
from playground.people import Playground
from runtime.http import Shutdown, http_server, serve, settle_gc, web_app_address
from runtime.webhook import create_webhook_router
from runtime.workers import Process
from settings import Settings

log = logging.getLogger("referral")

POLLING_ON = "long polling; HTTP API and web app on %s"
PLAYGROUND_ON = (
    "playground (the bot without Telegram) on %s; web app and HTTP API on %s (BOT_TOKEN is not set)"
)
# The updates the bot handles, asked for by polling and by the webhook's registration alike.
ALLOWED_UPDATES = ("message", "callback_query", "inline_query")


async def run_bot(
    settings: Settings,
    service: ReferralService,
    bot: Bot,
    shutdown: Shutdown,
    process: Process,
    playground: Playground | None = None,
) -> None:
    """The bot until a signal: by webhook when WEBHOOK_URL is set, else by long polling; with
    `playground`, the bot's own stand-in, polled in process, beside the playground's page."""
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
            if playground is not None:
                await run_playground(
                    settings, service, bot, me.username, dispatcher, shutdown, process, playground
                )
            elif settings.webhook_url:
                await run_webhook(
                    settings, service, bot, me.username, dispatcher, state, shutdown, process
                )
            else:
                app = create_app(settings, service, bot_username=me.username)
                address = web_app_address(settings)
                await run_polling(
                    settings, app, bot, dispatcher, shutdown, process, (POLLING_ON, address)
                )
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
    process: Process,
) -> None:
    """The webhook route in the HTTP application, in one process or in each of several."""
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
        process.announce("webhook, HTTP API and web app on %s", web_app_address(settings))
        await serve(server, shutdown, process)
    finally:
        await dispatcher.emit_shutdown(bot=bot)


async def run_playground(
    settings: Settings,
    service: ReferralService,
    bot: Bot,
    bot_username: str | None,
    dispatcher: Dispatcher,
    shutdown: Shutdown,
    process: Process,
    playground: Playground,
) -> None:
    """Long polling of the bot's own stand-in, with the playground's page and API beside the web
    app; a shutdown first ends the page's streams, which the server would otherwise wait for."""
    shutdown.before_stop.append(playground.close)
    router = create_playground_router(playground)
    app = create_app(settings, service, routers=[router], bot_username=bot_username)
    address = web_app_address(settings)
    announcement = PLAYGROUND_ON, f"{address}playground/", address
    await run_polling(settings, app, bot, dispatcher, shutdown, process, announcement)


async def run_polling(
    settings: Settings,
    app: FastAPI,
    bot: Bot,
    dispatcher: Dispatcher,
    shutdown: Shutdown,
    process: Process,
    announcement: tuple[str, ...],
) -> None:
    """Long polling beside the HTTP server, always in one process (Telegram allows one consumer);
    either stopping stops the other."""
    await bot.delete_webhook()
    server = http_server(settings, app)
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=list(ALLOWED_UPDATES),
        )
    )
    polling.add_done_callback(lambda _: shutdown.request())  # polling died: stop serving too
    settle_gc()
    log.info(*announcement)
    try:
        await serve(server, shutdown, process)
    finally:
        if not polling.done():
            await dispatcher.stop_polling()
        await polling


async def change_webhook(command: str, settings: Settings, bot: Bot) -> None:
    """`set-webhook`: register WEBHOOK_URL with its secret; `delete-webhook`: remove it."""
    if command == "delete-webhook":
        await bot.delete_webhook()
        log.info("webhook removed")
        return
    if not settings.webhook_url or not settings.webhook_secret:
        raise SystemExit("set-webhook needs WEBHOOK_URL and WEBHOOK_SECRET")
    await bot.set_webhook(
        settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=list(ALLOWED_UPDATES),
    )
    log.info("webhook set to %s", settings.webhook_url)
