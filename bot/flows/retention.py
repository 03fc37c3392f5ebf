"""The retention job: personal data of workshops closed long enough ago is removed."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.flows.common import workshop_file
from bot.flows.schedule import add_months
from bot.services import Services

log = logging.getLogger(__name__)


async def retention_tick(svc: Services, now: datetime) -> int:
    """Anonymize the participants of every workshop past its retention period."""
    if not svc.retention:
        return 0
    purged = 0
    for workshop in await svc.store.workshops_to_purge(now.date()):
        spec = workshop_file(workshop)
        ends = add_months(spec.end_date, spec.retention_months)
        if now.astimezone(spec.zone).date() <= ends:
            continue
        count = await svc.store.purge_workshop(workshop.id, now)
        purged += count
        log.info(
            "retention: removed personal data of %d participants of workshop %s (ended %s)",
            count,
            workshop.slug,
            spec.end_date.isoformat(),
        )
    return purged
