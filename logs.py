"""The log line formats: text for a terminal, JSON (`LOG_FORMAT=json`) for log collectors, one
object per line with the time, level, logger, message and the Telegram update being handled."""

import json
import logging
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
