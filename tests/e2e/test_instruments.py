"""Instruments per workshop: a congress session without the DGCA, with its own profile."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from bot.apidouble import SimUser
from tests.e2e.harness import Harness
from tests.support import CONTENT_DIR, FakeClock

PUNTA_CANA = CONTENT_DIR / "workshops" / "punta-cana-2024.yaml"


@pytest.fixture
def clock() -> FakeClock:
    # Two days before FLACMA's session at the summit, in the afternoon in Punta Cana.
    return FakeClock(datetime(2024, 10, 30, 18, 0, tzinfo=UTC))


async def join_rosa(bot: Harness, code: str) -> SimUser:
    """Join Rosa, a councillor, through FLACMA's own profile questions."""
    rosa = bot.double.new_user(first_name="Rosa", last_name="Peña", language_code="es")
    await bot.send(rosa, f"/start {code}")
    await bot.tap(rosa, "Continuar ›")
    await bot.tap(rosa, "Acepto")
    await bot.tap(rosa, "Usar «Rosa Peña»")
    assert "¿De qué país viene?" in (rosa.last.text or "")
    await bot.send(rosa, "República Dominicana")
    await bot.tap(rosa, "Concejo municipal")
    await bot.send(rosa, "Ayuntamiento de Higüey")
    await bot.send(rosa, "Concejala")
    return rosa


async def test_a_session_without_the_dgca_asks_its_own_profile(bot: Harness) -> None:
    workshop = await bot.import_workshop(PUNTA_CANA)
    store = bot.services.store
    rosa = await join_rosa(bot, workshop.join_code)
    done = rosa.last
    assert "Su inscripción en" in (done.text or "") and "DGCA" not in (done.text or "")
    assert not any("autoevaluación" in label.lower() for label in rosa.buttons(done))
    participant = await store.participant(workshop.id, rosa.id)
    assert participant is not None and participant.profile_done
    assert (participant.country, participant.institution, participant.position) == (
        "República Dominicana",
        "Ayuntamiento de Higüey",
        "Concejala",
    )
    menu = await bot.send(rosa, "/menu")
    assert "DGCA" not in (menu.text or "")
    assert not any("DGCA" in label for label in rosa.buttons(menu))
    assert "no incluye la autoevaluación" in ((await bot.send(rosa, "/dgca")).text or "")
    assert await store.find_response(participant.id, "dgca") is None

    # The organizers see no DGCA report and no "DGCA not finished" audience; the export has
    # the profile's own question, pseudonymised, and nobody's name.
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(workshop.id, olga.id, bot.clock.now())
    report = await bot.send(olga, "/report")
    labels = olga.buttons(report)
    assert "📝 Evaluación" in labels and "📊 DGCA" not in labels
    await bot.send(olga, "/broadcast")
    assert not any("DGCA" in label for label in olga.buttons())
    await bot.tap(olga, "📊 Exportar Excel", message=report)
    document = olga.last.document
    assert document is not None
    book = load_workbook(io.BytesIO(document[1]))
    assert "Sus datos" in book.sheetnames
    cells = [
        str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
    ]
    assert "Concejo municipal" in cells
    assert not any("Rosa" in cell or "Concejala" in cell for cell in cells)


async def test_the_congress_session_sends_no_reminder(bot: Harness) -> None:
    """FLACMA's 90 minutes inside the congress: no digest, no reminder, one rating prompt."""
    workshop = await bot.import_workshop(PUNTA_CANA)
    kinds = {row.kind for row in await bot.services.store.schedule_of(workshop.id)}
    assert "session" not in kinds and "digest" not in kinds
    rosa = await join_rosa(bot, workshop.join_code)
    joined = len(rosa.messages)
    # Punta Cana is UTC-4: from the eve to the end of the session, 12:00 local.
    await bot.at(datetime(2024, 10, 31, 22, 30, tzinfo=UTC))
    await bot.at(datetime(2024, 11, 1, 14, 15, tzinfo=UTC))
    await bot.at(datetime(2024, 11, 1, 16, 0, tzinfo=UTC))
    later = [m.text or "" for m in rosa.messages[joined:]]
    assert not any("Empieza en" in t or "Mañana" in t for t in later), later
    assert sum("¿Cómo calificaría" in t for t in later) == 1, later
