"""A workshop whose session times are still to be confirmed, as the Quito concept note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Harness
from tests.support import CONTENT_DIR, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    # The day before the Quito workshop, in the morning in Ecuador.
    return FakeClock(datetime(2023, 10, 10, 14, 0, tzinfo=UTC))


async def test_a_session_whose_time_is_to_be_confirmed_is_shown_so(bot: Harness) -> None:
    quito = await bot.import_workshop(CONTENT_DIR / "workshops" / "quito-2023.yaml")
    lia = bot.double.new_user(first_name="Lía", last_name="Paz", language_code="es")
    greeting = await bot.send(lia, f"/start {quito.join_code}")
    assert "Le damos la bienvenida" in (greeting.text or "")
    # Spanish only: Continue, and no button to switch language.
    assert lia.buttons(greeting) == ["Continuar ›"]
    await bot.tap(lia, "Continuar ›")
    await bot.tap(lia, "Acepto")
    await bot.tap(lia, "Usar «Lía Paz»")
    await bot.tap(lia, "Presidencia de la República del Ecuador")
    await bot.send(lia, "Analista")
    await bot.tap(lia, "Ecuador")
    agenda = await bot.send(lia, "/agenda")
    assert (agenda.text or "").count("hora por confirmar") >= 3
    assert "00:00" not in (agenda.text or "")
    # Typed where a session number or a time would be: the bot still answers politely.
    assert (await bot.send(lia, "/next")).text
    # The workshop's days pass without any session reminder or rating prompt.
    sent = len(lia.messages)
    await bot.at(datetime(2023, 10, 12, 23, 0, tzinfo=UTC))
    later = [m.text or "" for m in lia.messages[sent:]]
    assert not any("Empieza en" in t or "¿Cómo calificaría" in t for t in later), later
