"""Bad input gets a clear, polite answer and loses nothing."""

from __future__ import annotations

import pytest

from bot.apidouble import SimUser
from bot.flows.callbacks import Answer, Consent, SubmitConfirm
from tests.e2e.harness import Harness, progress
from tests.e2e.test_journey import join_es


async def joined(bot: Harness, name: str = "Ana") -> tuple[SimUser, int]:
    workshop = await bot.import_workshop()
    user = bot.double.new_user(first_name=name, last_name="Quispe", language_code="es")
    await join_es(bot, user, workshop.join_code)
    return user, workshop.id


async def test_unknown_and_malformed_join_codes(bot: Harness) -> None:
    await bot.import_workshop()
    user = bot.double.new_user(first_name="Eva", language_code="es")
    for payload in ("AAAAAAAAAAAAAAAAAAAA", "short", "with spaces and ñ", "x" * 60):
        reply = await bot.send(user, f"/start {payload}")
        assert "No encuentro ese taller" in (reply.text or "")
    plain = await bot.send(user, "/start")
    assert "abra el enlace de inscripción" in (plain.text or "")
    assert await bot.services.store.participations(user.id) == []


async def test_typed_text_where_buttons_are_expected(bot: Harness) -> None:
    ana, _ = await joined(bot)
    await bot.send(ana, "/dgca")
    question = ana.last
    count = len(ana.messages)
    await bot.send(ana, "de acuerdo")
    assert ana.messages[count].text == "Por favor, responda con los botones."
    assert progress(ana.last) == progress(question)  # the same question, asked again
    assert ana.buttons()[0] == "Totalmente de acuerdo"


async def test_old_buttons_are_refused_and_not_recorded(bot: Harness) -> None:
    ana, workshop_id = await joined(bot)
    await bot.send(ana, "/dgca")
    first = ana.last
    old_disagree = first.buttons[3][0]["callback_data"]
    await bot.tap(ana, "De acuerdo")
    # The same message now asks the second statement; a tap from a stale copy of the
    # first one's buttons is refused.
    live = bot.double.message(first.chat_id, first.message_id)
    assert progress(live)[1] == 2 and live.reply_markup is not None
    await ana.tap_data(old_disagree, message=first)
    await bot.settle()
    last_answer = list(bot.double.callback_answers.values())[-1]
    assert last_answer.text == "Este botón ya no está activo."
    assert await _answers(bot, ana, workshop_id) == {"lea_3": "4"}
    assert progress(ana.last)[1] == 2


def _ids_of(message) -> tuple[int, int, str]:
    data = message.buttons[0][0]["callback_data"]
    _, rid, version, qid, _ = data.split(":")
    return int(rid), int(version), qid


async def _answers(bot: Harness, user: SimUser, workshop_id: int) -> dict:
    participant = await bot.services.store.participant(workshop_id, user.id)
    assert participant is not None
    response = await bot.services.store.find_response(participant.id, "dgca")
    assert response is not None
    return await bot.services.store.answers(response.id)


async def test_forged_callbacks_for_someone_else(bot: Harness) -> None:
    ana, workshop_id = await joined(bot, "Ana")
    eve, _ = await joined(bot, "Eve")
    await bot.send(ana, "/dgca")
    rid, version, qid = _ids_of(ana.last)
    await bot.send(eve, "/menu")
    # Eve replays Ana's answer button (response id, question, option) on her own message.
    await eve.tap_data(Answer(rid, version, qid, "1").pack(), message=eve.last)
    await eve.tap_data(SubmitConfirm(rid, version).pack(), message=eve.last)
    await eve.tap_data(Consent(workshop_id, accept=True).pack(), message=eve.last)
    await eve.tap_data("garbage-data", message=eve.last)
    await eve.tap_data("1qa:notanumber:x:y:z", message=eve.last)
    await bot.settle()
    assert await _answers(bot, ana, workshop_id) == {}
    answers = [bot.double.callback_answers[q] for q in list(bot.double.callback_answers)[-5:]]
    assert all(a.text == "Este botón ya no está activo." for a in answers)


async def test_oversize_and_short_text(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "Continuar ›")
    await bot.tap(eva, "Acepto")
    reply = await bot.send(eva, "N" * 81)
    assert "81 caracteres" in (reply.text or "") and "máximo es 80" in (reply.text or "")
    reply = await bot.send(eva, "N")
    assert "al menos 2" in (reply.text or "")
    await bot.send(eva, "Eva Mamani")
    participant = await bot.services.store.participant(workshop.id, eva.id)
    assert participant is not None and participant.name == "Eva Mamani"


async def test_typed_institution_matching_the_list_is_accepted(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "Continuar ›")
    await bot.tap(eva, "Acepto")
    await bot.send(eva, "Eva Mamani")
    reply = await bot.send(eva, "Municipio inventado")
    assert "no está en la lista" in (eva.messages[-2].text or "")
    assert "Otra institución" in eva.buttons(reply)
    await bot.tap(eva, "Siguiente ›")  # second page of the list
    assert "Página 2 de 2" in (eva.last.text or "")
    await bot.send(eva, "gobierno autonomo municipal de   el alto")
    participant = await bot.services.store.participant(workshop.id, eva.id)
    assert participant is not None
    assert participant.institution == "Gobierno Autónomo Municipal de El Alto"


@pytest.mark.parametrize("kind", ["photo", "sticker", "voice", "location", "contact", "document"])
async def test_media_gets_a_hint(bot: Harness, kind: str) -> None:
    ana, _ = await joined(bot)
    sender = getattr(ana, f"send_{kind}")
    await sender()
    await bot.settle()
    assert "Solo puedo leer texto" in (ana.last.text or "")


async def test_media_where_text_is_expected(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "Continuar ›")
    await bot.tap(eva, "Acepto")
    await eva.send_sticker()
    await bot.settle()
    assert "Necesito una respuesta escrita" in (eva.last.text or "")


async def test_edited_messages_group_chats_and_unknown_commands(bot: Harness) -> None:
    ana, _ = await joined(bot)
    sent = await ana.send("hola")
    await bot.settle()
    await ana.edit(sent, "hola, corregido")
    await bot.settle()
    assert "No leo los mensajes editados" in (ana.last.text or "")
    reply = await bot.send(ana, "/nonexistent")
    assert "No conozco ese comando" in (reply.text or "")
    group = bot.double.new_group(title="Organizadores", members=[ana])
    await ana.send("/dgca@taller_test_bot", chat=group)
    await bot.settle()
    assert "Trabajo en chats privados" in (group.last.text or "")
    await ana.send("una conversación normal", chat=group)
    await bot.double.post_to_channel("anuncio")
    await bot.settle()
    assert len(group.messages) == 1  # plain group chatter gets no answer


async def test_declining_consent_keeps_nothing(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    await bot.send(eva, f"/start {workshop.join_code}")
    await bot.tap(eva, "Continuar ›")
    await bot.tap(eva, "No, gracias")
    assert "no guardamos nada" in (eva.last.text or "")
    assert await bot.services.store.participations(eva.id) == []
    # Consent buttons of that message cannot be tapped into a participation afterwards.
    await eva.tap_data(Consent(workshop.id, accept=True).pack(), message=eva.last)
    await bot.settle()
    assert await bot.services.store.participations(eva.id) == []
