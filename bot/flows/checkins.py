"""Progress updates on plans, and the check-ins that ask for them months later."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import ClassVar

from bot.content import DAY_END, WorkshopFile
from bot.flows import dialogs
from bot.flows.callbacks import StatusCode, UpdateNext, UpdateStart, UpdateStatus, UpdateStop
from bot.flows.common import Ctx, Media, clean_text_answer, workshop_file
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.plans import STATUS_ICON, card, my_plan, not_member, status_label
from bot.flows.reminders import keyboard_json
from bot.i18n import Translator
from bot.services import Services
from storage import (
    DialogState,
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

# Telegram lets bots download files up to 20 MB; evidence must stay downloadable by viewers.
MAX_EVIDENCE_BYTES = 20 * 1024 * 1024
MAX_NOTE = 500
# A second tap on the same status within this time is the same update, not a new one.
DOUBLE_TAP = timedelta(minutes=2)
STATUS_CODES: dict[StatusCode, StepStatus] = {
    "ns": StepStatus.NOT_STARTED,
    "ip": StepStatus.IN_PROGRESS,
    "dn": StepStatus.DONE,
    "bl": StepStatus.BLOCKED,
    "dr": StepStatus.DROPPED,
}
CODE_OF = {status: code for code, status in STATUS_CODES.items()}
LINK = re.compile(r"https?://[^\s<>\"]{3,2000}", re.IGNORECASE)
EVIDENCE_KINDS = ("photo", "document")


# The update conversation.


def _status_buttons(tr: Translator, plan: Plan, step: PlanStep) -> Keyboard:
    def button(status: StepStatus) -> Button:
        return Button(
            status_label(tr, status), UpdateStatus(plan.id, step.id, CODE_OF[status]).pack()
        )

    return [
        [button(StepStatus.NOT_STARTED), button(StepStatus.IN_PROGRESS)],
        [button(StepStatus.DONE), button(StepStatus.BLOCKED)],
        [button(StepStatus.DROPPED)],
        [
            Button(tr.plain("plan.button_skip_step"), UpdateNext(plan.id, step.id).pack()),
            Button(tr.plain("plan.button_stop_update"), UpdateStop(plan.id).pack()),
        ],
    ]


async def _step_prompt(ctx: Ctx, plan: Plan, step: PlanStep) -> list[Event]:
    tr = ctx.tr
    index = next(i for i, s in enumerate(plan.steps, 1) if s.id == step.id)
    lines = [
        tr.t("plan.update_header", title=plan.title, n=index, total=len(plan.steps)),
        tr.t("plan.update_action", action=step.action),
    ]
    if step.indicator:
        lines.append(tr.t("plan.update_indicator", indicator=step.indicator))
    if step.due_date is not None:
        lines.append(tr.t("plan.update_due", date=tr.date(step.due_date)))
    status = status_label(tr, step.status)
    if step.updated_at is not None:
        lines.append(tr.t("plan.update_status_since", status=status, date=tr.date(step.updated_at)))
    else:
        lines.append(tr.t("plan.update_status", status=status))
    lines.append("")
    lines.append(tr.t("plan.update_ask"))
    return [Send("\n".join(lines)[:4000], _status_buttons(tr, plan, step))]


def _next_open(plan: Plan, after: int | None) -> PlanStep | None:
    steps = plan.open_steps
    if after is None:
        return steps[0] if steps else None
    position = next((s.position for s in plan.steps if s.id == after), None)
    if position is None:
        return steps[0] if steps else None
    return next((s for s in steps if s.position > position), None)


async def start_update(ctx: Ctx, plan: Plan, step_id: int | None = None) -> list[Event]:
    """Walk the person through the open steps of a plan (from `step_id` if given)."""
    step = next((s for s in plan.steps if s.id == step_id), None) or _next_open(plan, None)
    if step is None:
        return [Send(ctx.tr.t("plan.nothing_open")), *await card(ctx, plan)]
    return await _step_prompt(ctx, plan, step)


async def _finish(ctx: Ctx, plan: Plan, message_id: int) -> list[Event]:
    if dialogs.as_(await ctx.svc.store.dialog(ctx.actor.telegram_id), UpdateExtra) is not None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    # One message, not three: the step's own becomes the thanks and the plan as it stands.
    return await card(ctx, plan, message_id, header=ctx.tr.t("plan.update_thanks"))


UPDATE_TAPS = (UpdateStart, UpdateStatus, UpdateNext, UpdateStop)


async def on_callback(
    ctx: Ctx, cb: UpdateStart | UpdateStatus | UpdateNext | UpdateStop, message_id: int
) -> list[Event]:
    """Handle the update buttons: start, a status, the next step, stop."""
    plan = await my_plan(ctx, cb.plan)
    if plan is None:
        return not_member(ctx)
    if isinstance(cb, UpdateStart):
        return [Notice(), *await start_update(ctx, plan, cb.step)]
    if isinstance(cb, UpdateStop):
        return [Notice(), *await _finish(ctx, plan, message_id)]
    step = next((s for s in plan.steps if s.id == cb.step), None)
    if step is None:
        return [Notice(ctx.tr.t("plan.step_gone"), alert=True)]
    if isinstance(cb, UpdateNext):
        following = _next_open(plan, step.id)
        if following is None:
            return [Notice(), *await _finish(ctx, plan, message_id)]
        return [Notice(), *await _step_prompt(ctx, plan, following)]
    return await _record(ctx, plan, step, STATUS_CODES[cb.status], message_id)


async def _record(
    ctx: Ctx, plan: Plan, step: PlanStep, status: StepStatus, message_id: int
) -> list[Event]:
    member = plan.member(ctx.actor.telegram_id)
    assert member is not None
    store, now = ctx.svc.store, ctx.svc.clock.now()
    history = await store.step_history(step.id)
    last = history[-1] if history else None
    if (
        last is not None
        and last.author_id == member.participant_id
        and last.status is status
        and now - last.created_at < DOUBLE_TAP
    ):
        update_id = last.id
    else:
        update_id = await store.record_update(step.id, member.participant_id, status, None, now)
    await dialogs.wait_for(ctx, UpdateExtra(plan_id=plan.id, step_id=step.id, update_id=update_id))
    fresh = await my_plan(ctx, plan.id)
    assert fresh is not None
    index = next((i for i, s in enumerate(fresh.steps, 1) if s.id == step.id), 0)
    text = ctx.tr.t(
        "plan.update_saved", n=index, action=step.action, status=status_label(ctx.tr, status)
    )
    return [
        Notice(ctx.tr.t("plan.saved_short")),
        Edit(message_id, text, _extra_buttons(ctx.tr, fresh, step.id)),
    ]


def _extra_buttons(tr: Translator, plan: Plan, step_id: int) -> Keyboard:
    if _next_open(plan, step_id) is None:
        return [[Button(tr.plain("plan.button_stop_update"), UpdateStop(plan.id).pack())]]
    return [
        [
            Button(tr.plain("plan.button_next_step"), UpdateNext(plan.id, step_id).pack()),
            Button(tr.plain("plan.button_stop_update"), UpdateStop(plan.id).pack()),
        ]
    ]


class UpdateExtra(Waiting):
    """A step's update just given waits for an optional note, link, photo or document."""

    state: ClassVar[DialogState] = DialogState.UPDATE_EXTRA
    expects_text: ClassVar[bool] = False
    plan_id: int
    step_id: int
    update_id: int


async def _extra_context(ctx: Ctx, waiting: UpdateExtra) -> tuple[Plan, int, int] | None:
    plan = await my_plan(ctx, waiting.plan_id)
    step_id, update_id = waiting.step_id, waiting.update_id
    if plan is None:
        return None
    update = await ctx.svc.store.step_update(update_id)
    member = plan.member(ctx.actor.telegram_id)
    if update is None or member is None or update.author_id != member.participant_id:
        return None
    return plan, step_id, update_id


async def on_text(ctx: Ctx, waiting: UpdateExtra, body: str) -> list[Event]:
    """Take a note or a link for the update just given."""
    found = await _extra_context(ctx, waiting)
    if found is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.not_member"))]
    plan, step_id, update_id = found
    text = clean_text_answer(body)
    buttons = _extra_buttons(ctx.tr, plan, step_id)
    link = LINK.fullmatch(text)
    if link:
        await ctx.svc.store.add_evidence(
            update_id,
            "link",
            file_id=None,
            url=text,
            file_name=None,
            file_size=None,
            now=ctx.svc.clock.now(),
        )
        return [Send(ctx.tr.t("plan.evidence_link_saved"), buttons)]
    if not text:
        return [Send(ctx.tr.t("input.too_short", min=1))]
    if len(text) > MAX_NOTE:
        return [Send(ctx.tr.t("input.too_long", length=len(text), max=MAX_NOTE), buttons)]
    if not await ctx.svc.store.add_update_note(update_id, text, MAX_NOTE):
        return [Send(ctx.tr.t("plan.note_full", max=MAX_NOTE), buttons)]
    return [Send(ctx.tr.t("plan.note_saved"), buttons)]


async def on_media(ctx: Ctx, waiting: UpdateExtra, item: Media) -> list[Event]:
    """Take a photo or document as evidence for the update just given."""
    found = await _extra_context(ctx, waiting)
    if found is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.not_member"))]
    plan, step_id, update_id = found
    buttons = _extra_buttons(ctx.tr, plan, step_id)
    if item.kind not in EVIDENCE_KINDS:
        return [Send(ctx.tr.t("plan.evidence_kind"), buttons)]
    if item.file_size is not None and item.file_size > MAX_EVIDENCE_BYTES:
        size = ctx.tr.number(item.file_size / 1024 / 1024, 1)
        return [Send(ctx.tr.t("plan.evidence_too_big", size=size, max=20), buttons)]
    await ctx.svc.store.add_evidence(
        update_id,
        item.kind,
        file_id=item.file_id,
        url=None,
        file_name=item.file_name,
        file_size=item.file_size,
        now=ctx.svc.clock.now(),
    )
    if item.caption:
        await ctx.svc.store.add_update_note(
            update_id, clean_text_answer(item.caption)[:MAX_NOTE], MAX_NOTE
        )
    return [Send(ctx.tr.t(f"plan.evidence_{item.kind}_saved"), buttons)]


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
    queued = 0
    for plan_id, items in by_plan.items():
        found = await workshops.get(items[0].workshop_id)
        plan = await svc.store.plan(plan_id)
        if found is None or plan is None:
            continue
        workshop, _ = found
        steps = [(step, item) for item in items for step in plan.steps if step.id == item.step_id]
        if not steps:
            continue
        messages = []
        for member in _reachable(plan.members):
            assert member.telegram_id is not None
            tr = svc.i18n(svc.i18n.pick(member.language, workshop.language))
            if len(steps) == 1:
                step, item = steps[0]
                text = tr.t(
                    "plan.overdue",
                    action=step.action,
                    title=plan.title,
                    date=tr.date(item.due_date),
                )
            else:
                lines = [
                    tr.t("plan.overdue_line", action=step.action, date=tr.date(item.due_date))
                    for step, item in steps
                ]
                text = tr.t("plan.overdue_many", title=plan.title, steps="\n".join(lines))
            first = steps[0][0]
            buttons = [
                [Button(tr.plain("plan.button_update_step"), UpdateStart(plan.id, first.id).pack())]
            ]
            messages.append(
                OutMessage(member.telegram_id, text, member.participant_id, keyboard_json(buttons))
            )
        occasions = [
            (plan.id, f"due:{step.id}:{item.due_date.isoformat()}", "overdue")
            for step, item in steps
        ]
        source = "od:" + "+".join(f"{step.id}:{item.due_date}" for step, item in steps)
        opened = await svc.store.open_checkins(occasions, messages, source, now)
        if opened:
            queued += len(messages)
    return queued


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
                )
            )
        if await svc.store.nudge_checkin(item.id, messages, now):
            queued += len(messages)
    return queued


dialogs.handles(UpdateExtra, on_text, on_media)
