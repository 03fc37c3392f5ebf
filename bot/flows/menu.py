"""The menu, help, language and the choice of workshop."""

from __future__ import annotations

from bot.flows.agenda import agenda
from bot.flows.callbacks import Callback, Kind, pack
from bot.flows.common import Ctx, current_workshop, date_range, workshop_file
from bot.flows.dgca import open_dgca
from bot.flows.evaluation import open_evaluation
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send, SetCommands
from bot.flows.nav import pick_workshop
from bot.flows.plans import new_plan
from bot.flows.questionnaire import visible_slots
from storage import Participant, Workshop


async def _dgca_status(ctx: Ctx, participant: Participant, workshop: Workshop) -> str:
    spec = workshop_file(workshop)
    questionnaire = ctx.svc.content.questionnaires.get(spec.dgca)
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
        return pick_workshop(ctx, current.choices, then=Kind.MENU)
    participant, workshop = current.participant, current.workshop
    assert participant is not None and workshop is not None
    spec = workshop_file(workshop)
    text = ctx.tr.t(
        "menu.text",
        title=spec.title.get(ctx.lang),
        dates=date_range(ctx.tr, spec.start_date, spec.end_date),
        dgca=await _dgca_status(ctx, participant, workshop),
    )
    rows: Keyboard = [
        [Button(ctx.tr.t("button.dgca"), pack(Kind.OPEN_DGCA, workshop.id))],
        [Button(ctx.tr.t("button.plans"), pack(Kind.PLAN, "ls", 0))],
        [
            Button(ctx.tr.t("button.language"), pack(Kind.LANGUAGE)),
            Button(ctx.tr.t("button.help"), pack(Kind.HELP)),
        ],
        [Button(ctx.tr.t("button.privacy"), pack(Kind.PRIVACY))],
    ]
    if len(current.choices) > 1:
        rows.append([Button(ctx.tr.t("button.switch_workshop"), pack(Kind.WORKSHOP, 0, "mn"))])
    return [Send(text, rows)]


async def on_workshop_callback(ctx: Ctx, cb: Callback, message_id: int) -> list[Event]:
    """Make the picked workshop the one the conversation is about, then go on."""
    workshop_id = cb.int_field(0)
    then = cb.str_field(1)
    if workshop_id == 0:
        current = await current_workshop(ctx)
        return [Notice(), *pick_workshop(ctx, current.choices, then=Kind.MENU)]
    participant = (
        await ctx.svc.store.participant(workshop_id, ctx.actor.telegram_id)
        if workshop_id is not None
        else None
    )
    if participant is None or workshop_id is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    await ctx.svc.store.set_active_workshop(ctx.actor.telegram_id, workshop_id, ctx.svc.clock.now())
    workshop = await ctx.svc.store.workshop(workshop_id)
    assert workshop is not None
    title = workshop_file(workshop).title.get(ctx.lang)
    events: list[Event] = [
        Notice(),
        Edit(message_id, ctx.tr.t("menu.workshop_chosen", title=title)),
    ]
    if then == Kind.OPEN_DGCA.value:
        return [*events, *await open_dgca(ctx, workshop_id)]
    if then == Kind.OPEN_EVALUATION.value:
        return [*events, *await open_evaluation(ctx, workshop_id)]
    if then == Kind.PLAN.value:
        return [*events, *await new_plan(ctx, workshop_id)]
    if then == Kind.AGENDA.value:
        return [*events, *await agenda(ctx)]
    return [*events, *await menu(ctx)]


def help_text(ctx: Ctx) -> list[Event]:
    """Explain what the bot does and its commands."""
    return [Send(ctx.tr.t("help.text"), [[Button(ctx.tr.t("button.menu"), pack(Kind.MENU))]])]


def language_menu(ctx: Ctx) -> list[Event]:
    """Offer the supported languages."""
    rows = [
        [Button(ctx.svc.i18n(lang).t("language.name"), pack(Kind.LANGUAGE, lang))]
        for lang in ctx.svc.i18n.languages
    ]
    return [Send(ctx.tr.t("language.ask"), rows)]


async def on_language_callback(ctx: Ctx, cb: Callback, message_id: int) -> list[Event]:
    """Switch the person's language, or show the choice."""
    lang = cb.str_field(0)
    if lang is None:
        return [Notice(), *language_menu(ctx)]
    if lang not in ctx.svc.i18n.languages:
        return [Notice(ctx.tr.t("notice.stale"))]
    await ctx.svc.store.set_user_language(ctx.actor.telegram_id, lang, ctx.svc.clock.now())
    new = Ctx(ctx.svc, ctx.actor, lang)
    return [
        Notice(),
        Edit(message_id, new.tr.t("language.changed")),
        SetCommands(
            lang,
            organizer=bool(await ctx.svc.store.organizer_workshops(ctx.actor.telegram_id)),
            viewer=bool(await ctx.svc.store.viewer_associations(ctx.actor.telegram_id)),
        ),
        *await menu(new),
    ]
