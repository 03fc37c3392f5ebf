"""The menu, help, language and the choice of workshop."""

from __future__ import annotations

from bot.content import WorkshopFile
from bot.flows.access import command_menu
from bot.flows.agenda import agenda
from bot.flows.callbacks import (
    OpenDgca,
    OpenMenu,
    PickLanguage,
    PickWorkshop,
    PlanList,
    ShowHelp,
    ShowPrivacy,
)
from bot.flows.common import Ctx, current_workshop, date_range, member_file, workshop_file
from bot.flows.dgca import open_dgca
from bot.flows.evaluation import open_evaluation
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.flows.forms import visible_slots
from bot.flows.nav import pick_workshop
from bot.flows.plans import new_plan
from storage import Participant


async def _dgca_status(ctx: Ctx, participant: Participant, spec: WorkshopFile) -> str:
    questionnaire = ctx.svc.content.questionnaires.get(spec.dgca) if spec.dgca else None
    if questionnaire is None:
        return ""
    response = await ctx.svc.store.find_response(participant.id, questionnaire.id)
    if response is None:
        return ctx.tr.t("menu.dgca_not_started")
    if response.submitted:
        return ctx.tr.t("menu.dgca_done")
    answers = await ctx.svc.store.answers(response.id)
    slots = visible_slots(questionnaire, answers)
    done = sum(1 for s in slots if s.question.id in answers)
    return ctx.tr.t("menu.dgca_progress", answered=done, total=len(slots))


async def menu(ctx: Ctx) -> list[Event]:
    """Show the main menu for the workshop the conversation is about."""
    current = await current_workshop(ctx)
    if not current.choices:
        return [Send(ctx.tr.t("menu.no_workshop"))]
    if current.ambiguous:
        return pick_workshop(ctx, current.choices, then="mn")
    participant, workshop = current.participant, current.workshop
    assert participant is not None and workshop is not None
    spec = await member_file(ctx.svc, workshop, participant.id)
    title = spec.title.get(ctx.lang)
    dates = date_range(ctx.tr, spec.start_date, spec.end_date)
    rows: Keyboard = []
    if spec.dgca is None:
        text = ctx.tr.t("menu.text_no_dgca", title=title, dates=dates)
    else:
        dgca = await _dgca_status(ctx, participant, spec)
        text = ctx.tr.t("menu.text", title=title, dates=dates, dgca=dgca)
        rows.append([Button(ctx.tr.t("button.dgca"), OpenDgca(workshop.id).pack())])
    rows += [
        [Button(ctx.tr.t("button.plans"), PlanList().pack())],
        [
            Button(ctx.tr.t("button.language"), PickLanguage().pack()),
            Button(ctx.tr.t("button.help"), ShowHelp().pack()),
        ],
        [Button(ctx.tr.t("button.privacy"), ShowPrivacy().pack())],
    ]
    if len(current.choices) > 1:
        rows.append([Button(ctx.tr.t("button.switch_workshop"), PickWorkshop(0, "mn").pack())])
    return [Send(text, rows)]


async def on_workshop_callback(ctx: Ctx, cb: PickWorkshop, message_id: int) -> list[Event]:
    """Make the picked workshop the one the conversation is about, then go on."""
    workshop_id, then = cb.workshop, cb.then
    if workshop_id == 0:
        current = await current_workshop(ctx)
        return [Notice(), *pick_workshop(ctx, current.choices, then="mn")]
    participant = await ctx.svc.store.participant(workshop_id, ctx.actor.telegram_id)
    if participant is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    await ctx.svc.store.set_active_workshop(ctx.actor.telegram_id, workshop_id, ctx.svc.clock.now())
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    title = workshop_file(workshop).title.get(ctx.lang)
    events: list[Event] = [
        Notice(),
        Edit(message_id, ctx.tr.t("menu.workshop_chosen", title=title)),
    ]
    if then == "od":
        return [*events, *await open_dgca(ctx, workshop_id)]
    if then == "oe":
        return [*events, *await open_evaluation(ctx, workshop_id)]
    if then == "pl":
        return [*events, *await new_plan(ctx, workshop_id)]
    if then == "ag":
        return [*events, *await agenda(ctx)]
    return [*events, *await menu(ctx)]


def help_text(ctx: Ctx) -> list[Event]:
    """Explain what the bot does and its commands."""
    return [Send(ctx.tr.t("help.text"), [[Button(ctx.tr.t("button.menu"), OpenMenu().pack())]])]


def language_menu(ctx: Ctx) -> list[Event]:
    """Offer the supported languages."""
    rows = [
        [Button(ctx.svc.i18n(lang).t("language.name"), PickLanguage(lang).pack())]
        for lang in ctx.svc.i18n.languages
    ]
    return [Send(ctx.tr.t("language.ask"), rows)]


async def on_language_callback(ctx: Ctx, cb: PickLanguage, message_id: int) -> list[Event]:
    """Switch the person's language, or show the choice."""
    lang = cb.lang
    if lang is None:
        return [Notice(), *language_menu(ctx)]
    if lang not in ctx.svc.i18n.languages:
        return [Notice(ctx.tr.t("notice.stale"))]
    await ctx.svc.store.set_user_language(ctx.actor.telegram_id, lang, ctx.svc.clock.now())
    new = Ctx(ctx.svc, ctx.actor, lang)
    return [
        Notice(),
        Edit(message_id, new.tr.t("language.changed")),
        await command_menu(ctx.svc, ctx.actor.telegram_id, lang),
        *await menu(new),
    ]
