"""200 participants answer the DGCA at once while the real bot process is SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.apidouble import BotApiDouble, ChatMessage, SimUser
from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import open_store
from tests.e2e.harness import COCHABAMBA, PROGRESS, TOKEN
from tests.realproc import BotProcess
from tests.support import FakeClock, make_services

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PARTICIPANTS = 200
# Statements everyone has answered (through the Store) before the bot starts: the bot spends
# about 20 ms of CPU per update and 0.1 s per profile chart, and every kill makes nearly
# everyone ask again, so 200 people answering all 36 would not fit in two minutes.
PREFILLED = 31
KILLS = 4
SEED = 20231128
# Only catches a hang: with 200 people tapping at once on a busy machine, a reply can wait
# behind a restart and a queue of profile charts.
STEP_TIMEOUT = 180.0

RESUME = "Sigamos donde lo dejó"
INTRO = "36 preguntas"
ALREADY_DONE = "Ya envió su autoevaluación"
SUBMITTED = "respuestas enviadas el"
ALREADY_SUBMITTED = "Ya envió estas respuestas"
REVIEW_BUTTON = "📤 Enviar respuestas"
CONFIRM_BUTTON = "Enviar"
# The only protocol complaint a kill may cause: a tap fetched (and answered) by the killed
# process is fetched again by the next one, which answers it a second time.
ANSWERED_TWICE = "answered twice"


# Requests that change what a participant sees, and where their chat id is.
WATCHED = frozenset({"sendMessage", "sendPhoto", "editMessageText", "answerCallbackQuery"})


class Wakeups:
    """Wake only the participant whose chat a Bot API request touched.

    The double wakes every waiter on every request; with 200 waiters each re-reading its
    chat, that alone would eat the test's time budget.
    """

    def __init__(self, double: BotApiDouble) -> None:
        self.double = double
        self.events: dict[int, asyncio.Event] = {}
        self.queries: dict[str, int] = {}
        self.seen = 0

    def wake_all(self) -> None:
        """Wake every participant (the bot died: all must look again)."""
        for event in self.events.values():
            event.set()

    def _chat_of(self, method: str, params: dict[str, object]) -> int | None:
        if method == "answerCallbackQuery":
            return self.queries.get(str(params.get("callback_query_id")))
        chat = params.get("chat_id")
        return int(chat) if isinstance(chat, int | str) else None

    async def pump(self) -> None:
        """Forward the double's requests to the waiting participants, forever."""
        requests = self.double.requests
        # Requests still being served; one cut off by a kill stays here, which is harmless.
        pending: set[int] = set()

        def changed(count: int) -> bool:
            return len(requests) != count or any(requests[i].status for i in pending)

        while True:
            count = len(requests)
            await self.double.wait_for(lambda c=count: changed(c), timeout=3600)  # type: ignore[misc]
            done = {i for i in pending if requests[i].status}
            fresh = range(self.seen, len(requests))
            self.seen = len(requests)
            for index in [*done, *fresh]:
                request = requests[index]
                if request.method not in WATCHED:
                    continue
                if request.status == 0:
                    pending.add(index)
                else:
                    pending.discard(index)
                chat = self._chat_of(request.method, request.params)
                if chat is not None and chat in self.events:
                    self.events[chat].set()

    async def until(self, chat_id: int, condition: Callable[[], object], what: str) -> None:
        """Wait until condition() holds, re-checking whenever chat_id's chat changes."""
        event = self.events.setdefault(chat_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while True:
            event.clear()
            if condition():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {STEP_TIMEOUT}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)


@dataclass
class Chaos:
    """The bot process, killed at seeded points of the run and started again at once."""

    bot: BotProcess
    wakeups: Wakeups
    generation: int = 0
    taps: int = 0
    kills: list[int] = field(default_factory=list)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    tapped: asyncio.Event = field(default_factory=asyncio.Event)

    def count_tap(self) -> None:
        """Count one more tap, for the kill points."""
        self.taps += 1
        self.tapped.set()

    async def run(self, points: list[int]) -> None:
        """Kill the bot as the tap count passes each point, restarting it at once."""
        for point in points:
            while self.taps < point:
                self.tapped.clear()
                await self.tapped.wait()
            self.up.clear()
            self.generation += 1
            await self.bot.kill()
            self.kills.append(self.taps)
            # Whoever waits for an answer learns the bot died and asks again once it is up.
            self.wakeups.wake_all()
            await self.bot.start()
            self.up.set()


@dataclass
class Person:
    """One simulated participant and what they chose, tap by tap."""

    user: SimUser
    rng: random.Random
    # Statement number -> labels tapped, in order. A tap the bot refused as stale still
    # counts: the killed process may have stored it before the next one refused it again.
    taps: dict[int, list[str]] = field(default_factory=dict)
    submitted: bool = False
    resyncs: int = 0
    # What happened, step by step, shown when an assertion about this person fails.
    story: list[str] = field(default_factory=list)

    def last_chosen(self, n: int) -> str:
        """Return the label of the last tap on statement n."""
        assert self.taps.get(n), f"{self.user.first_name}: statement {n} never answered"
        return self.taps[n][-1]


def _keyboard_message(user: SimUser) -> ChatMessage | None:
    for msg in reversed(user.messages):
        if not msg.deleted and msg.buttons:
            return msg
    return None


def _statement(msg: ChatMessage) -> int | None:
    match = PROGRESS.search(msg.text or "")
    return int(match["n"]) if match and "✅" not in (msg.text or "") else None


class Simulation:
    """Drive every participant through the DGCA, surviving the kills."""

    def __init__(self, double: BotApiDouble, chaos: Chaos, labels: list[str]) -> None:
        self.double, self.chaos, self.labels = double, chaos, labels
        self.wakeups = chaos.wakeups

    def refused(self, query_id: str) -> bool:
        """Tell whether the bot answered a tap with a notice (stale, already sent)."""
        answer = self.double.callback_answers.get(query_id)
        return answer is not None and bool(answer.text)

    async def until(self, person: Person, condition: Callable[[], object], what: str) -> None:
        """Wait until condition() holds for this person."""
        await self.wakeups.until(person.user.id, condition, f"{person.user.first_name}: {what}")

    async def resync(self, person: Person) -> None:
        """Ask for the questionnaire again, as a person would after the bot went quiet."""
        while not await self._ask_again(person):
            pass
        if any(ALREADY_DONE in (m.text or "") for m in person.user.messages):
            person.submitted = True

    async def _ask_again(self, person: Person) -> bool:
        """Send /dgca once the bot is up; return False if it was killed before answering."""
        user = person.user
        await self.chaos.up.wait()
        generation = self.chaos.generation
        person.resyncs += 1
        command = await user.send("/dgca")

        def answered() -> bool:
            fresh = [m for m in user.messages if m.message_id > command.message_id]
            for i, msg in enumerate(fresh):
                text = msg.text or ""
                if ALREADY_DONE in text or REVIEW_BUTTON in msg.button_texts:
                    return True
                if (RESUME in text or INTRO in text) and any(m.buttons for m in fresh[i + 1 :]):
                    return True
            return False

        await self.until(
            person,
            lambda: answered() or self.chaos.generation != generation,
            "answer to /dgca",
        )
        killed = self.chaos.generation != generation
        person.story.append(f"/dgca {command.message_id}: {'killed' if killed else 'answered'}")
        return not killed

    async def step(self, person: Person) -> None:
        """Tap the next button and wait until the bot confirms, refuses, or dies."""
        user = person.user
        msg = _keyboard_message(user)
        if msg is None:
            await self.resync(person)
            return
        generation = self.chaos.generation
        n = _statement(msg)
        confirmed: Callable[[], bool]
        buttons = msg.button_texts
        label = ""
        if n is not None and set(self.labels) <= set(buttons):
            label = person.rng.choice(self.labels)
            query = await user.tap(label, message=msg)
            person.taps.setdefault(n, []).append(label)

            def confirmed() -> bool:
                # Moved on: the tapped message, edited in place, asks a later statement or
                # shows the review.
                later = _statement(msg)
                return (later is not None and later > n) or REVIEW_BUTTON in msg.button_texts

        elif REVIEW_BUTTON in buttons:
            query = await user.tap(REVIEW_BUTTON, message=msg)

            def confirmed() -> bool:
                return CONFIRM_BUTTON in msg.button_texts

        elif CONFIRM_BUTTON in buttons:
            query = await user.tap(CONFIRM_BUTTON, message=msg)

            def confirmed() -> bool:
                return SUBMITTED in (msg.text or "")

        else:
            raise AssertionError(f"{user.first_name}: unexpected keyboard {buttons}")
        self.wakeups.queries[query] = user.id
        self.chaos.count_tap()
        await self.until(
            person,
            lambda: confirmed() or self.refused(query) or self.chaos.generation != generation,
            f"outcome of a tap on message {msg.message_id}",
        )
        answer = self.double.callback_answers.get(query)
        outcome = (
            "confirmed"
            if confirmed()
            else f"refused {answer.text!r}"
            if answer is not None and answer.text
            else "killed"
        )
        person.story.append(f"tap {msg.message_id} ({n or buttons[-1]}) {label}: {outcome}")
        if confirmed():
            if CONFIRM_BUTTON in buttons and REVIEW_BUTTON not in buttons:
                person.submitted = True
            return
        if self.refused(query) and ALREADY_SUBMITTED in (
            self.double.callback_answers[query].text or ""
        ):
            person.submitted = True
            return
        await self.resync(person)

    async def participate(self, person: Person) -> None:
        """Take one person from resuming the DGCA to a submitted one."""
        await self.resync(person)
        while not person.submitted:
            await self.step(person)
        # Per-person order: once /help is answered, everything this person sent is done.
        before = len(person.user.messages)
        await person.user.send("/help")
        await self.until(
            person,
            lambda: any("/dgca" in (m.text or "") for m in person.user.messages[before:]),
            "answer to /help",
        )


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as d:
        yield d


async def _prepare(
    db_url: str, content: Content, people: list[Person], labels: dict[str, str]
) -> None:
    """Import the example workshop, enrol everyone, and store their first answers."""
    store = await open_store(db_url)
    try:
        clock = FakeClock()
        svc = make_services(store, content, clock)
        spec = load_workshop_file(COCHABAMBA)
        workshop = (await import_workshop(svc, spec, str(COCHABAMBA), clock.now())).workshop
        institutions = spec.institutions or ["Institución"]
        dgca = content.questionnaire("dgca")
        ids = [s.question.id for s in dgca.slots()]
        for i, person in enumerate(people):
            user = person.user
            participant, _ = await store.join(
                workshop_id=workshop.id, telegram_id=user.id, language="es", now=clock.now()
            )
            for name, value in (
                ("name", f"{user.first_name} {user.last_name}"),
                ("institution", institutions[i % len(institutions)]),
                ("position", "Técnica"),
                ("country", "Bolivia"),
            ):
                await store.update_profile(participant.id, field=name, value=value)
            await store.mark_profile_done(participant.id)
            response = await store.start_response(
                participant_id=participant.id,
                questionnaire_id=dgca.id,
                version=dgca.version,
                first_question=ids[0],
                now=clock.now(),
            )
            for n in range(1, PREFILLED + 1):
                label = person.rng.choice(list(labels))
                person.taps[n] = [label]
                await store.record_answer(
                    response.id,
                    ids[n - 1],
                    labels[label],
                    next_question=ids[n],
                    reviewing=False,
                    now=clock.now(),
                )
    finally:
        await store.close()


def _why(person: Person) -> str:
    """Tell a person's story and show their chat, for a failed assertion."""
    lines = [f"{person.user.first_name}:", *person.story, "chat:"]
    for msg in person.user.all_messages:
        who = "bot" if msg.from_bot else "user"
        text = (msg.text or msg.caption or "<photo>").replace("\n", " | ")[:90]
        lines.append(f"  {msg.message_id} {who}: {text} {msg.button_texts or ''}")
    return "\n".join(lines)


def _stored(db_path: Path) -> dict[int, tuple[bool, list[tuple[str, str]]]]:
    """Read, per Telegram user, whether the DGCA was submitted and every answer row."""
    conn = sqlite3.connect(db_path)
    try:
        out: dict[int, tuple[bool, list[tuple[str, str]]]] = {}
        responses = conn.execute(
            "SELECT p.telegram_id, r.id, r.submitted_at FROM responses r"
            " JOIN participants p ON p.id = r.participant_id WHERE r.questionnaire_id = 'dgca'"
        ).fetchall()
        for telegram_id, response_id, submitted_at in responses:
            assert telegram_id not in out, f"two DGCA responses for {telegram_id}"
            rows = conn.execute(
                "SELECT question_id, value_json FROM answers WHERE response_id = ?",
                (response_id,),
            ).fetchall()
            out[telegram_id] = (submitted_at is not None, [(q, v) for q, v in rows])
        return out
    finally:
        conn.close()


async def test_200_participants_survive_sigkills(
    double: BotApiDouble, tmp_path: Path, content: Content
) -> None:
    rng = random.Random(SEED)
    db_path = tmp_path / "bot.sqlite3"
    db_url = f"sqlite:///{db_path}"
    dgca = content.questionnaire("dgca")
    slots = list(dgca.slots())
    code_of = {o.label.get("es"): o.code for o in dgca.options_of(slots[0].question)}
    people = [
        Person(
            double.new_user(f"P{i:03d}", "Sim", language_code="es", started=True),
            random.Random(rng.random()),
        )
        for i in range(PARTICIPANTS)
    ]
    await _prepare(db_url, content, people, code_of)

    log = tmp_path / "bot.log"
    bot = BotProcess(double, db_url, log)
    await bot.start()
    wakeups = Wakeups(double)
    pump = asyncio.create_task(wakeups.pump())
    chaos = Chaos(bot, wakeups)
    chaos.up.set()
    # Taps in all: the answers left and two submit taps each, plus the few kills repeat.
    total = PARTICIPANTS * (len(slots) - PREFILLED + 2)
    points = sorted(rng.sample(range(total // 20, total * 97 // 100), KILLS))
    sim = Simulation(double, chaos, list(code_of))
    killer = asyncio.create_task(chaos.run(points))
    code: int | None = None
    try:
        await asyncio.gather(*(sim.participate(p) for p in people))
        await killer
        code, _ = await bot.terminate()
    finally:
        killer.cancel()
        pump.cancel()
        if bot.proc is not None and bot.proc.returncode is None:
            await bot.kill()
    assert code == 0
    assert len(chaos.kills) == KILLS

    stored = _stored(db_path)
    ids = [s.question.id for s in slots]
    for person in people:
        submitted, rows = stored[person.user.id]
        why = _why(person)
        assert submitted, why
        counts = Counter(q for q, _ in rows)
        assert sorted(counts) == sorted(ids), why
        assert set(counts.values()) == {1}, why
        values = {q: v.strip('"') for q, v in rows}
        # What the person last chose (and the bot did not refuse) is what is stored.
        for n, qid in enumerate(ids, start=1):
            assert values[qid] == code_of[person.last_chosen(n)], f"statement {n}\n{why}"
        # Every answer the bot confirmed (its message edited with the ✅) is stored.
        for msg in person.user.messages:
            n = int(m["n"]) if (m := PROGRESS.search(msg.text or "")) else 0
            if n and "✅ " in (msg.text or ""):
                label = (msg.text or "").rsplit("✅ ", 1)[1].strip()
                assert values[ids[n - 1]] == code_of[label], f"confirmed {n}\n{why}"

    violations = [v for v in double.violations if ANSWERED_TWICE not in v]
    assert violations == []
    text = log.read_text(encoding="utf-8")
    assert TOKEN not in text
    assert "Traceback" not in text
    assert " ERROR " not in text
    resyncs = sum(p.resyncs for p in people) - PARTICIPANTS
    print(f"kills after taps {chaos.kills}; {resyncs} resyncs; {chaos.taps} taps")
