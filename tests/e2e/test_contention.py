"""A locked or busy database (a long export, a backup) never loses a participant's answer."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import storage.sqlite as sqlite_store
from bot.apidouble import ChatMessage, SimUser
from storage.sqlite import sqlite_path
from tests.e2e.harness import PROGRESS, Harness
from tests.support import enrol_ready

pytestmark = pytest.mark.slow

PARTICIPANTS = 20
# Each hold lasts longer than the bot's busy_timeout, so that its first BEGIN IMMEDIATE gives
# up and the store's own retry has to carry the answer through.
HOLDS = 3
LABELS = {
    "Totalmente de acuerdo": "5",
    "De acuerdo": "4",
    "Ni de acuerdo ni en desacuerdo": "3",
    "En desacuerdo": "2",
    "Totalmente en desacuerdo": "1",
    "No sé / No aplica": "na",
}
APOLOGY = "Algo salió mal"
WAIT = 90.0


@dataclass
class Answerer:
    """A participant who answers statements one after another and notes what was confirmed."""

    user: SimUser
    rng: random.Random
    confirmed: dict[int, str] = field(default_factory=dict)


def _keyboard_message(user: SimUser) -> ChatMessage | None:
    for msg in reversed(user.messages):
        if not msg.deleted and msg.buttons:
            return msg
    return None


def _moved_on(msg: ChatMessage, n: int) -> Callable[[], bool]:
    """Return a check that msg, edited in place, asks a statement after `n` (or the review)."""

    def check() -> bool:
        match = PROGRESS.search(msg.text or "")
        return (match is not None and int(match["n"]) > n) or "Revisión" in (msg.text or "")

    return check


async def _enrol(bot: Harness, count: int) -> list[SimUser]:
    workshop = await bot.import_workshop()
    store, now = bot.services.store, bot.clock.now()
    users = []
    for i in range(count):
        user = bot.double.new_user(f"C{i:02d}", "Sim", language_code="es", started=True)
        await enrol_ready(store, workshop.id, user.id, f"C{i:02d} Sim", now)
        users.append(user)
    return users


async def _open(bot: Harness, user: SimUser) -> None:
    await user.send("/dgca")
    await bot.double.wait_for(lambda: _keyboard_message(user) is not None, timeout=WAIT)


async def _answer(bot: Harness, person: Answerer, done: asyncio.Event) -> None:
    """Answer statement after statement until `done` (and at least once), at most 34."""
    user = person.user
    while not person.confirmed or (not done.is_set() and len(person.confirmed) < 34):
        msg = _keyboard_message(user)
        assert msg is not None
        match = PROGRESS.search(msg.text or "")
        assert match, msg.text
        label = person.rng.choice(list(LABELS))
        await user.tap(label, message=msg)
        await bot.double.wait_for(
            _moved_on(msg, int(match["n"])),
            timeout=WAIT,
            message=f"{user.first_name}: statement {match['n']} confirmed",
        )
        person.confirmed[int(match["n"])] = label


def _hold_write_lock(
    path: Path, seconds: float, release: threading.Event, held: threading.Event
) -> None:
    """Take the database's write lock from another connection and sit on it."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


class _Stopped(Exception):
    pass


def _backups(path: Path, target: Path, stop: threading.Event) -> tuple[int, int]:
    """Copy the live database again and again in small steps; return (finished, started)."""
    finished = started = 0

    def progress(status: int, remaining: int, total: int) -> None:
        if stop.is_set():
            raise _Stopped

    while not stop.is_set():
        started += 1
        src = sqlite3.connect(path, timeout=60)
        dst = sqlite3.connect(target)
        try:
            # Eight pages a step with a pause between steps, as a cautious backup tool does.
            src.backup(dst, pages=8, progress=progress, sleep=0.005)
            finished += 1
        except _Stopped:
            pass
        finally:
            dst.close()
            src.close()
    return finished, started


def _stored(path: Path) -> dict[int, dict[str, str]]:
    """Read every DGCA answer per Telegram user, checking there is one row per question."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT p.telegram_id, a.question_id, a.value_json, COUNT(*) OVER"
            " (PARTITION BY a.response_id, a.question_id) FROM answers a"
            " JOIN responses r ON r.id = a.response_id"
            " JOIN participants p ON p.id = r.participant_id"
        ).fetchall()
    finally:
        conn.close()
    out: dict[int, dict[str, str]] = {}
    for telegram_id, question_id, value, copies in rows:
        assert copies == 1, f"answer {question_id} of {telegram_id} recorded {copies} times"
        out.setdefault(telegram_id, {})[question_id] = value.strip('"')
    return out


async def test_answers_survive_write_locks_and_backups(
    bot: Harness, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(6)
    people = [Answerer(u, random.Random(rng.random())) for u in await _enrol(bot, PARTICIPANTS)]
    await asyncio.gather(*(_open(bot, p.user) for p in people))
    path = sqlite_path(bot.database_url)
    stop = threading.Event()
    backups = asyncio.create_task(asyncio.to_thread(_backups, path, tmp_path / "copy.db", stop))
    holds_done = asyncio.Event()
    answering = asyncio.gather(*(_answer(bot, p, holds_done) for p in people))

    def busy() -> int:
        return sum("database busy" in r.getMessage() for r in caplog.records)

    async def hold_locks() -> None:
        for _ in range(HOLDS):
            release, held = threading.Event(), threading.Event()
            holder = asyncio.create_task(
                asyncio.to_thread(_hold_write_lock, path, 60, release, held)
            )
            await asyncio.to_thread(held.wait, 60)
            # Held until the bot's BEGIN IMMEDIATE has outwaited busy_timeout and given up
            # once, then a while longer, so that its retry has to wait too.
            waits = busy()
            await bot.double.wait_for(lambda w=waits: busy() > w, timeout=60, poll_interval=0.05)  # type: ignore[misc]
            await asyncio.sleep(1.0)
            release.set()
            await holder
            # Let the answers queued behind the lock through before the next hold.
            await asyncio.sleep(0.5)
        holds_done.set()

    try:
        await asyncio.gather(answering, hold_locks())
    finally:
        stop.set()
        finished, started = await backups
    await bot.settle()

    stored = _stored(path)
    ids = [s.question.id for s in bot.services.content.questionnaire("dgca").slots()]
    for person in people:
        expected = {ids[n - 1]: LABELS[label] for n, label in person.confirmed.items()}
        assert stored[person.user.id] == expected, person.user.first_name
        assert not any(APOLOGY in (m.text or "") for m in person.user.messages)
    assert busy() >= HOLDS
    assert started >= 1
    print(f"busy retries logged: {busy()}; backups finished {finished} of {started}")


class TestLockPastEveryRetry:
    """A lock held longer than the store's whole retry budget (about 31 s)."""

    @pytest.fixture
    def allowed_errors(self) -> list[str]:
        return ["error handling update"]

    async def test_the_person_is_told_and_can_answer_again(
        self, bot: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # One try only: the same outcome as a lock held past all the retries, sooner.
        monkeypatch.setattr(sqlite_store, "LOCKED_RETRIES", 0)
        (user,) = await _enrol(bot, 1)
        await _open(bot, user)
        msg = _keyboard_message(user)
        assert msg is not None and "· 1/36" in (msg.text or "")
        path = sqlite_path(bot.database_url)
        release, held = threading.Event(), threading.Event()
        holder = asyncio.create_task(asyncio.to_thread(_hold_write_lock, path, 60, release, held))
        await asyncio.to_thread(held.wait, 10)

        before = len(user.messages)
        await user.tap("De acuerdo", message=msg)
        await bot.double.wait_for(
            lambda: any(APOLOGY in (m.text or "") for m in user.messages[before:]), timeout=WAIT
        )
        # The store gave up; the person is told politely and the statement still waits.
        assert "· 1/36" in (msg.text or "")
        assert "De acuerdo" in msg.button_texts
        release.set()
        await holder

        # The same button works again once the lock is gone, and the answer is kept.
        await user.tap("En desacuerdo", message=msg)
        await bot.double.wait_for(_moved_on(msg, 1), timeout=WAIT)
        await bot.settle()
        ids = [s.question.id for s in bot.services.content.questionnaire("dgca").slots()]
        assert _stored(path)[user.id] == {ids[0]: "2"}
