"""/progress for association viewers and organizers: figures, charts, export, evidence, digest."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.content import DAY_END
from bot.flows.access import Action, associations_for, may, workshops_for
from bot.flows.callbacks import (
    Evidence,
    ProgressDigest,
    ProgressEvidence,
    ProgressExport,
    ProgressView,
    ScopeKind,
)
from bot.flows.common import Ctx, fit_lines, workshop_file
from bot.flows.events import (
    Button,
    Edit,
    Event,
    Keyboard,
    Notice,
    Send,
    SendDocument,
    SendMedia,
    SendPhoto,
)
from bot.flows.plans import STATUS_ICON, sdg_label
from bot.i18n import Html, Translator
from bot.lazy import lazy_module
from bot.plan_stats import Figures, FlaggedStep, compute
from bot.services import Services
from storage import Association, OutMessage, PlanData, StepStatus, Workshop

if TYPE_CHECKING:
    from bot import report_charts as rc
    from bot.export import Table
else:
    # matplotlib is loaded when the first chart is drawn, not when the bot starts.
    rc = lazy_module("bot.report_charts")

log = logging.getLogger(__name__)

# Blocked and late steps listed in the dashboard's text, each kind; the export has them all.
SHOWN_FLAGGED = 6
SHOWN_CHARS = 80
SHOWN_NOTE = 160
# Telegram takes 4,096 characters: lines stop before, never in the middle of a link.
TEXT_BUDGET = 3_800
TEXT_LIMIT = 4_000
SHOWN_EVIDENCE = 8
# The digest goes out on the 1st; a bot that was down catches up within this many days.
DIGEST_CATCH_UP_DAYS = 7
STATUS_ORDER = (
    StepStatus.DONE,
    StepStatus.IN_PROGRESS,
    StepStatus.NOT_STARTED,
    StepStatus.BLOCKED,
    StepStatus.DROPPED,
)


@dataclass(frozen=True)
class Scope:
    """What a dashboard covers: an association ("a") or one workshop ("w")."""

    kind: ScopeKind
    id: int


async def may_see(svc: Services, telegram_id: int, scope: Scope) -> bool:
    """Tell whether someone may see a scope's dashboard (bot/flows/access.py decides)."""
    action = Action.ASSOCIATION_PROGRESS if scope.kind == "a" else Action.WORKSHOP_PROGRESS
    return await may(svc, telegram_id, action, scope.id)


async def scopes_of(svc: Services, telegram_id: int, lang: str) -> list[tuple[Scope, str]]:
    """Return the dashboards someone may open, with their names."""
    out: list[tuple[Scope, str]] = []
    associations: list[Association] = await associations_for(
        svc, telegram_id, Action.ASSOCIATION_PROGRESS
    )
    for association in associations:
        out.append((Scope("a", association.id), association.name))
    seen = {a.id for a in associations}
    for workshop in await workshops_for(svc, telegram_id, Action.WORKSHOP_PROGRESS):
        if workshop.association_id in seen:
            continue
        out.append((Scope("w", workshop.id), workshop_file(workshop).title.get(lang)))
    return out


async def _workshops(svc: Services, scope: Scope) -> list[Workshop]:
    if scope.kind == "a":
        return await svc.store.association_workshops(scope.id)
    workshop = await svc.store.workshop(scope.id)
    return [workshop] if workshop else []


async def _name(svc: Services, scope: Scope, lang: str) -> str:
    if scope.kind == "a":
        association = await svc.store.association(scope.id)
        return association.name if association else "—"
    workshop = await svc.store.workshop(scope.id)
    return workshop_file(workshop).title.get(lang) if workshop else "—"


def _today(workshops: list[Workshop], now: datetime) -> dict[int, date]:
    return {w.id: now.astimezone(workshop_file(w).zone).date() for w in workshops}


async def figures_for(svc: Services, scope: Scope) -> tuple[Figures, PlanData, list[Workshop]]:
    """Read and compute the figures of a scope."""
    workshops = await _workshops(svc, scope)
    data = await svc.store.plan_data([w.id for w in workshops])
    now = svc.clock.now()
    # Thousands of plans take a while to count: a thread keeps the event loop answering.
    figures = await asyncio.to_thread(compute, data, _today(workshops, now), now)
    return figures, data, workshops


async def _figures(svc: Services, scope: Scope) -> tuple[Figures, list[Workshop]]:
    workshops = await _workshops(svc, scope)
    now = svc.clock.now()
    with few_full_collections():
        # The thread takes the only reference: the data is freed there, not on the loop.
        box = [await svc.store.plan_data([w.id for w in workshops])]
        figures = await asyncio.to_thread(_compute_and_release, box, _today(workshops, now), now)
    return figures, workshops


def _compute_and_release(box: list[PlanData], today: dict[int, date], now: datetime) -> Figures:
    data = box.pop()
    figures = compute(data, today, now)
    for records in (data.updates, data.evidence, data.steps, data.checkins, data.plans):
        _release(records)
    return figures


# The oldest generation's threshold while plan data is alive: full passes wait (see below).
QUIET_FULL_THRESHOLD = 1_000_000
_quiet_windows = 0  # flows inside the window now (all on the event loop's thread)
_saved_threshold: tuple[int, int, int] | None = None


@contextmanager
def few_full_collections() -> Iterator[None]:
    """Hold off the collector's full passes while a scope's plan data is alive.

    Reading 3,000 plans makes about 150,000 objects. Each time a quarter more have
    survived into the oldest generation the collector walks all of them, holding the GIL
    (25-75 ms a pass at that size on a busy 2-core machine), whichever thread it happens
    on. The data is freed by reference counting (it holds no cycle), so the passes find
    nothing; young passes still run. Nested and concurrent uses share one window.
    """
    global _quiet_windows, _saved_threshold
    if _quiet_windows == 0:
        _saved_threshold = gc.get_threshold()
        young, middle, _ = _saved_threshold
        gc.set_threshold(young, middle, QUIET_FULL_THRESHOLD)
    _quiet_windows += 1
    try:
        yield
    finally:
        _quiet_windows -= 1
        if _quiet_windows == 0 and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
            _saved_threshold = None


def _pct(tr: Translator, share: float) -> str:
    return tr.plain("report.percent", value=tr.number(share * 100, 0))


def flagged_lines(tr: Translator, item: FlaggedStep) -> list[str]:
    """Describe a blocked or late step: where, who answers for it, its last note, contacts."""
    action = (item.step.action or tr.plain("plan.erased_action"))[:SHOWN_CHARS]
    institution = item.plan.institution or "—"
    if item.days_late:
        days = tr.plain("count.days", n=item.days_late)
        lines = [tr.t("progress.item_late", action=action, institution=institution, days=days)]
    else:
        lines = [tr.t("progress.item", action=action, institution=institution)]
    if item.step.responsible:
        lines.append(tr.t("progress.item_responsible", who=item.step.responsible[:SHOWN_CHARS]))
    if item.note and item.noted_at:
        note = item.note if len(item.note) <= SHOWN_NOTE else item.note[: SHOWN_NOTE - 1] + "…"
        lines.append(tr.t("progress.item_note", note=note, date=tr.date(item.noted_at.date())))
    if item.contacts:
        links = [
            tr.t("progress.contact_link", id=m.telegram_id, name=m.name)
            + (f" @{m.handle}" if m.handle else "")
            for m in item.contacts
        ]
        lines.append(tr.t("progress.item_contact", contacts=Html(", ".join(links))))
    return lines


def status_line(tr: Translator, figures: Figures) -> str:
    """Count steps by status on one line."""
    return " · ".join(
        f"{STATUS_ICON[s]} {tr.plain(f'plan.status.{s.value}')} {figures.by_status.get(s, 0)}"
        for s in STATUS_ORDER
    )


def summary_text(tr: Translator, name: str, figures: Figures) -> str:
    """Write the dashboard's text: totals, late steps, response, oldest updates, SDGs."""
    lines = [
        tr.t("progress.title", name=name),
        tr.t("progress.totals", plans=figures.plans, steps=figures.steps),
        status_line(tr, figures),
    ]
    rate = figures.response_rate
    lines.append(
        tr.t(
            "progress.response",
            answered=figures.checkins_answered,
            sent=figures.checkins_sent,
            rate=_pct(tr, rate) if rate is not None else "—",
        )
    )
    lines.append(tr.t("progress.unreachable", n=figures.unreachable, members=figures.members))
    # Blocked steps first: they are what an association acts on. A late blocked step is
    # listed once, with the blocked ones.
    late = [item for item in figures.overdue if item.step.status is not StepStatus.BLOCKED]
    for key, items in (
        ("progress.blocked_title", figures.blocked),
        ("progress.overdue_title", late),
    ):
        lines.append("")
        if not items:
            # Nothing to act on: one plain line, not a heading with nothing under it.
            lines.append(tr.t(key.replace("_title", "_none")))
            continue
        lines.append(tr.t(key, n=len(items)))
        shown = 0
        for item in items[:SHOWN_FLAGGED]:
            block = flagged_lines(tr, item)
            if sum(len(line) + 1 for line in (*lines, *block)) > TEXT_BUDGET:
                break
            lines.extend(block)
            shown += 1
        if len(items) > shown:
            lines.append(tr.t("progress.more", n=len(items) - shown))
    if figures.stalest:
        lines.append("")
        lines.append(tr.t("progress.stale_title"))
        for stale in figures.stalest:
            key = "progress.stale_item" if stale.updated else "progress.stale_never"
            lines.append(
                tr.t(
                    key,
                    title=(stale.plan.title or tr.plain("plan.erased_title"))[:80],
                    institution=stale.plan.institution or "—",
                    date=tr.date(stale.last_update.date()),
                )
            )
    if figures.sdgs:
        lines.append("")
        lines.append(tr.t("progress.sdgs_title"))
        for number, count in figures.sdgs:
            lines.append(tr.t("progress.sdg_item", sdg=sdg_label(tr, number), n=count))
    return fit_lines(lines, TEXT_LIMIT)


def _status_png(
    frame: rc.Frame, rows: list[tuple[str, list[int]]], statuses: list[str], axis: str
) -> bytes:
    names = [name for name, _ in rows]
    counts = [c for _, c in rows]
    return rc.to_png(
        rc.steps_by_status_figure(
            frame, names, statuses, counts, axis_label=axis, keys=list(STATUS_ORDER)
        )
    )


def _monthly_png(frame: rc.Frame, months: list[str], values: list[int], axis: str) -> bytes:
    return rc.to_png(rc.monthly_figure(frame, months, values, axis_label=axis))


def chart_events(tr: Translator, name: str, figures: Figures, now: datetime) -> list[Event]:
    """Describe the two charts: steps by status per institution, and steps done per month."""
    events: list[Event] = []
    subtitle = tr.plain("progress.chart_subtitle", n=figures.plans, date=tr.date(now.date()))
    if figures.steps:
        rows = [
            (inst, [counts.get(s, 0) for s in STATUS_ORDER])
            for inst, counts in figures.by_institution.items()
        ]
        frame = rc.Frame(tr.plain("progress.chart_status_title"), subtitle, name)
        statuses = [tr.plain(f"plan.status.{s.value}") for s in STATUS_ORDER]
        events.append(
            SendPhoto(
                render=partial(_status_png, frame, rows, statuses, tr.plain("progress.axis_steps")),
                caption=tr.t("progress.chart_status_caption", name=name),
                separate_process=True,
            )
        )
    if figures.done_by_month:
        frame = rc.Frame(tr.plain("progress.chart_monthly_title"), subtitle, name)
        months = [_month_label(tr, label) for label, _ in figures.done_by_month]
        values = [v for _, v in figures.done_by_month]
        events.append(
            SendPhoto(
                render=partial(_monthly_png, frame, months, values, tr.plain("progress.axis_done")),
                caption=tr.t("progress.chart_monthly_caption", n=sum(values)),
                separate_process=True,
            )
        )
    return events


def _month_label(tr: Translator, label: str) -> str:
    year, month = (int(p) for p in label.split("-"))
    # With the whole year: "dic 23" reads as the 23rd of December.
    return format_date(date(year, month, 1), format="MMM y", locale=tr.lang).replace(".", "")


def _buttons(
    tr: Translator, scope: Scope, workshops: list[Workshop], viewer_digest: bool | None
) -> Keyboard:
    rows: Keyboard = [
        [
            Button(tr.plain("progress.button_export"), ProgressExport(scope.kind, scope.id).pack()),
            Button(
                tr.plain("progress.button_evidence"),
                ProgressEvidence(scope.kind, scope.id, 0).pack(),
            ),
        ]
    ]
    if scope.kind == "a" and len(workshops) > 1:
        for workshop in workshops[:10]:
            title = workshop_file(workshop).title.get(tr.lang)
            rows.append([Button(f"🔎 {title}"[:60], ProgressView("w", workshop.id).pack())])
    if viewer_digest is not None:
        key = "progress.button_digest_off" if viewer_digest else "progress.button_digest_on"
        rows.append(
            [
                Button(
                    tr.plain(key),
                    ProgressDigest(scope.kind, scope.id, on=not viewer_digest).pack(),
                )
            ]
        )
    return rows


async def view(ctx: Ctx, scope: Scope) -> list[Event]:
    """Build the dashboard of a scope: the summary, then its charts."""
    # The figures keep thousands of late steps until the text is written.
    with few_full_collections():
        return await _view(ctx, scope)


async def _view(ctx: Ctx, scope: Scope) -> list[Event]:
    svc = ctx.svc
    figures, workshops = await _figures(svc, scope)
    name = await _name(svc, scope, ctx.lang)
    digest: bool | None = None
    if scope.kind == "a":
        viewer = next(
            (
                v
                for v in await svc.store.viewers_of(scope.id)
                if v.telegram_id == ctx.actor.telegram_id
            ),
            None,
        )
        digest = viewer.digest if viewer else None
    if not figures.plans:
        return [
            Send(
                ctx.tr.t("progress.no_plans", name=name), _buttons(ctx.tr, scope, workshops, digest)
            )
        ]
    events = [
        Send(summary_text(ctx.tr, name, figures), _buttons(ctx.tr, scope, workshops, digest)),
        *chart_events(ctx.tr, name, figures, svc.clock.now()),
    ]
    # The figures hold every late step with its plan (9,000 at 3,000 plans): they are freed
    # on a thread too, not when this frame ends on the loop.
    await asyncio.to_thread(_release_all, figures.overdue, figures.blocked)
    return events


async def progress_command(ctx: Ctx, args: str = "") -> list[Event]:
    """Open the dashboard (asking which one when the person may see several)."""
    scopes = await scopes_of(ctx.svc, ctx.actor.telegram_id, ctx.lang)
    if not scopes:
        return [Send(ctx.tr.t("progress.only"))]
    if len(scopes) == 1:
        return await view(ctx, scopes[0][0])
    rows: Keyboard = [
        [Button(name[:60], ProgressView(scope.kind, scope.id).pack())]
        for scope, name in scopes[:40]
    ]
    return [Send(ctx.tr.t("progress.pick"), rows)]


ProgressTap = ProgressView | ProgressExport | ProgressEvidence | ProgressDigest
PROGRESS_TAPS: tuple[type[ProgressTap], ...] = (
    ProgressView,
    ProgressExport,
    ProgressEvidence,
    ProgressDigest,
)


async def on_callback(ctx: Ctx, cb: ProgressTap, message_id: int) -> list[Event]:
    """Handle the dashboard's buttons, for those allowed to see the scope only."""
    scope = Scope(cb.kind, cb.id)
    if not await may_see(ctx.svc, ctx.actor.telegram_id, scope):
        return [Notice(ctx.tr.t("progress.not_allowed"), alert=True)]
    if isinstance(cb, ProgressView):
        return [Notice(ctx.tr.t("report.preparing")), *await view(ctx, scope)]
    if isinstance(cb, ProgressExport):
        return [Notice(ctx.tr.t("report.preparing")), *await export_events(ctx, scope)]
    if isinstance(cb, ProgressEvidence):
        return [Notice(), *await evidence_list(ctx, scope, cb.offset, message_id)]
    if scope.kind == "a":
        enabled = cb.on
        if not await may(ctx.svc, ctx.actor.telegram_id, Action.ASSOCIATION_DIGEST, scope.id):
            return [Notice(ctx.tr.t("progress.not_allowed"), alert=True)]
        if not await ctx.svc.store.set_digest(scope.id, ctx.actor.telegram_id, enabled):
            return [Notice(ctx.tr.t("progress.not_allowed"), alert=True)]
        key = "progress.digest_on" if enabled else "progress.digest_off"
        return [Notice(ctx.tr.t(key), alert=True)]
    return [Notice(ctx.tr.t("notice.stale"))]


# Evidence


async def evidence_list(ctx: Ctx, scope: Scope, offset: int, message_id: int) -> list[Event]:
    """List the latest evidence with a button to fetch each file."""
    _, data, _ = await figures_for(ctx.svc, scope)
    steps = {s.id: s for s in data.steps}
    updates = {u.id: u for u in data.updates}
    items = sorted(data.evidence, key=lambda e: e.id, reverse=True)
    if not items:
        return [Send(ctx.tr.t("progress.no_evidence"))]
    page = items[offset : offset + SHOWN_EVIDENCE]
    rows: Keyboard = []
    for item in page:
        update = updates.get(item.update_id)
        step = steps.get(update.step_id) if update else None
        icon = {"photo": "🖼", "document": "📄", "link": "🔗"}.get(item.kind, "📎")
        action = (step.action or ctx.tr.plain("plan.erased_action")) if step else ""
        label = f"{icon} {ctx.tr.date(item.created_at.date())} · {action}"
        rows.append([Button(label[:60], Evidence(item.id).pack())])
    if offset + SHOWN_EVIDENCE < len(items):
        rows.append(
            [
                Button(
                    ctx.tr.plain("progress.button_more"),
                    ProgressEvidence(scope.kind, scope.id, offset + SHOWN_EVIDENCE).pack(),
                )
            ]
        )
    text = ctx.tr.t("progress.evidence_title", n=len(items))
    if offset:
        return [Edit(message_id, text, rows)]
    return [Send(text, rows)]


async def on_evidence(ctx: Ctx, cb: Evidence, message_id: int) -> list[Event]:
    """Send a piece of evidence to someone allowed to see its workshop's plans."""
    found = await ctx.svc.store.evidence_item(cb.item)
    if found is None:
        return [Notice(ctx.tr.t("progress.not_allowed"), alert=True)]
    item, workshop_id = found
    if not await may_see(ctx.svc, ctx.actor.telegram_id, Scope("w", workshop_id)):
        return [Notice(ctx.tr.t("progress.not_allowed"), alert=True)]
    caption = ctx.tr.t("progress.evidence_caption", date=ctx.tr.date(item.created_at.date()))
    if item.kind == "link" and item.url:
        return [Notice(), Send(ctx.tr.t("progress.evidence_link", url=item.url))]
    if item.file_id is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    return [Notice(), SendMedia(item.kind, item.file_id, caption)]


# Export

PLAN_COLUMNS = ("id", "workshop", "institution", "title", "sdgs", "members", "contact", "created")
STEP_COLUMNS = (
    "id",
    "plan",
    "institution",
    "position",
    "action",
    "responsible",
    "resources",
    "indicator",
    "due_date",
    "success",
    "status",
    "updated",
    "removed",
)
UPDATE_COLUMNS = ("id", "plan", "step", "author", "status", "note", "evidence", "created")
# Records freed at once when a plan export lets go of them: a few milliseconds each time.
RELEASE_SLICE = 2_000


@dataclass(frozen=True)
class ExportWords:
    """The translated words of the plans workbook, for the worker process that builds it."""

    sheets: tuple[str, str, str]
    plan_headers: list[str]
    step_headers: list[str]
    update_headers: list[str]
    statuses: dict[str, str]
    yes: str
    no: str
    sdgs: dict[int, str]
    workshops: dict[int, str]


@dataclass(frozen=True)
class PackedPlans:
    """What the plans workbook needs of `PlanData`, as plain tuples pickled in slices.

    Plans: id, workshop, institution, title, SDGs, members, contacts, created. Steps: id, plan,
    position, action, responsible, resources, indicator, due date (ISO), success, status,
    updated, removed. Updates: id, step, author, status, note, created. Evidence: update,
    "kind: link or file id".
    """

    plans: list[bytes]
    steps: list[bytes]
    updates: list[bytes]
    evidence: list[bytes]


def _pack_export(
    tr: Translator, box: list[PlanData], titles: dict[int, str]
) -> tuple[PackedPlans, ExportWords]:
    # On a thread, so the event loop keeps answering. Only slices of plain tuples go to the
    # worker process: at 3,000 plans they take 0.2-0.3 s to make and pickle here (6.6 MB)
    # and 0.1 s to unpickle there, where the dataclasses themselves took 0.45-0.6 s (9.4 MB;
    # Enum's __reduce_ex__ runs for every status) and 0.35-0.55 s. The thread holds the last
    # reference to the data and frees it in slices (freeing it at once on the loop's thread
    # took 13-16 ms). The first export imports bot.export here, off the loop.
    from bot.export import pack_rows

    data = box.pop()
    # What /forget erased shows as erased, not as an empty cell.
    erased_title, erased_action = tr.plain("plan.erased_title"), tr.plain("plan.erased_action")
    members = {plan_id: len(people) for plan_id, people in data.members.items()}
    # Only members who agreed to be contacted are named, with how to reach them.
    contacts = {
        plan_id: "; ".join(
            f"{m.name} ({'@' + m.handle if m.handle else f'tg://user?id={m.telegram_id}'})"
            for m in people
            if m.contact and m.name and m.telegram_id
        )
        or None
        for plan_id, people in data.members.items()
    }
    sdgs = sorted({n for p in data.plans for n in p.sdgs})
    # Largest first, each list freed as soon as it is packed: less is held at once.
    updates = pack_rows(
        (u.id, u.step_id, u.author_id, u.status.value, u.note, u.created_at) for u in data.updates
    )
    _release(data.updates)
    evidence = pack_rows(
        (e.update_id, f"{e.kind}: {e.url or e.file_id or ''}") for e in data.evidence
    )
    _release(data.evidence)
    steps = pack_rows(
        (
            s.id,
            s.plan_id,
            s.position,
            s.action or erased_action,
            s.responsible,
            s.resources,
            s.indicator,
            s.due_date.isoformat() if s.due_date else None,
            s.success,
            s.status.value,
            s.updated_at,
            s.removed,
        )
        for s in data.steps
    )
    _release(data.steps)
    plans = pack_rows(
        (
            p.id,
            p.workshop_id,
            p.institution,
            p.title or erased_title,
            p.sdgs,
            members.get(p.id, 0),
            contacts.get(p.id),
            p.created_at,
        )
        for p in data.plans
    )
    for records in (data.checkins, data.plans):
        _release(records)
    packed = PackedPlans(plans=plans, steps=steps, updates=updates, evidence=evidence)
    h = tr.plain
    words = ExportWords(
        sheets=(
            h("plan_export.sheet_plans"),
            h("plan_export.sheet_steps"),
            h("plan_export.sheet_updates"),
        ),
        plan_headers=[h(f"plan_export.plans.{c}") for c in PLAN_COLUMNS],
        step_headers=[h(f"plan_export.steps.{c}") for c in STEP_COLUMNS],
        update_headers=[h(f"plan_export.updates.{c}") for c in UPDATE_COLUMNS],
        statuses={s.value: h(f"plan.status.{s.value}") for s in StepStatus},
        yes=h("export.yes"),
        no=h("export.no"),
        sdgs={n: sdg_label(tr, n) for n in sdgs},
        workshops=titles,
    )
    return packed, words


def _release_all(*lists: list[Any]) -> None:
    for records in lists:
        _release(records)


def _release(records: list[Any]) -> None:
    # Freeing a list of thousands of objects is one C call that holds the GIL throughout;
    # slices let the event loop's thread in between.
    while records:
        del records[-RELEASE_SLICE:]


def _tables(packed: PackedPlans, words: ExportWords) -> list[Table]:
    """Build the three sheets of the plans workbook (in the worker process)."""
    from bot.export import Table, unpack_rows

    plans = unpack_rows(packed.plans)
    steps = unpack_rows(packed.steps)
    institution = {plan[0]: plan[2] for plan in plans}
    plan_of = {step[0]: step[1] for step in steps}
    evidence_of: dict[int, list[str]] = {}
    for update_id, item in unpack_rows(packed.evidence):
        evidence_of.setdefault(update_id, []).append(item)
    statuses, sdgs, titles = words.statuses, words.sdgs, words.workshops
    plan_rows: list[list[str | int | datetime | None]] = [
        [
            plan_id,
            titles.get(workshop_id, ""),
            owner_institution,
            title,
            "; ".join(sdgs[n] for n in plan_sdgs),
            members,
            contact,
            created_at,
        ]
        for (
            plan_id,
            workshop_id,
            owner_institution,
            title,
            plan_sdgs,
            members,
            contact,
            created_at,
        ) in plans
    ]
    step_rows: list[list[str | int | datetime | None]] = [
        [
            step_id,
            plan_id,
            institution.get(plan_id),
            position,
            action,
            responsible,
            resources,
            indicator,
            due_date,
            success,
            statuses[status],
            updated_at,
            words.yes if removed else words.no,
        ]
        for (
            step_id,
            plan_id,
            position,
            action,
            responsible,
            resources,
            indicator,
            due_date,
            success,
            status,
            updated_at,
            removed,
        ) in steps
    ]
    update_rows: list[list[str | int | datetime | None]] = [
        [
            update_id,
            plan_of.get(step_id),
            step_id,
            f"P{author_id:04d}",
            statuses[status],
            note,
            "\n".join(evidence_of.get(update_id, [])) or None,
            created_at,
        ]
        for update_id, step_id, author_id, status, note, created_at in unpack_rows(packed.updates)
    ]
    return [
        Table(words.sheets[0], words.plan_headers, plan_rows),
        Table(words.sheets[1], words.step_headers, step_rows),
        Table(words.sheets[2], words.update_headers, update_rows),
    ]


def build_plans_xlsx(
    packed: PackedPlans, words: ExportWords, *, generated_at: datetime, tz: ZoneInfo
) -> bytes:
    """Build the plans workbook from packed plan data (in the worker process)."""
    from bot.export import build_tables_xlsx, collector_paused

    with collector_paused():
        return build_tables_xlsx(_tables(packed, words), generated_at=generated_at, tz=tz)


async def export_events(ctx: Ctx, scope: Scope) -> list[Event]:
    """Describe the plans workbook of a scope; it is built off the event loop."""
    svc = ctx.svc
    workshops = await _workshops(svc, scope)
    if not workshops:
        return [Send(ctx.tr.t("progress.no_plans", name="—"))]
    zone = workshop_file(workshops[0]).zone
    now = svc.clock.now()
    titles = {w.id: workshop_file(w).title.get(ctx.lang) for w in workshops}
    with few_full_collections():
        # The thread takes the only reference: the data is freed there, not on the loop.
        box = [await svc.store.plan_data(list(titles))]
        packed, words = await asyncio.to_thread(_pack_export, ctx.tr, box, titles)
    # Imported by the thread above (XlsxWriter with it: 0.1-0.3 s the first time).
    from bot.export import export_filename

    association = await svc.store.association(scope.id) if scope.kind == "a" else None
    slug = association.slug if association is not None else workshops[0].slug
    name = export_filename(
        ctx.tr.plain("export.file_plans"), slug, now.astimezone(zone).date(), "xlsx"
    )
    return [
        SendDocument(
            filename=name,
            build=partial(build_plans_xlsx, packed, words, generated_at=now, tz=zone),
            caption=ctx.tr.t("progress.export_caption"),
            separate_process=True,
        )
    ]


# Monthly digest


def digest_text(
    tr: Translator, name: str, period_label: str, figures: Figures, before: dict[str, int] | None
) -> str:
    """Write the monthly digest: the figures, and what changed since the last one."""
    now = figures.snapshot()
    rate = figures.response_rate
    lines = [
        tr.t("digest.title", name=name, month=period_label),
        tr.t("progress.totals", plans=figures.plans, steps=figures.steps),
        status_line(tr, figures),
        tr.t("digest.overdue", n=len(figures.overdue)),
        tr.t(
            "progress.response",
            answered=figures.checkins_answered,
            sent=figures.checkins_sent,
            rate=_pct(tr, rate) if rate is not None else "—",
        ),
        "",
    ]
    if before is None:
        lines.append(tr.t("digest.first"))
    else:
        lines.append(
            tr.t(
                "digest.changes",
                done=now["done"] - before.get("done", 0),
                updates=now["updates"] - before.get("updates", 0),
                evidence=now["evidence"] - before.get("evidence", 0),
                plans=now["plans"] - before.get("plans", 0),
                overdue=_signed(now["overdue"] - before.get("overdue", 0)),
            )
        )
    return fit_lines(lines, TEXT_LIMIT)


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


async def digest_tick(svc: Services, now: datetime) -> int:
    """Queue this month's digest for each viewer who has not had it; return how many."""
    queued = 0
    for association in await svc.store.all_associations():
        workshops = await svc.store.association_workshops(association.id)
        if not workshops:
            continue
        spec = workshop_file(workshops[0])
        local = now.astimezone(spec.zone)
        if (
            local.day > DIGEST_CATCH_UP_DAYS
            or not spec.follow_up.send_time <= local.time() < DAY_END
            or spec.is_quiet(now)
        ):
            continue
        viewers = [v for v in await svc.store.viewers_of(association.id) if v.digest]
        if not viewers:
            continue
        period = local.strftime("%Y-%m")
        figures: Figures | None = None
        for viewer in viewers:
            last = await svc.store.last_digest(association.id, viewer.telegram_id)
            if last is not None and last[0] >= period:
                continue
            if figures is None:
                data = await svc.store.plan_data([w.id for w in workshops])
                figures = compute(data, _today(workshops, now), now)
            if not figures.plans:
                break
            user = await svc.store.user(viewer.telegram_id)
            lang = svc.i18n.pick(user.language if user else None, workshops[0].language)
            tr = svc.i18n(lang)
            label = format_date(local.date(), format="LLLL y", locale=lang)
            text = digest_text(tr, association.name, label, figures, last[1] if last else None)
            buttons = [
                [
                    {
                        "text": tr.plain("digest.button"),
                        "callback_data": ProgressView("a", association.id).pack(),
                    }
                ]
            ]
            # Day where the workshops are may be night where the viewer reads times.
            morning = spec.night_end(now, user.timezone if user else None)
            message = OutMessage(viewer.telegram_id, text, None, buttons, not_before=morning)
            if await svc.store.record_digest(
                association.id, viewer.telegram_id, period, figures.snapshot(), message, now
            ):
                queued += 1
    return queued
