from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

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
