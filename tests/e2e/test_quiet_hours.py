"""Quiet hours: nothing the bot sends on its own reaches anyone at night.

The clock walks through a whole workshop (the DGCA window, the two days, the evaluation) and
six months of follow-up, ticking the reminder runner hourly around the workshop and three
times a day afterwards (02:00, 10:00 and 22:00 in La Paz). Nobody types during the walk, so
every message the bot sends is one it chose to send, and none may fall in the quiet hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.apidouble import SimUser
from bot.content import ContentError, load_workshop_file
from bot.flows import checkins
from bot.flows.common import workshop_file
from tests.e2e.harness import COCHABAMBA, Harness
from tests.e2e.test_organizer import setup as organizer_and_three
from tests.e2e.test_reminders import finish_dgca, la_paz, moved_session_file, two_participants


@pytest.mark.parametrize("ana_zone", [None, "Asia/Tokyo"])
async def test_no_automatic_message_in_quiet_hours(bot: Harness, ana_zone: str | None) -> None:
    ana, bob, workshop_id = await two_participants(bot)
    await finish_dgca(bot, ana)
    store, now = bot.services.store, bot.clock.now()
    if ana_zone is not None:
        # Ana follows from Tokyo (UTC+9, she chose it in /agenda): the check-ins and nudges
        # of her plan come at 10:00 in La Paz, 23:00 where she is.
        await store.set_user_timezone(ana.id, ana_zone, now)
    # Reports go to the organizers' group; a plan gets check-ins months later.
    group = bot.double.new_group(title="Organizadores")
    await store.set_organizer_chat(workshop_id, group.id)
    participant = await store.participant(workshop_id, ana.id)
    assert participant is not None
    plan_id = await store.create_plan(workshop_id, participant.id, "Ventanilla única", now)
    await store.add_step(plan_id, "Diagnóstico de trámites", now)
    workshop = await store.workshop(workshop_id)
    assert workshop is not None
    spec = workshop_file(workshop)

    chats = [ana.id, bob.id, group.id]
    seen = {chat: len(bot.double.chat_messages(chat)) for chat in chats}
    sent: list[tuple[datetime, int, str]] = []

    async def tick_at(moment: datetime) -> None:
        await bot.at(moment)
        for chat in chats:
            messages = bot.double.chat_messages(chat)
            for message in messages[seen[chat] :]:
                sent.append((moment, chat, (message.text or message.caption or "")[:60]))
            seen[chat] = len(messages)

    moment = la_paz(19, 13)
    while moment < la_paz(19, 13) + timedelta(days=22):
        await tick_at(moment)
        moment += timedelta(hours=1)
    day = moment.astimezone(spec.zone).date()
    for _ in range(200):
        day += timedelta(days=1)
        for hour in (2, 10, 22):
            await tick_at(datetime.combine(day, datetime.min.time(), spec.zone).replace(hour=hour))

    def night_for(chat: int, moment: datetime) -> bool:
        own = ZoneInfo(ana_zone) if ana_zone is not None and chat == ana.id else None
        return spec.is_quiet(moment, own)

    at_night = [item for item in sent if night_for(item[1], item[0])]
    assert at_night == []
    # Held, not dropped: her plan's check-ins reach her in her own day.
    assert sum(
        "¿Cómo va" in text or "Ventanilla" in text for _, chat, text in sent if chat == ana.id
    )
    # The walk did send things: nudges, digests, reminders, reports and the check-ins.
    kinds = {text.split()[0] for _, _, text in sent if text}
    assert len(sent) >= 20, sent
    assert any(chat == group.id for _, chat, _ in sent), "no report reached the group"
    assert len(kinds) > 3


def test_a_digest_time_in_the_quiet_hours_is_refused(tmp_path) -> None:
    text = COCHABAMBA.read_text(encoding="utf-8")
    path = tmp_path / "early-night.yaml"
    # The example sends tomorrow's agenda at 18:00: inside quiet hours from 17:00.
    path.write_text(text + "\nquiet_hours: {start: '17:00', end: '07:00'}\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_workshop_file(path)
    assert "agenda_digest_time" in str(caught.value)
    assert "18:00 is in the quiet hours (17:00-07:00)" in str(caught.value)


def test_quiet_hours_move_a_moment_to_the_next_morning() -> None:
    spec = load_workshop_file(COCHABAMBA)
    assert spec.daytime(la_paz(24, 23)) == la_paz(25, 8)
    assert spec.daytime(la_paz(25, 3)) == la_paz(25, 8)
    assert spec.daytime(la_paz(25, 8)) == la_paz(25, 8)
    assert spec.daytime(la_paz(25, 20, 59)) == la_paz(25, 20, 59)
    assert spec.is_quiet(la_paz(25, 21)) and not spec.is_quiet(la_paz(25, 20, 59))


def test_the_night_ends_at_the_morning_of_the_zone_a_person_chose() -> None:
    spec = load_workshop_file(COCHABAMBA)
    # 17:00 in La Paz: day there, 22:00 in Madrid, 06:00 the next day in Tokyo.
    assert spec.night_end(la_paz(20, 17)) is None
    assert spec.night_end(la_paz(20, 17), "America/La_Paz") is None
    assert spec.night_end(la_paz(20, 17), "Europe/Madrid") == la_paz(21, 3)
    assert spec.night_end(la_paz(20, 17), "Asia/Tokyo") == la_paz(20, 19)
    # At night in La Paz, for someone who chose no zone (or one unknown here): La Paz's morning.
    assert spec.night_end(la_paz(20, 23)) == la_paz(21, 8)
    assert spec.night_end(la_paz(20, 23), "Mars/Olympus_Mons") == la_paz(21, 8)


def test_an_unquoted_time_is_refused_in_plain_words(tmp_path) -> None:
    text = COCHABAMBA.read_text(encoding="utf-8")
    path = tmp_path / "unquoted.yaml"
    # YAML reads an unquoted 21:00 as the number 1260 (minutes): refused, not misread.
    path.write_text(text + "\nquiet_hours: {start: 21:00, end: '08:00'}\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_workshop_file(path)
    assert "quiet_hours.start" in str(caught.value) and "quotes" in str(caught.value)


def test_follow_up_honours_a_workshops_own_quiet_hours(tmp_path) -> None:
    text = COCHABAMBA.read_text(encoding="utf-8")
    path = tmp_path / "early.yaml"
    path.write_text(text + "\nquiet_hours: {start: '19:00', end: '07:00'}\n", encoding="utf-8")
    spec = load_workshop_file(path)
    # Check-ins and digests go between send_time and 20:00, but never in the quiet hours.
    assert checkins.daytime(spec, la_paz(30, 18, 59))
    assert not checkins.daytime(spec, la_paz(30, 19, 30))


async def test_a_broadcast_waits_for_the_morning_where_each_person_is(bot: Harness) -> None:
    org, (ana, bob, cris), _ = await organizer_and_three(bot)
    # Bob follows from Madrid: 17:00 in La Paz is 22:00 there.
    agenda = await bot.send(bob, "/agenda")
    await bot.tap(bob, "🌍 Mi zona horaria", message=agenda)
    await bot.tap(bob, "Madrid")
    await bot.at(la_paz(20, 17))
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Mañana la sala cambia al piso 3")
    # The preview says so before anything is sent: the organizer may schedule it instead.
    assert "Se enviará a 3 personas" in (org.last.text or "")
    assert "Ahora es de noche para 1 persona: si lo envía ya, le llegará cuando amanezca" in (
        org.last.text or ""
    )
    await bot.tap(org, "📤 Enviar ahora")
    bar = org.last
    await bot.flush()

    def got(user: SimUser) -> int:
        return sum("piso 3" in (m.text or "") for m in user.messages)

    def bar_text() -> str:
        return bot.double.message(bar.chat_id, bar.message_id).text or ""

    await bot.double.wait_for(lambda: got(ana) == got(cris) == 1, timeout=5)
    # The progress message says where it stands until the morning: two sent, one waiting.
    await bot.double.wait_for(
        lambda: "2 / 3\n🌙 1 persona recibirá el mensaje cuando amanezca donde está." in bar_text(),
        5,
    )
    assert got(bob) == 0
    # 07:59 in Madrid: still night there.
    await bot.at(la_paz(21, 2, 59))
    await bot.flush()
    assert got(bob) == 0
    # 08:00 in Madrid (03:00 in La Paz): his copy goes, and the organizer gets the report.
    await bot.at(la_paz(21, 3))
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert got(bob) == 1 and "Entregados: 3" in (org.last.text or "")
    # 03:00 is night for the organizer in La Paz: the report arrives without a sound.
    report = next(
        r
        for r in bot.double.requests_for("sendMessage")
        if "Difusión terminada" in str(r.params.get("text"))
    )
    assert report.params.get("disable_notification") is True


async def test_a_broadcast_whose_waiting_copy_is_erased_still_ends(bot: Harness) -> None:
    org, (ana, bob, cris), _ = await organizer_and_three(bot)
    await bot.services.store.set_user_timezone(bob.id, "Europe/Madrid", bot.clock.now())
    await bot.at(la_paz(20, 17))
    await bot.send(org, "/broadcast")
    await bot.tap(org, "Todo el taller (3)")
    await bot.send(org, "Aviso para todos")
    await bot.tap(org, "📤 Enviar ahora")
    await bot.flush()
    await bot.double.wait_for(
        lambda: all(any("Aviso para" in (m.text or "") for m in u.messages) for u in (ana, cris))
    )
    # Bob leaves that evening: his waiting copy goes with his data, and nothing else would
    # ever finish the broadcast. The next check does, with the report.
    await bot.send(bob, "/forget")
    await bot.tap(bob, "Sí, borrar")
    await bot.at(la_paz(20, 17, 1))
    await bot.flush()
    await bot.double.wait_for(lambda: "Difusión terminada" in (org.last.text or ""), timeout=5)
    assert "Entregados: 2" in (org.last.text or "")
    assert not any("Aviso para" in (m.text or "") for m in bob.messages)


async def test_a_session_moved_at_night_is_told_in_the_morning(bot: Harness, tmp_path) -> None:
    ana, _, _ = await two_participants(bot)
    moved = moved_session_file(tmp_path)
    # An organizer imports the change at 23:00: the session is tomorrow afternoon.
    await bot.at(la_paz(27, 23))
    await bot.import_workshop(moved)
    await bot.flush()
    assert not any("Cambio en la agenda" in (m.text or "") for m in ana.messages)
    await bot.at(la_paz(28, 8))
    await bot.flush()
    await bot.double.wait_for(
        lambda: any("Cambio en la agenda" in (m.text or "") for m in ana.messages)
    )
