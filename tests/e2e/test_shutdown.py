"""SIGTERM, as hosting platforms send it: a real `python -m bot run` stops gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.apidouble import BotApiDouble, SimUser
from bot.content import Content, load_workshop_file
from bot.flows.workshops import import_workshop
from storage import open_store
from tests.e2e.harness import COCHABAMBA, TOKEN
from tests.realproc import BotProcess as BotRun
from tests.support import FakeClock, make_services

pytestmark = pytest.mark.slow
MODES = ["polling", "webhook"]
STOP_LIMIT = 10.0
TEXT = "Recordatorio: la sesión de mañana empieza a las 8:30"


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(token=TOKEN, bot_username="taller_test_bot") as d:
        yield d
        assert d.violations == [], d.violations


def acknowledged(double: BotApiDouble, mode: str) -> set[int]:
    """Return the ids of the updates the bot confirmed to Telegram (the double)."""
    if mode == "webhook":
        return {d.update_id for d in double.webhook_deliveries if d.ok}
    offset = max(int(r.params.get("offset", 0)) for r in double.requests_for("getUpdates"))
    return set(range(1, offset))


def replies(user: SimUser) -> int:
    return len(user.messages)


@pytest.mark.parametrize("mode", MODES)
async def test_sigterm_finishes_the_updates_in_flight(
    double: BotApiDouble, tmp_path: Path, mode: str
) -> None:
    bot = BotRun(double, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "bot.log", mode)
    await bot.start()
    users = [double.new_user(first_name=f"U{i}", language_code="es") for i in range(30)]
    # Telegram answers slowly: every reply is still on its way when SIGTERM arrives.
    double.delay("sendMessage", 1.5, times=len(users))
    update_of: dict[int, SimUser] = {}
    for user in users[:20]:
        await user.send("/help")
        # The double numbers updates from 1 and filters none of these out.
        update_of[double.updates_enqueued] = user
    await double.wait_for(
        lambda: len(double.requests_for("sendMessage")) >= 10,
        timeout=20,
        message="replies in flight",
    )
    stopping = asyncio.create_task(bot.terminate())
    for user in users[20:]:
        # Updates that arrive while the bot stops: answered now or after the restart.
        await user.send("/help")
        update_of[double.updates_enqueued] = user
        await asyncio.sleep(0.01)
    code, seconds = await stopping
    assert code == 0, bot.log_text()
    assert seconds < STOP_LIMIT
    done = acknowledged(double, mode)
    assert len(done) >= 10
    for update_id, user in update_of.items():
        # Confirmed means answered, exactly once; unconfirmed means untouched.
        assert replies(user) == (1 if update_id in done else 0), (update_id, user)

    await bot.start()
    await double.wait_for(
        lambda: all(replies(u) >= 1 for u in users), timeout=30, message="every reply"
    )
    code, seconds = await bot.terminate()
    assert code == 0 and seconds < STOP_LIMIT
    assert [replies(u) for u in users] == [1] * len(users)
    log = bot.log_text()
    assert "SIGTERM received" in log and "bot stopped" in log
    assert "Traceback" not in log and " ERROR " not in log and TOKEN not in log


@pytest.mark.parametrize("mode", MODES)
async def test_sigterm_mid_broadcast_leaves_the_outbox_consistent(
    double: BotApiDouble, tmp_path: Path, content: Content, mode: str
) -> None:
    recipients = 150
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    store = await open_store(db_url)
    clock = FakeClock()
    svc = make_services(store, content, clock)
    workshop = (
        await import_workshop(svc, load_workshop_file(COCHABAMBA), "x", clock.now())
    ).workshop
    people = []
    for i in range(recipients):
        user = double.new_user(first_name=f"P{i}", language_code="es", started=True)
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=user.id, language="es", now=clock.now()
        )
        await store.update_profile(participant.id, field="name", value=f"P{i}")
        people.append(user)
    organizer = double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(workshop.id, organizer.id, clock.now())
    await store.close()

    env = {"SEND_PER_SECOND": "40"}
    bot = BotRun(double, db_url, tmp_path / "bot.log", mode, extra_env=env)
    await bot.start()
    await organizer.send("/broadcast")
    audience = f"Todo el taller ({recipients})"
    await double.wait_for(lambda: audience in organizer.buttons(), timeout=20)
    await organizer.tap(audience)
    await double.wait_for(lambda: "Escriba el mensaje" in (organizer.last.text or ""), timeout=20)
    await organizer.send(TEXT)
    await double.wait_for(lambda: "📤 Enviar ahora" in organizer.buttons(), timeout=20)
    await organizer.tap("📤 Enviar ahora")

    def received() -> int:
        return sum(1 for p in people if any(m.text == TEXT for m in p.messages))

    await double.wait_for(lambda: received() >= recipients // 3, timeout=20)
    # The next copy takes a second to reach Telegram: SIGTERM finds it in flight.
    double.delay("sendMessage", 1.0)
    code, seconds = await bot.terminate()
    assert code == 0, bot.log_text()
    assert seconds < STOP_LIMIT
    at_stop = received()
    assert at_stop < recipients, "the broadcast finished before SIGTERM; slow it down"

    store = await open_store(db_url)
    try:
        counts = await store.outbox_counts("bc:1")
    finally:
        await store.close()
    # Marked sent exactly when Telegram has it: nothing lost in flight, nothing to repeat.
    assert counts.get("sent", 0) == at_stop
    assert counts.get("pending", 0) == recipients - at_stop

    await bot.start()
    await double.wait_for(lambda: received() == recipients, timeout=30, message="every copy")
    await double.wait_for(lambda: "Difusión terminada" in (organizer.last.text or ""), timeout=20)
    code, seconds = await bot.terminate()
    assert code == 0 and seconds < STOP_LIMIT
    copies = [sum(1 for m in p.messages if m.text == TEXT) for p in people]
    assert copies == [1] * recipients
    store = await open_store(db_url)
    try:
        assert await store.outbox_counts("bc:1") == {"sent": recipients}
    finally:
        await store.close()


async def test_sigterm_cancels_an_update_stuck_past_the_grace_period(
    double: BotApiDouble, tmp_path: Path, content: Content
) -> None:
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    store = await open_store(db_url)
    clock = FakeClock()
    svc = make_services(store, content, clock)
    spec = load_workshop_file(COCHABAMBA)
    workshop = (await import_workshop(svc, spec, "x", clock.now())).workshop
    await store.close()
    bot = BotRun(double, db_url, tmp_path / "bot.log", "polling")
    await bot.start()
    ana = double.new_user(first_name="Ana", language_code="es")
    await ana.send(f"/start {workshop.join_code}")
    await double.wait_for(lambda: "Continuar ›" in ana.buttons(), timeout=20)
    await ana.tap("Continuar ›")
    await double.wait_for(lambda: "Acepto" in ana.buttons(), timeout=20)
    # Telegram takes 4 s per call (under PTB's 5 s timeout): the consent's edit and the
    # first profile question, sent one after the other, together outlast the grace period.
    double.delay("editMessageText", 4.0)
    double.delay("sendMessage", 4.0)
    await ana.tap("Acepto")
    await double.wait_for(lambda: len(double.requests_for("editMessageText")) >= 2, timeout=20)
    code, seconds = await bot.terminate()
    assert code == 0 and seconds < STOP_LIMIT
    assert "cancelled 1 update(s) and 0 job(s) still running" in bot.log_text()
