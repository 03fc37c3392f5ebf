"""An answer costs few round trips: to the database thread, and to Telegram.

Every trip to aiosqlite's thread costs about a quarter of a millisecond of CPU on the
benchmark machine (`benchmarks/answers.py`), as much as the SQL itself; counting them is a
deterministic guard for the answer path, where timing would be noise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import aiosqlite
import pytest

from bot import output
from bot.apidouble import BotApiDouble, SimUser
from bot.content import Content
from tests.e2e.harness import Harness, start_app, stop_app
from tests.e2e.test_journey import join_es
from tests.support import FakeClock


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the name of every function sent to a database thread."""
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        task = asyncio.current_task()
        # Only the updates' own work: the outbox sender and the safety tick run beside them.
        if task is not None and task.get_name().endswith(":process_concurrent_update"):
            # SQL for aiosqlite's own helpers; our one-trip units are functions.
            trips.append(str(args[0]) if args else getattr(fn, "__qualname__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield trips


async def at_first_statement(bot: Harness) -> SimUser:
    """Return a participant who has joined and opened the DGCA."""
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    return ana


async def test_an_answer_takes_few_database_trips(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await at_first_statement(bot)
    await bot.tap(ana, "De acuerdo")
    await bot.settle()
    per_answer = []
    with counting(monkeypatch) as trips:
        for _ in range(5):
            trips.clear()
            await bot.tap(ana, "De acuerdo")
            await bot.settle()
            per_answer.append(list(trips))
    assert "7/36" in (ana.last.text or "")
    # Who the person is; the response with its context; the answer with the next question.
    assert [len(trips) for trips in per_answer] == [3] * 5, per_answer


async def test_the_next_question_does_not_wait_for_the_button_answer(bot: Harness) -> None:
    ana = await at_first_statement(bot)
    await bot.tap(ana, "De acuerdo")
    await bot.settle()
    # Telegram takes 3 s to answer the button: the next question goes out meanwhile.
    slow = 3.0
    bot.double.delay("answerCallbackQuery", slow)
    sent_before = len(bot.double.requests_for("editMessageText"))
    await bot.tap(ana, "De acuerdo")
    await bot.settle()
    answered = bot.double.requests_for("answerCallbackQuery")[-1]
    sent = bot.double.requests_for("editMessageText")[sent_before:]
    assert len(sent) == 1 and "3/36" in str(sent[0].params.get("text"))
    # Sent one after the other, the question could not arrive before the answer returned.
    assert sent[0].time - answered.time < slow
    assert bot.double.unanswered_callbacks() == []


async def test_a_failed_button_answer_costs_no_apology(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    ana = await at_first_statement(bot)
    # Telegram's front end fails the answer once; the reply itself goes through.
    bot.double.inject("answerCallbackQuery", status=502)
    await bot.tap(ana, "De acuerdo")
    await bot.settle()
    assert "2/36" in (ana.last.text or "")
    assert "Algo salió mal" not in "\n".join(m.text or "" for m in ana.messages)
    assert "trying again" in caplog.text
    # Answered on the second try (the fixture fails on a query left unanswered).
    assert [r.status for r in bot.double.requests_for("answerCallbackQuery")[-2:]] == [502, 200]


async def test_a_busy_connection_pool_makes_calls_wait_not_fail(
    double: BotApiDouble,
    db_url: str,
    content: Content,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8 work slots, so 9 connections; each tap wants two at once (answer and edit).
    monkeypatch.setenv("MAX_CONCURRENT_UPDATES", "8")
    app = await start_app(double, db_url, content, clock)
    harness = Harness(double, app, clock, db_url, content)
    try:
        workshop = await harness.import_workshop()
        users = [double.new_user(first_name=f"U{i}", language_code="es") for i in range(12)]
        for user in users:
            await harness.send(user, f"/start {workshop.join_code}")
        # Telegram answers slowly: calls wait longer for a free connection than PTB's
        # default pool timeout (1 s).
        double.delay("answerCallbackQuery", 1.5, times=len(users))
        double.delay("editMessageText", 1.5, times=len(users))
        await asyncio.gather(*(user.tap("🌐 English") for user in users))
        await harness.settle(timeout=30)
    finally:
        await stop_app(app)
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("bot", "telegram"))
    ]
    assert problems == []
    assert all("Welcome" in (user.last.text or "") for user in users)
    assert double.unanswered_callbacks() == []


async def test_telegram_unreachable_is_a_warning_with_an_apology(
    bot: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    # Failures that certainly did not deliver are tried again; past the retries, an apology.
    monkeypatch.setattr(output, "FAILURE_BACKOFF", (0.0, 0.0, 0.0, 0.0))
    bot.double.inject("sendMessage", status=502, chat_id=ana.id, times=5)
    reply = await bot.send(ana, "/help")
    assert "Algo salió mal" in (reply.text or "")
    warnings = [r for r in caplog.records if "from the Bot API" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in warnings] == [(logging.WARNING, None)]
    # (The bot fixture fails the test on any ERROR.)
