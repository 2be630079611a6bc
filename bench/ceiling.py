"""The bot's ceiling: a bare aiogram bot on the program's HTTP stack (FastAPI served by
`runtime.http.http_server`), one webhook route feeding a dispatcher whose one handler answers
every message with one `sendMessage` (and another every inline query with one card), touching no
database. Run like the program:
`python -m bench.ceiling` with BOT_TOKEN, TELEGRAM_API_URL, WEBHOOK_URL, WEBHOOK_SECRET, WEB_HOST
and WEB_PORT in the environment."""

import gc
import hmac
from urllib.parse import urlsplit

import uvloop
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from fastapi import FastAPI, Request, Response

from api.app import NO_TELEMETRY
from runtime.http import Shutdown, http_server, serve
from runtime.webhook import SECRET_HEADER
from runtime.workers import ONE_PROCESS
from settings import load_settings

REPLY = "Your invite code and link are on their way."


async def answer(message: Message) -> None:
    await message.answer(REPLY)


async def answer_inline(inline_query: InlineQuery) -> None:
    """One card, like the program's invite card, and nothing else."""
    card = InlineQueryResultArticle(
        id="card",
        title="Invite with my code",
        input_message_content=InputTextMessageContent(message_text=REPLY),
    )
    await inline_query.answer([card], cache_time=60, is_personal=True)


def create_ceiling_app(*, bot: Bot, dispatcher: Dispatcher, path: str, secret: str) -> FastAPI:
    app = FastAPI(telemetry=NO_TELEMETRY, docs_url=None, redoc_url=None, openapi_url=None)
    expected = secret.encode()

    @app.post(path)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return Response(status_code=401)
        update = Update.model_validate_json(await request.body(), context={"bot": bot})
        await dispatcher.feed_update(bot, update)
        return Response(status_code=200)

    return app


def create_bare_bot(token: str, api_url: str) -> Bot:
    """aiogram's own Bot on its aiohttp session, with the program's parse mode and nothing else."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


async def run() -> None:
    settings = load_settings()
    assert settings.bot_token and settings.telegram_api_url, "BOT_TOKEN and TELEGRAM_API_URL"
    assert settings.webhook_url and settings.webhook_secret, "WEBHOOK_URL and WEBHOOK_SECRET"
    shutdown = Shutdown(ONE_PROCESS)
    dispatcher = Dispatcher()
    dispatcher.message.register(answer)
    dispatcher.inline_query.register(answer_inline)
    token = settings.bot_token.get_secret_value()
    async with create_bare_bot(token, settings.telegram_api_url) as bot:
        app = create_ceiling_app(
            bot=bot,
            dispatcher=dispatcher,
            path=urlsplit(settings.webhook_url).path,
            secret=settings.webhook_secret.get_secret_value(),
        )
        gc.freeze()
        await serve(http_server(settings, app), shutdown, ONE_PROCESS)


if __name__ == "__main__":
    uvloop.run(run())  # the event loop the program runs on
