"""A slow action for one person (drawing a chart) never delays anyone else."""

from __future__ import annotations

import threading

import pytest

from bot import charts
from tests.e2e.harness import Harness
from tests.e2e.test_journey import join_es


async def test_slow_chart_does_not_block_others(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    bob = bot.double.new_user(first_name="Bob", last_name="Mamani", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    for _ in range(36):
        await bot.tap(ana, "De acuerdo")
    await bot.tap(ana, "📤 Enviar respuestas")

    release = threading.Event()
    real = charts.render_profile

    def slow_render(chart):  # runs in a worker thread, like every chart
        assert release.wait(10)
        return real(chart)

    monkeypatch.setattr(charts, "render_profile", slow_render)
    await ana.tap("Enviar")
    await bot.double.wait_for(lambda: bot.double.requests_for("sendChatAction"), timeout=5)
    # While Ana's chart is being drawn, Bob is served.
    await bob.send("/help")
    await bot.double.wait_for(lambda: bob.messages and "Ayuda" in (bob.last.text or ""), timeout=5)
    assert ana.last.photo is None
    release.set()
    await bot.double.wait_for(lambda: ana.last.photo is not None, timeout=10)
    await bot.settle()
