"""Two webhook instances on one PostgreSQL database, the double balancing updates between them.

Real processes (`python -m bot run --webhook`), a real PostgreSQL server (TEST_DATABASE_URL)
and the Bot API double, which sends each update to one instance at random and to the
other when the first refuses the connection, as a load balancer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.apidouble import BotApiDouble, ChatMessage, SimUser
from bot.content import Content, WorkshopFile, load_workshop_file
from bot.delivery import SEND_WINDOW
from bot.flows.workshops import import_workshop
from bot.instances import ALIVE_SECONDS, DELIVERY_LEASE
from storage import OutMessage, ScheduledItem, Store, open_store
from tests.e2e.harness import COCHABAMBA, PROGRESS
from tests.e2e.test_contention import LABELS, Answerer, _moved_on
from tests.e2e.test_postgres_run import pg_database  # noqa: F401  (a fixture)
from tests.realproc import BotProcess
from tests.support import FakeClock, enrol_ready, make_services

pytestmark = pytest.mark.slow

PARTICIPANTS = 100
# Statements each participant answers: enough for the kill to land among them.
STATEMENTS = 12
BROADCAST = "Aviso: mañana la sesión empieza a las 8:30 en el salón principal."
NUDGE = "Puede continuar donde se quedó"
# Each wait names what it waited for when it gives up, well before the test's own limit.
WAIT = 60.0
HANDLED = re.compile(r"handled (\d+) update\(s\) from the inbox")


async def until(double: BotApiDouble, condition: Callable[[], object], what: str) -> None:
    await double.wait_for(condition, timeout=WAIT, poll_interval=0.1, message=what)


def _daytime_workshop(tmp_path: Path) -> WorkshopFile:
    """Return the Cochabamba workshop moved to a time zone where it is now early afternoon.

    The bot sends nothing automatic in a workshop's night: a test on the wall clock must not
    depend on the hour it runs at.
    """
    offset = (13 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    # Etc/GMT zones count the other way round: Etc/GMT-5 is five hours ahead of UTC.
    zone = "Etc/GMT" + (f"{-offset:+d}" if offset else "")
    text = COCHABAMBA.read_text(encoding="utf-8")
    path = tmp_path / "workshop.yaml"
    path.write_text(text.replace("timezone: America/La_Paz", f"timezone: {zone}"), "utf-8")
    return load_workshop_file(path)


async def _enrol(
    double: BotApiDouble, store: Store, content: Content, spec: WorkshopFile
) -> tuple[int, list[SimUser]]:
    clock = FakeClock()
    svc = make_services(store, content, clock)
    workshop = (await import_workshop(svc, spec, "x", clock.now())).workshop
    # Its occasions are long past (2023): the only one in this test is the one it adds.
    await store.sync_schedule(workshop.id, [], clock.now())
    users = []
    for i in range(PARTICIPANTS):
        user = double.new_user(f"M{i:03d}", "Sim", language_code="es", started=True)
        await enrol_ready(store, workshop.id, user.id, f"M{i:03d} Sim", clock.now())
        users.append(user)
    return workshop.id, users


async def _answer(double: BotApiDouble, person: Answerer, statements: int = STATEMENTS) -> None:
    """Open the DGCA and answer `statements` statements, each once the one before is confirmed.

    As a person would: an update the killed instance had taken is handled again by the
    other, and a /dgca handled twice moves the statement to a new message at the bottom;
    the person then goes on in that one. A tap counts as confirmed when the statement shown
    afterwards, in the tapped message or the new one, is a later one.
    """
    user = person.user
    await user.send("/dgca")
    await until(double, lambda: _statement(user) is not None, f"{user.first_name}: DGCA")
    tried: dict[int, str] = {}
    while len(person.confirmed) < statements:
        msg = _statement(user)
        assert msg is not None
        n = _number(msg)
        label = person.rng.choice(list(LABELS))
        query = await user.tap(label, message=msg)
        moved = _moved_on(msg, n)
        await until(double, _answered(double, user, msg, moved, query), f"{user.first_name}: {n}")
        answer = double.callback_answers.get(query)
        stale = answer is not None and answer.text is not None
        if stale:
            # Told the button is old: statement n was answered already, by an earlier
            # tap whose edit was lost with the killed instance; the bot redraws the
            # message at the current statement. The earlier tap's answer is the one kept.
            with contextlib.suppress(AssertionError):
                await double.wait_for(_answered(double, user, msg, moved, ""), timeout=5)
        else:
            tried[n] = label
        shown = _statement(user)
        if moved() or (shown is not None and _number(shown) > n):
            person.confirmed[n] = tried.get(n, label)


def _answered(
    double: BotApiDouble,
    user: SimUser,
    tapped: ChatMessage,
    moved: Callable[[], bool],
    query: str,
) -> Callable[[], bool]:
    """Return a check: moved on, a newer statement message came, or the tap got a notice."""

    def check() -> bool:
        answer = double.callback_answers.get(query)
        notice = answer is not None and answer.text is not None
        return moved() or _statement(user) is not tapped or notice

    return check


def _number(msg: ChatMessage) -> int:
    """Return the number of the statement a message shows (37 for the review)."""
    match = PROGRESS.search(msg.text or "")
    return int(match["n"]) if match else 37


def _statement(user: SimUser) -> ChatMessage | None:
    """Return the message showing the person's current DGCA statement (not a reminder)."""
    for msg in reversed(user.messages):
        if not msg.deleted and msg.buttons and PROGRESS.search(msg.text or ""):
            return msg
    return None


async def _check_answers(
    store: Store, content: Content, workshop_id: int, people: list[Answerer]
) -> None:
    """Check that every confirmed answer is stored, once, in the order it was tapped."""
    ids = [s.question.id for s in content.questionnaire("dgca").slots()]
    answered = {a.participant_id: a for a in await store.answer_sets(workshop_id, "dgca")}
    for person in people:
        participant = await store.participant(workshop_id, person.user.id)
        assert participant is not None
        response = await store.find_response(participant.id, "dgca")
        assert response is not None
        expected = {ids[n - 1]: LABELS[label] for n, label in person.confirmed.items()}
        assert await store.answers(response.id) == expected, person.user.first_name
        times = answered[participant.id].answered_at
        order = [times[ids[n - 1]] for n in sorted(person.confirmed)]
        assert order == sorted(order), person.user.first_name


def _copies(user: SimUser, needle: str) -> int:
    return sum(1 for m in user.messages if needle in (m.text or ""))


def _process_of(instance: str | None, bots: list[BotProcess]) -> BotProcess:
    assert instance is not None, "no instance holds the delivery lease"
    pid = int(instance.rsplit("-", 2)[-2])
    return next(b for b in bots if b.proc is not None and b.proc.pid == pid)


@pytest.mark.timeout(300)
async def test_two_instances_lose_nothing_when_one_is_killed(
    double: BotApiDouble,
    pg_database: str,  # noqa: F811
    tmp_path: Path,
    content: Content,
) -> None:
    store = await open_store(pg_database)
    spec = _daytime_workshop(tmp_path)
    workshop_id, users = await _enrol(double, store, content, spec)
    bots = [BotProcess(double, pg_database, tmp_path / f"bot{i}.log", "webhook") for i in range(2)]
    try:
        for bot in bots:
            await bot.start()
        people = [Answerer(u, random.Random(i)) for i, u in enumerate(users)]
        answering = asyncio.gather(*(_answer(double, p) for p in people))

        # A third of the way through, a broadcast to everyone, and the sending instance is
        # killed while it goes out.
        total = PARTICIPANTS * STATEMENTS
        await until(double, lambda: sum(len(p.confirmed) for p in people) >= total // 3, "third")
        now = datetime.now(UTC)
        await store.enqueue("test:all", [OutMessage(u.id, BROADCAST) for u in users], now)
        await until(double, lambda: sum(_copies(u, BROADCAST) for u in users) >= 20, "broadcast")
        sender = _process_of(await store.lease_holder(DELIVERY_LEASE), bots)
        await sender.kill()
        killed_at = datetime.now(UTC)
        assert sum(1 for u in users if _copies(u, BROADCAST)) < PARTICIPANTS, "too late a kill"
        # A reminder falls due once the dead instance's turn has lapsed.
        due = killed_at + timedelta(seconds=ALIVE_SECONDS + 3)
        await store.sync_schedule(
            workshop_id,
            [ScheduledItem("nudge-test", "dgca_nudge", due, None, {})],
            killed_at,
        )
        await asyncio.sleep(1.0)
        await sender.start()

        await asyncio.wait_for(answering, WAIT * 3)
        await until(double, lambda: all(_copies(u, BROADCAST) for u in users), "broadcast done")
        await until(double, lambda: all(_copies(u, NUDGE) for u in users), "every nudge")
        for source in ("test:all",):
            counts = await store.outbox_counts(source)
            assert counts.get("pending", 0) == 0, counts
        for bot in bots:
            code, _ = await bot.terminate()
            assert code == 0, bot.tail()

        await _check_answers(store, content, workshop_id, people)
        assert await store.inbox_size() == 0
        # The killed sender can repeat only what it had in flight; the reminder, due after
        # it died, goes out once.
        repeated = sum(_copies(u, BROADCAST) - 1 for u in users)
        assert 0 <= repeated <= SEND_WINDOW
        assert [_copies(u, NUDGE) for u in users] == [1] * PARTICIPANTS
        # An update the killed instance had taken is handled again by the other: if the dead
        # one had answered its button, Telegram refuses the second answer (400), at most once
        # per person (one update each at a time). Nothing else breaks the protocol.
        twice = [v for v in double.violations if v.endswith("answered twice")]
        assert len(twice) <= PARTICIPANTS and len(set(twice)) == len(twice), twice
        assert [v for v in double.violations if v not in twice] == []
        double.violations.clear()
        for bot in bots:
            log = bot.log_text()
            assert "Traceback" not in log, bot.tail(40)
            # Both instances handled updates (the double balances them at random).
            handled = [int(n) for n in HANDLED.findall(log)]
            assert handled and sum(handled) > 0, bot.tail(40)
    finally:
        for bot in bots:
            await bot.stop()
        await store.close()


# Slow enough that the broadcast and the reminder (200 messages) are still going out when
# the old instance stops.
ROLLING_RATE = 3.2
OVERLAP = 30.0


@pytest.mark.timeout(300)
async def test_a_rolling_deploy_sends_nothing_twice(
    double: BotApiDouble,
    pg_database: str,  # noqa: F811
    tmp_path: Path,
    content: Content,
) -> None:
    store = await open_store(pg_database)
    workshop_id, users = await _enrol(double, store, content, _daytime_workshop(tmp_path))
    env = {"SEND_PER_SECOND": str(ROLLING_RATE)}
    old, new = (
        BotProcess(double, pg_database, tmp_path / f"{name}.log", "webhook", extra_env=env)
        for name in ("old", "new")
    )
    try:
        await old.start()
        await store.enqueue(
            "test:all", [OutMessage(u.id, BROADCAST) for u in users], datetime.now(UTC)
        )
        await until(double, lambda: any(_copies(u, BROADCAST) for u in users), "broadcast")
        # The new version starts beside the old one, as a platform's rolling deploy does.
        await new.start()
        overlap_from = datetime.now(UTC)
        await store.sync_schedule(
            workshop_id,
            [
                ScheduledItem(
                    "nudge-test", "dgca_nudge", overlap_from + timedelta(seconds=10), None, {}
                )
            ],
            overlap_from,
        )
        # People keep answering during the overlap; their updates reach either instance.
        people = [Answerer(u, random.Random(i)) for i, u in enumerate(users[:20])]
        await asyncio.gather(*(_answer(double, p, 5) for p in people))
        await asyncio.sleep(max(0.0, OVERLAP - (datetime.now(UTC) - overlap_from).total_seconds()))
        assert await store.pending_outbox(1), "everything was sent before the stop: slow it down"
        code, _ = await old.terminate()
        assert code == 0, old.tail()
        await until(double, lambda: all(_copies(u, BROADCAST) for u in users), "broadcast done")
        await until(double, lambda: all(_copies(u, NUDGE) for u in users), "every nudge")
        counts = await store.outbox_counts("test:all")
        assert counts.get("pending", 0) == 0, counts
        code, _ = await new.terminate()
        assert code == 0, new.tail()

        assert [_copies(u, BROADCAST) for u in users] == [1] * PARTICIPANTS
        assert [_copies(u, NUDGE) for u in users] == [1] * PARTICIPANTS
        await _check_answers(store, content, workshop_id, people)
        assert "now sends" in new.log_text(), new.tail(40)
        for bot in (old, new):
            assert "Traceback" not in bot.log_text(), bot.tail(40)
    finally:
        for bot in (old, new):
            await bot.stop()
        await store.close()
