"""The profile after the upgrade to 0.5: people halfway through it are not stranded.

Before 0.5 the profile's answers went straight to the participant's record, with one dialog
state per question. Someone halfway through when the new release starts has some fields
filled, no profile response, and a retired dialog state.
"""

from __future__ import annotations

import sqlite3

from storage import DialogState
from tests.e2e.harness import Harness


async def _halfway(bot: Harness) -> tuple[int, int]:
    """Join Ana through the store as 0.4 left her: name and institution given, then stopped."""
    workshop = await bot.import_workshop()
    store, now = bot.services.store, bot.clock.now()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    await store.set_user_language(ana.id, "es", now)
    participant, _ = await store.join(
        workshop_id=workshop.id, telegram_id=ana.id, language="es", now=now
    )
    await store.update_profile(participant.id, field="name", value="Ana Secreta")
    await store.update_profile(
        participant.id, field="institution", value="Gobierno Autónomo Municipal de Sacaba"
    )
    await store.set_dialog(
        ana.id, DialogState.PROFILE_POSITION, {"participant_id": participant.id}, now
    )
    return ana.id, participant.id


async def test_typing_in_a_retired_state_resumes_the_profile(bot: Harness) -> None:
    ana_id, participant_id = await _halfway(bot)
    ana = bot.double.user(ana_id)
    reply = await bot.send(ana, "Jefa de Sistemas")
    # The typed words were meant for a question of the old release: the profile resumes at
    # the first question the record does not answer, so nothing given before is asked again.
    assert "Paso 3 de 4" in (reply.text or "") and "cargo" in (reply.text or "")
    await bot.send(ana, "Jefa   de\nSistemas")
    await bot.tap(ana, "Bolivia")
    assert "Su inscripción en" in (ana.last.text or "")
    participant = await bot.services.store.participant_by_id(participant_id)
    assert participant is not None and participant.profile_done
    assert participant.name == "Ana Secreta" and participant.position == "Jefa de Sistemas"


async def test_forget_removes_the_answers_taken_from_the_old_record(bot: Harness) -> None:
    ana_id, _ = await _halfway(bot)
    ana = bot.double.user(ana_id)
    await bot.send(ana, "/dgca")  # resumes the profile first
    await bot.send(ana, "Jefa de Sistemas")
    await bot.tap(ana, "Bolivia")
    await bot.send(ana, "/forget")
    await bot.tap(ana, "Sí, borrar")
    # Read the file itself: the answers must be gone, not only unlinked from Ana.
    path = bot.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        values = [row[0] for row in db.execute("SELECT value_json FROM answers")]
    assert not any("Secreta" in v or "Jefa" in v or "Sacaba" in v for v in values), values
