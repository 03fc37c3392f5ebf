"""A real `python -m bot run` process, killed with SIGKILL mid-questionnaire, resumes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.apidouble import BotApiDouble, SimUser
from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import open_store
from tests import realproc
from tests.e2e.harness import COCHABAMBA, TOKEN, progress
from tests.support import FakeClock, make_services

pytestmark = pytest.mark.slow


class BotProcess(realproc.BotProcess):
    """The real bot process, whose terminate() returns only the exit code.

    tests/e2e/test_broadcast_crash.py imports it and compares terminate() with 0.
    """

    async def terminate(self, timeout: float = 15.0) -> int:  # type: ignore[override]
        """Stop the process with SIGTERM; return its exit status."""
        code, _ = await super().terminate(timeout)
        return code


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as d:
        yield d


async def until(double: BotApiDouble, condition: Callable[[], object], what: str) -> None:
    await double.wait_for(condition, timeout=20, message=what)


async def answer(double: BotApiDouble, user: SimUser, label: str) -> int:
    """Tap an answer and wait for the next question; return its number."""
    _, n, _ = progress(user.last)
    await user.tap(label)
    await until(
        double,
        lambda: "· " in (user.last.text or "") and progress(user.last)[1] == n + 1,
        f"question {n + 1}",
    )
    return n + 1


def _shows(user: SimUser, button: str | None, count: int) -> Callable[[], bool]:
    """Return a check for a button (or, with None, any new message) in the user's chat."""
    if button is None:
        return lambda: len(user.messages) > count
    return lambda: button in user.buttons()


async def test_sigkill_mid_questionnaire_then_resume(
    double: BotApiDouble, tmp_path: Path, content: Content
) -> None:
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    store = await open_store(db_url)
    spec = load_workshop_file(COCHABAMBA)
    svc = make_services(store, content, FakeClock())
    workshop = (await import_workshop(svc, spec, "x", FakeClock().now())).workshop
    await store.close()

    bot = BotProcess(double, db_url, tmp_path / "bot.log")
    await bot.start()
    ana = double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await ana.send(f"/start {workshop.join_code}")
    await until(double, lambda: ana.buttons() and "Continuar ›" in ana.buttons(), "greeting")
    for label, expect in [
        ("Continuar ›", "Acepto"),
        ("Acepto", "Usar «Ana Quispe»"),
        ("Usar «Ana Quispe»", "Otra institución"),
        ("Gobierno Autónomo Municipal de Sacaba", None),
    ]:
        count = len(ana.messages)
        await ana.tap(label)
        await until(double, _shows(ana, expect, count), expect or "position question")
    await ana.send("Jefa de Sistemas")
    await until(double, lambda: "Bolivia" in ana.buttons(), "country")
    await ana.tap("Bolivia")
    await until(double, lambda: "📝 Empezar la autoevaluación" in ana.buttons(), "profile done")
    await ana.tap("📝 Empezar la autoevaluación")
    await until(double, lambda: "· 1/36" in (ana.last.text or ""), "first statement")
    labels = [
        "De acuerdo",
        "En desacuerdo",
        "Totalmente de acuerdo",
        "No sé / No aplica",
        "De acuerdo",
    ]
    for label in labels:
        await answer(double, ana, label)
    assert progress(ana.last)[1] == 6

    # Killed with nothing in flight: everything confirmed must be there after a restart.
    await bot.kill()
    await bot.start()
    before = len(ana.messages)
    await ana.send("/dgca")
    await until(double, lambda: len(ana.messages) >= before + 2, "resume message and question")
    assert progress(ana.last)[1] == 6
    assert "lleva 5 de 36" in (ana.messages[-2].text or "")

    # Killed right after a tap, while the bot may be handling it.
    await ana.tap("Totalmente en desacuerdo")
    await bot.kill()
    await bot.start()
    before = len(ana.messages)
    await ana.send("/dgca")

    def resumed() -> bool:
        texts = [m.text or "" for m in ana.messages[before:]]
        marks = [i for i, t in enumerate(texts) if "Sigamos donde lo dejó" in t]
        return bool(marks) and any("/36" in t for t in texts[marks[-1] + 1 :])

    await until(double, resumed, "resume after the kill")
    resumed_at = progress(ana.last)[1]
    while progress(ana.last)[1] < 36:
        await answer(double, ana, "De acuerdo")
    await ana.tap("De acuerdo")
    await until(double, lambda: "Revisión" in (ana.last.text or ""), "review")
    await ana.tap("📤 Enviar respuestas")
    await until(double, lambda: "Enviar" in ana.buttons(), "confirm")
    await ana.tap("Enviar")
    await until(double, lambda: ana.last.photo is not None, "profile chart")
    assert await bot.terminate() == 0

    store = await open_store(db_url)
    try:
        participant = await store.participant(workshop.id, ana.id)
        assert participant is not None
        response = await store.find_response(participant.id, "dgca")
        assert response is not None and response.submitted
        answers = await store.answers(response.id)
    finally:
        await store.close()
    assert len(answers) == 36
    ids = [s.question.id for s in content.questionnaire("dgca").slots()]
    codes = {
        "De acuerdo": "4",
        "En desacuerdo": "2",
        "Totalmente de acuerdo": "5",
        "No sé / No aplica": "na",
        "Totalmente en desacuerdo": "1",
    }
    assert [answers[q] for q in ids[:5]] == [codes[label] for label in labels]
    # Statement 6 holds the tap the kill interrupted if the bot resumed after it, else the
    # answer given again after the resume.
    assert resumed_at in (6, 7)
    label = "Totalmente en desacuerdo" if resumed_at == 7 else "De acuerdo"
    assert answers[ids[5]] == codes[label]
    log = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert TOKEN not in log
    assert "Traceback" not in log
