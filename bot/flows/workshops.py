"""Creating and updating workshops from workshop files (command line or chat)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from bot.content import (
    ContentError,
    WorkshopFile,
    instrument_problems,
    join_code_problem,
    language_problems,
    parse_model,
    parse_model_with_lines,
)
from bot.flows.agenda import session_change_text
from bot.flows.common import workshop_file, workshop_recipients
from bot.flows.schedule import changed_sessions, plan
from bot.services import Services
from storage import OutMessage, SyncResult, Workshop

JOIN_CODE_BYTES = 12  # 96 bits, 16 URL-safe characters: unguessable, fits a deep link


@dataclass(frozen=True)
class ImportResult:
    """A workshop after import: whether it was new, and what its schedule gained or lost."""

    workshop: Workshop
    created: bool
    schedule: SyncResult
    notified: int
    # Every date of the file is behind us: likely last year's file, or a mistyped year.
    all_past: bool = False


def new_join_code() -> str:
    """Return a random join code of 96 bits, safe in a t.me deep link."""
    # One in a few dozen random codes repeats a character or lacks digits: it would be
    # refused if an organizer wrote it into a workshop file to keep the link. Draw again.
    while True:
        code = secrets.token_urlsafe(JOIN_CODE_BYTES)
        if join_code_problem(code) is None:
            return code


def parse_workshop_text(text: str, source: str) -> WorkshopFile:
    """Validate workshop YAML; errors name the line and the field."""
    return parse_model_with_lines(WorkshopFile, text, source)


async def import_workshop(
    svc: Services, spec: WorkshopFile, source: str, now: datetime
) -> ImportResult:
    """Create or update the workshop described by `spec`, keeping its join code."""
    missing = instrument_problems(spec, svc.content.questionnaires)
    missing += language_problems(spec, svc.i18n.languages)
    if missing:
        raise ContentError(source, missing)
    store = svc.store
    existing = await store.workshop_by_slug(spec.id)
    if spec.join_code is not None:
        other = await store.workshop_by_code(spec.join_code)
        if other is not None and other.slug != spec.id:
            raise ContentError(source, ["join_code: already used by another workshop"])
        code = spec.join_code
    elif existing is not None:
        code = existing.join_code
    else:
        code = new_join_code()
    had, codes = await _event_codes(svc, existing, spec, code, source)
    old: WorkshopFile | None = None
    if existing is not None:
        old = parse_model(WorkshopFile, existing.spec, source)
    workshop, created = await store.upsert_workshop(
        slug=spec.id,
        language=spec.language,
        timezone=spec.timezone,
        start_date=spec.start_date,
        end_date=spec.end_date,
        spec=spec.stored(),
        join_code=code,
        now=now,
    )
    association_id = None
    if spec.association is not None:
        association_id = await store.upsert_association(
            spec.association.id, spec.association.name, now
        )
    if association_id != workshop.association_id:
        await store.set_workshop_association(workshop.id, association_id)
        workshop = replace(workshop, association_id=association_id)
    if codes != had:
        await store.set_event_codes(workshop.id, codes)
    schedule, notified = await reschedule(svc, workshop, old, now)
    past = spec.end_date < now.astimezone(spec.zone).date()
    return ImportResult(workshop, created, schedule, notified, all_past=past)


async def _event_codes(
    svc: Services, existing: Workshop | None, spec: WorkshopFile, code: str, source: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the event codes a programme had and will have: the file's, kept, or new ones."""
    store = svc.store
    had = await store.event_codes(existing.id) if existing is not None else {}
    codes: dict[str, str] = {}
    for name, wanted in [("join_code", code), *((e.id, e.join_code) for e in spec.events)]:
        if name != "join_code":
            wanted = wanted or had.get(name) or new_join_code()
            codes[name] = wanted
        assert wanted is not None
        clash = await store.workshop_by_code(wanted)
        other = await store.workshop_by_event_code(wanted)
        if (clash is not None and clash.slug != spec.id) or (
            other is not None and other[0].slug != spec.id
        ):
            where = "join_code" if name == "join_code" else f"events ({name}): join_code"
            raise ContentError(source, [f"{where}: already used by another workshop"])
    # Kept and written codes together: each link must lead to one place only.
    if len(set(codes.values())) != len(codes) or code in codes.values():
        raise ContentError(
            source, ["events: two events, or an event and the programme, have the same join_code"]
        )
    return had, codes


async def reschedule(
    svc: Services, workshop: Workshop, old: WorkshopFile | None, now: datetime
) -> tuple[SyncResult, int]:
    """Bring a workshop's schedule in line with its file; tell people of moved sessions."""
    spec = workshop_file(workshop)
    has_evaluation = spec.evaluation is not None
    items = plan(spec, has_evaluation=has_evaluation, opened_at=workshop.evaluation_opened_at)
    result = await svc.store.sync_schedule(workshop.id, items, now)
    notified = 0
    changes = changed_sessions(old, spec)
    if changes and spec.reminders.notify_agenda_changes:
        everyone = await workshop_recipients(svc, workshop)
        for before, after in changes:
            if spec.local(after.until) <= now:
                continue
            # In a programme, the members of its event concern it (of both, if it moved from
            # one event to another).
            owners = [e for e in (spec.event_of(before), spec.event_of(after)) if e is not None]
            audience = everyone
            if owners:
                ids = {
                    r.participant_id
                    for e in owners
                    for r in await workshop_recipients(svc, workshop, spec.for_event(e))
                }
                audience = [r for r in everyone if r.participant_id in ids]
            messages = []
            # The notice must arrive before the session, at its old time or its new one.
            coming = [t for t in (spec.local(before.start), spec.local(after.start)) if t > now]
            starts = min(coming, default=now)
            for r in (r for r in audience if not r.unreachable):
                lang = svc.i18n.pick(r.language, workshop.language)
                text = session_change_text(svc.i18n(lang), spec, lang, before, after)
                # Held for the person's morning, unless the session starts before it.
                morning = spec.night_end(now, r.timezone)
                messages.append(
                    OutMessage(
                        chat_id=r.telegram_id,
                        text=text,
                        participant_id=r.participant_id,
                        not_before=morning if morning is not None and morning < starts else None,
                    )
                )
            source = f"chg:{workshop.id}:{after.id}:{after.start.isoformat()}"
            notified += await svc.store.enqueue(source, messages, now)
    return result, notified
