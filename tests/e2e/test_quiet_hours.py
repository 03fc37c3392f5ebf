"""Quiet hours: nothing the bot sends on its own reaches anyone at night.

The clock walks through a whole workshop (the DGCA window, the two days, the evaluation) and
six months of follow-up, ticking the reminder runner hourly around the workshop and three
times a day afterwards (02:00, 10:00 and 22:00 in La Paz). Nobody types during the walk, so
every message the bot sends is one it chose to send, and none may fall in the quiet hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.content import ContentError, load_workshop_file
from bot.flows import checkins
from bot.flows.common import workshop_file
from tests.e2e.harness import COCHABAMBA, Harness
from tests.e2e.test_reminders import finish_dgca, la_paz, two_participants


async def test_no_automatic_message_in_quiet_hours(bot: Harness) -> None:
    ana, bob, workshop_id = await two_participants(bot)
    await finish_dgca(bot, ana)
    store, now = bot.services.store, bot.clock.now()
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

    at_night = [item for item in sent if spec.is_quiet(item[0])]
    assert at_night == []
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
