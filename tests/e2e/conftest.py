from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.apidouble import BotApiDouble
from bot.content import Content
from tests.e2e.harness import TOKEN, Harness, start_app, stop_app
from tests.support import FakeClock


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as d:
        yield d
        assert d.violations == [], d.violations
        assert d.unanswered_callbacks() == []


@pytest.fixture
def clock() -> FakeClock:
    # Before the DGCA window opens, so no automatic message goes out unless a test moves time.
    return FakeClock(datetime(2023, 11, 15, 14, 0, tzinfo=UTC))


@pytest.fixture
def allowed_errors() -> list[str]:
    """Substrings of ERROR log lines a test expects; any other error fails it."""
    return []


@pytest.fixture
async def bot(
    double: BotApiDouble,
    db_url: str,
    content: Content,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    allowed_errors: list[str],
) -> AsyncIterator[Harness]:
    caplog.set_level(logging.INFO)
    app = await start_app(double, db_url, content, clock)
    harness = Harness(double, app, clock, db_url, content)
    try:
        yield harness
        await harness.settle()
    finally:
        await stop_app(harness.app)
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and not any(allowed in r.getMessage() for allowed in allowed_errors)
    ]
    assert errors == []


class ErrorTrap(logging.Handler):
    """Collect ERROR records from every logger, for fixtures that outlive caplog."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


@asynccontextmanager
async def live_bot(
    tmp_dir: Path, content: Content, clock: FakeClock, **double_options: Any
) -> AsyncIterator[tuple[Harness, ErrorTrap]]:
    """Run one application for many tests (module fixtures); fail on errors and violations."""
    trap = ErrorTrap()
    logging.getLogger().addHandler(trap)
    db_url = f"sqlite:///{tmp_dir / 'bot.sqlite3'}"
    try:
        async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot", **double_options) as d:
            app = await start_app(d, db_url, content, clock)
            harness = Harness(d, app, clock, db_url, content)
            try:
                yield harness, trap
                await harness.settle()
            finally:
                await stop_app(harness.app)
            assert d.violations == [], d.violations
            assert d.unanswered_callbacks() == []
    finally:
        logging.getLogger().removeHandler(trap)
    assert trap.messages == []
