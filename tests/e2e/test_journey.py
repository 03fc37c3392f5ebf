"""A participant's journey through the real application: join, DGCA, profile."""

from __future__ import annotations

import json

from bot.apidouble import SimUser
from tests.e2e.harness import Harness, progress

ES_ANSWERS = [
    "Totalmente de acuerdo",
    "De acuerdo",
    "Ni de acuerdo ni en desacuerdo",
    "En desacuerdo",
    "Totalmente en desacuerdo",
    "No sé / No aplica",
]
EN_ANSWERS = [
    "Strongly agree",
    "Agree",
    "Neither agree nor disagree",
    "Disagree",
    "Strongly disagree",
    "Don't know / N/A",
]


async def join_es(bot: Harness, user: SimUser, code: str) -> None:
    """Go from the join link to a finished profile, in Spanish, with the listed institution."""
    greeting = await bot.send(user, f"/start {code}")
    assert "Le damos la bienvenida" in (greeting.text or "")
    await bot.tap(user, "Continuar ›")
    assert "Sus datos" in (user.last.text or "")
    await bot.tap(user, "Acepto")
    await bot.tap(user, f"Usar «{user.first_name} {user.last_name}»")
    await bot.tap(user, "Gobierno Autónomo Municipal de Sacaba")
    await bot.send(user, "Jefa de Sistemas")
    await bot.tap(user, "Bolivia")
    assert "Su inscripción en" in (user.last.text or "")


async def test_spanish_journey_from_link_to_profile_chart(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    # The consent message was edited to record the choice, without buttons.
    consent = next(m for m in ana.messages if "Aceptó guardar sus datos" in (m.text or ""))
    assert not ana.buttons(consent)

    await bot.tap(ana, "📝 Empezar la autoevaluación")
    intro, first = ana.messages[-2], ana.messages[-1]
    assert "36 preguntas" in (intro.text or "")
    assert progress(first) == ("Liderazgo", 1, 36)
    assert ana.buttons(first) == ES_ANSWERS  # one answer per row, no Back on the first

    # The whole DGCA is answered in that one message, edited from statement to statement.
    messages_before = len(ana.messages)
    calls_before = len(bot.double.requests)
    for index in range(36):
        question = ana.last
        assert question.message_id == first.message_id
        section, n, total = progress(question)
        assert (n, total) == (index + 1, 36)
        assert section
        await bot.tap(ana, ES_ANSWERS[index % 6])
    assert len(ana.messages) == messages_before
    # Two Bot API calls per answer: the button's answer and the edit.
    answer_calls = [
        r.method
        for r in bot.double.requests[calls_before:]
        if r.method not in ("getUpdates", "sendChatAction")
    ]
    assert answer_calls.count("answerCallbackQuery") == 36
    assert answer_calls.count("editMessageText") == 36
    assert len(answer_calls) == 72, answer_calls

    review = ana.last
    assert review.message_id == first.message_id
    assert "Revisión" in (review.text or "")
    assert "• Liderazgo: 6/6" in (review.text or "")
    assert "No sé / No aplica» 6 veces" in (review.text or "")
    await bot.tap(ana, "📤 Enviar respuestas")
    assert ana.buttons() == ["Seguir revisando", "Enviar"]
    sent = len(ana.messages)
    await bot.tap(ana, "Enviar")
    # The result is one message: what comes next, above the profile chart and its reading.
    assert len(ana.messages) == sent + 1

    photo = ana.last
    assert photo.photo is not None and photo.photo[:4] == b"\x89PNG"
    caption = photo.caption or ""
    assert "Su perfil DGCA" in caption
    # Answers cycle 5,4,3,2,1,NA: every dimension gets (5+4+3+2+1)/5 = 3,0
    assert caption.count(": 3,0") == 6
    assert "mismo puntaje (3,0)" in caption
    assert "discutirán en el taller" in caption

    participant = await bot.services.store.participant(workshop.id, ana.id)
    assert participant is not None and participant.institution == (
        "Gobierno Autónomo Municipal de Sacaba"
    )
    response = await bot.services.store.find_response(participant.id, "dgca")
    assert response is not None and response.submitted
    answers = await bot.services.store.answers(response.id)
    assert len(answers) == 36 and list(answers.values()).count("na") == 6


async def test_english_journey_with_typed_institution(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    bob = bot.double.new_user(first_name="Bob", last_name=None, language_code="en")
    greeting = await bot.send(bob, f"/start {workshop.join_code}")
    # The greeting comes in the workshop's language, with the switch offered.
    assert "Le damos la bienvenida" in (greeting.text or "")
    await bot.tap(bob, "🌐 English")
    assert "Welcome!" in (bob.last.text or "")
    assert bob.last.message_id == greeting.message_id  # switched in place
    await bot.tap(bob, "Continue ›")
    await bot.tap(bob, "I agree")
    await bot.send(bob, "Robert Smith")
    await bot.tap(bob, "Another institution")
    assert "Type the name of your institution" in (bob.last.text or "")
    await bot.send(bob, "Ministry of Digital Affairs")
    await bot.send(bob, "Adviser")
    await bot.tap(bob, "Another country")
    await bot.send(bob, "Ecuador")
    assert "You have joined" in (bob.last.text or "")
    await bot.tap(bob, "📝 Start the self-assessment")
    assert progress(bob.last) == ("Leadership", 1, 36)
    for index in range(36):
        await bot.tap(bob, EN_ANSWERS[0] if index < 6 else EN_ANSWERS[3])
    await bot.tap(bob, "📤 Submit answers")
    await bot.tap(bob, "Submit")
    caption = bob.last.caption or ""
    assert "Your DGCA profile" in caption
    assert "Strongest: <b>Leadership</b> (5.0)" in (bob.last.html or caption) or (
        "Strongest: Leadership (5.0)" in caption
    )
    participant = await bot.services.store.participant(workshop.id, bob.id)
    assert participant is not None
    assert (
        participant.name,
        participant.institution,
        participant.position,
        participant.country,
    ) == ("Robert Smith", "Ministry of Digital Affairs", "Adviser", "Ecuador")


async def test_back_resume_and_review_change(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    await bot.tap(ana, "De acuerdo")
    await bot.tap(ana, "De acuerdo")
    third = ana.last
    assert progress(third)[1] == 3
    await bot.tap(ana, "‹ Atrás")
    # Back turns the same message into question 2, with the saved answer marked.
    again = bot.double.message(third.chat_id, third.message_id)
    assert progress(again)[1] == 2
    assert "✅ De acuerdo" in ana.buttons(again)
    await bot.tap(ana, "En desacuerdo", message=again)
    assert progress(ana.last)[1] == 3

    # Stop here; a command in between keeps the progress; /dgca resumes at statement 3.
    await bot.send(ana, "/help")
    await bot.send(ana, "/dgca")
    assert "lleva 2 de 36" in (ana.messages[-2].text or "")
    assert progress(ana.last)[1] == 3

    for _ in range(34):
        await bot.tap(ana, "De acuerdo")
    await bot.tap(ana, "✏️ Cambiar una respuesta")
    await bot.tap(ana, "Estrategia")
    assert "→ <b>De acuerdo</b>" in (ana.last.html or "") or "→ De acuerdo" in (ana.last.text or "")
    await bot.tap(ana, "1")
    assert progress(ana.last) == ("Estrategia", 7, 36)
    await bot.tap(ana, "Totalmente en desacuerdo")
    assert "Revisión" in (ana.last.text or "")  # back to the review, not to the next question
    await bot.tap(ana, "📤 Enviar respuestas")
    await bot.tap(ana, "Enviar")
    caption = ana.last.caption or ""
    assert "Estrategia: 3,5" in caption  # (1 + 4 + 4 + 4 + 4 + 4) / 6 = 3.5
    assert "Liderazgo: 3,7" in caption  # (4 + 2 + 4 + 4 + 4 + 4) / 6 = 3.67


async def test_rejoining_and_two_workshops(bot: Harness, tmp_path) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    again = await bot.send(ana, f"/start {workshop.join_code}")
    assert "Ya participa en" in (again.text or "")
    parts = await bot.services.store.participations(ana.id)
    assert len(parts) == 1

    source = tmp_path / "quito.yaml"
    text = (bot.services.content.root / "workshops" / "cochabamba-2023.yaml").read_text("utf-8")
    source.write_text(
        text.replace("id: cochabamba-2023", "id: quito-2023").replace(
            "Innovación y gobierno digital para los gobiernos locales", "Taller de Quito"
        ),
        "utf-8",
    )
    quito = await bot.import_workshop(source)
    await join_es(bot, ana, quito.join_code)
    menu = await bot.send(ana, "/menu")
    assert "Taller de Quito" in (menu.text or "")
    await bot.tap(ana, "🔁 Cambiar de taller")
    assert len(ana.buttons()) == 2
    await bot.tap(ana, "Innovación y gobierno digital")
    assert "Innovación y gobierno digital" in (ana.last.text or "")
    assert len(await bot.services.store.participations(ana.id)) == 2


async def test_commands_are_registered_per_language(bot: Harness) -> None:
    es = bot.double.commands(language_code="es")
    en = bot.double.commands(language_code="en")
    default = bot.double.commands()
    names = [
        "start",
        "menu",
        "dgca",
        "agenda",
        "next",
        "reminders",
        "evaluation",
        "plan",
        "language",
        "help",
        "privacy",
        "mydata",
        "forget",
    ]
    assert [c["command"] for c in es] == names
    assert [c["command"] for c in en] == names
    assert es != en and default == es


async def test_mydata_and_forget(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    await bot.tap(ana, "De acuerdo")
    doc = await bot.send(ana, "/mydata")
    assert doc.document is not None
    name, data = doc.document
    assert name.startswith("mis-datos-") and name.endswith(".json")
    kept = json.loads(data.decode("utf-8"))
    part = kept["participations"][0]
    assert part["name"] == "Ana Quispe" and part["position"] == "Jefa de Sistemas"
    # The profile is a questionnaire too: its answers come with the DGCA's.
    by_form = {r["questionnaire"]: r for r in part["responses"]}
    assert "Bolivia" in [a["answer_label"] for a in by_form["profile"]["answers"]]
    first = by_form["dgca"]["answers"][0]
    assert first["answer_label"] == "De acuerdo" and "persona o unidad" in first["question_text"]

    await bot.send(ana, "/forget")
    assert ana.buttons() == ["Cancelar", "Sí, borrar"]
    await bot.tap(ana, "Cancelar")
    assert await bot.services.store.participations(ana.id)
    await bot.send(ana, "/forget")
    await bot.tap(ana, "Sí, borrar")
    assert "Borramos sus datos" in (ana.last.text or "")
    assert await bot.services.store.participations(ana.id) == []
    nothing = await bot.send(ana, "/mydata")
    assert "No guardamos" in (nothing.text or "")


async def test_language_switch_keeps_progress(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/dgca")
    await bot.tap(ana, "De acuerdo")
    await bot.send(ana, "/language")
    await bot.tap(ana, "English")
    assert any("Language: English" in (m.text or "") for m in ana.messages[-3:])
    # The chat's command menu follows the chosen language.
    scoped = bot.double.commands(scope="chat", chat_id=ana.id)
    assert scoped and scoped[0]["description"] == "Start or join a workshop"
    await bot.send(ana, "/dgca")
    assert progress(ana.last) == ("Leadership", 2, 36)
    assert "Agree" in ana.buttons()
