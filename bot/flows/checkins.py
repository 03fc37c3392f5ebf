"""Progress updates on plans, and the check-ins that ask for them months later.

An update runs on the form engine (`content/questionnaires/plan_update.yaml`), once per open
step: the step's status, then notes, links, photos and documents as evidence. Each run is
bound to the update it creates (its status answer records it); a step left as it was
("Omitir ›") records nothing. The whole update of a plan is one message, edited from step to
step, that ends as the thanks and the plan as it now stands.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from bot.content import DAY_END, UPDATE_FORM, WorkshopFile
from bot.flows import forms
from bot.flows import questionnaire as engine
from bot.flows.callbacks import UpdateStart, UpdateStop
from bot.flows.common import Ctx, workshop_file
from bot.flows.events import Button, Event, Keyboard, Notice, Send
from bot.flows.plans import (
    STATUS_ICON,
    card,
    my_plan,
    not_member,
    plan_and_step,
    status_label,
)
from bot.flows.reminders import keyboard_json
from bot.i18n import Translator
from bot.services import Services
from storage import (
    AnswerValue,
    OutMessage,
    OverdueStep,
    Plan,
    PlanMember,
    PlanStep,
    ScheduledRow,
    StepStatus,
    Workshop,
)

log = logging.getLogger(__name__)

MAX_NOTE = 500
STATUS_CODES: dict[str, StepStatus] = {
    "ns": StepStatus.NOT_STARTED,
    "ip": StepStatus.IN_PROGRESS,
    "dn": StepStatus.DONE,
    "bl": StepStatus.BLOCKED,
    "dr": StepStatus.DROPPED,
}
CODE_OF = {status: code for code, status in STATUS_CODES.items()}
NEW = "new"
# Telegram takes 4,096 characters: the plans that do not fit one message are counted.
OVERDUE_MAX = 3_800


# The update conversation: where the update form's answers go.


def _next_open(plan: Plan, after: int | None) -> PlanStep | None:
    steps = plan.open_steps
    if after is None:
        return steps[0] if steps else None
    position = next((s.position for s in plan.steps if s.id == after), None)
    if position is None:
        return steps[0] if steps else None
    return next((s for s in steps if s.position > position), None)


async def start_update(
    ctx: Ctx, plan: Plan, step_id: int | None = None, message_id: int | None = None
) -> list[Event]:
    """Walk the person through the open steps of a plan (from `step_id` if given)."""
    step = next((s for s in plan.open_steps if s.id == step_id), None) or _next_open(plan, None)
    if step is None:
        return [Send(ctx.tr.t("plan.nothing_open")), *await card(ctx, plan)]
    return await _ask_step(ctx, plan, step, message_id)


async def _ask_step(ctx: Ctx, plan: Plan, step: PlanStep, message_id: int | None) -> list[Event]:
    participant = await ctx.svc.store.participant(plan.workshop_id, ctx.actor.telegram_id)
    workshop = await ctx.svc.store.workshop(plan.workshop_id)
    if participant is None or workshop is None:
        return not_member(ctx)
    form = ctx.svc.content.questionnaire(UPDATE_FORM)
    subject = f"{plan.id}.{step.id}.{NEW}"
    return await engine.open_questionnaire(
        ctx, participant, workshop, form, _step_done, subject=subject, message_id=message_id
    )


def _ids(run: forms.Run) -> tuple[int | None, int | None, int | None]:
    """Return the plan, step and update ids of a run (no update yet: None)."""
    parts = (run.subject or "").split(".")
    numbers = [int(p) if p.isdigit() else None for p in parts]
    numbers += [None] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


async def _step_of_run(ctx: Ctx, run: forms.Run) -> tuple[Plan | None, PlanStep | None]:
    plan_id, step_id, _ = _ids(run)
    return await plan_and_step(ctx, plan_id, step_id)


async def _guard(ctx: Ctx, run: forms.Run) -> str | None:
    plan, step = await _step_of_run(ctx, run)
    if plan is None:
        return "plan.not_member"
    return "plan.step_gone" if step is None else None


async def _variables(ctx: Ctx, run: forms.Run) -> dict[str, str]:
    plan, step = await _step_of_run(ctx, run)
    if plan is None or step is None:
        return {}
    tr = ctx.tr
    index = next(i for i, s in enumerate(plan.steps, 1) if s.id == step.id)
    lines = [step.action]
    if step.indicator:
        lines.append(tr.plain("plan.update_indicator", indicator=step.indicator))
    if step.due_date is not None:
        lines.append(tr.plain("plan.update_due", date=tr.date(step.due_date)))
    status = status_label(tr, step.status)
    if step.updated_at is not None:
        since = tr.date(step.updated_at)
        lines.append(tr.plain("plan.update_status_since", status=status, date=since))
    else:
        lines.append(tr.plain("plan.update_status", status=status))
    return {
        "title": plan.title,
        "n": str(index),
        "total": str(len(plan.steps)),
        "step": "\n".join(lines),
        "step_status": tr.plain("plan.update_saved", n=index, action=step.action, status=status),
    }


async def _sink(ctx: Ctx, run: forms.Run, field: str, value: AnswerValue) -> None:
    if field != "status" or not isinstance(value, str) or value not in STATUS_CODES:
        return  # a step left as it was records nothing; evidence goes to `_evidence`
    plan, step = await _step_of_run(ctx, run)
    member = plan.member(ctx.actor.telegram_id) if plan else None
    if plan is None or step is None or member is None or _ids(run)[2] is not None:
        return
    now = ctx.svc.clock.now()
    update_id = await ctx.svc.store.record_update(
        step.id, member.participant_id, STATUS_CODES[value], None, now
    )
    await engine.rekey(ctx, run, f"{plan.id}.{step.id}.{update_id}")


async def _evidence(ctx: Ctx, run: forms.Run, field: str, item: forms.EvidenceItem) -> str | None:
    update_id = _ids(run)[2]
    if update_id is None:
        return "plan.not_member"
    store, now = ctx.svc.store, ctx.svc.clock.now()
    if item.kind == "note":
        assert item.text is not None
        if not await store.add_update_note(update_id, item.text, MAX_NOTE):
            return "plan.note_full"
        return None
    await store.add_evidence(
        update_id,
        item.kind,
        file_id=item.file_id,
        url=item.text if item.kind == "link" else None,
        file_name=item.file_name,
        file_size=item.file_size,
        now=now,
    )
    return None


def _buttons(ctx: Ctx, run: forms.Run) -> Keyboard:
    plan_id = _ids(run)[0]
    if plan_id is None:
        return []
    return [[Button(ctx.tr.plain("plan.button_stop_update"), UpdateStop(plan_id).pack())]]


async def _step_done(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Go on to the next open step in the same message, or end there with the plan."""
    plan, step = await _step_of_run(ctx, run)
    if plan is None or step is None:
        return not_member(ctx)
    message_id = run.tapped
    if _ids(run)[2] is None:
        await engine.discard(ctx, run)  # left as it was: next time it is asked afresh
    following = _next_open(plan, step.id)
    if following is not None:
        return await _ask_step(ctx, plan, following, message_id)
    return await _finish(ctx, plan, message_id)


async def _finish(ctx: Ctx, plan: Plan, message_id: int | None) -> list[Event]:
    await engine.leave_forms(ctx, (UPDATE_FORM,))
    # A step reached but not answered keeps no draft: it would still point at this
    # message, which becomes the plan's card.
    participant = await ctx.svc.store.participant(plan.workshop_id, ctx.actor.telegram_id)
    for step in plan.steps if participant is not None else []:
        assert participant is not None
        key = forms.instance_key(UPDATE_FORM, f"{plan.id}.{step.id}.{NEW}")
        draft = await ctx.svc.store.find_response(participant.id, key)
        if draft is not None:
            await ctx.svc.store.discard_response(draft.id)
    # One message, not three: the step's own becomes the thanks and the plan as it stands.
    return await card(ctx, plan, message_id, header=ctx.tr.t("plan.update_thanks"))


UPDATE_TAPS = (UpdateStart, UpdateStop)


async def on_callback(ctx: Ctx, cb: UpdateStart | UpdateStop, message_id: int) -> list[Event]:
    """Handle the update buttons: start, and stop for now."""
    plan = await my_plan(ctx, cb.plan)
    if plan is None:
        return not_member(ctx)
    if isinstance(cb, UpdateStart):
        return [Notice(), *await start_update(ctx, plan, cb.step)]
    return [Notice(), *await _finish(ctx, plan, message_id)]


forms.register_form(
    UPDATE_FORM,
    forms.Binding(
        record=True,
        sink=_sink,
        ending=_step_done,
        guard=_guard,
        variables=_variables,
        evidence=_evidence,
        buttons=_buttons,
    ),
)


# Automatic check-ins.


def daytime(spec: WorkshopFile, now: datetime) -> bool:
    """Tell whether it is a reasonable hour to write to people where the workshop is."""
    local = now.astimezone(spec.zone).time()
    return spec.follow_up.send_time <= local < DAY_END and not spec.is_quiet(now)


def _reachable(members: Iterable[PlanMember]) -> list[PlanMember]:
    return [m for m in members if m.telegram_id is not None and not m.unreachable]


def _plan_buttons(tr: Translator, plans: list[Plan], step_id: int | None = None) -> Keyboard:
    return [
        [
            Button(
                tr.plain("plan.button_update_named", title=p.title)[:60],
                UpdateStart(p.id, step_id or None).pack(),
            )
        ]
        for p in plans
    ]


def _grouped(plans: list[Plan]) -> dict[int, tuple[PlanMember, list[Plan]]]:
    out: dict[int, tuple[PlanMember, list[Plan]]] = {}
    for plan in plans:
        for member in _reachable(plan.members):
            assert member.telegram_id is not None
            out.setdefault(member.telegram_id, (member, []))[1].append(plan)
    return out


def _open_list(tr: Translator, plan: Plan, today: date) -> str:
    lines = []
    for step in plan.open_steps[:6]:
        late = step.due_date is not None and step.due_date < today
        key = "plan.checkin_step_late" if late else "plan.checkin_step"
        due = tr.date(step.due_date) if step.due_date else "—"
        lines.append(tr.t(key, icon=STATUS_ICON[step.status], action=step.action, date=due))
    return "\n".join(lines)


async def run_checkin(svc: Services, row: ScheduledRow, now: datetime) -> bool:
    """Ask every plan of a workshop with open steps for an update; False to try later."""
    workshop = await svc.store.workshop(row.workshop_id)
    if workshop is None:
        await svc.store.complete_scheduled(row.id, "skipped", [], now)
        return True
    spec = workshop_file(workshop)
    if not daytime(spec, now):
        # Missed at night (the bot was down): it goes out at the next reasonable hour.
        return False
    plans = [p for p in await svc.store.plans_in(workshop.id) if p.open_steps]
    months = int(row.payload.get("months", 0))
    today = now.astimezone(spec.zone).date()
    messages = []
    for telegram_id, (member, mine) in _grouped(plans).items():
        lang = svc.i18n.pick(member.language, workshop.language)
        tr = svc.i18n(lang)
        body = "\n\n".join(
            tr.t("plan.checkin_plan", title=p.title) + "\n" + _open_list(tr, p, today) for p in mine
        )
        text = tr.t("plan.checkin", n=months, title=spec.title.get(lang)) + "\n\n" + body
        messages.append(
            OutMessage(
                chat_id=telegram_id,
                text=text[:4000],
                participant_id=member.participant_id,
                buttons=keyboard_json(_plan_buttons(tr, mine)),
                # Day where the workshop is may be night where the person reads times.
                not_before=spec.night_end(now, member.timezone),
            )
        )
    occasions = [(p.id, f"m{months}", "scheduled") for p in plans]
    await svc.store.open_checkins(
        occasions, messages, f"ci:{workshop.id}:m{months}", now, scheduled_id=row.id
    )
    return True


class _Workshops:
    """Workshops and their parsed files, read once per tick however many plans share them."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._seen: dict[int, tuple[Workshop, WorkshopFile] | None] = {}

    async def get(self, workshop_id: int) -> tuple[Workshop, WorkshopFile] | None:
        """Return a workshop with its validated file, or None if it is gone."""
        if workshop_id not in self._seen:
            workshop = await self.svc.store.workshop(workshop_id)
            self._seen[workshop_id] = (workshop, workshop_file(workshop)) if workshop else None
        return self._seen[workshop_id]


async def follow_up_tick(svc: Services, now: datetime) -> int:
    """Ask about overdue steps and nudge unanswered check-ins; return messages queued."""
    workshops = _Workshops(svc)
    queued = await _overdue(svc, now, workshops)
    queued += await _nudges(svc, now, workshops)
    return queued


async def _overdue(svc: Services, now: datetime, workshops: _Workshops) -> int:
    # Any zone's "today" is at most a day past UTC's; each step is checked in its own zone.
    candidates = await svc.store.overdue_steps((now + timedelta(days=1)).date())
    # The steps of one plan that fell due are asked about in one message, not one each.
    by_plan: dict[int, list[OverdueStep]] = {}
    for item in candidates:
        found = await workshops.get(item.workshop_id)
        if found is None:
            continue
        _, spec = found
        if not spec.follow_up.overdue_checkins or not daytime(spec, now):
            continue
        if item.due_date >= now.astimezone(spec.zone).date():
            continue
        by_plan.setdefault(item.plan_id, []).append(item)
    asked: list[tuple[Plan, list[tuple[PlanStep, OverdueStep]], Workshop]] = []
    for plan_id, items in by_plan.items():
        found = await workshops.get(items[0].workshop_id)
        plan = await svc.store.plan(plan_id)
        if found is None or plan is None:
            continue
        steps = [(step, item) for item in items for step in plan.steps if step.id == item.step_id]
        if steps:
            asked.append((plan, steps, found[0]))
    if not asked:
        return 0
    # One message per person and workshop, however many of their plans have steps past
    # their date (per workshop: its retention erases the message with the participant).
    Entry = tuple[PlanMember, Plan, list[tuple[PlanStep, OverdueStep]]]
    per_person: dict[tuple[int, int], list[Entry]] = {}
    languages: dict[tuple[int, int], str] = {}
    for plan, steps, workshop in asked:
        for member in _reachable(plan.members):
            assert member.telegram_id is not None
            key = (member.telegram_id, workshop.id)
            per_person.setdefault(key, []).append((member, plan, steps))
            languages.setdefault(key, svc.i18n.pick(member.language, workshop.language))
    messages = []
    for key, entries in per_person.items():
        telegram_id = key[0]
        tr = svc.i18n(languages[key])
        texts = _within_limit(tr, [_overdue_text(tr, plan, steps) for _, plan, steps in entries])
        if len(entries) == 1:
            _, plan, steps = entries[0]
            label = tr.plain("plan.button_update_step")
            buttons = [[Button(label, UpdateStart(plan.id, steps[0][0].id).pack())]]
        else:
            buttons = [
                [
                    Button(
                        tr.plain("plan.button_update_named", title=plan.title)[:60],
                        UpdateStart(plan.id, steps[0][0].id).pack(),
                    )
                ]
                for _, plan, steps in entries
            ]
        member = entries[0][0]
        found = await workshops.get(key[1])
        assert found is not None  # read above, for the same workshop
        messages.append(
            OutMessage(
                telegram_id,
                "\n\n".join(texts),
                member.participant_id,
                keyboard_json(buttons),
                not_before=found[1].night_end(now, member.timezone),
            )
        )
    occasions = [
        (plan.id, f"due:{step.id}:{item.due_date.isoformat()}", "overdue")
        for plan, steps, _ in asked
        for step, item in steps
    ]
    # The outbox keeps one row per source and chat: a digest of what was asked names it (64
    # bits, so that two different batches never share a name).
    asked_ids = "+".join(f"{plan_id}:{occasion}" for plan_id, occasion, _ in occasions)
    source = "od:" + hashlib.sha256(asked_ids.encode()).hexdigest()[:16]
    opened = await svc.store.open_checkins(occasions, messages, source, now)
    return len(messages) if opened else 0


def _within_limit(tr: Translator, texts: list[str]) -> list[str]:
    """Keep the plans' texts that fit one Telegram message; say how many more there are."""
    kept: list[str] = []
    used = 0
    for index, text in enumerate(texts):
        if used + len(text) + 2 > OVERDUE_MAX and kept:
            kept.append(tr.t("plan.overdue_more", n=len(texts) - index))
            break
        kept.append(text[:OVERDUE_MAX])
        used += len(text) + 2
    return kept


def _overdue_text(tr: Translator, plan: Plan, steps: list[tuple[PlanStep, OverdueStep]]) -> str:
    """Ask about one plan's steps past their date: one step, or a list of them."""
    if len(steps) == 1:
        step, item = steps[0]
        return tr.t(
            "plan.overdue", action=step.action, title=plan.title, date=tr.date(item.due_date)
        )
    lines = [
        tr.t("plan.overdue_line", action=step.action, date=tr.date(item.due_date))
        for step, item in steps
    ]
    return tr.t("plan.overdue_many", title=plan.title, steps="\n".join(lines))


async def _nudges(svc: Services, now: datetime, workshops: _Workshops) -> int:
    # The shortest nudge delay a workshop may set; each check-in is then held to its own.
    waiting = await svc.store.checkins_to_nudge(now - timedelta(days=1))
    queued = 0
    latest: dict[int, int] = {}
    for item in waiting:
        latest[item.plan_id] = max(latest.get(item.plan_id, 0), item.id)
    for item in waiting:
        plan = await svc.store.plan(item.plan_id)
        found = await workshops.get(plan.workshop_id) if plan is not None else None
        if plan is None or found is None:
            continue
        workshop, spec = found
        if now - item.created_at < timedelta(days=spec.follow_up.nudge_after_days):
            continue
        if not daytime(spec, now):
            continue
        if item.id != latest[item.plan_id] or not plan.open_steps:
            # One reminder per plan is enough: older or moot requests are closed silently.
            await svc.store.nudge_checkin(item.id, [], now)
            continue
        messages = []
        for member in _reachable(plan.members):
            assert member.telegram_id is not None
            lang = svc.i18n.pick(member.language, workshop.language)
            tr = svc.i18n(lang)
            text = tr.t("plan.nudge", title=plan.title, n=len(plan.open_steps))
            messages.append(
                OutMessage(
                    member.telegram_id,
                    text,
                    member.participant_id,
                    keyboard_json(_plan_buttons(tr, [plan])),
                    not_before=spec.night_end(now, member.timezone),
                )
            )
        if await svc.store.nudge_checkin(item.id, messages, now):
            queued += len(messages)
    return queued
