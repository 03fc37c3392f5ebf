"""Logging set-up that never prints the bot token."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

OMITTED = "<omitted>"
# Libraries that log request parameters, results and SQL parameters at DEBUG.
PAYLOAD_LOGGERS = ("telegram", "aiosqlite")


class RedactToken(logging.Filter):
    """Replace the bot token wherever it would appear in a log record."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the token from the message, its arguments and any exception text."""
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "<token>")
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if self._token in text:
                record.exc_text = text.replace(self._token, "<token>")
                record.exc_info = None
                record.msg = f"{record.msg}\n{record.exc_text}"
                record.exc_text = None
        return True


class OmitPayloads(logging.Filter):
    """Drop what people typed from libraries' DEBUG logs of requests, updates and SQL."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace structured arguments (parameters, results, update JSON) of PTB's records."""
        if not record.name.startswith(PAYLOAD_LOGGERS) or not record.args:
            return True
        if isinstance(record.args, Mapping):
            record.args = {key: _omit(value) for key, value in record.args.items()}
        else:
            record.args = tuple(_omit(value) for value in record.args)
        return True


def _omit(value: Any) -> Any:
    # Endpoint names, counts and lists of update ids say what happened without saying
    # what anyone wrote; dictionaries, objects and JSON text may carry their words.
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
        return value
    if isinstance(value, str):
        return OMITTED if value.lstrip().startswith(("{", "[")) else value
    if isinstance(value, BaseException):
        return value
    return OMITTED


def setup_logging(level: str, token: str = "") -> None:
    """Log to stderr without the token or people's words; keep HTTP chatter at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Payloads go first, so that the token filter sees the message as it will be printed.
    handler.addFilter(OmitPayloads())
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
