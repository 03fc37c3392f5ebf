"""Typed names made only of invisible characters are refused, as too short."""

from __future__ import annotations

from tests.e2e.harness import Harness


async def test_a_name_of_invisible_characters_is_refused(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "Continuar ›")
    await bot.tap(eva, "Acepto")
    for invisible in ("\u200b\u200b\u200b", "\x00\x00\x00", "\u200d \u2060"):
        reply = await bot.send(eva, invisible)
        assert "al menos 2" in (reply.text or ""), reply.text
        assert "\x00" not in (reply.text or "")
    participant = await bot.services.store.participant(workshop.id, eva.id)
    assert participant is not None and participant.name is None
