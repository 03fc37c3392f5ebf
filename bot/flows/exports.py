"""Exports for organizers: a workbook (or CSV) of every answer, with pseudonymous rows."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from bot.content import PROFILE_FIELDS
from bot.flows.common import workshop_file, workshop_recipients
from bot.flows.events import Event, SendDocument
from bot.i18n import Translator
from bot.lazy import lazy_module
from bot.services import Services
from storage import Workshop

if TYPE_CHECKING:
    from bot import export as ex
else:
    # XlsxWriter is loaded when the first export is built, not when the bot starts.
    ex = lazy_module("bot.export")


def labels(tr: Translator) -> ex.ExportLabels:
    """Return the workbook's headers in the workshop's language."""
    return ex.ExportLabels(
        **{
            name: tr.plain(f"export.{name}")
            for name in (
                "participant",
                "institution",
                "submitted_at",
                "questionnaire",
                "question",
                "question_text",
                "answer_code",
                "answer_label",
                "answered_at",
                "long_sheet",
                "about_sheet",
                "workshop",
                "generated",
                "timezone",
                "skipped",
                "yes",
                "no",
                "pseudonymous_note",
            )
        }
    )


async def shown_institutions(
    svc: Services, workshop: Workshop, lang: str
) -> Callable[[str | None], str | None]:
    """Return how an institution is shown: itself, or "other" when too few people joined from it.

    A pseudonym beside an institution only one or two participants came from names them
    (and their open answers): below the workshop's `report_min_group` the institution is
    merged into "other institutions", on every sheet alike.
    """
    spec = workshop_file(workshop)
    joined = await workshop_recipients(svc, workshop)
    sizes = Counter(r.institution for r in joined if r.institution)
    other = svc.i18n(lang).plain("export.other_institutions", n=spec.report_min_group)

    def shown(institution: str | None) -> str | None:
        if not institution:
            return institution
        return institution if sizes[institution] >= spec.report_min_group else other

    return shown


async def sheets(svc: Services, workshop: Workshop, lang: str) -> list[ex.ExportSheet]:
    """Collect one sheet per questionnaire; participants get stable pseudonyms (P001…)."""
    spec = workshop_file(workshop)
    out = []
    pseudonyms: dict[int, str] = {}
    institution = await shown_institutions(svc, workshop, lang)
    # (response key, questionnaire id, sheet title): a programme's evaluations are per event.
    wanted: list[tuple[str, str | None, str | None]] = [
        (qid, qid, None) for qid in (spec.profile, spec.dgca) if qid is not None
    ]
    if not spec.events and spec.evaluation is not None:
        wanted.append((spec.evaluation, spec.evaluation, None))
    for event in spec.events:
        view = spec.for_event(event)
        if (key := view.evaluation_key()) is not None:
            wanted.append((key, view.evaluation, event.title.get(lang)))
    for key, qid, sheet_title in wanted:
        q = svc.content.questionnaires.get(qid) if qid is not None else None
        if q is None:
            continue
        # The record's fields (the name above all) never leave pseudonymised: a profile
        # form's sheet holds its other questions (a department, a kind of institution).
        slots = [
            s for s in q.slots() if q.purpose != "profile" or s.question.id not in PROFILE_FIELDS
        ]
        if not slots:
            continue
        shown = {slot.question.id for slot in slots}
        questions = [
            ex.ExportQuestion(
                id=slot.question.id,
                text=slot.question.text.get(lang),
                section=slot.section.title.get(lang),
                options={o.code: o.label.get(lang) for o in q.options_of(slot.question)},
            )
            for slot in slots
        ]
        rows = []
        for answer_set in await svc.store.answer_sets(workshop.id, key):
            name = pseudonyms.setdefault(
                answer_set.participant_id, f"P{answer_set.participant_id:04d}"
            )
            rows.append(
                ex.ExportRow(
                    name,
                    institution(answer_set.institution),
                    answer_set.submitted_at,
                    {k: v for k, v in answer_set.answers.items() if k in shown},
                    {k: v for k, v in answer_set.answered_at.items() if k in shown},
                )
            )
        title = sheet_title or q.title.get(lang)
        out.append(ex.ExportSheet(key, title[:31], questions, rows))
    if spec.events:
        out.append(await _events_sheet(svc, workshop, lang, pseudonyms, institution))
    return out


async def _events_sheet(
    svc: Services,
    workshop: Workshop,
    lang: str,
    pseudonyms: dict[int, str],
    institution: Callable[[str | None], str | None],
) -> ex.ExportSheet:
    """List who is in which event of a programme: a column per event, "yes" where enrolled."""
    tr, spec = svc.i18n(lang), workshop_file(workshop)
    yes = tr.plain("export.yes")
    section = tr.plain("export.events_sheet")
    questions = [
        ex.ExportQuestion(id=e.id, text=e.title.get(lang), section=section, options={"yes": yes})
        for e in spec.events
    ]
    members = await svc.store.event_members(workshop.id)
    rows = []
    for r in sorted(await workshop_recipients(svc, workshop), key=lambda r: r.participant_id):
        name = pseudonyms.setdefault(r.participant_id, f"P{r.participant_id:04d}")
        events = members.get(r.participant_id, frozenset())
        answers: dict[str, str | list[str]] = {e.id: "yes" for e in spec.events if e.id in events}
        rows.append(ex.ExportRow(name, institution(r.institution), None, answers, {}))
    return ex.ExportSheet("events", section[:31], questions, rows)


async def export_events(svc: Services, workshop: Workshop, lang: str, kind: str) -> list[Event]:
    """Describe the export file; the workbook is built off the event loop."""
    # The first export executes bot.export and imports XlsxWriter (45-80 ms): on a thread,
    # so that the event loop keeps answering meanwhile.
    await asyncio.to_thread(getattr, ex, "build_xlsx")
    tr, spec = svc.i18n(lang), workshop_file(workshop)
    data = await sheets(svc, workshop, lang)
    now = svc.clock.now()
    day = now.astimezone(spec.zone).date()
    head = labels(tr)
    if kind == "csv":
        return [
            SendDocument(
                filename=ex.export_filename(
                    tr.plain("export.file_answers"), workshop.slug, day, "csv"
                ),
                build=partial(ex.build_csv, data, head, tz=spec.zone),
                caption=tr.t("export.caption_csv"),
                separate_process=True,
            )
        ]
    return [
        SendDocument(
            filename=ex.export_filename(
                tr.plain("export.file_workshop"), workshop.slug, day, "xlsx"
            ),
            build=partial(
                ex.build_xlsx,
                data,
                head,
                workshop=spec.title.get(lang),
                generated_at=now,
                tz=spec.zone,
            ),
            caption=tr.t("export.caption_xlsx"),
            separate_process=True,
        )
    ]
