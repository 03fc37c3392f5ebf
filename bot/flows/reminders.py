"""Automatic messages: who gets each reminder, in their language, and what it says."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from bot.content import WorkshopFile
from bot.flows.agenda import agenda_text, day_title, session_lines
from bot.flows.callbacks import OpenDgca, PlanNew
from bot.flows.common import workshop_file, workshop_recipients
from bot.flows.evaluation import evaluation_button, rating_buttons
from bot.flows.events import Button, Keyboard
from bot.i18n import Translator
from bot.services import Services
from storage import OutMessage, Recipient, ScheduledRow, Workshop

DGCA_KINDS = ("dgca_open", "dgca_nudge")
EVALUATION_KINDS = ("evaluation_open", "evaluation_nudge")
# Occasions due for one person within this long of each other go out as one message: the
# day's ratings and the evaluation after the last session, say, are one notification.
MERGE_WINDOW = timedelta(minutes=5)
MERGEABLE = frozenset(
    {"session", "feedback", "feedback_day", "plan_invite", "digest", *DGCA_KINDS, *EVALUATION_KINDS}
)
# A session reminder says "in 15 minutes": it goes on time, and others join it, not it them.
PUNCTUAL = frozenset({"session"})
# Telegram takes 4,096 characters: texts that would not fit together go one by one.
MERGED_MAX = 4_000


def waits_to_merge(row: ScheduledRow, pending: list[ScheduledRow], now: datetime) -> bool:
    """Tell whether a due occasion waits a few minutes to go out with the workshop's next one."""
    if row.kind not in MERGEABLE or row.kind in PUNCTUAL:
        return False
    # Measured from its own due time, so a chain of occasions cannot hold one back for long.
    latest = row.due_at + MERGE_WINDOW
    return any(
        other.workshop_id == row.workshop_id
        and other.kind in MERGEABLE
        and now < other.due_at <= latest
        for other in pending
    )


def merge(batches: list[list[OutMessage]]) -> list[OutMessage] | None:
    """Make one message per chat of several occasions' messages, in order; None if they cannot.

    They cannot when the texts together are too long, or when one part is held for the
    person's morning and another is not.
    """
    by_chat: dict[int, list[OutMessage]] = {}
    for batch in batches:
        for message in batch:
            by_chat.setdefault(message.chat_id, []).append(message)
    merged = []
    for chat_messages in by_chat.values():
        if len({m.not_before for m in chat_messages}) > 1:
            # One part is held for the person's morning, another not (a session reminder
            # never is): each goes at its own time.
            return None
        # The part answered with the most buttons (a rating's 1-5) goes last, right above
        # its buttons; notices without buttons first. Otherwise in the order they fell due.
        messages = sorted(chat_messages, key=lambda m: sum(len(row) for row in m.buttons or []))
        if any(m.media_kind for m in messages):
            return None
        text = "\n\n".join(m.text for m in messages)
        if len(text) > MERGED_MAX:
            return None
        rows = [row for m in messages for row in (m.buttons or [])]
        held = [m.not_before for m in messages if m.not_before is not None]
        merged.append(
            OutMessage(
                chat_id=messages[0].chat_id,
                text=text,
                participant_id=messages[0].participant_id,
                buttons=rows or None,
                not_before=max(held) if held else None,
            )
        )
    return merged


def keyboard_json(buttons: Keyboard | None) -> list[list[dict[str, str]]] | None:
    """Turn flow buttons into the plain data the outbox stores."""
    if not buttons:
        return None
    return [
        [
            {"text": b.text, "url": b.url}
            if b.url
            else {"text": b.text, "callback_data": b.data or ""}
            for b in row
        ]
        for row in buttons
    ]


def _audience(kind: str, recipients: list[Recipient]) -> list[Recipient]:
    reachable = [r for r in recipients if not r.unreachable and not r.muted]
    if kind in DGCA_KINDS:
        return [r for r in reachable if not r.dgca_done]
    if kind in EVALUATION_KINDS:
        return [r for r in reachable if not r.evaluation_done]
    return reachable


def _message(
    svc: Services,
    workshop: Workshop,
    spec: WorkshopFile,
    row: ScheduledRow,
    recipient: Recipient,
    zone: str | None,
) -> OutMessage | None:
    lang = svc.i18n.pick(recipient.language, workshop.language)
    tr = svc.i18n(lang)
    title = spec.title.get(lang)
    buttons: Keyboard | None = None
    if row.kind in DGCA_KINDS:
        closes = row.expires_at or row.due_at
        local = closes.astimezone(spec.zone)
        key = "reminder.dgca_open" if row.kind == "dgca_open" else "reminder.dgca_nudge"
        days = row.payload.get("days", 0)
        text = tr.t(
            key, title=title, n=days if isinstance(days, int) else 0, closes=tr.datetime(local)
        )
        label = "button.start_dgca" if row.kind == "dgca_open" else "button.continue_dgca"
        buttons = [[Button(tr.t(label), OpenDgca(workshop.id).pack())]]
    elif row.kind == "digest":
        day = date.fromisoformat(str(row.payload["day"]))
        text = (
            tr.t("reminder.digest", day=day_title(lang, day))
            + "\n\n"
            + agenda_text(tr, spec, lang, zone, [day])
        )
    elif row.kind == "session":
        block = _block_reminder(tr, spec, row, zone, lang, recipient.attendance)
        if block is None:
            return None
        text = block
    elif row.kind in EVALUATION_KINDS:
        closes = (row.expires_at or row.due_at).astimezone(spec.zone)
        key = (
            "reminder.evaluation_open"
            if row.kind == "evaluation_open"
            else ("reminder.evaluation_nudge")
        )
        text = tr.t(key, title=title, closes=tr.datetime(closes))
        buttons = [[evaluation_button(tr, workshop.id, spec)]]
    elif row.kind == "plan_invite":
        text = tr.t("plan.invitation", title=title)
        buttons = [[Button(tr.plain("plan.button_write"), PlanNew(workshop.id).pack())]]
    elif row.kind in ("feedback", "feedback_day"):
        # A day's prompt asks for its first session; each rating brings the next one.
        ids = row.payload.get("sessions") or [row.payload.get("session")]
        session = next((s for s in spec.agenda if s.id in ids), None)
        if session is None:
            return None
        text = tr.t("feedback.ask", title=session.title.get(lang))
        if row.kind == "feedback_day" and len(ids) > 1:
            text = tr.t("feedback.ask_day", n=len(ids)) + "\n\n" + text
        skip = tr.plain("button.skip") if len(ids) > 1 else None
        buttons = rating_buttons(workshop.id, session.id, skip)
    else:
        return None
    return OutMessage(
        chat_id=recipient.telegram_id,
        text=text,
        participant_id=recipient.participant_id,
        buttons=keyboard_json(buttons),
    )


def _block_reminder(
    tr: Translator,
    spec: WorkshopFile,
    row: ScheduledRow,
    zone: str | None,
    lang: str,
    attendance: str | None = None,
) -> str | None:
    """Write the reminder of a block of sessions: each one, then the place and link once.

    At a hybrid session, someone who attends in person gets the place only, someone online
    the link only; someone who has not said gets both.
    """
    # Rows stored by 0.4 name one session, without the link flag.
    ids = row.payload.get("sessions") or [row.payload.get("session")]
    sessions = [s for s in spec.agenda if s.id in ids]
    if not sessions:
        return None
    lines = [tr.t("reminder.session", n=spec.reminders.session_minutes_before)]
    lines += [session_lines(tr, spec, s, zone, lang, place=False, link=False) for s in sessions]
    first = sessions[0]
    hybrid = spec.modality_of(first) == "hybrid"
    if first.place is not None and not (hybrid and attendance == "online"):
        lines.append(tr.t("agenda.place", place=first.place.get(lang)))
    url = spec.link_of(first)
    if url and row.payload.get("link", True) and not (hybrid and attendance == "in_person"):
        lines.append(tr.t("agenda.link", link=str(url)))
    return "\n".join(lines)


async def waits_for_morning(svc: Services, row: ScheduledRow, now: datetime) -> bool:
    """Tell whether a due occasion must wait: it is night where its workshop is held.

    Occasions are planned at daytime hours; this catches those that fall due at night anyway
    (the bot was down, a workshop was imported late). Check-ins keep their own send time.
    """
    if row.kind == "checkin":
        return False
    workshop = await svc.store.workshop(row.workshop_id)
    return workshop is not None and workshop_file(workshop).is_quiet(now)


async def compose(svc: Services, row: ScheduledRow, now: datetime) -> tuple[str, list[OutMessage]]:
    """Decide what a due occasion sends: ('done', messages) or ('skipped', []) if too late."""
    workshop = await svc.store.workshop(row.workshop_id)
    if workshop is None:
        return "skipped", []
    if row.expires_at is not None and now >= row.expires_at:
        # Missed while the bot was down and no longer useful (the session has started).
        return "skipped", []
    spec = workshop_file(workshop)
    named = row.payload.get("event")
    event = spec.event(named)
    if named is not None and event is None:
        return "skipped", []  # the event left the file (a re-import raced with this tick)
    if event is not None:
        # An event's occasion goes to its members, and speaks of the event.
        spec = spec.for_event(event)
    recipients = await workshop_recipients(svc, workshop, spec, dgca=row.kind in DGCA_KINDS)
    messages = []
    for recipient in _audience(row.kind, recipients):
        user = await svc.store.user(recipient.telegram_id)
        own = user.timezone if user else None
        message = _message(svc, workshop, spec, row, recipient, own)
        if message is None:
            continue
        morning = _their_morning(spec, row, own, now)
        if morning is not None and row.expires_at is not None and morning >= row.expires_at:
            continue  # it would no longer help by their morning
        messages.append(dataclasses.replace(message, not_before=morning))
    return "done", messages


def _their_morning(
    spec: WorkshopFile, row: ScheduledRow, own_zone: str | None, now: datetime
) -> datetime | None:
    """Return when the night ends for someone in their own time zone, if it is night there.

    Occasions are planned out of the quiet hours where the workshop is held; someone who
    chose another time zone (/agenda) gets them at their own morning instead. A session
    reminder, asked for and about to start, is never held.
    """
    if own_zone is None or own_zone == spec.timezone or row.kind in PUNCTUAL:
        return None
    return spec.night_end(now, own_zone)
