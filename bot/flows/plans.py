"""Action plans in chat: writing one, editing it, and sharing it with a team.

A plan and each of its steps are forms run by the form engine (`content/questionnaires/
plan.yaml` and `plan_step.yaml`), bound to the plan's own tables: each answer is written to
its plan or step as it is given, the first one creates the record, and any answer can be
asked again from the plan's "Editar" menu. The steps are the plan's repeat: one run of the
step form per step. This module says where the answers go and what follows them; the
engine drives the conversation.
"""

from __future__ import annotations

import secrets
from datetime import date

from bot.content import PLAN_FORM, STEP_FORM, UPDATE_FORM
from bot.flows import forms
from bot.flows import questionnaire as engine
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
    PlanTeam,
    StepDown,
    StepField,
    StepOpen,
    StepRemove,
    StepRemoveConfirm,
    StepUp,
    UpdateStart,
)
from bot.flows.common import Ctx, current_workshop, workshop_file
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.nav import TEAM_PREFIX, pick_workshop, start_link
from bot.i18n import Translator
from storage import AnswerValue, Participant, Plan, PlanStep, StepStatus, Workshop

TEAM_TOKEN_BYTES = 9
MAX_PLANS_LISTED = 20
# A draft's subject until its first answer creates the plan or the step.
NEW = "new"
# A step's fields in its menu, in the step form's order.
STEP_FIELD_NAMES = ("action", "responsible", "resources", "indicator", "due_date", "success")
STATUS_ICON = {
    StepStatus.NOT_STARTED: "⚪",
    StepStatus.IN_PROGRESS: "🔵",
    StepStatus.DONE: "✅",
    StepStatus.BLOCKED: "⛔",
    StepStatus.DROPPED: "✖️",
}


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
        workshop = await ctx.svc.store.workshop(workshop_id)
        if participant is None or workshop is None:
            return [Send(ctx.tr.t("plan.join_first"))]
    else:
        current = await current_workshop(ctx)
        if not current.choices:
            return [Send(ctx.tr.t("plan.join_first"))]
        if current.ambiguous:
            return pick_workshop(ctx, current.choices, then="pl")
        participant, workshop = current.participant, current.workshop
        assert participant is not None and workshop is not None
    form = ctx.svc.content.questionnaire(PLAN_FORM)
    return await engine.open_questionnaire(
        ctx, participant, workshop, form, _plan_written, subject=NEW
    )


async def add_step(ctx: Ctx, plan: Plan) -> list[Event]:
    """Ask a new step's questions, one by one, from its action."""
    participant, workshop = await _member_context(ctx, plan)
    if participant is None or workshop is None:
        return not_member(ctx)
    form = ctx.svc.content.questionnaire(STEP_FORM)
    return await engine.open_questionnaire(
        ctx, participant, workshop, form, _step_written, subject=_step_subject(plan.id, None)
    )


async def _edit(ctx: Ctx, plan: Plan, form_id: str, subject: str, field: str) -> list[Event]:
    """Ask one of the plan's or a step's questions again."""
    participant, _ = await _member_context(ctx, plan)
    form = ctx.svc.content.questionnaire(form_id)
    if participant is None or field not in form.question_ids:
        return [Notice(ctx.tr.t("notice.stale"))]
    return [Notice(), *await engine.edit_answer(ctx, participant, form, subject, field)]


async def _member_context(ctx: Ctx, plan: Plan) -> tuple[Participant | None, Workshop | None]:
    participant = await ctx.svc.store.participant(plan.workshop_id, ctx.actor.telegram_id)
    workshop = await ctx.svc.store.workshop(plan.workshop_id)
    return participant, workshop


# Where the plan form's answers go (bot/flows/questionnaire.py runs the conversation).


def _plan_id(run: forms.Run) -> int | None:
    subject = run.subject
    return int(subject) if subject is not None and subject.isdigit() else None


async def _plan_of_run(ctx: Ctx, run: forms.Run) -> Plan | None:
    return await my_plan(ctx, _plan_id(run))


async def _plan_guard(ctx: Ctx, run: forms.Run) -> str | None:
    if run.subject == NEW:
        return None
    return None if await _plan_of_run(ctx, run) is not None else "plan.not_member"


async def _plan_source(ctx: Ctx, run: forms.Run) -> dict[str, AnswerValue | None]:
    plan = await _plan_of_run(ctx, run)
    if plan is None:
        return {}
    me = plan.member(ctx.actor.telegram_id)
    return {
        "title": plan.title,
        "objective": plan.objective,
        "sdgs": [str(n) for n in plan.sdgs],
        # A refusal is kept with the run's answers: the record only knows a consent.
        "contact": "yes" if me is not None and me.contact else None,
    }


async def _plan_variables(ctx: Ctx, run: forms.Run) -> dict[str, str]:
    return {"followers": _followers(ctx, run.workshop)}


async def _plan_sink(ctx: Ctx, run: forms.Run, field: str, value: AnswerValue) -> None:
    store, now = ctx.svc.store, ctx.svc.clock.now()
    if run.subject == NEW:
        if field == "title" and isinstance(value, str):
            plan_id = await store.create_plan(run.workshop.id, run.participant.id, value, now)
            await engine.rekey(ctx, run, str(plan_id))
        return
    plan = await _plan_of_run(ctx, run)
    if plan is None or (forms.is_skipped(value) and field != "sdgs"):
        return
    if field == "contact":
        me = plan.member(ctx.actor.telegram_id)
        if me is not None:
            agreed = value == "yes"
            handle = ctx.actor.username if agreed else None
            await store.set_contact(plan.id, me.participant_id, handle, now if agreed else None)
    elif field == "sdgs":
        codes = value if isinstance(value, list) else []
        numbers = sorted(int(c) for c in codes if c.isdigit())
        await store.set_plan_field(plan.id, "sdgs", ",".join(map(str, numbers)), now)
    elif isinstance(value, str):
        await store.set_plan_field(plan.id, field, value, now)


async def _plan_written(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Go on from the plan's last question to its first step (or show it, if it has some)."""
    plan = await _plan_of_run(ctx, run)
    if plan is None:
        return not_member(ctx)
    if plan.steps:
        return await card(ctx, plan)
    return await add_step(ctx, plan)


async def _plan_edited(ctx: Ctx, run: forms.Run, changed: bool) -> list[Event]:
    plan = await _plan_of_run(ctx, run)
    if plan is None:
        return not_member(ctx)
    saved = [Send(ctx.tr.t("plan.saved"))] if changed else []
    return [*saved, *await card(ctx, plan)]


# Where the step form's answers go: its subject is "<plan>.<step>" ("<plan>.new" at first).


def _step_subject(plan_id: int, step_id: int | None) -> str:
    return f"{plan_id}.{NEW if step_id is None else step_id}"


def _step_ids(run: forms.Run) -> tuple[int | None, int | None]:
    plan_part, _, step_part = (run.subject or "").partition(".")
    plan_id = int(plan_part) if plan_part.isdigit() else None
    return plan_id, (int(step_part) if step_part.isdigit() else None)


async def plan_and_step(
    ctx: Ctx, plan_id: int | None, step_id: int | None
) -> tuple[Plan | None, PlanStep | None]:
    """Return a plan the person is on and one of its steps (None for either not found)."""
    plan = await my_plan(ctx, plan_id)
    step = next((s for s in plan.steps if s.id == step_id), None) if plan else None
    return plan, step


async def _step_of_run(ctx: Ctx, run: forms.Run) -> tuple[Plan | None, PlanStep | None]:
    return await plan_and_step(ctx, *_step_ids(run))


async def _step_guard(ctx: Ctx, run: forms.Run) -> str | None:
    plan, step = await _step_of_run(ctx, run)
    if plan is None:
        return "plan.not_member"
    if step is None and _step_ids(run)[1] is not None:
        return "plan.step_gone"
    return None


async def _step_source(ctx: Ctx, run: forms.Run) -> dict[str, AnswerValue | None]:
    _, step = await _step_of_run(ctx, run)
    if step is None:
        return {}
    values: dict[str, AnswerValue | None] = {f: getattr(step, f) for f in STEP_FIELD_NAMES}
    values["due_date"] = step.due_date.isoformat() if step.due_date else None
    return values


async def _step_variables(ctx: Ctx, run: forms.Run) -> dict[str, str]:
    plan, step = await _step_of_run(ctx, run)
    if plan is None:
        return {}
    ids = [s.id for s in plan.steps]
    number = ids.index(step.id) + 1 if step is not None else len(ids) + 1
    return {"step": str(number)}


async def _step_sink(ctx: Ctx, run: forms.Run, field: str, value: AnswerValue) -> None:
    store, now = ctx.svc.store, ctx.svc.clock.now()
    plan, step = await _step_of_run(ctx, run)
    if plan is None or not isinstance(value, str):
        return  # a skipped optional field stays empty
    if step is None:
        if field == "action":
            step_id = await store.add_step(plan.id, value, now)
            await engine.rekey(ctx, run, _step_subject(plan.id, step_id))
        return
    await store.set_step_field(step.id, field, value, now)


async def _step_written(ctx: Ctx, run: forms.Run) -> list[Event]:
    """Offer another step, or the plan as it now stands."""
    plan, step = await _step_of_run(ctx, run)
    if plan is None or step is None:
        return not_member(ctx)
    number = next(i for i, s in enumerate(plan.steps, 1) if s.id == step.id)
    rows: Keyboard = [
        [Button(ctx.tr.plain("plan.button_another_step"), PlanAddStep(plan.id).pack())],
        [Button(ctx.tr.plain("plan.button_finish"), PlanOpen(plan.id).pack())],
    ]
    return [Send(ctx.tr.t("plan.step_saved", n=number, action=step.action), rows)]


async def _step_edited(ctx: Ctx, run: forms.Run, changed: bool) -> list[Event]:
    plan, step = await _step_of_run(ctx, run)
    if plan is None or step is None:
        return not_member(ctx)
    saved = [Send(ctx.tr.t("plan.saved"))] if changed else []
    return [*saved, *await step_menu(ctx, plan, step.id)]


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
        Button(tr.plain(f"plan.field.{name}"), StepField(plan.id, step.id, name).pack())
        for name in STEP_FIELD_NAMES
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
            Button(tr.plain(f"plan.field.{name}"), PlanField(plan.id, name).pack())
            for name in ("title", "objective", "sdgs")
        ]
    ]
    for index, step in enumerate(plan.steps, start=1):
        label = tr.plain("plan.step_button", n=index, action=step.action)[:60]
        rows.append([Button(label, StepOpen(plan.id, step.id).pack())])
    me = plan.member(ctx.actor.telegram_id)
    if me is not None:
        # One's own consent, which each member of a team gives or withdraws for themself.
        key = "plan.button_contact_on" if me.contact else "plan.button_contact_off"
        toggle = PlanContact(plan.id, not me.contact)
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
    | PlanContact
    | PlanAddStep
    | PlanTeam
    | PlanNewLink
    | PlanLeave
    | PlanLeaveConfirm
)
StepTap = StepOpen | StepField | StepUp | StepDown | StepRemove | StepRemoveConfirm
PLAN_TAPS: tuple[type[PlanList | PlanNew | PlanTap | StepTap], ...] = (
    PlanList,
    PlanNew,
    PlanOpen,
    PlanEdit,
    PlanField,
    PlanContact,
    PlanAddStep,
    PlanTeam,
    PlanNewLink,
    PlanLeave,
    PlanLeaveConfirm,
    StepOpen,
    StepField,
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
        # Leaving the plan's questions: text typed next is not taken as an answer.
        await engine.leave_forms(ctx, (PLAN_FORM, STEP_FORM, UPDATE_FORM))
        return [Notice(), *await card(ctx, plan)]
    if isinstance(cb, PlanEdit):
        return [Notice(), *edit_menu(ctx, plan, message_id)]
    if isinstance(cb, PlanField):
        return await _edit(ctx, plan, PLAN_FORM, str(plan.id), cb.field)
    if isinstance(cb, PlanContact):
        return await _contact(ctx, plan, cb, message_id)
    if isinstance(cb, PlanAddStep):
        return [Notice(), *await add_step(ctx, plan)]
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
        return await _edit(ctx, plan, STEP_FORM, _step_subject(plan.id, step.id), cb.field)
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


def _followers(ctx: Ctx, workshop: Workshop) -> str:
    association = workshop_file(workshop).association
    if association is not None:
        return ctx.tr.plain("plan.followers_association", association=association.name)
    return ctx.tr.plain("plan.followers_organizers")


async def _contact(ctx: Ctx, plan: Plan, cb: PlanContact, message_id: int) -> list[Event]:
    """Give or withdraw one's own contact consent from the edit menu."""
    me = plan.member(ctx.actor.telegram_id)
    assert me is not None
    now = ctx.svc.clock.now()
    handle = ctx.actor.username if cb.ok else None
    await ctx.svc.store.set_contact(plan.id, me.participant_id, handle, now if cb.ok else None)
    key = "plan.contact_given" if cb.ok else "plan.contact_refused"
    _, workshop = await _member_context(ctx, plan)
    followers = _followers(ctx, workshop) if workshop else ""
    fresh = await my_plan(ctx, plan.id)
    assert fresh is not None
    return [Notice(ctx.tr.plain(key, followers=followers)), *edit_menu(ctx, fresh, message_id)]


forms.register_form(
    PLAN_FORM,
    forms.Binding(
        record=True,
        sink=_plan_sink,
        ending=_plan_written,
        source=_plan_source,
        edited=_plan_edited,
        guard=_plan_guard,
        variables=_plan_variables,
    ),
)
forms.register_form(
    STEP_FORM,
    forms.Binding(
        record=True,
        sink=_step_sink,
        ending=_step_written,
        source=_step_source,
        edited=_step_edited,
        guard=_step_guard,
        variables=_step_variables,
    ),
)
