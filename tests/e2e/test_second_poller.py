"""Two `python -m bot run` processes polling with one token: the second says so once, and waits."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram.error import Conflict, NetworkError

from bot.apidouble import BotApiDouble
from bot.handlers.fallback import PollingErrors
from tests.e2e.harness import TOKEN
from tests.realproc import BotProcess

pytestmark = pytest.mark.slow

CONFLICT_LINE = "another process is polling with this bot token"


def _conflicts(double: BotApiDouble) -> int:
    return sum(1 for r in double.requests_for("getUpdates") if r.status == 409)


async def test_a_second_poller_says_so_in_one_line_and_waits(tmp_path: Path) -> None:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as double:
        db = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        first = BotProcess(double, db, tmp_path / "first.log")
        second = BotProcess(double, db, tmp_path / "second.log")
        await first.start()
        await second.start()
        try:
            # Each poll of one ends the other's with 409 Conflict, again and again.
            await double.wait_for(lambda: _conflicts(double) >= 4, timeout=60, poll_interval=0.2)
        finally:
            assert await second.stop() == 0
            assert await first.stop() == 0
        logs = first.log_text() + second.log_text()
        assert _conflicts(double) >= 4
        # One line per process that met the other, not one (with a traceback) per retry.
        assert 1 <= logs.count(CONFLICT_LINE) <= 2, logs
        assert "Traceback" not in logs and " ERROR " not in logs, logs
        assert all("409" in v or "Conflict" in v for v in double.violations), double.violations


def test_polling_errors_are_told_once_then_again_after_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    errors = PollingErrors(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="bot.handlers.fallback"):
        for _ in range(5):
            errors(Conflict("terminated by other getUpdates request"))
            now[0] += 30
        assert sum(CONFLICT_LINE in r.getMessage() for r in caplog.records) == 1
        now[0] += PollingErrors.REPEAT_SECONDS
        errors(Conflict("terminated by other getUpdates request"))
        assert sum(CONFLICT_LINE in r.getMessage() for r in caplog.records) == 2
        # Another kind of error ends the conflict: the next one is told at once.
        errors(NetworkError("Bad Gateway"))
        errors(Conflict("terminated by other getUpdates request"))
    assert sum(CONFLICT_LINE in r.getMessage() for r in caplog.records) == 3
    assert all(r.levelname == "WARNING" for r in caplog.records)
