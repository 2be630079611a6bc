"""The program's log lines: no bot token in any of them, whichever logger writes them, in either
format."""

import asyncio
import json
import logging
import sys
from pathlib import Path

import aiohttp
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from logs import BotTokenFilter

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def failed_request() -> TelegramNetworkError:
    """The error aiogram raises when aiohttp fails a request, with the URL in its text."""
    url = f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage"
    try:
        try:
            raise aiohttp.ClientOSError(None, f"Can not write request body for {url}")
        except aiohttp.ClientError as error:
            raise TelegramNetworkError(SendMessage(chat_id=1, text="hi"), str(error)) from error
    except TelegramNetworkError as error:
        return error


def test_the_token_filter_hides_the_secret_in_the_message_and_the_traceback() -> None:
    error = failed_request()
    record = logging.LogRecord(
        "aiogram.event",
        logging.ERROR,
        __file__,
        1,
        "update %d failed: %s",
        (7, error),
        (type(error), error, error.__traceback__),
    )
    assert BotTokenFilter().filter(record)
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert TOKEN.partition(":")[2] not in line
    assert line.count("/bot123456:***/sendMessage") == 3  # the message, and both exceptions
    assert "Traceback" in line and line.startswith("ERROR aiogram.event: update 7 failed")


async def test_every_logger_writes_through_the_token_filter() -> None:
    """aiogram's, ours, uvicorn's (once the program built its HTTP server): none shows a token."""
    script = f"""
import logging
from fastapi import FastAPI
from logs import configure_logging
from runtime.http import http_server
from settings import Settings
configure_logging("INFO")
http_server(Settings(_env_file=None), FastAPI())
url = "http://127.0.0.1/bot{TOKEN}/getMe"
for name in ("aiogram.event", "bot.handlers.errors", "uvicorn.error", "asyncio"):
    try:
        raise OSError(url)
    except OSError:
        logging.getLogger(name).exception("request to %s failed", url)
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    output = errors.decode()
    assert process.returncode == 0, output
    assert TOKEN.partition(":")[2] not in output
    for name in ("aiogram.event", "bot.handlers.errors", "uvicorn.error", "asyncio"):
        assert f"ERROR {name}: request to http://127.0.0.1/bot123456:***/getMe failed" in output
    assert output.count("OSError: http://127.0.0.1/bot123456:***/getMe") == 4


async def test_json_log_lines_are_one_object_each_with_the_update_and_no_token() -> None:
    script = f"""
import logging
from logs import UPDATE_ID, configure_logging
configure_logging("INFO", "json")
url = "http://127.0.0.1/bot{TOKEN}/getMe"
logging.getLogger("referral").info("started")
UPDATE_ID.set(4242)
try:
    raise OSError(url)
except OSError:
    logging.getLogger("bot.handlers.errors").exception("request to %s failed", url)
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    output = errors.decode()
    assert process.returncode == 0, output
    first, second = (json.loads(line) for line in output.splitlines())
    assert first["level"] == "INFO" and first["logger"] == "referral"
    assert first["message"] == "started" and "update_id" not in first and "T" in first["time"]
    assert second["update_id"] == 4242 and second["level"] == "ERROR"
    assert second["message"] == "request to http://127.0.0.1/bot123456:***/getMe failed"
    assert "OSError: http://127.0.0.1/bot123456:***/getMe" in second["exception"]
    assert TOKEN.partition(":")[2] not in output
