"""Automatic reminders on a controllable clock: when, to whom, once, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.apidouble import SimUser
from tests.e2e.harness import COCHABAMBA, Harness, progress
from tests.e2e.test_journey import join_es
from tests.support import FakeClock

LA_PAZ = timedelta(hours=-4)


def la_paz(day: int, hour: int, minute: int = 0) -> datetime:
    """Return a wall-clock time in La Paz (UTC-4, no DST) as UTC."""
    return datetime(2023, 11, day, hour, minute, tzinfo=UTC) - LA_PAZ


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(la_paz(19, 12))


async def two_participants(bot: Harness) -> tuple[SimUser, SimUser, int]:
    workshop = await bot.import_workshop()
    ana = bot.double.new_user(first_name="Ana", last_name="Quispe", language_code="es")
    bob = bot.double.new_user(first_name="Bob", last_name="Mamani", language_code="es")
    await join_es(bot, ana, workshop.join_code)
    await join_es(bot, bob, workshop.join_code)
    return ana, bob, workshop.id


def texts(user: SimUser) -> list[str]:
    return [m.text or m.caption or "" for m in user.messages]


async def finish_dgca(bot: Harness, user: SimUser) -> None:
    await bot.send(user, "/dgca")
    for _ in range(36):
        await bot.tap(user, "De acuerdo")
    await bot.tap(user, "📤 Enviar respuestas")
    await bot.tap(user, "Enviar")


async def test_dgca_invitation_and_nudges_only_to_those_not_done(bot: Harness) -> None:
    ana, bob, _ = await two_participants(bot)
    await finish_dgca(bot, ana)
    before_ana = len(ana.messages)
    assert await bot.at(la_paz(20, 8, 59)) == 0
    assert await bot.at(la_paz(20, 9)) == 1
    assert any("Ya puede hacer la autoevaluación" in t for t in texts(bob))
    assert len(ana.messages) == before_ana
    # The invitation's button leads straight into the questionnaire.
    await bot.tap(bob, "📝 Empezar la autoevaluación")
    assert progress(bob.last)[1] == 1
    await bot.tap(bob, "De acuerdo")
    await bot.tap(bob, "De acuerdo")

    # Three days before the 23:00 close is at night: the nudge waits for the morning.
    await bot.at(la_paz(24, 23))
    await bot.at(la_paz(25, 7, 59))
    assert not any("Quedan 3 días" in t for t in texts(bob))
    await bot.at(la_paz(25, 8))
    nudge = next(m for m in bob.messages if "Quedan 3 días" in (m.text or ""))
    assert len(ana.messages) == before_ana
    # The nudge takes Bob to his first unanswered statement.
    await bot.tap(bob, "📝 Continuar la autoevaluación", message=nudge)
    assert progress(bob.last)[1] == 3
    assert await bot.tick() == 0  # nothing is sent twice
    assert sum("Quedan 3 días" in t for t in texts(bob)) == 1
    await bot.at(la_paz(26, 23))
    assert not any("Queda un día para" in t for t in texts(bob))
    # The last nudge comes the morning of the closing day.
    await bot.at(la_paz(27, 8))
    assert sum("Queda un día para" in t for t in texts(bob)) == 1


async def test_muted_participants_get_no_reminders(bot: Harness) -> None:
    ana, bob, _ = await two_participants(bot)
    reply = await bot.send(ana, "/reminders off")
    assert "no le enviaré recordatorios" in (reply.text or "")
    await bot.at(la_paz(20, 9))
    assert not any("Ya puede hacer" in t for t in texts(ana))
    assert any("Ya puede hacer" in t for t in texts(bob))
    await bot.send(ana, "/reminders")
    await bot.tap(ana, "🔔 Activar")
    assert "activados de nuevo" in (ana.last.text or "")
    await bot.at(la_paz(25, 8))
    assert any("Quedan 3 días" in t for t in texts(ana))


async def test_agenda_digest_and_session_reminders(bot: Harness) -> None:
    ana, _, _ = await two_participants(bot)
    await bot.at(la_paz(27, 17, 59))
    assert not any("Mañana" in t for t in texts(ana))
    await bot.at(la_paz(27, 18))
    digest = next(t for t in texts(ana) if "Mañana" in t)
    assert "martes 28 nov" in digest
    assert digest.index("08:30–09:00") < digest.index("15:45–17:00")
    assert "29 nov" not in digest.split("\n", 1)[1]
    await bot.at(la_paz(28, 8, 15))
    reminder = ana.last.text or ""
    # The morning's three sessions in the main hall share one reminder, with the link.
    assert "Empieza en 15 minutos" in reminder and "Registro y palabras de bienvenida" in reminder
    assert "Los ODS y el papel" in reminder and "Innovación y gobierno digital" in reminder
    assert reminder.count("Salón principal") == 1 and "meet.example.org" in reminder
    assert await bot.tick() == 0
    # The afternoon's block gets its own reminder; the link was already sent today.
    await bot.at(la_paz(28, 13, 45))
    afternoon = ana.last.text or ""
    assert "Resultados de la autoevaluación DGCA" in afternoon and "Casos de servicios" in afternoon
    assert "meet.example.org" not in afternoon
    day = [t for t in texts(ana) if "Empieza en 15 minutos" in t]
    assert len(day) == 2


async def test_missed_reminders_are_sent_once_if_useful_else_skipped(bot: Harness) -> None:
    ana, _, workshop_id = await two_participants(bot)
    # The bot was "down" from before 08:15 until 08:20: the 08:30 session has not started.
    await bot.at(la_paz(28, 8, 20))
    welcome = [t for t in texts(ana) if "Registro y palabras" in t and "15 minutos" in t]
    assert len(welcome) == 1
    # Down again from before 13:45 past 14:00: the afternoon's reminder is useless now.
    await bot.at(la_paz(28, 14, 5))
    assert not any("Resultados de la autoevaluación" in t and "15 minutos" in t for t in texts(ana))
    statuses = {r.key: r.status for r in await bot.services.store.schedule_of(workshop_id)}
    assert statuses["session:welcome"] == "done"
    assert statuses["session:dgca_results"] == "skipped"
    assert statuses["digest:2023-11-28"] == "skipped"  # missed and past: not sent late


async def test_reminders_survive_a_restart(bot: Harness) -> None:
    ana, _, _ = await two_participants(bot)
    bot.clock.current = la_paz(28, 8, 16)  # the bot is down while the 08:15 reminder falls due
    await bot.restart()
    # Startup arms one job at the soonest future occasion and catches up once.
    assert bot.app.job_queue is not None
    jobs = bot.app.job_queue.get_jobs_by_name("due:next")
    future = [r for r in await bot.services.store.pending_schedule() if r.due_at > bot.clock.now()]
    assert future and len(jobs) == 1
    assert jobs[0].next_t == min(r.due_at for r in future)
    await bot.flush()
    assert sum("Registro y palabras" in t for t in texts(ana)) == 1
    await bot.restart()
    await bot.flush()
    assert await bot.tick() == 0
    assert sum("Registro y palabras" in t for t in texts(ana)) == 1


def moved_session_file(tmp_path: Path) -> Path:
    """Write the example with its 28 November 14:00–15:30 session moved to 14:30–15:40."""
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        COCHABAMBA.read_text("utf-8").replace(
            "start: 2023-11-28T14:00\n    end: 2023-11-28T15:30",
            "start: 2023-11-28T14:30\n    end: 2023-11-28T15:40",
        ),
        "utf-8",
    )
    return moved


async def test_agenda_change_reschedules_and_tells_participants(
    bot: Harness, tmp_path: Path
) -> None:
    ana, _, workshop_id = await two_participants(bot)
    before = {r.key: r for r in await bot.services.store.schedule_of(workshop_id)}
    moved = moved_session_file(tmp_path)
    await bot.import_workshop(moved)
    await bot.flush()
    after = {r.key: r for r in await bot.services.store.schedule_of(workshop_id)}
    changed = [k for k in after if after[k].due_at != before[k].due_at]
    assert sorted(changed) == ["session:dgca_results"]
    assert after["session:welcome"].id == before["session:welcome"].id
    notice = next(t for t in texts(ana) if "Cambio en la agenda" in t)
    assert "14:30–15:40" in notice and "antes: martes 28 nov, 14:00–15:30" in notice
    await bot.at(la_paz(28, 13, 45))
    assert not any("Resultados de la" in t and "15 minutos" in t for t in texts(ana))
    await bot.at(la_paz(28, 14, 15))
    assert sum("Resultados de la" in t and "15 minutos" in t for t in texts(ana)) == 1
    # Importing the same file again changes nothing and tells nobody.
    count = len(ana.messages)
    await bot.import_workshop(moved)
    await bot.flush()
    assert len(ana.messages) == count


async def test_agenda_next_and_own_time_zone(bot: Harness) -> None:
    ana, _, _ = await two_participants(bot)
    bot.clock.current = la_paz(28, 9, 30)
    agenda = await bot.send(ana, "/agenda")
    assert "Hora de La Paz" in (agenda.text or "")
    assert "martes 28 nov" in (agenda.text or "") and "miércoles 29 nov" in (agenda.text or "")
    now = await bot.send(ana, "/next")
    assert "En curso ahora" in (now.text or "") and "Los ODS" in (now.text or "")
    await bot.tap(ana, "🌍 Mi zona horaria", message=agenda)
    await bot.tap(ana, "Madrid")
    shown = ana.last.text or ""
    assert "(13:30–14:00 en Madrid)" in shown  # 08:30 La Paz is 13:30 in Madrid
    bot.clock.current = la_paz(30, 9)
    over = await bot.send(ana, "/agenda")
    assert "ya terminaron" in (over.text or "")


async def test_occasions_due_together_are_one_message(bot: Harness) -> None:
    ana, bob, _ = await two_participants(bot)
    # After the last session (15:30) the day's ratings and the evaluation fall due together.
    await bot.at(la_paz(29, 15, 29))
    before = len(ana.messages)
    await bot.at(la_paz(29, 15, 30))
    await bot.flush()
    assert len(ana.messages) == before + 1
    merged = ana.last.text or ""
    assert "califique las 3 sesiones de hoy" in merged
    assert "la evaluación toma unos 5 minutos" in merged
    labels = " ".join(ana.buttons())
    assert "5" in labels and "Hacer la evaluación" in labels
    assert len(bob.messages) > 0 and bob.last.text == merged
    # Rating the sessions edits that message; the evaluation's button stays under it.
    for _ in range(3):
        await bot.tap(ana, "4")
    assert "Hacer la evaluación" in " ".join(ana.buttons())
    await bot.tap(ana, "📝 Hacer la evaluación")
    assert len(ana.messages) > before + 1
    before = len(ana.messages)
    # Nothing is sent twice afterwards, across a restart either.
    await bot.restart()
    await bot.at(la_paz(29, 16, 0))
    await bot.flush()
    assert len(ana.messages) == before


async def test_a_hybrid_session_reminds_each_person_of_what_they_need(bot: Harness) -> None:
    ana, bob, _ = await two_participants(bot)
    carla = bot.double.new_user(first_name="Carla", last_name="Rojas", language_code="es")
    workshop = await bot.services.store.workshop_by_slug("cochabamba-2023")
    assert workshop is not None
    await join_es(bot, carla, workshop.join_code)
    # After the profile, a hybrid workshop asks once how the person attends.
    asked = next(m for m in ana.messages if "¿Cómo participará usted?" in (m.text or ""))
    assert ana.buttons(asked) == ["🏢 En persona", "💻 En línea"]
    await bot.tap(ana, "💻 En línea", message=asked)
    assert "Participará en línea" in (asked.text or "")
    bob_asked = next(m for m in bob.messages if "¿Cómo participará usted?" in (m.text or ""))
    await bot.tap(bob, "🏢 En persona", message=bob_asked)
    # Carla says nothing. Each can change it from /reminders.
    settings = await bot.send(carla, "/reminders")
    assert "¿Participa en persona o en línea?" in (settings.text or "")
    await bot.at(la_paz(28, 8, 15))
    online, in_person, unsaid = ana.last.text or "", bob.last.text or "", carla.last.text or ""
    assert "Empieza en 15 minutos" in online and "Empieza en 15 minutos" in in_person
    # Online: the link, not the room. In person: the room, not the link. Not said: both.
    assert "meet.example.org" in online and "Salón principal" not in online
    assert "Salón principal" in in_person and "meet.example.org" not in in_person
    assert "Salón principal" in unsaid and "meet.example.org" in unsaid
    # The organizers see who comes in person and who online.
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await bot.services.store.add_organizer(workshop.id, olga.id, bot.clock.now())
    report = await bot.send(olga, "/report")
    await bot.tap(olga, "👥 Participación", message=report)
    assert "🏢 En persona: 1 · 💻 En línea: 1 · sin indicar: 1" in (olga.last.text or "")
    # Bob changes his mind in /reminders: the settings stay on screen, the choice ticked.
    settings = await bot.send(bob, "/reminders")
    await bot.tap(bob, "💻 En línea", message=settings)
    redrawn = bot.double.message(settings.chat_id, settings.message_id)
    assert "Participa en línea" in (redrawn.text or "")
    assert "✓ 💻 En línea" in bob.buttons(redrawn) and len(bob.buttons(redrawn)) == 4


async def test_someone_in_another_time_zone_gets_the_days_prompt_in_their_morning(
    bot: Harness,
) -> None:
    ana, bob, _ = await two_participants(bot)
    # Bob follows the workshop from Tokyo (UTC+9): he chose his time zone in /agenda.
    await bot.services.store.set_user_timezone(bob.id, "Asia/Tokyo", bot.clock.now())
    ana_before, bob_before = len(ana.messages), len(bob.messages)
    # 17:00 in La Paz, 06:00 in Tokyo: the day's ratings reach Ana, not Bob in his night.
    await bot.at(la_paz(28, 17, 0))
    assert any("¿Cómo calificaría" in t for t in texts(ana)[ana_before:])
    assert not any("¿Cómo calificaría" in t for t in texts(bob)[bob_before:])
    await bot.at(datetime(2023, 11, 28, 22, 59, tzinfo=UTC))  # 07:59 in Tokyo
    assert not any("¿Cómo calificaría" in t for t in texts(bob)[bob_before:])
    await bot.at(datetime(2023, 11, 28, 23, 0, tzinfo=UTC))  # 08:00 in Tokyo
    assert sum("¿Cómo calificaría" in t for t in texts(bob)[bob_before:]) == 1
    # A session reminder is never held: 08:45 in La Paz is 21:45 in Tokyo, and the session
    # is about to start.
    await bot.at(la_paz(29, 8, 45))
    assert "Empieza en 15 minutos" in (bob.last.text or "")


async def test_a_held_rating_does_not_hold_the_session_reminder_due_with_it(
    bot: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "cochabamba-2023.yaml"
    path.write_text(
        COCHABAMBA.read_text("utf-8").replace("ratings: end_of_day", "ratings: each"), "utf-8"
    )
    await bot.at(la_paz(29, 10, 20))
    workshop = await bot.import_workshop(path)
    bob = bot.double.new_user(first_name="Bob", last_name="Mamani", language_code="es")
    await join_es(bot, bob, workshop.join_code)
    await bot.services.store.set_user_timezone(bob.id, "Asia/Tokyo", bot.clock.now())
    await bot.at(la_paz(29, 10, 29))
    before = len(bob.messages)
    # 10:30 in La Paz, 23:30 in Tokyo: a rating (held) and a reminder (never held) fall due.
    await bot.at(la_paz(29, 10, 30))
    assert any("Empieza en 15 minutos" in t for t in texts(bob)[before:])
    assert not any("¿Cómo calificaría" in t for t in texts(bob)[before:])
