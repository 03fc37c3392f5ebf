"""An answer costs few trips to the database thread: each one is a thread hand-off and back.

Every trip to aiosqlite's thread costs about a quarter of a millisecond of CPU on the
benchmark machine (`benchmarks/answers.py`), as much as the SQL itself; counting them is a
deterministic guard for the answer path, where timing would be noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiosqlite
import pytest

from tests.e2e.harness import Harness
from tests.e2e.test_journey import join_es


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the name of every function sent to a database thread."""
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        # SQL for aiosqlite's own helpers; our one-trip units are functions.
        trips.append(str(args[0]) if args else getattr(fn, "__qualname__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield trips


async def test_an_answer_takes_few_database_trips(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
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
