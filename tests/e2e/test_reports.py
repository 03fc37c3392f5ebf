"""Evaluation, session ratings, reports and exports through the Bot API double."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from bot.apidouble import SimUser
from bot.flows.callbacks import RateSession, Report
from tests.e2e.harness import Harness, progress
from tests.e2e.test_journey import join_es

LA_PAZ = timedelta(hours=-4)
EVAL_ANSWERS = [
    "Muy bueno",
    "Bueno",
    "Muy bueno",
    "Muy probable",
    "Muchísimo",
    "Mucho",
    "De acuerdo",
    "Totalmente de acuerdo",
    "De acuerdo",
    "De acuerdo",
]


def la_paz(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2023, 11, day, hour, minute, tzinfo=UTC) - LA_PAZ


async def group(bot: Harness, size: int) -> tuple[SimUser, list[SimUser], int]:
    workshop = await bot.import_workshop()
    org = bot.double.new_user(first_name="Olga", last_name="Rojas", language_code="es")
    await bot.services.store.add_organizer(workshop.id, org.id, bot.clock.now())
    people = []
    for i in range(size):
        user = bot.double.new_user(first_name=f"P{i}", last_name="Quispe", language_code="es")
        await join_es(bot, user, workshop.join_code)
        people.append(user)
    return org, people, workshop.id


async def dgca(bot: Harness, user: SimUser, labels: list[str]) -> None:
    await bot.send(user, "/dgca")
    for i in range(36):
        await bot.tap(user, labels[i % len(labels)])
    await bot.tap(user, "📤 Enviar respuestas")
    await bot.tap(user, "Enviar")


async def evaluation(bot: Harness, user: SimUser, answers: list[str], useful: str) -> None:
    for label in answers:
        await bot.tap(user, label)
    await bot.send(user, useful)
    await bot.tap(user, "Omitir ›")
    await bot.tap(user, "📤 Enviar respuestas")
    await bot.tap(user, "Enviar")


async def test_evaluation_opens_after_the_last_session_and_closes(bot: Harness) -> None:
    _, (ana, bob, *_), _ = await group(bot, 2)
    early = await bot.send(ana, "/evaluation")
    assert "todavía no está abierta" in (early.text or "")
    await bot.at(la_paz(29, 15, 30))  # the closing session ends
    invitation = next(m for m in ana.messages if "Cuéntenos cómo le fue" in (m.text or ""))
    await bot.tap(ana, "📝 Hacer la evaluación", message=invitation)
    assert progress(ana.last) == ("La facilitación y el diseño", 1, 12)
    await evaluation(bot, ana, EVAL_ANSWERS, "Los casos de otros municipios")
    assert "Gracias por su evaluación" in (ana.last.text or "")
    await bot.send(bob, "/evaluation")
    await bot.at(la_paz(30, 0) + timedelta(days=7))  # the window closed on 6 Dec, 23:00
    await bot.tap(bob, "Muy bueno")
    assert list(bot.double.callback_answers.values())[-1].text == (
        "La evaluación de este taller ya cerró. ¡Gracias!"
    )
    closed = await bot.send(bob, "/evaluation")
    assert "ya cerró" in (closed.text or "")


async def test_organizer_opens_the_evaluation_early(bot: Harness) -> None:
    org, (ana,), _ = await group(bot, 1)
    await bot.send(org, "/openeval")
    assert "abre el" in (org.last.text or "")
    await bot.tap(org, "📝 Abrir la evaluación ahora")
    await bot.flush()
    assert "está abierta" in (org.last.text or "")
    assert any("Cuéntenos cómo le fue" in (m.text or "") for m in ana.messages)
    ready = await bot.send(ana, "/evaluation")
    assert "1/12" in (ready.text or "")
    refused = await bot.send(ana, "/openeval")
    assert "equipo organizador" in (refused.text or "")


async def test_session_rating_and_comment(bot: Harness) -> None:
    _, (ana,), workshop_id = await group(bot, 1)
    await bot.at(la_paz(28, 9, 0))  # the welcome words ended: they are not rated
    assert not any("¿Cómo calificaría" in (m.text or "") for m in ana.messages)
    await bot.at(la_paz(28, 17, 0))  # the day's last session ended: one message for the day
    ask = next(m for m in ana.messages if "¿Cómo calificaría la sesión" in (m.text or ""))
    assert "las 4 sesiones de hoy" in (ask.text or "") and "Los ODS" in (ask.text or "")
    assert ana.buttons(ask) == ["1", "2", "3", "4", "5", "Omitir ›"]
    await bot.tap(ana, "4", message=ask)
    edited = bot.double.message(ask.chat_id, ask.message_id)
    # The same message thanks, then asks about the next session.
    assert "con 4 de 5" in (edited.text or "") and "Innovación y gobierno" in (edited.text or "")
    assert ana.buttons(edited) == ["1", "2", "3", "4", "5", "Omitir ›", "💬 Agregar un comentario"]
    sent = len(ana.messages)
    await bot.tap(ana, "💬 Agregar un comentario", message=edited)
    # The comment is asked in the same message, the next session's rating still under it.
    asking = bot.double.message(ask.chat_id, ask.message_id)
    assert "Escriba su comentario sobre «Los ODS" in (asking.text or "")
    assert ana.buttons(asking) == ["1", "2", "3", "4", "5", "Omitir ›"]
    await bot.send(ana, "Muy clara la presentación")
    # One new message: the thanks, with the next rating, which moved below the comment.
    thanks = ana.last
    assert len(ana.messages) == sent + 1  # the bot says one thing in answer to the comment
    assert "Gracias por su comentario" in (thanks.text or "")
    assert "Innovación y gobierno" in (thanks.text or "")
    assert ana.buttons(thanks) == ["1", "2", "3", "4", "5", "Omitir ›"]
    retired = bot.double.message(ask.chat_id, ask.message_id)
    assert ana.buttons(retired) == [] and "con 4 de 5" in (retired.text or "")
    ratings = await bot.services.store.session_ratings(workshop_id)
    assert [(r.session_id, r.rating, r.comment) for r in ratings] == [
        ("sdgs", 4, "Muy clara la presentación")
    ]
    await ana.tap_data(RateSession(workshop_id, "sdgs", 9).pack(), message=thanks)
    await ana.tap_data(RateSession(workshop_id, "nosuch", 3).pack(), message=thanks)
    await bot.settle()
    assert len(await bot.services.store.session_ratings(workshop_id)) == 1
    # Skipping moves on without a rating; after the last session, a thank-you.
    await bot.tap(ana, "Omitir ›", message=thanks)  # Innovación
    await bot.tap(ana, "5", message=thanks)  # Resultados de la autoevaluación
    await bot.tap(ana, "Omitir ›", message=thanks)  # Casos de servicios, the day's last
    final = bot.double.message(thanks.chat_id, thanks.message_id)
    assert "Gracias por calificar las sesiones de hoy" in (final.text or "")
    ratings = await bot.services.store.session_ratings(workshop_id)
    assert sorted((r.session_id, r.rating) for r in ratings) == [("dgca_results", 5), ("sdgs", 4)]


async def test_dgca_report_hides_small_groups_then_charts(bot: Harness) -> None:
    org, people, _ = await group(bot, 3)
    await dgca(bot, people[0], ["Totalmente de acuerdo"])
    await dgca(bot, people[1], ["De acuerdo", "En desacuerdo"])
    await bot.send(org, "/report")
    await bot.tap(org, "📊 DGCA")
    assert "no hay suficientes respuestas" in (org.last.text or "") and "(2;" in (
        org.last.text or ""
    )
    await dgca(bot, people[2], ["No sé / No aplica", "Totalmente en desacuerdo"])
    count = len(org.messages)
    await bot.send(org, "/report")
    await bot.tap(org, "📊 DGCA")
    new = org.messages[count + 1 :]
    photos = [m for m in new if m.photo]
    assert len(photos) == 7  # the dimension means, then one chart per dimension
    means = photos[0].caption or ""
    # Leadership statements alternate in people[1]: 4,2,4,2,4,2 -> 3,0; people[2]: 6 x (NA|1) -> 1,0
    assert "Liderazgo: 3,0 (n = 3)" in means  # (5 + 3 + 1) / 3
    assert "n = 3" in (photos[1].caption or "")
    summary = new[-1].text or ""
    assert "Afirmaciones con más acuerdo" in summary and "Afirmaciones con menos acuerdo" in summary


async def test_evaluation_report_with_majority_captions_and_documents(bot: Harness) -> None:
    org, people, _ = await group(bot, 3)
    await bot.at(la_paz(29, 15, 30))
    for user, useful in zip(people, ["Los casos", "El trabajo en grupo", "=SUM(A1)"], strict=True):
        await bot.send(user, "/evaluation")
        await evaluation(bot, user, EVAL_ANSWERS, useful)
    count = len(org.messages)
    await bot.send(org, "/report")
    await bot.tap(org, "📝 Evaluación")
    new = org.messages[count + 1 :]
    photos = [m for m in new if m.photo]
    assert len(photos) == 10
    assert "Muy bueno representa la mayoría de «Calidad general" in (photos[0].caption or "")
    assert "(3 de 3, 100 %)" in (photos[0].caption or "")
    document = next(m for m in new if m.document)
    name, data = document.document  # type: ignore[misc]
    assert name == "respuestas-abiertas-cochabamba-2023.txt"
    text = data.decode("utf-8")
    assert "El trabajo en grupo" in text and "Quispe" not in text  # no names
    assert "Calificación de las sesiones" in (new[-1].text or "")


async def test_status_export_and_authorization(bot: Harness) -> None:
    org, people, workshop_id = await group(bot, 3)
    await dgca(bot, people[0], ["De acuerdo"])
    await bot.send(org, "/report")
    await bot.tap(org, "👥 Participación")
    status = org.last.text or ""
    assert "• Total: 3 · 1 · 0 · 0" in status
    assert "Gobierno Autónomo Municipal de Sacaba: 3 · 1 · 0 · 0" in status
    await bot.send(org, "/report")
    await bot.tap(org, "📊 Exportar Excel")
    name, data = org.last.document  # type: ignore[misc]
    assert name.startswith("taller-cochabamba-2023-") and name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(data))
    assert len(book.sheetnames) >= 3
    dgca_sheet = book[book.sheetnames[0]]
    assert dgca_sheet.max_row == 2  # header + the one participant who started the DGCA
    await bot.send(org, "/report")
    await bot.tap(org, "📄 Exportar CSV")
    name, data = org.last.document  # type: ignore[misc]
    assert data.startswith(b"\xef\xbb\xbf") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 36 and "Gobierno Autónomo Municipal de Sacaba" in rows[1]

    participant = people[1]
    refused = await bot.send(participant, "/report")
    assert "equipo organizador" in (refused.text or "")
    for kind in ("dgca", "eval", "status", "xlsx", "csv", "inst"):
        await participant.tap_data(Report(workshop_id, kind).pack(), message=refused)
    await bot.settle()
    answers = list(bot.double.callback_answers.values())[-6:]
    assert all(a.text == "Este botón ya no está activo." for a in answers)
    assert not any(m.document or m.photo for m in participant.messages)


async def test_dgca_report_goes_to_the_group_when_the_window_closes(bot: Harness) -> None:
    org, people, workshop_id = await group(bot, 3)
    for user in people:
        await dgca(bot, user, ["De acuerdo", "Totalmente de acuerdo"])
    chat = bot.double.new_group(title="Equipo", members=[org])
    await bot.services.store.set_organizer_chat(workshop_id, chat.id)
    # The window closes at 23:00; the report waits for the morning, out of the quiet hours.
    await bot.at(la_paz(27, 23))
    assert not any(m.photo for m in chat.messages)
    await bot.at(la_paz(28, 8))
    await bot.double.wait_for(lambda: sum(1 for m in chat.messages if m.photo) == 7, timeout=10)
    assert "Afirmaciones con más acuerdo" in (chat.last.text or "")


@pytest.fixture
def allowed_errors() -> list[str]:
    return []


async def test_own_profile_beside_the_group_mean(bot: Harness) -> None:
    _, people, _ = await group(bot, 3)
    await dgca(bot, people[0], ["Totalmente de acuerdo"])
    assert "Media del grupo" not in (people[0].last.caption or "")  # alone: own profile only
    await dgca(bot, people[1], ["En desacuerdo"])
    await dgca(bot, people[2], ["De acuerdo"])
    caption = people[2].last.caption or ""
    assert "Media del grupo</b> (n = 3)" in caption or "Media del grupo (n = 3)" in caption
    assert "• Liderazgo: 4,0" in caption  # own score first
    assert caption.count("• Liderazgo: ") == 2  # and the group's: (5 + 2 + 4) / 3 = 3,7
    assert "• Liderazgo: 3,7" in caption
    assert people[2].last.photo is not None


async def test_a_rating_tapped_instead_of_the_comment_leaves_the_comment(bot: Harness) -> None:
    _, (ana,), workshop_id = await group(bot, 1)
    await bot.at(la_paz(28, 17, 0))
    ask = next(m for m in ana.messages if "¿Cómo calificaría la sesión" in (m.text or ""))
    await bot.tap(ana, "4", message=ask)
    await bot.tap(ana, "💬 Agregar un comentario", message=ask)
    # Ana rates the next session instead of typing: the comment is no longer awaited.
    await bot.tap(ana, "5", message=ask)
    await bot.send(ana, "Una nota que no es un comentario")
    ratings = await bot.services.store.session_ratings(workshop_id)
    assert sorted((r.session_id, r.rating, r.comment) for r in ratings) == [
        ("innovation", 5, None),
        ("sdgs", 4, None),
    ]
