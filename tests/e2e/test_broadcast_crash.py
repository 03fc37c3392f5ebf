"""A broadcast killed with SIGKILL mid-way resumes after a restart: at most the window repeats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.apidouble import BotApiDouble
from bot.content import Content, load_workshop_file
from bot.delivery import SEND_WINDOW
from bot.flows.workshops import import_workshop
from storage import BroadcastStatus, open_store
from tests.e2e.harness import COCHABAMBA
from tests.realproc import BotProcess
from tests.support import FakeClock, make_services

pytestmark = pytest.mark.slow
RECIPIENTS = 200
TEXT = "Recordatorio: la sesión de mañana empieza a las 8:30"
# Every copy takes this long to reach Telegram, as over a distant network: the sender keeps
# several in flight, and the kill finds them there.
ROUND_TRIP = 0.3


async def until(double: BotApiDouble, condition: Callable[[], object], what: str) -> None:
    await double.wait_for(condition, timeout=30, message=what)


async def test_sigkill_mid_broadcast_repeats_at_most_the_messages_in_flight(
    double: BotApiDouble, tmp_path: Path, content: Content
) -> None:
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    store = await open_store(db_url)
    clock = FakeClock()
    svc = make_services(store, content, clock)
    workshop = (
        await import_workshop(svc, load_workshop_file(COCHABAMBA), "x", clock.now())
    ).workshop
    people = []
    for i in range(RECIPIENTS):
        user = double.new_user(first_name=f"P{i}", language_code="es", started=True)
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=user.id, language="es", now=clock.now()
        )
        await store.update_profile(participant.id, field="name", value=f"P{i}")
        people.append(user)
    organizer = double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(workshop.id, organizer.id, clock.now())
    await store.close()

    bot = BotProcess(double, db_url, tmp_path / "bot.log", extra_env={"SEND_PER_SECOND": "40"})
    await bot.start()
    await organizer.send("/broadcast")
    await until(double, lambda: f"Todo el taller ({RECIPIENTS})" in organizer.buttons(), "audience")
    await organizer.tap(f"Todo el taller ({RECIPIENTS})")
    await until(double, lambda: "Escriba el mensaje" in (organizer.last.text or ""), "prompt")
    await organizer.send(TEXT)
    await until(double, lambda: "📤 Enviar ahora" in organizer.buttons(), "preview")
    double.delay("sendMessage", ROUND_TRIP, times=10 * RECIPIENTS)
    await organizer.tap("📤 Enviar ahora")

    def received() -> int:
        return sum(1 for p in people if any(m.text == TEXT for m in p.messages))

    def in_flight() -> int:
        return sum(1 for r in double.requests_for("sendMessage") if r.status == 0)

    # Killed with a third delivered and several copies on their way at once.
    await until(double, lambda: received() >= RECIPIENTS // 3 and in_flight() >= 3, "pipeline")
    await bot.kill()
    at_kill = received()
    assert at_kill < RECIPIENTS, "the broadcast finished before the kill; slow it down"
    await bot.start()
    await until(double, lambda: received() == RECIPIENTS, "every recipient")
    await until(double, lambda: "Difusión terminada" in (organizer.last.text or ""), "report")
    code, _ = await bot.terminate()
    assert code == 0

    copies = [sum(1 for m in p.messages if m.text == TEXT) for p in people]
    assert min(copies) == 1
    # Only the messages in flight at the kill may have gone twice: at most the window.
    assert sum(c - 1 for c in copies) <= SEND_WINDOW
    store = await open_store(db_url)
    try:
        counts = await store.outbox_counts("bc:1")
        broadcast = await store.broadcast(1)
    finally:
        await store.close()
    assert counts == {"sent": RECIPIENTS}
    assert broadcast is not None and broadcast.status is BroadcastStatus.DONE
    # The final report went once, though many copies finished together.
    assert sum("Difusión terminada" in (m.text or "") for m in organizer.messages) == 1
