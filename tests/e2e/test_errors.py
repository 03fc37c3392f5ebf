"""Unexpected errors are logged with context and answered politely."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Harness
from tests.e2e.test_bad_input import joined


@pytest.fixture
def allowed_errors() -> list[str]:
    return ["error handling update"]


async def test_an_unexpected_error_is_logged_and_answered(bot: Harness, monkeypatch) -> None:
    ana, _ = await joined(bot)
    from bot.flows import menu

    async def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(menu, "menu", broken)
    reply = await bot.send(ana, "/menu")
    assert "Algo salió mal" in (reply.text or "")
    monkeypatch.undo()
    reply = await bot.send(ana, "/menu")
    assert "Autoevaluación DGCA" in (reply.text or "")


async def test_an_error_on_a_button_answers_it_once(bot: Harness, monkeypatch) -> None:
    ana, _ = await joined(bot)
    await bot.send(ana, "/dgca")
    from bot.flows import questionnaire

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(questionnaire, "on_run_callback", broken)
    await bot.tap(ana, "De acuerdo")
    assert "Algo salió mal" in (ana.last.text or "")
    # The double fails the test at teardown if the query was answered twice or never.
