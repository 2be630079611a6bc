"""The stand-in served on a free loopback port, and aiogram's own Bot pointed at it, as the program
builds it (HTML by default)."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from playground.bot_api import BotApi
from playground.http import BotApiServer


@pytest.fixture
async def double_server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(BotApi()) as server:
        yield server


@pytest.fixture
def double(double_server: BotApiServer) -> BotApi:
    return double_server.api


@pytest.fixture
async def bot(double_server: BotApiServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(double_server.url))
    bot = Bot(
        double_server.api.token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    try:
        yield bot
    finally:
        await bot.session.close()
