"""Occasions due together: which wait for the next one, and how their messages are joined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.flows.reminders import MERGE_WINDOW, merge, waits_to_merge
from storage import OutMessage, ScheduledRow

NOW = datetime(2023, 11, 29, 19, 30, tzinfo=UTC)


def row(kind: str, due: datetime, workshop: int = 1, ident: int = 1) -> ScheduledRow:
    return ScheduledRow(ident, workshop, f"{kind}:{ident}", kind, due, None, {}, "pending")


def test_an_occasion_waits_for_the_workshops_next_one_minutes_away() -> None:
    ratings = row("feedback_day", NOW)
    evaluation = row("evaluation_open", NOW + timedelta(minutes=3), ident=2)
    assert waits_to_merge(ratings, [ratings, evaluation], NOW)
    # Not for another workshop's, not for one further than the window, not for a check-in.
    elsewhere = row("evaluation_open", NOW + timedelta(minutes=3), workshop=2, ident=3)
    later = row("evaluation_open", NOW + MERGE_WINDOW + timedelta(seconds=1), ident=4)
    checkin = row("checkin", NOW + timedelta(minutes=1), ident=5)
    assert not waits_to_merge(ratings, [ratings, elsewhere, later, checkin], NOW)


def test_a_session_reminder_never_waits_and_nothing_waits_past_the_window() -> None:
    reminder = row("session", NOW)
    ratings = row("feedback_day", NOW + timedelta(minutes=2), ident=2)
    assert not waits_to_merge(reminder, [reminder, ratings], NOW)
    # Held since its own due time: a chain of occasions cannot hold it longer than the window.
    old = row("feedback_day", NOW - MERGE_WINDOW)
    next_one = row("digest", NOW + timedelta(minutes=1), ident=2)
    assert not waits_to_merge(old, [old, next_one], NOW)


def test_each_person_gets_one_message_with_the_question_above_its_buttons() -> None:
    rate = [[{"text": str(n), "callback_data": f"r{n}"} for n in range(1, 6)]]
    open_eval = [[{"text": "📝", "callback_data": "ev"}]]
    batches = [
        [OutMessage(1, "ratings", 11, rate), OutMessage(2, "ratings", 12, rate)],
        [OutMessage(1, "evaluation", 11, open_eval), OutMessage(3, "evaluation", 13, open_eval)],
    ]
    merged = {m.chat_id: m for m in merge(batches) or []}
    assert set(merged) == {1, 2, 3}
    assert merged[1].text == "evaluation\n\nratings"
    assert merged[1].buttons == [*open_eval, *rate]
    assert merged[2].text == "ratings" and merged[3].buttons == open_eval


def test_texts_that_would_not_fit_together_are_not_merged() -> None:
    long = "x" * 3_000
    assert merge([[OutMessage(1, long)], [OutMessage(1, long)]]) is None
    assert merge([[OutMessage(1, "a", media_kind="photo", media_file_id="F")]]) is None


def test_a_part_held_for_the_morning_is_not_merged_with_one_that_is_not() -> None:
    morning = datetime(2023, 11, 30, 23, 0, tzinfo=UTC)
    reminder = [OutMessage(1, "⏰ Empieza en 15 minutos")]
    rating = [OutMessage(1, "⭐ ¿Cómo calificaría…?", not_before=morning)]
    assert merge([reminder, rating]) is None
    # Both held to the same morning: one message, held.
    held = merge([[OutMessage(1, "a", not_before=morning)], rating])
    assert held is not None and held[0].not_before == morning
