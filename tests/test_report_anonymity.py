"""No report or export lets a group smaller than `report_min_group` be picked out."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections import Counter
from functools import partial
from typing import Any

from openpyxl import load_workbook

from benchmarks.simulate import simulate_workshop
from bot.flows.common import workshop_file, workshop_recipients
from bot.flows.events import Event, Send, SendDocument, SendPhoto
from bot.flows.exports import export_events
from bot.flows.reports import dgca_report, evaluation_report
from bot.services import Services


def _strings(value: Any, seen: set[int] | None = None) -> list[str]:
    """Every string a chart is drawn from: what a picture could show."""
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, str):
        return [value]
    if isinstance(value, partial):
        return _strings([value.func, *value.args, *value.keywords.values()], seen)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _strings([getattr(value, f.name) for f in dataclasses.fields(value)], seen)
    if isinstance(value, dict):
        return _strings([*value.keys(), *value.values()], seen)
    if isinstance(value, list | tuple | set | frozenset):
        return [s for item in value for s in _strings(item, seen)]
    return []


def _document_text(data: bytes) -> str:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data.decode("utf-8-sig")
    book = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    )


def _everything(events: list[Event]) -> list[str]:
    out: list[str] = []
    for event in events:
        if isinstance(event, Send):
            out.append(event.text)
        elif isinstance(event, SendPhoto):
            out += [event.caption, *_strings(event.render)]
        elif isinstance(event, SendDocument):
            out += [event.caption, _document_text(event.build())]
    return out


async def test_no_report_or_export_shows_an_institution_too_small_to_hide_anyone(
    svc: Services,
) -> None:
    workshop = await simulate_workshop(svc, participants=40, seed=7)
    spec = workshop_file(workshop)
    joined = await workshop_recipients(svc, workshop)
    sizes = Counter(r.institution for r in joined if r.institution)
    small = sorted(name for name, n in sizes.items() if n < spec.report_min_group)
    large = sorted(name for name, n in sizes.items() if n >= spec.report_min_group)
    # The simulation spreads 40 people unevenly: some institutions have one or two.
    assert small and large
    events = [
        *await dgca_report(svc, workshop, "es"),
        *await evaluation_report(svc, workshop, "es"),
        *await export_events(svc, workshop, "es", "xlsx"),
        *await export_events(svc, workshop, "es", "csv"),
    ]
    texts = _everything(events)
    assert any(photo for photo in events if isinstance(photo, SendPhoto))
    assert any(name in text for text in texts for name in large)
    for name in small:
        assert not [t[:80] for t in texts if name in t], name
    # Asked for one small institution's own DGCA report, the bot says there are too few.
    for name in small:
        refused = await dgca_report(svc, workshop, "es", institution=name)
        assert len(refused) == 1 and isinstance(refused[0], Send)
        assert "todavía no hay suficientes respuestas" in refused[0].text
