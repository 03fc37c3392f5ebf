"""Creating and updating workshops from workshop files (command line or chat)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from bot.content import ContentError, WorkshopFile, parse_model, parse_model_with_lines
from bot.services import Services
from storage import SyncResult, Workshop

JOIN_CODE_BYTES = 12  # 96 bits, 16 URL-safe characters: unguessable, fits a deep link


@dataclass(frozen=True)
class ImportResult:
    """A workshop after import: whether it was new, and what its schedule gained or lost."""

    workshop: Workshop
    created: bool
    schedule: SyncResult
    notified: int


def new_join_code() -> str:
    """Return a random join code of 96 bits, safe in a t.me deep link."""
    return secrets.token_urlsafe(JOIN_CODE_BYTES)


def parse_workshop_text(text: str, source: str) -> WorkshopFile:
    """Validate workshop YAML; errors name the line and the field."""
    return parse_model_with_lines(WorkshopFile, text, source)


async def import_workshop(
    svc: Services, spec: WorkshopFile, source: str, now: datetime
) -> ImportResult:
    """Create or update the workshop described by `spec`, keeping its join code."""
    if spec.dgca not in svc.content.questionnaires:
        raise ContentError(source, [f"dgca: no questionnaire with id {spec.dgca!r}"])
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
    old: WorkshopFile | None = None
    if existing is not None:
        old = parse_model(WorkshopFile, existing.spec, source)
    workshop, created = await store.upsert_workshop(
        slug=spec.id,
        language=spec.language,
        timezone=spec.timezone,
        start_date=spec.start_date,
        end_date=spec.end_date,
        spec=spec.model_dump(mode="json"),
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
    from bot.flows.reminders import reschedule

    schedule, notified = await reschedule(svc, workshop, old, now)
    return ImportResult(workshop, created, schedule, notified)
