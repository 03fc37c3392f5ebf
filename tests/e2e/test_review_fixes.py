"""Regression tests for defects found in review."""

from __future__ import annotations

from bot.flows.callbacks import CODEC_VERSION as V
from tests.e2e.harness import Harness, progress
from tests.e2e.test_journey import join_es


async def test_flood_control_on_an_edit_is_waited_out(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    bot.double.inject("editMessageText", status=429, retry_after=1)
    await bot.tap(ana, "De acuerdo")
    assert progress(ana.last)[1] == 2  # the next question still came
    edits = bot.double.requests_for("editMessageText")
    assert [r.status for r in edits[-2:]] == [429, 200]


async def test_huge_numbers_in_forged_data_are_refused(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    huge = "9" * 25
    for data in (
        f"{V}qa:{huge}:1:lea_1:4",
        f"{V}ws:{huge}:mn",
        f"{V}od:{huge}",
        f"{V}pn:{huge}",
        f"{V}qa:-1:1:lea_1:4",
    ):
        await ana.tap_data(data, message=ana.last)
    await bot.settle()
    answers = list(bot.double.callback_answers.values())[-5:]
    assert all(a.text == "Este botón ya no está activo." for a in answers)


async def test_english_phone_joining_a_spanish_workshop_stays_in_spanish(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    joe = bot.double.new_user(first_name="Joe", language_code="en")
    await bot.send(joe, f"/start {workshop.join_code}")
    await bot.tap(joe, "Continuar ›")
    assert "Sus datos" in (joe.last.text or "")
    await bot.tap(joe, "Acepto")
    assert "Paso 1 de 4" in (joe.last.text or "")
    user = await bot.services.store.user(joe.id)
    assert user is not None and user.language == "es"


async def test_declining_after_switching_language_keeps_no_record(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "🌐 English")
    await bot.tap(eva, "Continue ›")
    await bot.tap(eva, "No, thanks")
    assert "we keep nothing" in (eva.last.text or "")
    exported = await bot.services.store.export_user(eva.id)
    assert exported["user"] is None and exported["pending_dialog"] is None


async def test_typing_during_the_greeting_asks_again_with_buttons(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.send(eva, "hola, ¿qué hago?")
    assert eva.messages[-2].text == "Por favor, responda con los botones."
    assert "Continuar ›" in eva.buttons(eva.last)
    await bot.tap(eva, "Continuar ›")
    await bot.send(eva, "sí")
    assert "Acepto" in eva.buttons(eva.last)


async def test_names_with_markup_characters(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    odd = bot.double.new_user(first_name="Ana & <Co>", last_name="$x^2$", language_code="es")
    await bot.send(odd, f"/start {workshop.join_code}")
    await bot.tap(odd, "Continuar ›")
    await bot.tap(odd, "Acepto")
    assert "Usar «Ana & <Co> $x^2$»" in odd.buttons()
    await bot.tap(odd, "Usar «Ana & <Co> $x^2$»")
    await bot.tap(odd, "Gobierno Autónomo Municipal de Sacaba")
    await bot.send(odd, "Jefa <de> Sistemas & más")
    await bot.tap(odd, "Bolivia")
    await bot.tap(odd, "📝 Empezar la autoevaluación")
    for _ in range(36):
        await bot.tap(odd, "De acuerdo")
    await bot.tap(odd, "📤 Enviar respuestas")
    await bot.tap(odd, "Enviar")
    assert odd.last.photo is not None
