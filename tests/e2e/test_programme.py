"""A programme of three events: one pool, one DGCA, an evaluation and a report per event."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.apidouble import SimUser
from bot.content import ContentError
from bot.flows.callbacks import RateSession
from tests.e2e.harness import Harness
from tests.support import CONTENT_DIR, FakeClock

PROGRAMME = CONTENT_DIR.parent / "tests" / "data" / "programme.yaml"
GUATEMALA = CONTENT_DIR / "workshops" / "guatemala-inap-2023.yaml"


@pytest.fixture
def clock() -> FakeClock:
    # Four days before the programme's online session, in the morning in La Paz.
    return FakeClock(datetime(2024, 3, 1, 14, 0, tzinfo=UTC))


async def _join(bot: Harness, user: SimUser, code: str, institution: str) -> str:
    """Join by a link and fill in the profile; return the greeting's text."""
    # The greeting becomes the consent text in place: read it before.
    greeting = (await bot.send(user, f"/start {code}")).text or ""
    await bot.tap(user, "Continuar ›")
    await bot.tap(user, "Acepto")
    await bot.tap(user, f"Usar «{user.first_name}»")
    await bot.tap(user, institution)
    await bot.send(user, "Técnica")
    await bot.tap(user, "Bolivia")
    return greeting


def _texts(user: SimUser, since: int) -> list[str]:
    return [m.text or m.caption or "" for m in user.messages[since:]]


async def test_a_programme_runs_event_by_event_from_one_pool(bot: Harness) -> None:
    workshop = await bot.import_workshop(PROGRAMME)
    store = bot.services.store
    codes = await store.event_codes(workshop.id)
    assert set(codes) == {"online", "presencial", "replica"}
    assert workshop.join_code not in codes.values()

    # The programme's link: the open events. The replica's own link: the replica only.
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    beto = bot.double.new_user(first_name="Beto", language_code="es")
    carla = bot.double.new_user(first_name="Carla", language_code="es")
    assert "Programa de prueba" in await _join(
        bot, ana, workshop.join_code, "Gobierno Autónomo Municipal de Sucre"
    )
    assert "Réplica" in await _join(
        bot, beto, codes["replica"], "Gobierno Autónomo Municipal de Tarija"
    )
    await _join(bot, carla, workshop.join_code, "Gobierno Autónomo Municipal de Sucre")
    ids = {
        u.first_name: p.id
        for u in (ana, beto, carla)
        if (p := await store.participant(workshop.id, u.id)) is not None
    }
    members = await store.event_members(workshop.id)
    assert members[ids["Ana"]] == {"online", "presencial"}
    assert members[ids["Beto"]] == {"replica"}

    # Each person's agenda holds the sessions of their own events.
    ana_agenda = (await bot.send(ana, "/agenda")).text or ""
    assert "Introducción en línea" in ana_agenda and "Plan de acción" not in ana_agenda
    beto_agenda = (await bot.send(beto, "/agenda")).text or ""
    assert "Plan de acción" in beto_agenda and "Mentalidades" not in beto_agenda

    # The online session's reminder, with its link, goes to its members only.
    seen = {u.first_name: len(u.messages) for u in (ana, beto, carla)}
    await bot.at(datetime(2024, 3, 4, 22, 0, tzinfo=UTC))  # 18:00 in La Paz: the digest
    await bot.at(datetime(2024, 3, 5, 13, 45, tzinfo=UTC))
    reminder = [t for t in _texts(ana, seen["Ana"]) if "Empieza en" in t]
    assert reminder and "https://meet.example.org/programa-online" in reminder[0]
    assert not any("Empieza en" in t for t in _texts(beto, seen["Beto"]))

    # The in-person workshop's evaluation: its members are invited, and answer it as that
    # event's evaluation.
    seen = {u.first_name: len(u.messages) for u in (ana, beto, carla)}
    await bot.at(datetime(2024, 3, 12, 16, 30, tzinfo=UTC))  # 12:30 in La Paz: the end
    assert any("Taller presencial" in t and "evaluación" in t for t in _texts(ana, seen["Ana"]))
    assert not any("evaluación" in t for t in _texts(beto, seen["Beto"]))
    await bot.tap(ana, "📝 Hacer la evaluación")
    assert await store.find_response(ids["Ana"], "evaluation@presencial") is not None
    assert await store.find_response(ids["Ana"], "evaluation") is None

    # Ana opens the replica's link too: she is added to it, and keeps her DGCA.
    added = await bot.send(ana, f"/start {codes['replica']}")
    assert "también participa en" in (added.text or "") and "Réplica" in (added.text or "")
    members = await store.event_members(workshop.id)
    assert members[ids["Ana"]] == {"online", "presencial", "replica"}
    assert members[ids["Carla"]] == {"online", "presencial"}

    # The replica's day: its plan invitation and evaluation reach its members, not Carla.
    seen = {u.first_name: len(u.messages) for u in (ana, beto, carla)}
    await bot.at(datetime(2024, 3, 20, 15, 0, tzinfo=UTC))  # 11:00: the plan session
    await bot.at(datetime(2024, 3, 20, 16, 30, tzinfo=UTC))
    for name, user in (("Ana", ana), ("Beto", beto)):
        texts = _texts(user, seen[name])
        assert any("plan de acción" in t for t in texts), texts
        assert any("Réplica" in t and "evaluación" in t for t in texts), texts
    carla_texts = _texts(carla, seen["Carla"])
    assert not any("Réplica" in t or "plan de acción" in t for t in carla_texts), carla_texts
    await bot.tap(beto, "📝 Hacer la evaluación")
    assert await store.find_response(ids["Beto"], "evaluation@replica") is not None

    # The organizer: a report per event, participation by event, who is in which event.
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(workshop.id, olga.id, bot.clock.now())
    report = await bot.send(olga, "/report")
    labels = olga.buttons(report)
    assert "📝 Evaluación: Taller presencial" in labels
    assert "📝 Evaluación: Réplica" in labels
    assert "📝 Evaluación" not in labels
    assert not any("Sesión en línea" in label for label in labels)
    await bot.tap(olga, "👥 Participación", message=report)
    status = olga.last.text or ""
    assert "Por evento" in status
    assert "Réplica: 2" in status and "Taller presencial: 2" in status
    await bot.tap(olga, "📝 Evaluación: Réplica", message=report)
    assert olga.last.text or olga.last.caption
    await bot.tap(olga, "📊 Exportar Excel", message=report)
    document = olga.last.document
    assert document is not None
    book = load_workbook(io.BytesIO(document[1]))
    assert "Eventos" in book.sheetnames
    rows = [
        [str(c) for c in row if c is not None]
        for row in book["Eventos"].iter_rows(values_only=True)
    ]
    ana_row = next(r for r in rows if f"P{ids['Ana']:04d}" in r)
    assert ana_row.count("Sí") == 3
    cells = [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
    assert not ({"Ana", "Beto"} & set(cells))


async def test_the_guatemala_programme_imports_with_a_link_per_event(bot: Harness) -> None:
    bot.clock.current = datetime(2023, 6, 1, 15, 0, tzinfo=UTC)
    workshop = await bot.import_workshop(GUATEMALA)
    codes = await bot.services.store.event_codes(workshop.id)
    assert set(codes) == {"tot_online", "tot_inperson", "replica"}
    # The Ministry's staff join by the replica's link, and see its sessions only.
    eva = bot.double.new_user(first_name="Eva", language_code="es")
    greeting = await bot.send(eva, f"/start {codes['replica']}")
    assert "Ministerio de Finanzas" in (greeting.text or "")
    # An organizer's /invite lists every event's link, with a poster for the replica's.
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await bot.services.store.add_organizer(workshop.id, olga.id, bot.clock.now())
    before = len(olga.messages)
    await bot.send(olga, "/invite")
    texts = _texts(olga, before)
    listing = next(t for t in texts if "Enlaces de cada evento" in t)
    for code in codes.values():
        assert code in listing
    assert "<b>" not in listing and "&lt;" not in listing
    assert "Formación de formadores en línea y Taller presencial" in listing
    photos = [m for m in olga.messages[before:] if m.photo]
    assert len(photos) == 2


async def test_a_programme_keeps_each_event_to_its_members(bot: Harness, tmp_path: Path) -> None:
    """Ratings, audiences, links and the organizer's tools stay within each event."""
    workshop = await bot.import_workshop(PROGRAMME)
    store = bot.services.store
    codes = await store.event_codes(workshop.id)
    ana = bot.double.new_user(first_name="Ana", language_code="es")
    beto = bot.double.new_user(first_name="Beto", language_code="es")
    olivia = bot.double.new_user(first_name="Olivia", language_code="es")
    await _join(bot, ana, workshop.join_code, "Gobierno Autónomo Municipal de Sucre")
    await _join(bot, beto, codes["replica"], "Gobierno Autónomo Municipal de Tarija")
    await _join(bot, olivia, codes["online"], "Gobierno Autónomo Municipal de Sucre")
    # The online event's own link is in the agenda of its members.
    agenda = (await bot.send(ana, "/agenda")).text or ""
    assert "https://meet.example.org/programa-online" in agenda
    # A forged rating of a session of another event is refused and stored nowhere.
    await beto.tap_data(RateSession(workshop.id, "p1", 1).pack())
    await bot.settle()
    assert await store.session_ratings(workshop.id) == []
    # "DGCA not done" counts those whose events use the DGCA, not Olivia (online only).
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(workshop.id, olga.id, bot.clock.now())
    audiences = olga.buttons(await bot.send(olga, "/broadcast"))
    assert any(label.endswith("(2)") and "DGCA" in label for label in audiences), audiences
    # No "evaluation not done" audience: a programme's evaluations are its events'.
    assert not any("evaluación" in label.lower() for label in audiences), audiences
    await bot.send(olga, "/cancel")
    # Opening the evaluation by hand is for standalone workshops: a programme shows each
    # event's state and no button.
    states = await bot.send(olga, "/openeval")
    assert "Taller presencial" in (states.text or "") and "Réplica" in (states.text or "")
    assert olga.buttons(states) == []
    # A file giving one event the programme's own link is refused, and changes nothing.
    text = PROGRAMME.read_text("utf-8").replace(
        "    open: false\n", f"    open: false\n    join_code: {workshop.join_code}\n"
    )
    moved = tmp_path / "moved.yaml"
    moved.write_text(text.replace("Programa de prueba", "Programa cambiado"), "utf-8")
    with pytest.raises(ContentError, match="same join_code"):
        await bot.import_workshop(moved)
    kept = await store.workshop(workshop.id)
    assert kept is not None and "Programa de prueba" in str(kept.spec)
    assert await store.event_codes(workshop.id) == codes
