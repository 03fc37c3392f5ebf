"""Action plans through the double: writing, teams, check-ins months later, dashboards."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from bot.apidouble import SimUser
from bot.flows.callbacks import (
    PlanField,
    PlanNewLink,
    ProgressExport,
    ProgressView,
    StepRemoveConfirm,
    UpdateStart,
    ViewerInvite,
)
from tests.e2e.harness import Harness
from tests.e2e.test_journey import join_es
from tests.support import FakeClock

LA_PAZ = timedelta(hours=-4)
ADMIN = 999


def la_paz(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Return a wall-clock time in La Paz (UTC-4, no DST) as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - LA_PAZ


@pytest.fixture
def clock() -> FakeClock:
    # During the workshop's second day, after the last DGCA and agenda reminders of the day.
    return FakeClock(la_paz(2023, 11, 29, 16))


def texts(user: SimUser) -> list[str]:
    return [m.text or m.caption or "" for m in user.messages]


def count(user: SimUser, needle: str) -> int:
    return sum(1 for t in texts(user) if needle in t)


async def write_plan(bot: Harness, ana: SimUser) -> None:
    """Write a two-step plan the way a participant does, with the mistakes people make."""
    reply = await bot.send(ana, "/plan")
    assert "Aún no tiene planes" in (reply.text or "")
    await bot.tap(ana, "➕ Nuevo plan")
    assert "Su plan de acción (1 de 4)" in (ana.last.text or "")
    assert "demasiado largo" in (await bot.send(ana, "x" * 121)).text  # type: ignore[operator]
    await bot.send(ana, "Trámites municipales en línea")
    assert "¿Qué cambio quiere ver" in (ana.last.text or "")
    await bot.send(ana, "Menos filas y trámites más rápidos")
    await bot.tap(ana, "11 · Ciudades y comunidades sostenibles")
    await bot.tap(ana, "16 · Paz, justicia e instituciones sólidas")
    assert "✅ 11 ·" in " ".join(ana.buttons())
    await bot.tap(ana, "Listo ›")
    # Her own consent to be contacted by those following the plans up, asked once.
    assert "(4 de 4)" in (ana.last.text or "")
    assert "¿Acepta que quienes dan seguimiento" in (ana.last.text or "")
    await bot.tap(ana, "Sí, pueden contactarme")
    assert "✅ Sí, pueden contactarme" in texts(ana)[-2]
    assert "Paso 1 (1 de 6)" in (ana.last.text or "")
    await bot.send(ana, "Digitalizar las licencias de funcionamiento")
    await bot.send(ana, "Unidad de sistemas y catastro")
    await bot.tap(ana, "Omitir ›")
    await bot.send(ana, "Número de trámites en línea")
    assert "¿Para cuándo" in (ana.last.text or "")
    assert "No entendí" in (await bot.send(ana, "el mes que viene")).text  # type: ignore[operator]
    assert "ya pasó" in (await bot.send(ana, "01/01/2020")).text  # type: ignore[operator]
    await bot.send(ana, "30/06/2024")
    await bot.send(ana, "50 licencias tramitadas en línea")
    assert "Paso 1 guardado" in (ana.last.text or "")
    await bot.tap(ana, "➕ Agregar otro paso")
    await bot.send(ana, "Capacitar al personal de ventanilla")
    await bot.tap(ana, "Omitir ›")
    await bot.tap(ana, "Omitir ›")
    await bot.tap(ana, "Omitir ›")
    # Picked with a button: three months after today, 29 Nov 2023.
    await bot.tap(ana, "En 1 mes ·")
    await bot.tap(ana, "Omitir ›")
    await bot.tap(ana, "✅ Listo por ahora")
    card = ana.last.text or ""
    assert "Trámites municipales en línea" in card
    assert "0 de 2 hechos" in card
    assert "29 dic 2023" in card and "30 jun 2024" in card


async def team_up(bot: Harness, ana: SimUser, luis: SimUser) -> None:
    await bot.tap(ana, "👥 Equipo")
    link = re.search(r"start=(team-[\w-]+)", ana.last.text or "")
    assert link, ana.last.text
    own = await bot.send(ana, f"/start {link[1]}")
    assert any("su propio plan" in t for t in texts(ana)[-2:]), own.text
    await bot.send(luis, f"/start {link[1]}")
    assert count(luis, "Ahora forma parte del equipo") == 1
    await bot.send(luis, f"/start {link[1]}")
    assert count(luis, "Ya forma parte del equipo") == 1


async def appoint_viewer(bot: Harness, admin: SimUser, vera: SimUser, eve: SimUser) -> None:
    await bot.send(admin, "/viewer")
    assert "Seguimiento de Asociación de Municipalidades de Bolivia" in (admin.last.text or "")
    await bot.tap(admin, "🔗 Invitar a una persona")
    link = re.search(r"start=(view-[\w-]+)", admin.last.text or "")
    assert link, admin.last.text
    await bot.send(vera, f"/start {link[1]}")
    assert "Ahora puede seguir los planes" in (vera.last.text or "")
    await bot.send(eve, f"/start {link[1]}")
    assert "ya fue usado" in (eve.last.text or "")


async def test_plan_followed_up_for_six_months_across_restarts(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(
        first_name="Ana", last_name="Quispe", username="anaquispe", language_code="es"
    )
    luis = bot.double.new_user(first_name="Luis", last_name="Mamani", language_code="es")
    admin = bot.double.new_user(first_name="Admin", language_code="es", user_id=ADMIN)
    vera = bot.double.new_user(first_name="Vera", language_code="es")
    eve = bot.double.new_user(first_name="Eve", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await join_es(bot, luis, workshop.join_code)
    await write_plan(bot, ana)
    await team_up(bot, ana, luis)
    await appoint_viewer(bot, admin, vera, eve)

    # One month after the last day (29 Dec), at 10:00 in La Paz and not a minute before.
    await bot.at(la_paz(2023, 12, 29, 9, 59))
    assert count(ana, "Ha pasado un mes") == 0
    await bot.restart()
    await bot.at(la_paz(2023, 12, 29, 10, 0))
    assert count(ana, "Ha pasado un mes") == 1
    assert count(luis, "Ha pasado un mes") == 1
    await bot.restart()
    await bot.at(la_paz(2023, 12, 29, 11, 0))
    assert count(ana, "Ha pasado un mes") == 1

    # Luis answers for the team: a status, a note and a photo as evidence.
    await bot.tap(luis, "📝 Actualizar «Trámites municipales en línea»")
    assert "paso 1 de 2" in (luis.last.text or "")
    await bot.tap(luis, "🔵 En curso")
    await bot.send(luis, "Diseño del formulario listo")
    assert "Nota guardada" in (luis.last.text or "")
    await luis.send_photo(caption="Pantalla del sistema")
    await bot.settle()
    assert "Foto guardada" in (luis.last.text or "")
    await bot.tap(luis, "Siguiente ›")
    sent = len(luis.messages)
    await bot.tap(luis, "Terminar")
    # The thanks and the plan as it now stands, in the step's own message: nothing new.
    assert len(luis.messages) == sent
    assert "Gracias" in texts(luis)[-1] and "Pasos (0 de 2 hechos)" in texts(luis)[-1]

    # Step 2 was due on 29 Dec: the overdue check-in goes out the next day at 10:00.
    await bot.at(la_paz(2023, 12, 30, 9, 0))
    assert count(ana, "vencía el") == 0
    await bot.at(la_paz(2023, 12, 30, 10, 0))
    assert count(ana, "vencía el") == 1 and count(luis, "vencía el") == 1
    # The monthly digest reaches the viewer on the 1st, at 10:00 local.
    await bot.at(la_paz(2024, 1, 1, 9, 0))
    assert count(vera, "Resumen mensual") == 0
    await bot.at(la_paz(2024, 1, 1, 10, 0))
    assert count(vera, "Resumen mensual") == 1
    assert "primer resumen" in texts(vera)[-1]
    # Nobody answers the overdue check-in: one nudge a week later, and only one.
    await bot.restart()
    await bot.at(la_paz(2024, 1, 6, 10, 0))
    assert count(ana, "Recordatorio") == 1
    await bot.at(la_paz(2024, 1, 7, 10, 0))
    assert count(ana, "Recordatorio") == 1

    await bot.at(la_paz(2024, 2, 1, 10, 0))
    assert count(vera, "Resumen mensual") == 2

    # Three months after: 29 Feb 2024 (a leap year). Ana closes step 1 with a link.
    await bot.restart()
    await bot.at(la_paz(2024, 2, 29, 10, 0))
    assert count(ana, "Han pasado 3 meses") == 1
    await bot.tap(ana, "📝 Actualizar «Trámites municipales en línea»")
    await bot.tap(ana, "✅ Hecho")
    await bot.send(ana, "https://licencias.example.bo/informe")
    assert "Enlace guardado" in (ana.last.text or "")
    await bot.tap(ana, "Siguiente ›")
    await bot.tap(ana, "⛔ Bloqueado")
    await bot.send(ana, "Falta presupuesto para el servidor")
    assert "Nota guardada" in (ana.last.text or "")
    await bot.tap(ana, "Terminar")

    await bot.at(la_paz(2024, 3, 1, 10, 0))
    assert count(vera, "Resumen mensual") == 3
    assert "pasos hechos: 1" in texts(vera)[-1]

    # Six months after, a check-in nobody answers.
    await bot.restart()
    await bot.at(la_paz(2024, 5, 29, 10, 0))
    assert count(ana, "Han pasado 6 meses") == 1 and count(luis, "Han pasado 6 meses") == 1
    # Every check-in arrived exactly once.
    assert count(ana, "Ha pasado un mes") == 1 and count(ana, "Han pasado 3 meses") == 1

    # The viewer's dashboard: hand-computed figures.
    await bot.send(vera, "/progress")
    summary = next(t for t in reversed(texts(vera)) if "Avance de los planes" in t)
    assert "Planes: 1 · Pasos: 2" in summary
    assert "Hecho 1" in summary and "Bloqueado 1" in summary
    # m1 (Luis) and m3 (Ana) answered in time; the overdue one of 30 Dec only when m3 had
    # already asked again, so it does not count; m6 not yet.
    assert "Seguimientos respondidos: 2 de 4 (50 %)" in summary
    # The blocked step, with where, its note and its date, and who agreed to be contacted;
    # it was also due on 29 Dec, and is listed once, as blocked.
    assert "Pasos bloqueados: 1" in summary and "Ningún paso vencido." in summary
    blocked = summary[summary.index("Pasos bloqueados") :]
    assert "Capacitar al personal de ventanilla — Gobierno Autónomo Municipal de Sacaba" in blocked
    assert "días de atraso" in blocked
    assert "«Falta presupuesto para el servidor» (29 feb 2024)" in blocked
    assert "👤 Ana Quispe @anaquispe" in blocked and "Luis" not in blocked
    message = next(m for m in reversed(vera.messages) if "Avance de los planes" in (m.text or ""))
    links = [e.get("url") for e in message.entities if e["type"] == "text_link"]
    assert f"tg://user?id={ana.id}" in links
    assert "11 · Ciudades y comunidades sostenibles: 1" in summary
    charts = [m for m in vera.messages[-3:] if m.photo]
    assert len(charts) == 2

    # The export: plans, steps with their latest status, every update with its evidence.
    await bot.tap(
        vera,
        "📥 Exportar Excel",
        message=next(m for m in vera.messages if "Avance de los planes" in (m.text or "")),
    )
    document = vera.last.document
    assert document is not None
    book = load_workbook(io.BytesIO(document[1]))
    assert book.sheetnames == ["Planes", "Pasos", "Actualizaciones"]
    plans = list(book["Planes"].iter_rows(values_only=True))
    assert plans[1][plans[0].index("Contacto (con su consentimiento)")] == "Ana Quispe (@anaquispe)"
    steps = list(book["Pasos"].iter_rows(min_row=2, values_only=True))
    assert [row[10] for row in steps] == ["Hecho", "Bloqueado"]
    updates = list(book["Actualizaciones"].iter_rows(min_row=2, values_only=True))
    assert [row[4] for row in updates] == ["En curso", "Hecho", "Bloqueado"]
    assert updates[0][5] == "Diseño del formulario listo\nPantalla del sistema"
    assert str(updates[0][6]).startswith("photo: ")
    assert updates[1][6] == "link: https://licencias.example.bo/informe"
    assert {row[3] for row in updates} == {updates[0][3], updates[1][3]}

    # Evidence comes back through the bot, to viewers only.
    await bot.tap(
        vera,
        "📎 Evidencias",
        message=next(m for m in vera.messages if "Avance de los planes" in (m.text or "")),
    )
    assert "Evidencias" in (vera.last.text or "")
    await bot.tap(vera, "🖼")
    assert vera.last.photo
    evidence_button = next(
        b["callback_data"] for row in vera.messages[-2].buttons for b in row if "🖼" in b["text"]
    )
    await eve.send("/menu")
    await bot.settle()
    await eve.tap_data(evidence_button)
    await bot.settle()
    assert not eve.last.photo


async def test_participants_and_strangers_cannot_open_dashboards(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    assert "acceso de seguimiento de una asociación" in (await bot.send(ana, "/progress")).text  # type: ignore[operator]
    assert "Solo los administradores" in (await bot.send(ana, "/viewer")).text  # type: ignore[operator]
    await ana.tap_data(ProgressView("a", workshop.association_id or 1).pack())
    await bot.settle()
    await ana.tap_data(ProgressExport("w", workshop.id).pack())
    await bot.settle()
    await ana.tap_data(ViewerInvite(workshop.association_id or 1).pack())
    await bot.settle()
    assert not any(m.document for m in ana.messages)
    assert not any("view-" in t for t in texts(ana))


async def test_forged_plan_buttons_change_nothing(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    eve = bot.double.new_user(first_name="Eve", last_name="Rojas", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await join_es(bot, eve, workshop.join_code)
    await write_plan(bot, ana)
    store = bot.services.store
    plan = (await store.plans_of(ana.id))[0]
    step = plan.steps[0]
    # Ana's own update, open at its first step: its buttons name her run, not Eve's.
    await bot.send(ana, "/plan")
    await bot.tap(ana, "📋 Trámites municipales en línea")
    await bot.tap(ana, "📝 Actualizar avance")
    status = next(
        b["callback_data"] for row in ana.last.buttons for b in row if "Hecho" in b["text"]
    )
    for data in (
        StepRemoveConfirm(plan.id, step.id).pack(),
        PlanField(plan.id, "title").pack(),
        PlanField(plan.id, "sdgs").pack(),
        UpdateStart(plan.id, step.id).pack(),
        status,
        PlanNewLink(plan.id).pack(),
    ):
        await eve.tap_data(data)
        await bot.settle()
    after = (await store.plans_of(ana.id))[0]
    assert after == plan
    assert await store.step_history(step.id) == []


async def test_a_workshop_imported_late_asks_only_its_latest_check_in(bot: Harness) -> None:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await write_plan(bot, ana)
    # The bot was down from the workshop until after the 3-month check-in.
    await bot.restart()
    await bot.at(la_paz(2024, 3, 5, 10, 0))
    assert count(ana, "Ha pasado un mes") == 0
    assert count(ana, "Han pasado 3 meses") == 1
    statuses = {r.key: r.status for r in await bot.services.store.schedule_of(workshop.id)}
    assert statuses["checkin:m1"] == "skipped" and statuses["checkin:m3"] == "done"
    assert statuses["checkin:m6"] == "pending"


async def joined_plan_writer(bot: Harness, title: str) -> SimUser:
    """Join Ana and take her through a new plan's title and SDGs, up to the contact question."""
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await bot.send(ana, "/plan")
    await bot.tap(ana, "➕ Nuevo plan")
    await bot.send(ana, title)
    await bot.tap(ana, "Omitir ›")
    await bot.tap(ana, "Listo ›")
    return ana


async def test_contact_consent_is_asked_once_and_can_be_changed(bot: Harness) -> None:
    ana = await joined_plan_writer(bot, "Ventanilla única")
    question = ana.last
    assert "(equipo organizador · Asociación de Municipalidades de Bolivia (AMB))" in (
        question.text or ""
    )
    yes = next(b["callback_data"] for row in question.buttons for b in row if "Sí" in b["text"])
    await bot.tap(ana, "Prefiero que no")
    assert "✅ Prefiero que no" in texts(ana)[-2] and "Paso 1 (1 de 6)" in (ana.last.text or "")
    # The question's old button, tapped again (a second device, a slow network): it is
    # answered as stale, the answer stands and the plan is not restarted.
    await bot.send(ana, "Abrir la ventanilla")
    asked = len(ana.messages)
    await ana.tap_data(yes, message_id=question.message_id)
    await bot.settle()
    assert len(ana.messages) == asked
    store = bot.services.store
    plans = await store.plans_of(ana.id)
    assert [(m.contact, m.handle) for m in plans[0].members] == [(False, None)]
    # Later, from the plan's edit menu: given, then withdrawn again.
    await bot.send(ana, "/plan")
    await bot.tap(ana, "📋 Ventanilla única")
    await bot.tap(ana, "✏️ Editar")
    await bot.tap(ana, "📇 Contacto: no · tocar para aceptarlo")
    assert "📇 Contacto: sí · tocar para retirarlo" in " ".join(ana.buttons())
    plans = await store.plans_of(ana.id)
    assert [m.contact for m in plans[0].members] == [True]
    await bot.tap(ana, "📇 Contacto: sí · tocar para retirarlo")
    plans = await store.plans_of(ana.id)
    assert [m.contact for m in plans[0].members] == [False]


async def test_steps_of_a_plan_due_together_are_asked_about_in_one_message(bot: Harness) -> None:
    ana = await joined_plan_writer(bot, "Catastro digital")
    await bot.tap(ana, "Prefiero que no")
    for index, action in enumerate(("Digitalizar planos", "Publicar el visor")):
        if index:
            await bot.tap(ana, "➕ Agregar otro paso")
        await bot.send(ana, action)
        for _ in range(3):
            await bot.tap(ana, "Omitir ›")
        await bot.tap(ana, "En 1 mes ·")
        await bot.tap(ana, "Omitir ›")
    await bot.tap(ana, "✅ Listo por ahora")
    # Both steps were due on 29 Dec: the next morning, one question about both.
    await bot.at(la_paz(2023, 12, 30, 10, 0))
    asked = [t for t in texts(ana) if "pasaron su fecha" in t or "vencía el" in t]
    assert len(asked) == 1, asked
    assert "Digitalizar planos" in asked[0] and "Publicar el visor" in asked[0]
    await bot.at(la_paz(2023, 12, 31, 10, 0))
    assert len([t for t in texts(ana) if "pasaron su fecha" in t]) == 1


async def test_any_answer_of_a_plan_is_asked_again_from_its_menu(bot: Harness) -> None:
    """The plan's and its steps' questions, asked again one at a time by the form engine."""
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await write_plan(bot, ana)
    store = bot.services.store
    # A step's date, typed in the person's way; the step's menu shows it changed.
    await bot.tap(ana, "✏️ Editar")
    await bot.tap(ana, "Paso 1: Digitalizar")
    await bot.tap(ana, "Fecha límite")
    asked = ana.last.text or ""
    assert "Paso 1" in asked and "(5 de 6)" not in asked, asked
    assert "Ahora: 30 jun 2024" in asked or "30 jun 2024" in asked
    assert "Cancelar" in " ".join(ana.buttons()) and "Omitir ›" not in " ".join(ana.buttons())
    assert "ya pasó" in (await bot.send(ana, "1 de enero de 2020")).text  # type: ignore[operator]
    await bot.send(ana, "15 de agosto de 2024")
    assert "✓ Guardado." in texts(ana)[-2]
    assert "15 ago 2024" in (ana.last.text or "")
    plan = (await store.plans_of(ana.id))[0]
    assert str(plan.steps[0].due_date) == "2024-08-15"
    # Asked again and left as it was: nothing changes, and typed text is no answer any more.
    await bot.tap(ana, "Responsables")
    await bot.tap(ana, "Cancelar")
    assert "Sin cambios." in texts(ana)[-2]
    await bot.send(ana, "Otra unidad")
    plan = (await store.plans_of(ana.id))[0]
    assert plan.steps[0].responsible == "Unidad de sistemas y catastro"
    # The plan's own title and SDGs, from the same menu.
    await bot.send(ana, "/plan")
    await bot.tap(ana, "📋 Trámites municipales en línea")
    await bot.tap(ana, "✏️ Editar")
    await bot.tap(ana, "Título")
    await bot.send(ana, "Licencias en línea")
    assert "Licencias en línea" in (ana.last.text or "")
    await bot.tap(ana, "✏️ Editar")
    await bot.tap(ana, "ODS")
    await bot.tap(ana, "✅ 16 ·")
    await bot.tap(ana, "Listo ›")
    plan = (await store.plans_of(ana.id))[0]
    assert plan.title == "Licencias en línea" and list(plan.sdgs) == [11]


async def test_a_teammate_who_left_cannot_finish_a_change_begun_before(bot: Harness) -> None:
    """Leaving the team between asking to change an answer and giving it changes nothing."""
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    luis = bot.double.new_user(first_name="Luis", last_name="Mamani", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await join_es(bot, luis, workshop.join_code)
    await write_plan(bot, ana)
    await team_up(bot, ana, luis)
    # The plan's card he got on joining the team, still in the chat.
    card = next(
        m
        for m in reversed(luis.messages)
        if "👥 Equipo" in " ".join(b["text"] for row in m.buttons for b in row)
    )
    await bot.send(luis, "/plan")
    await bot.tap(luis, "📋 Trámites municipales en línea")
    await bot.tap(luis, "✏️ Editar")
    await bot.tap(luis, "Objetivo")
    question = luis.last
    # From that older card, while the question waits for his text.
    await bot.tap(luis, "👥 Equipo", message=card)
    await bot.tap(luis, "🚪 Salir del equipo", message=card)
    await bot.tap(luis, "Sí, salir", message=card)
    await bot.send(luis, "Un objetivo que no es suyo")
    assert "ya no es suyo" in (luis.last.text or "")
    await bot.tap(luis, "Cancelar", message=question)
    plan = (await bot.services.store.plans_of(ana.id))[0]
    assert plan.objective == "Menos filas y trámites más rápidos"
    assert [m.name for m in plan.members] == ["Ana Quispe"]


async def late_steps(bot: Harness, plans: dict[str, list[str]]) -> SimUser:
    """Join Ana with plans whose steps (actions) were all due on 20 December."""
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    store, now = bot.services.store, bot.clock.now()
    participant = await store.participant(workshop.id, ana.id)
    assert participant is not None
    for title, actions in plans.items():
        plan_id = await store.create_plan(workshop.id, participant.id, title, now)
        for action in actions:
            step = await store.add_step(plan_id, action, now)
            await store.set_step_field(step, "due_date", "2023-12-20", now)
    return ana


async def test_steps_past_their_date_in_two_plans_are_asked_in_one_message(bot: Harness) -> None:
    plans = {"Ventanilla única": ["Abrir la ventanilla"], "Datos abiertos": ["Publicar"]}
    ana = await late_steps(bot, plans)
    sent = len(ana.messages)
    await bot.at(la_paz(2023, 12, 21, 10, 0))
    asked = texts(ana)[sent:]
    # One message names both plans, with a button for each.
    assert len(asked) == 1, asked
    assert "Abrir la ventanilla" in asked[0] and "Publicar" in asked[0]
    assert ana.buttons(ana.last) == [
        "📝 Actualizar «Ventanilla única»",
        "📝 Actualizar «Datos abiertos»",
    ]
    # Asked once: the next morning brings nothing new.
    await bot.at(la_paz(2023, 12, 22, 10, 0))
    assert len(texts(ana)) == sent + 1


async def test_many_late_steps_fit_one_message_and_name_the_rest(bot: Harness) -> None:
    # Three plans of five late steps, each action as long as the form allows.
    plans = {f"Plan {n}": [f"{n}{k} " + "x" * 296 for k in range(5)] for n in range(3)}
    ana = await late_steps(bot, plans)
    sent = len(ana.messages)
    await bot.at(la_paz(2023, 12, 21, 10, 0))
    asked = texts(ana)[sent:]
    assert len(asked) == 1 and len(asked[0]) <= 4096, [len(t) for t in asked]
    assert "1 plan más con pasos vencidos" in asked[0] and "/plan" in asked[0]
    assert len(ana.buttons(ana.last)) == 3
