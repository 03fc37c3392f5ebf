"""What a workshop sends automatically, and when: planned from its workshop file."""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, datetime, time, timedelta

from bot.content import AgendaSession, WorkshopFile
from storage import ScheduledItem

# The evaluation questionnaire a workshop file uses unless it names another (`evaluation:`).
EVALUATION_ID = "evaluation"
# Asking to rate a session is pointless the next day.
FEEDBACK_USEFUL = timedelta(hours=12)


def session_times(spec: WorkshopFile, session: AgendaSession) -> tuple[datetime, datetime]:
    """Return a session's start and end as aware datetimes."""
    return spec.local(session.start), spec.local(session.until)


def plan(
    spec: WorkshopFile, *, has_evaluation: bool, opened_at: datetime | None = None
) -> list[ScheduledItem]:
    """List every automatic message the workshop file asks for, each at a daytime hour."""
    planned = []
    for item in _occasions(spec, has_evaluation=has_evaluation, opened_at=opened_at):
        due = spec.daytime(item.due_at)
        # A nudge timed from a window closing at 23:00 goes the next morning; one whose
        # morning comes too late (a reminder for a session at 08:00) is not sent at all.
        if item.expires_at is not None and due >= item.expires_at:
            continue
        if due != item.due_at:
            # Kept so that a re-import does not send again what an older release sent at
            # night (storage/schedule_diff.py).
            payload = {**item.payload, "night": item.due_at.isoformat()}
            item = dataclasses.replace(item, payload=payload)
        planned.append(dataclasses.replace(item, due_at=due))
    return planned


def _occasions(
    spec: WorkshopFile, *, has_evaluation: bool, opened_at: datetime | None
) -> list[ScheduledItem]:
    if spec.events:
        return _programme_occasions(spec)
    sessions = sorted(spec.agenda, key=lambda s: s.start)
    items = _dgca_items(spec)
    items += _agenda_items(spec, sessions)
    if has_evaluation:
        items.extend(_evaluation_items(spec, sessions, opened_at))
    items.extend(_follow_up_items(spec, sessions))
    return items


def _programme_occasions(spec: WorkshopFile) -> list[ScheduledItem]:
    """Plan a programme: the DGCA and check-ins once, the rest event by event."""
    items = _dgca_items(spec)
    for event in spec.events:
        view = spec.for_event(event)
        sessions = sorted(view.agenda, key=lambda s: s.start)
        own = _agenda_items(view, sessions)
        if view.evaluation is not None:
            own += _evaluation_items(view, sessions, None)
        # Keys stay unique across events; the payload says whose members receive it.
        items += [
            dataclasses.replace(
                item, key=f"{item.key}@{event.id}", payload={**item.payload, "event": event.id}
            )
            for item in own
        ]
    sessions = sorted(spec.agenda, key=lambda s: s.start)
    for item in _follow_up_items(spec, sessions):
        session = next((s for s in sessions if s.id == item.payload.get("session")), None)
        if session is not None and session.event is not None:
            # The plan invitation belongs to the event that asks for plans.
            item = dataclasses.replace(item, payload={**item.payload, "event": session.event})
        items.append(item)
    return items


def _dgca_items(spec: WorkshopFile) -> list[ScheduledItem]:
    r = spec.reminders
    items: list[ScheduledItem] = []
    if spec.dgca_window is None:
        return items
    opens, closes = spec.local(spec.dgca_window.opens), spec.local(spec.dgca_window.closes)
    if r.dgca_invitation:
        items.append(ScheduledItem("dgca_open", "dgca_open", opens, closes, {}))
    for days in sorted(set(r.dgca_nudge_days_before_close), reverse=True):
        due = closes - timedelta(days=days)
        if due > opens:
            items.append(
                ScheduledItem(f"dgca_nudge:{days}", "dgca_nudge", due, closes, {"days": days})
            )
    items.append(ScheduledItem("report:dgca", "report_dgca", closes, None, {}))
    return items


def _agenda_items(spec: WorkshopFile, sessions: list[AgendaSession]) -> list[ScheduledItem]:
    """Plan the day-before digests, session reminders and rating prompts of an agenda."""
    r = spec.reminders
    items: list[ScheduledItem] = []
    if r.agenda_digest:
        for day in sorted({s.start.date() for s in sessions}):
            due = spec.local(datetime.combine(day - timedelta(days=1), r.agenda_digest_time))
            # "Tomorrow's sessions" stops making sense at midnight.
            midnight = spec.local(datetime.combine(day, time(0, 0)))
            items.append(
                ScheduledItem(
                    f"digest:{day.isoformat()}", "digest", due, midnight, {"day": day.isoformat()}
                )
            )
    if r.session_minutes_before:
        # A session whose time is to be confirmed gets no reminder: there is no time to give.
        items.extend(_session_reminders(spec, [s for s in sessions if not s.time_tbc]))
    if spec.session_feedback:
        items.extend(_rating_prompts(spec, sessions))
    return items


def session_blocks(spec: WorkshopFile, sessions: list[AgendaSession]) -> list[list[AgendaSession]]:
    """Group the sessions that follow each other in the same place and link, day by day."""
    gap = timedelta(minutes=spec.reminders.block_gap_minutes)
    blocks: list[list[AgendaSession]] = []
    for session in sorted(sessions, key=lambda s: s.start):
        last = blocks[-1][-1] if blocks else None
        if (
            last is not None
            and last.start.date() == session.start.date()
            and session.start - last.until <= gap
            and (last.place, spec.link_of(last), spec.modality_of(last))
            == (session.place, spec.link_of(session), spec.modality_of(session))
        ):
            blocks[-1].append(session)
        else:
            blocks.append([session])
    return blocks


def _session_reminders(spec: WorkshopFile, sessions: list[AgendaSession]) -> list[ScheduledItem]:
    """Plan one reminder per block of sessions; the meeting link goes once a day."""
    items = []
    linked_days: set[date] = set()
    for block in session_blocks(spec, sessions):
        first = block[0]
        start, _ = session_times(spec, first)
        due = start - timedelta(minutes=spec.reminders.session_minutes_before)
        day = first.start.date()
        link = spec.link_of(first) is not None and day not in linked_days
        if link:
            linked_days.add(day)
        payload = {"sessions": [s.id for s in block], "link": link}
        items.append(ScheduledItem(f"session:{first.id}", "session", due, start, payload))
    return items


def _rating_prompts(spec: WorkshopFile, sessions: list[AgendaSession]) -> list[ScheduledItem]:
    """Plan the requests to rate sessions: after each one, or once after the day's last."""
    rated = [s for s in sessions if s.rated]
    if spec.reminders.ratings == "each":
        items = []
        for session in rated:
            _, end = session_times(spec, session)
            payload = {"session": session.id}
            items.append(
                ScheduledItem(
                    f"feedback:{session.id}", "feedback", end, end + FEEDBACK_USEFUL, payload
                )
            )
        return items
    days: dict[date, list[AgendaSession]] = {}
    for session in rated:
        days.setdefault(session.start.date(), []).append(session)
    items = []
    for day, of_day in sorted(days.items()):
        # After the day's last session with a time (a rated one has one).
        last_end = max(
            spec.local(s.until) for s in sessions if s.start.date() == day and not s.time_tbc
        )
        asked = {"sessions": [s.id for s in of_day]}
        items.append(
            ScheduledItem(
                f"feedback_day:{day.isoformat()}",
                "feedback_day",
                last_end,
                last_end + FEEDBACK_USEFUL,
                asked,
            )
        )
    return items


def add_months(day: date, months: int) -> date:
    """Return the same day `months` later, or the month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _follow_up_items(spec: WorkshopFile, sessions: list[AgendaSession]) -> list[ScheduledItem]:
    follow = spec.follow_up
    items = []
    if follow.plan_invitation and sessions:
        chosen = next((s for s in sessions if s.id == follow.plan_session), sessions[-1])
        start, end = session_times(spec, chosen)
        if chosen.time_tbc:
            # No time yet: the invitation comes that day at the follow-up's hour.
            start = end = spec.local(datetime.combine(chosen.start.date(), follow.send_time))
        items.append(
            ScheduledItem(
                "plan_invite", "plan_invite", start, end + FEEDBACK_USEFUL, {"session": chosen.id}
            )
        )
    for months in sorted(set(follow.checkin_months)):
        day = add_months(spec.end_date, months)
        due = spec.local(datetime.combine(day, follow.send_time))
        items.append(ScheduledItem(f"checkin:m{months}", "checkin", due, None, {"months": months}))
    return items


def _evaluation_items(
    spec: WorkshopFile, sessions: list[AgendaSession], opened_at: datetime | None
) -> list[ScheduledItem]:
    r = spec.reminders
    window = spec.evaluation_window
    timed = [s for s in sessions if not s.time_tbc]
    if timed:
        opens = max(spec.local(s.until) for s in timed)
    elif window is not None:
        opens = spec.local(window.opens)
    elif opened_at is not None:
        opens = opened_at
    else:
        return []
    if opened_at is not None and opened_at < opens:
        opens = opened_at
    closes = spec.local(window.closes) if window is not None else opens + timedelta(days=7)
    items = []
    if r.evaluation_invitation:
        items.append(ScheduledItem("evaluation_open", "evaluation_open", opens, closes, {}))
    if r.evaluation_nudge_hours_before_close:
        due = closes - timedelta(hours=r.evaluation_nudge_hours_before_close)
        if due > opens:
            items.append(ScheduledItem("evaluation_nudge", "evaluation_nudge", due, closes, {}))
    items.append(ScheduledItem("report:evaluation", "report_evaluation", closes, None, {}))
    return items


def changed_sessions(
    old: WorkshopFile | None, new: WorkshopFile
) -> list[tuple[AgendaSession, AgendaSession]]:
    """Return (before, after) for each session whose time or place changed."""
    if old is None:
        return []
    before = {s.id: s for s in old.agenda}
    out = []
    for session in new.agenda:
        previous = before.get(session.id)
        if previous is None:
            continue
        if (
            previous.start,
            previous.end,
            previous.time_tbc,
            previous.place,
            previous.online_link,
            previous.modality,
        ) != (
            session.start,
            session.end,
            session.time_tbc,
            session.place,
            session.online_link,
            session.modality,
        ):
            out.append((previous, session))
    return out
