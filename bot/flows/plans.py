"""Action plans in chat: writing one step by step, editing it, and sharing it with a team."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from bot.flows import dialogs
from bot.flows.access import Action, may_on_plan
from bot.flows.callbacks import (
    PlanAddStep,
    PlanContact,
    PlanEdit,
    PlanField,
    PlanLeave,
    PlanLeaveConfirm,
    PlanList,
    PlanNew,
    PlanNewLink,
    PlanOpen,
    PlanSdg,
    PlanSdgDone,
    PlanSkip,
    PlanTeam,
    StepDate,
    StepDown,
    StepField,
    StepOpen,
    StepRemove,
    StepRemoveConfirm,
    StepUp,
    UpdateStart,
)
from bot.flows.common import (
    Ctx,
    clean_text_answer,
    current_workshop,
    text_length_error,
    workshop_file,
)
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.nav import TEAM_PREFIX, pick_workshop, start_link
from bot.flows.schedule import add_months
from bot.i18n import Translator
from storage import DialogState, Plan, PlanStep, StepStatus

TEAM_TOKEN_BYTES = 9
SDG_COUNT = 17
MAX_PLANS_LISTED = 20
DATE_CHOICES = (1, 3, 6, 12)


@dataclass(frozen=True)
class Field:
    """A field someone types: its short code in buttons, storage name and limits."""

    code: str
    name: str
    maximum: int
    optional: bool


PLAN_FIELDS = {
    "t": Field("t", "title", 120, False),
    "o": Field("o", "objective", 500, True),
}
STEP_FIELDS = {
    "a": Field("a", "action", 300, False),
    "r": Field("r", "responsible", 200, True),
    "s": Field("s", "resources", 300, True),
    "i": Field("i", "indicator", 300, True),
    "d": Field("d", "due_date", 40, False),
    "e": Field("e", "success", 300, True),
}
# The order in which a new step's fields are asked.
STEP_WIZARD = ("a", "r", "s", "i", "d", "e")
STATUS_ICON = {
    StepStatus.NOT_STARTED: "⚪",
    StepStatus.IN_PROGRESS: "🔵",
    StepStatus.DONE: "✅",
    StepStatus.BLOCKED: "⛔",
    StepStatus.DROPPED: "✖️",
}
DATE_FORMS = (
    re.compile(r"(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})"),
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
)
MONTHS = {
    "ene": 1, "enero": 1, "jan": 1, "january": 1,
    "feb": 2, "febrero": 2, "february": 2,
    "mar": 3, "marzo": 3, "march": 3,
    "abr": 4, "abril": 4, "apr": 4, "april": 4,
    "may": 5, "mayo": 5,
    "jun": 6, "junio": 6, "june": 6,
    "jul": 7, "julio": 7, "july": 7,
    "ago": 8, "agosto": 8, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "septiembre": 9, "setiembre": 9, "september": 9,
    "oct": 10, "octubre": 10, "october": 10,
    "nov": 11, "noviembre": 11, "november": 11,
    "dic": 12, "diciembre": 12, "dec": 12, "december": 12,
}  # fmt: skip
WORDY_DATE = re.compile(
    r"(?:(?P<d1>\d{1,2})\s+(?:de\s+)?(?P<m1>[a-zñ]+)\.?|(?P<m2>[a-zñ]+)\.?\s+(?P<d2>\d{1,2}),?)"
    r"\s+(?:de\s+|del\s+)?(?P<y>\d{4})"
)


def parse_date(text: str) -> date | None:
    """Read a date typed as dd/mm/aaaa, aaaa-mm-dd, "30 de junio de 2025" or "June 30, 2025"."""
    value = " ".join(text.lower().split())
    for form in DATE_FORMS:
        match = form.fullmatch(value)
        if match:
            year = int(match["y"])
            year = year + 2000 if year < 100 else year
            try:
                return date(year, int(match["m"]), int(match["d"]))
            except ValueError:
                return None
    match = WORDY_DATE.fullmatch(value)
    if match:
        month = MONTHS.get(match["m1"] or match["m2"] or "")
        day = int(match["d1"] or match["d2"] or 0)
        if month is None:
            return None
        try:
            return date(int(match["y"]), month, day)
        except ValueError:
            return None
    return None


def sdg_label(tr: Translator, number: int) -> str:
    """Return an SDG's number and official short name: "11 · Ciudades y comunidades…"."""
    return tr.plain("plan.sdg_label", n=number, name=tr.plain(f"sdg.{number}"))


def status_label(tr: Translator, status: StepStatus) -> str:
    """Return a status with its icon, for cards and buttons."""
    return f"{STATUS_ICON[status]} {tr.plain(f'plan.status.{status.value}')}"


# Reading plans the person may see.


async def my_plan(ctx: Ctx, plan_id: int | None) -> Plan | None:
    """Return the plan if the person owns or co-owns it, else None."""
    if plan_id is None:
        return None
    plan = await ctx.svc.store.plan(plan_id)
    if plan is None or not may_on_plan(ctx.actor.telegram_id, Action.PLAN_EDIT, plan):
        return None
    return plan


def not_member(ctx: Ctx) -> list[Event]:
    """Refuse a button about a plan the person does not belong to (any more)."""
    return [Notice(ctx.tr.t("plan.not_member"), alert=True)]


async def _today(ctx: Ctx, plan: Plan | None = None, workshop_id: int | None = None) -> date:
    wid = plan.workshop_id if plan is not None else workshop_id
    workshop = await ctx.svc.store.workshop(wid) if wid is not None else None
    now = ctx.svc.clock.now()
    if workshop is None:
        return now.date()
    return now.astimezone(workshop_file(workshop).zone).date()


# Cards.


def step_line(tr: Translator, step: PlanStep, index: int, today: date) -> str:
    """Describe one step on a line: status, action, date, and whether it is late."""
    parts = [f"{STATUS_ICON[step.status]} {index}. {tr.t('plan.text', text=step.action)}"]
    if step.due_date is not None:
        late = step.due_date < today and not step.status.closed
        key = "plan.step_due_late" if late else "plan.step_due"
        parts.append(tr.t(key, date=tr.date(step.due_date)))
    return " · ".join(parts)


def summary_line(tr: Translator, plan: Plan) -> str:
    """Count a plan's steps by status, for lists."""
    if not plan.steps:
        return tr.t("plan.no_steps_short")
    counts = {s: sum(1 for st in plan.steps if st.status is s) for s in StepStatus}
    shown = [f"{STATUS_ICON[s]} {n}" for s, n in counts.items() if n]
    return tr.t("plan.steps_count", n=len(plan.steps)) + " · " + " ".join(shown)


def card_text(tr: Translator, plan: Plan, today: date) -> str:
    """Describe a whole plan: title, objective, SDGs, steps and team."""
    lines = [tr.t("plan.card_title", title=plan.title)]
    if plan.objective:
        lines.append(tr.t("plan.card_objective", objective=plan.objective))
    else:
        lines.append(tr.t("plan.card_no_objective"))
    if plan.sdgs:
        names = ", ".join(sdg_label(tr, n) for n in plan.sdgs)
        lines.append(tr.t("plan.card_sdgs", sdgs=names))
    lines.append("")
    if plan.steps:
        done = sum(1 for s in plan.steps if s.status is StepStatus.DONE)
        lines.append(tr.t("plan.card_steps", done=done, total=len(plan.steps)))
        lines.extend(step_line(tr, s, i, today) for i, s in enumerate(plan.steps, start=1))
    else:
        lines.append(tr.t("plan.card_no_steps"))
    if len(plan.members) > 1:
        names = ", ".join(m.name or tr.plain("plan.someone") for m in plan.members)
        lines.append("")
        lines.append(tr.t("plan.card_team", names=names))
    return "\n".join(lines)[:4000]


def card_buttons(tr: Translator, plan: Plan) -> Keyboard:
    """Offer what can be done with a plan."""
    rows: Keyboard = []
    if plan.open_steps:
        rows.append([Button(tr.plain("plan.button_update"), UpdateStart(plan.id).pack())])
    rows.append(
        [
            Button(tr.plain("plan.button_edit"), PlanEdit(plan.id).pack()),
            Button(tr.plain("plan.button_add_step"), PlanAddStep(plan.id).pack()),
        ]
    )
    rows.append(
        [
            Button(tr.plain("plan.button_team"), PlanTeam(plan.id).pack()),
            Button(tr.plain("plan.button_list"), PlanList().pack()),
        ]
    )
    return rows


async def card(
    ctx: Ctx, plan: Plan, message_id: int | None = None, *, header: str | None = None
) -> list[Event]:
    """Show a plan's card, as a new message or in place of `message_id`, under `header`."""
    text = card_text(ctx.tr, plan, await _today(ctx, plan))
    if header:
        text = header + "\n\n" + text
    buttons = card_buttons(ctx.tr, plan)
    if message_id is not None:
        return [Edit(message_id, text, buttons)]
    return [Send(text, buttons)]


# /plan


async def plan_command(ctx: Ctx, args: str = "") -> list[Event]:
    """List the person's plans, or invite them to write one."""
    current = await current_workshop(ctx)
    if not current.choices:
        return [Send(ctx.tr.t("plan.join_first"))]
    plans = await ctx.svc.store.plans_of(ctx.actor.telegram_id)
    rows: Keyboard = [
        [Button(f"📋 {p.title}"[:60], PlanOpen(p.id).pack())] for p in plans[-MAX_PLANS_LISTED:]
    ]
    rows.append([Button(ctx.tr.plain("plan.button_new"), PlanNew().pack())])
    if not plans:
        return [Send(ctx.tr.t("plan.none_yet"), rows)]
    lines = [ctx.tr.t("plan.list_title")]
    for plan in plans[-MAX_PLANS_LISTED:]:
        lines.append(
            ctx.tr.t("plan.list_item", title=plan.title) + "\n" + summary_line(ctx.tr, plan)
        )
    return [Send("\n\n".join(lines)[:4000], rows)]


async def new_plan(ctx: Ctx, workshop_id: int | None) -> list[Event]:
    """Start writing a plan for a workshop the person joined (asking which if unclear)."""
    if workshop_id:
        participant = await ctx.svc.store.participant(workshop_id, ctx.actor.telegram_id)
        if participant is None:
            return [Send(ctx.tr.t("plan.join_first"))]
    else:
        current = await current_workshop(ctx)
        if not current.choices:
            return [Send(ctx.tr.t("plan.join_first"))]
        if current.ambiguous:
            return pick_workshop(ctx, current.choices, then="pl")
        assert current.workshop is not None
        workshop_id = current.workshop.id
    await dialogs.wait_for(
        ctx, PlanFieldText(plan_id=None, workshop_id=workshop_id, field="t", wizard=True)
    )
    return [Send(ctx.tr.t("plan.ask_title"))]


def _skip_button(tr: Translator, plan_id: int, code: str, step_id: int | None = None) -> Keyboard:
    return [[Button(tr.plain("button.skip"), PlanSkip(plan_id, step_id, code).pack())]]


def _cancel_button(tr: Translator, plan_id: int) -> Keyboard:
    return [[Button(tr.plain("button.cancel"), PlanOpen(plan_id).pack())]]


async def ask_plan_field(ctx: Ctx, plan: Plan, code: str, *, wizard: bool) -> list[Event]:
    """Ask for a plan's title or objective, remembering what the next text is for."""
    field = PLAN_FIELDS[code]
    await dialogs.wait_for(
        ctx,
        PlanFieldText(plan_id=plan.id, workshop_id=plan.workshop_id, field=code, wizard=wizard),
    )
    current = getattr(plan, field.name)
    text = ctx.tr.t(f"plan.ask_{field.name}", max=field.maximum)
    if current and not wizard:
        text += "\n\n" + ctx.tr.t("plan.current_value", value=current)
    if wizard:
        buttons = _skip_button(ctx.tr, plan.id, code) if field.optional else None
    else:
        buttons = _cancel_button(ctx.tr, plan.id)
    return [Send(text, buttons)]


def _date_buttons(tr: Translator, plan_id: int, step_id: int, today: date) -> Keyboard:
    rows: Keyboard = []
    row: list[Button] = []
    for months in DATE_CHOICES:
        label = tr.plain("plan.date_in", n=months, date=tr.date(add_months(today, months)))
        row.append(Button(label, StepDate(plan_id, step_id, months).pack()))
        if len(row) == 2:
            rows.append(row)
            row = []
    return rows


async def ask_step_field(
    ctx: Ctx, plan: Plan, step_id: int | None, code: str, *, wizard: bool
) -> list[Event]:
    """Ask for one field of a step (a new one when `step_id` is None)."""
    field = STEP_FIELDS[code]
    await dialogs.wait_for(
        ctx, StepFieldText(plan_id=plan.id, step_id=step_id, field=code, wizard=wizard)
    )
    number = len(plan.steps) + (1 if step_id is None else 0)
    if step_id is not None:
        number = next((i for i, s in enumerate(plan.steps, 1) if s.id == step_id), number)
    # The wizard says where the person is among a step's questions; an edit asks just one.
    part = ""
    if wizard:
        index = STEP_WIZARD.index(code) + 1
        part = ctx.tr.plain("plan.step_part", i=index, total=len(STEP_WIZARD))
    text = ctx.tr.t(f"plan.ask_{field.name}", n=number, max=field.maximum, part=part)
    buttons: Keyboard = []
    if code == "d" and step_id is not None:
        today = await _today(ctx, plan)
        buttons.extend(_date_buttons(ctx.tr, plan.id, step_id, today))
        text += "\n" + ctx.tr.t("plan.date_example", example=ctx.tr.plain("plan.date_sample"))
    if step_id is not None and not wizard:
        step = next((s for s in plan.steps if s.id == step_id), None)
        current = getattr(step, field.name, None) if step else None
        if current:
            shown = ctx.tr.date(current) if isinstance(current, date) else str(current)
            text += "\n\n" + ctx.tr.t("plan.current_value", value=shown)
        buttons.extend(_cancel_button(ctx.tr, plan.id))
    elif wizard and field.optional and step_id is not None:
        buttons.extend(_skip_button(ctx.tr, plan.id, code, step_id))
    return [Send(text, buttons or None)]


def sdg_picker(tr: Translator, plan: Plan) -> tuple[str, Keyboard]:
    """Show the 17 SDGs as toggles, two per row, ticking those chosen."""
    rows: Keyboard = []
    row: list[Button] = []
    for number in range(1, SDG_COUNT + 1):
        tick = "✅ " if number in plan.sdgs else ""
        label = (tick + sdg_label(tr, number))[:60]
        row.append(Button(label, PlanSdg(plan.id, number).pack()))
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append([Button(tr.plain("button.done"), PlanSdgDone(plan.id).pack())])
    return tr.t("plan.ask_sdgs"), rows


class PlanFieldText(Waiting):
    """The plan's title (of a plan not yet created, with no plan id) or objective."""

    state: ClassVar[DialogState] = DialogState.PLAN_FIELD
    plan_id: int | None
    workshop_id: int | None
    field: str
    wizard: bool = False


class StepFieldText(Waiting):
    """One field of a step (of a step not yet created, with no step id)."""

    state: ClassVar[DialogState] = DialogState.STEP_FIELD
    plan_id: int
    step_id: int | None
    field: str
    wizard: bool = False


async def on_plan_text(ctx: Ctx, waiting: PlanFieldText, body: str) -> list[Event]:
    """Take typed text for the plan field the bot asked for."""
    code, wizard = waiting.field, waiting.wizard
    text = clean_text_answer(body)
    field = PLAN_FIELDS.get(code)
    if field is None:
        return [Send(ctx.tr.t("notice.stale"))]
    error = text_length_error(ctx.tr, text, 1, field.maximum)
    if error:
        return [Send(error)]
    now = ctx.svc.clock.now()
    if waiting.plan_id is None:
        participant = (
            await ctx.svc.store.participant(waiting.workshop_id, ctx.actor.telegram_id)
            if waiting.workshop_id is not None
            else None
        )
        if participant is None:
            await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
            return [Send(ctx.tr.t("plan.join_first"))]
        new_id = await ctx.svc.store.create_plan(participant.workshop_id, participant.id, text, now)
        plan = await my_plan(ctx, new_id)
        assert plan is not None
        return [
            Send(ctx.tr.t("plan.created", title=text)),
            *await _after_plan_field(ctx, plan, "t", wizard),
        ]
    plan = await my_plan(ctx, waiting.plan_id)
    if plan is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.not_member"))]
    await ctx.svc.store.set_plan_field(plan.id, field.name, text, now)
    plan = await my_plan(ctx, plan.id)
    assert plan is not None
    return await _after_plan_field(ctx, plan, code, wizard)


async def on_step_text(ctx: Ctx, waiting: StepFieldText, body: str) -> list[Event]:
    """Take typed text for the step field the bot asked for."""
    code, wizard, step_id = waiting.field, waiting.wizard, waiting.step_id
    text = clean_text_answer(body)
    field = STEP_FIELDS.get(code)
    plan = await my_plan(ctx, waiting.plan_id)
    if field is None or plan is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.not_member"))]
    if step_id is not None and all(s.id != step_id for s in plan.steps):
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.step_gone"))]
    now = ctx.svc.clock.now()
    if code == "d":
        day = parse_date(text)
        sample = ctx.tr.plain("plan.date_sample")
        if day is None:
            return [Send(ctx.tr.t("plan.date_unreadable", example=sample))]
        if day < await _today(ctx, plan):
            return [Send(ctx.tr.t("plan.date_past", example=sample))]
        assert step_id is not None
        await ctx.svc.store.set_step_field(step_id, "due_date", day.isoformat(), now)
        return await _after_step_field(ctx, plan.id, step_id, code, wizard)
    error = text_length_error(ctx.tr, text, 1, field.maximum)
    if error:
        return [Send(error)]
    if step_id is None:
        step_id = await ctx.svc.store.add_step(plan.id, text, now)
    else:
        await ctx.svc.store.set_step_field(step_id, field.name, text, now)
    return await _after_step_field(ctx, plan.id, step_id, code, wizard)


async def _after_plan_field(ctx: Ctx, plan: Plan, code: str, wizard: bool) -> list[Event]:
    if not wizard:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.saved")), *await card(ctx, plan)]
    if code == "t":
        return await ask_plan_field(ctx, plan, "o", wizard=True)
    await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    text, rows = sdg_picker(ctx.tr, plan)
    return [Send(text, rows)]


async def _after_step_field(
    ctx: Ctx, plan_id: int, step_id: int, code: str, wizard: bool
) -> list[Event]:
    plan = await my_plan(ctx, plan_id)
    assert plan is not None
    if not wizard:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("plan.saved")), *await step_menu(ctx, plan, step_id)]
    index = STEP_WIZARD.index(code)
    if index + 1 < len(STEP_WIZARD):
        return await ask_step_field(ctx, plan, step_id, STEP_WIZARD[index + 1], wizard=True)
    await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
    step = next(s for s in plan.steps if s.id == step_id)
    number = next(i for i, s in enumerate(plan.steps, 1) if s.id == step_id)
    rows: Keyboard = [
        [Button(ctx.tr.plain("plan.button_another_step"), PlanAddStep(plan.id).pack())],
        [Button(ctx.tr.plain("plan.button_finish"), PlanOpen(plan.id).pack())],
    ]
    return [Send(ctx.tr.t("plan.step_saved", n=number, action=step.action), rows)]


async def step_menu(
    ctx: Ctx, plan: Plan, step_id: int, message_id: int | None = None
) -> list[Event]:
    """Show one step with its fields and the ways to change, move or remove it."""
    index, step = next(((i, s) for i, s in enumerate(plan.steps, 1) if s.id == step_id), (0, None))
    if step is None:
        return [Send(ctx.tr.t("plan.step_gone"))]
    tr = ctx.tr
    empty = tr.plain("plan.empty")
    lines = [
        tr.t("plan.step_title", n=index, title=plan.title),
        tr.t("plan.field_line", name=tr.plain("plan.field.action"), value=step.action),
        tr.t(
            "plan.field_line",
            name=tr.plain("plan.field.responsible"),
            value=step.responsible or empty,
        ),
        tr.t(
            "plan.field_line", name=tr.plain("plan.field.resources"), value=step.resources or empty
        ),
        tr.t(
            "plan.field_line", name=tr.plain("plan.field.indicator"), value=step.indicator or empty
        ),
        tr.t(
            "plan.field_line",
            name=tr.plain("plan.field.due_date"),
            value=tr.date(step.due_date) if step.due_date else empty,
        ),
        tr.t("plan.field_line", name=tr.plain("plan.field.success"), value=step.success or empty),
        tr.t(
            "plan.field_line",
            name=tr.plain("plan.field.status"),
            value=status_label(tr, step.status),
        ),
    ]
    fields = [
        Button(tr.plain(f"plan.field.{f.name}"), StepField(plan.id, step.id, f.code).pack())
        for f in STEP_FIELDS.values()
    ]
    rows: Keyboard = [fields[0:2], fields[2:4], fields[4:6]]
    moves = []
    if index > 1:
        moves.append(Button(tr.plain("plan.button_up"), StepUp(plan.id, step.id).pack()))
    if index < len(plan.steps):
        moves.append(Button(tr.plain("plan.button_down"), StepDown(plan.id, step.id).pack()))
    moves.append(Button(tr.plain("plan.button_remove"), StepRemove(plan.id, step.id).pack()))
    rows.append(moves)
    rows.append([Button(tr.plain("plan.button_back"), PlanEdit(plan.id).pack())])
    text = "\n".join(lines)[:4000]
    if message_id is not None:
        return [Edit(message_id, text, rows)]
    return [Send(text, rows)]


def edit_menu(ctx: Ctx, plan: Plan, message_id: int) -> list[Event]:
    """Offer every field of the plan and each of its steps for editing."""
    tr = ctx.tr
    rows: Keyboard = [
        [
            Button(tr.plain("plan.field.title"), PlanField(plan.id, "t").pack()),
            Button(tr.plain("plan.field.objective"), PlanField(plan.id, "o").pack()),
            Button(tr.plain("plan.field.sdgs"), PlanSdg(plan.id, 0).pack()),
        ]
    ]
    for index, step in enumerate(plan.steps, start=1):
        label = tr.plain("plan.step_button", n=index, action=step.action)[:60]
        rows.append([Button(label, StepOpen(plan.id, step.id).pack())])
    me = plan.member(ctx.actor.telegram_id)
    if me is not None:
        # One's own consent, which each member of a team gives or withdraws for themself.
        key = "plan.button_contact_on" if me.contact else "plan.button_contact_off"
        toggle = PlanContact(plan.id, not me.contact, False)
        rows.append([Button(tr.plain(key), toggle.pack())])
    rows.append(
        [
            Button(tr.plain("plan.button_add_step"), PlanAddStep(plan.id).pack()),
            Button(tr.plain("plan.button_back"), PlanOpen(plan.id).pack()),
        ]
    )
    return [Edit(message_id, tr.t("plan.edit_title", title=plan.title), rows)]


# Teams


def team_link(ctx: Ctx, token: str) -> str:
    """Return the deep link that adds a co-owner to a plan."""
    return start_link(ctx.svc.bot_username, TEAM_PREFIX, token)


async def team(ctx: Ctx, plan: Plan, message_id: int) -> list[Event]:
    """Show the plan's team, the link to invite co-owners, and the way out for co-owners."""
    tr = ctx.tr
    me = plan.member(ctx.actor.telegram_id)
    assert me is not None
    names = "\n".join(
        tr.t(
            "plan.team_member_owner" if m.role == "owner" else "plan.team_member",
            name=m.name or tr.plain("plan.someone"),
        )
        for m in plan.members
    )
    token = plan.team_token
    if token is None:
        token = secrets.token_urlsafe(TEAM_TOKEN_BYTES)
        await ctx.svc.store.set_team_token(plan.id, token)
    text = tr.t("plan.team_text", title=plan.title, members=names, link=team_link(ctx, token))
    rows: Keyboard = []
    if me.role == "owner":
        rows.append([Button(tr.plain("plan.button_new_link"), PlanNewLink(plan.id).pack())])
    else:
        rows.append([Button(tr.plain("plan.button_leave"), PlanLeave(plan.id).pack())])
    rows.append([Button(tr.plain("plan.button_back"), PlanOpen(plan.id).pack())])
    return [Edit(message_id, text, rows)]


async def join_team(ctx: Ctx, token: str) -> list[Event]:
    """Add the person to a plan's team through its link, once."""
    plan = await ctx.svc.store.plan_by_team_token(token) if token else None
    if plan is None:
        return [Send(ctx.tr.t("plan.team_unknown"))]
    me = plan.member(ctx.actor.telegram_id)
    if me is not None:
        key = "plan.team_own" if me.role == "owner" else "plan.team_already"
        return [Send(ctx.tr.t(key, title=plan.title)), *await card(ctx, plan)]
    participant = await ctx.svc.store.participant(plan.workshop_id, ctx.actor.telegram_id)
    if participant is None:
        workshop = await ctx.svc.store.workshop(plan.workshop_id)
        assert workshop is not None
        link = ctx.svc.join_link(workshop.join_code)
        title = workshop_file(workshop).title.get(ctx.lang)
        return [
            Send(
                ctx.tr.t("plan.team_join_workshop", title=title),
                [[Button(ctx.tr.plain("plan.button_join_workshop"), url=link)]],
            )
        ]
    await ctx.svc.store.add_member(plan.id, participant.id, ctx.svc.clock.now())
    plan = await my_plan(ctx, plan.id)
    assert plan is not None
    return [Send(ctx.tr.t("plan.team_joined", title=plan.title)), *await card(ctx, plan)]


# Buttons


PlanTap = (
    PlanOpen
    | PlanEdit
    | PlanField
    | PlanSdg
    | PlanSdgDone
    | PlanContact
    | PlanAddStep
    | PlanSkip
    | PlanTeam
    | PlanNewLink
    | PlanLeave
    | PlanLeaveConfirm
)
StepTap = StepOpen | StepField | StepDate | StepUp | StepDown | StepRemove | StepRemoveConfirm
PLAN_TAPS: tuple[type[PlanList | PlanNew | PlanTap | StepTap], ...] = (
    PlanList,
    PlanNew,
    PlanOpen,
    PlanEdit,
    PlanField,
    PlanSdg,
    PlanSdgDone,
    PlanContact,
    PlanAddStep,
    PlanSkip,
    PlanTeam,
    PlanNewLink,
    PlanLeave,
    PlanLeaveConfirm,
    StepOpen,
    StepField,
    StepDate,
    StepUp,
    StepDown,
    StepRemove,
    StepRemoveConfirm,
)


async def on_callback(
    ctx: Ctx, cb: PlanList | PlanNew | PlanTap | StepTap, message_id: int
) -> list[Event]:
    """Handle the plan buttons: open, edit, steps, SDGs, dates and the team."""
    if isinstance(cb, PlanList):
        return [Notice(), *await plan_command(ctx)]
    if isinstance(cb, PlanNew):
        return [Notice(), *await new_plan(ctx, cb.workshop or None)]
    plan = await my_plan(ctx, cb.plan)
    if plan is None:
        return not_member(ctx)
    if isinstance(cb, StepTap):
        return await _on_step(ctx, plan, cb, message_id)
    return await _on_plan(ctx, plan, cb, message_id)


async def _on_plan(ctx: Ctx, plan: Plan, cb: PlanTap, message_id: int) -> list[Event]:
    """Handle a button about the plan as a whole (the person is one of its members)."""
    if isinstance(cb, PlanOpen):
        waiting = dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id))
        if isinstance(waiting, PlanFieldText | StepFieldText):
            await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Notice(), *await card(ctx, plan)]
    if isinstance(cb, PlanEdit):
        return [Notice(), *edit_menu(ctx, plan, message_id)]
    if isinstance(cb, PlanField):
        return [Notice(), *await ask_plan_field(ctx, plan, cb.field, wizard=False)]
    if isinstance(cb, PlanSdg):
        return await _toggle_sdg(ctx, plan, cb.number, message_id)
    if isinstance(cb, PlanSdgDone):
        return [
            Notice(),
            Edit(message_id, ctx.tr.t("plan.sdgs_saved", sdgs=_sdg_names(ctx.tr, plan))),
            *await _after_sdgs(ctx, plan),
        ]
    if isinstance(cb, PlanContact):
        return await _contact(ctx, plan, cb, message_id)
    if isinstance(cb, PlanAddStep):
        return [Notice(), *await ask_step_field(ctx, plan, None, "a", wizard=True)]
    if isinstance(cb, PlanSkip):
        return await _skip(ctx, plan, cb)
    if isinstance(cb, PlanTeam):
        return [Notice(), *await team(ctx, plan, message_id)]
    me = plan.member(ctx.actor.telegram_id)
    assert me is not None
    if isinstance(cb, PlanNewLink):
        if not may_on_plan(ctx.actor.telegram_id, Action.PLAN_TEAM_LINK, plan):
            return not_member(ctx)
        await ctx.svc.store.set_team_token(plan.id, secrets.token_urlsafe(TEAM_TOKEN_BYTES))
        fresh = await my_plan(ctx, plan.id)
        assert fresh is not None
        return [Notice(ctx.tr.t("plan.new_link_made")), *await team(ctx, fresh, message_id)]
    if isinstance(cb, PlanLeave):
        rows: Keyboard = [
            [
                Button(ctx.tr.plain("plan.button_leave_confirm"), PlanLeaveConfirm(plan.id).pack()),
                Button(ctx.tr.plain("button.cancel"), PlanOpen(plan.id).pack()),
            ]
        ]
        return [Notice(), Edit(message_id, ctx.tr.t("plan.leave_confirm", title=plan.title), rows)]
    if me.role == "owner":
        return [Notice(ctx.tr.t("plan.owner_cannot_leave"), alert=True)]
    await ctx.svc.store.remove_member(plan.id, me.participant_id)
    return [Notice(), Edit(message_id, ctx.tr.t("plan.left", title=plan.title))]


async def _on_step(ctx: Ctx, plan: Plan, cb: StepTap, message_id: int) -> list[Event]:
    """Handle a button about one step of the plan (a removed step is gone)."""
    step = next((s for s in plan.steps if s.id == cb.step), None)
    if step is None:
        return [Notice(ctx.tr.t("plan.step_gone"), alert=True)]
    if isinstance(cb, StepOpen):
        return [Notice(), *await step_menu(ctx, plan, step.id, message_id)]
    if isinstance(cb, StepField):
        if cb.field not in STEP_FIELDS:
            return [Notice(ctx.tr.t("notice.stale"))]
        return [Notice(), *await ask_step_field(ctx, plan, step.id, cb.field, wizard=False)]
    if isinstance(cb, StepDate):
        return await _pick_date(ctx, plan, step, cb.months, message_id)
    if isinstance(cb, StepUp | StepDown):
        await ctx.svc.store.move_step(step.id, -1 if isinstance(cb, StepUp) else 1)
        fresh = await my_plan(ctx, plan.id)
        assert fresh is not None
        return [Notice(ctx.tr.t("plan.moved")), *await step_menu(ctx, fresh, step.id, message_id)]
    if isinstance(cb, StepRemove):
        rows = [
            [
                Button(
                    ctx.tr.plain("plan.button_remove_confirm"),
                    StepRemoveConfirm(plan.id, step.id).pack(),
                ),
                Button(ctx.tr.plain("button.cancel"), StepOpen(plan.id, step.id).pack()),
            ]
        ]
        return [
            Notice(),
            Edit(message_id, ctx.tr.t("plan.remove_confirm", action=step.action), rows),
        ]
    await ctx.svc.store.remove_step(step.id, ctx.svc.clock.now())
    fresh = await my_plan(ctx, plan.id)
    assert fresh is not None
    return [Notice(ctx.tr.t("plan.removed")), *edit_menu(ctx, fresh, message_id)]


def _sdg_names(tr: Translator, plan: Plan) -> str:
    return ", ".join(sdg_label(tr, n) for n in plan.sdgs) or tr.plain("plan.no_sdgs")


async def _toggle_sdg(ctx: Ctx, plan: Plan, number: int, message_id: int) -> list[Event]:
    if not 0 <= number <= SDG_COUNT:
        return [Notice(ctx.tr.t("notice.stale"))]
    if number:
        chosen = set(plan.sdgs) ^ {number}
        value = ",".join(str(n) for n in sorted(chosen))
        await ctx.svc.store.set_plan_field(plan.id, "sdgs", value, ctx.svc.clock.now())
        fresh = await my_plan(ctx, plan.id)
        assert fresh is not None
        plan = fresh
    text, rows = sdg_picker(ctx.tr, plan)
    return [Notice(), Edit(message_id, text, rows)]


async def _after_sdgs(ctx: Ctx, plan: Plan) -> list[Event]:
    # While writing a new plan, the SDGs come before the contact question and the first step.
    if not plan.steps:
        return [await ask_contact(ctx, plan)]
    return await card(ctx, plan)


async def _followers(ctx: Ctx, plan: Plan) -> str:
    workshop = await ctx.svc.store.workshop(plan.workshop_id)
    association = workshop_file(workshop).association if workshop else None
    if association is not None:
        return ctx.tr.plain("plan.followers_association", association=association.name)
    return ctx.tr.plain("plan.followers_organizers")


async def ask_contact(ctx: Ctx, plan: Plan) -> Send:
    """Ask whether those following the plans up may see the person's name and contact."""
    rows: Keyboard = [
        [Button(ctx.tr.plain("plan.contact_yes"), PlanContact(plan.id, True, True).pack())],
        [Button(ctx.tr.plain("plan.contact_no"), PlanContact(plan.id, False, True).pack())],
    ]
    return Send(ctx.tr.t("plan.ask_contact", followers=await _followers(ctx, plan)), rows)


async def _contact(ctx: Ctx, plan: Plan, cb: PlanContact, message_id: int) -> list[Event]:
    me = plan.member(ctx.actor.telegram_id)
    assert me is not None
    now = ctx.svc.clock.now()
    handle = ctx.actor.username if cb.ok else None
    await ctx.svc.store.set_contact(plan.id, me.participant_id, handle, now if cb.ok else None)
    key = "plan.contact_given" if cb.ok else "plan.contact_refused"
    followers = await _followers(ctx, plan)
    fresh = await my_plan(ctx, plan.id)
    assert fresh is not None
    if cb.wizard and not fresh.steps:
        # The question becomes the answer, and the first step is asked below it.
        return [
            Notice(),
            Edit(message_id, ctx.tr.t(key, followers=followers)),
            *await ask_step_field(ctx, fresh, None, "a", wizard=True),
        ]
    if cb.wizard:
        # An old question tapped again: the answer is recorded, the plan is not restarted.
        return [
            Notice(ctx.tr.plain(key, followers=followers)),
            Edit(message_id, ctx.tr.t(key, followers=followers)),
        ]
    return [Notice(ctx.tr.plain(key, followers=followers)), *edit_menu(ctx, fresh, message_id)]


async def _skip(ctx: Ctx, plan: Plan, cb: PlanSkip) -> list[Event]:
    waiting = dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id))
    code = cb.field
    step_id = cb.step or None
    expected = (
        isinstance(waiting, PlanFieldText | StepFieldText)
        and waiting.plan_id == plan.id
        and waiting.field == code
        and (waiting.step_id if isinstance(waiting, StepFieldText) else None) == step_id
    )
    if not expected:
        return [Notice(ctx.tr.t("notice.stale"))]
    if step_id is None:
        return [Notice(), *await _after_plan_field(ctx, plan, code, True)]
    return [Notice(), *await _after_step_field(ctx, plan.id, step_id, code, True)]


async def _pick_date(
    ctx: Ctx, plan: Plan, step: PlanStep, months: int, message_id: int
) -> list[Event]:
    if months not in DATE_CHOICES:
        return [Notice(ctx.tr.t("notice.stale"))]
    day = add_months(await _today(ctx, plan), months)
    now = ctx.svc.clock.now()
    await ctx.svc.store.set_step_field(step.id, "due_date", day.isoformat(), now)
    waiting = dialogs.as_(await ctx.svc.store.dialog(ctx.actor.telegram_id), StepFieldText)
    wizard = waiting is not None and waiting.step_id == step.id and waiting.wizard
    events: list[Event] = [
        Notice(),
        Edit(message_id, ctx.tr.t("plan.date_chosen", date=ctx.tr.date(day))),
    ]
    return [*events, *await _after_step_field(ctx, plan.id, step.id, "d", wizard)]


dialogs.handles(PlanFieldText, on_plan_text)
dialogs.handles(StepFieldText, on_step_text)
