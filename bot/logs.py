"""Logging set-up that never prints the bot token."""

from __future__ import annotations

import logging
import sys


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


def setup_logging(level: str, token: str = "") -> None:
    """Log to stderr; keep HTTP client chatter (which carries URLs) at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
