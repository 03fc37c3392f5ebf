"""Joining a workshop: greeting, language and consent (the details follow in profile)."""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo

from bot.content import WorkshopFile, is_valid_join_code
from bot.flows import dialogs
from bot.flows.callbacks import Consent, JoinContinue, JoinLanguage, OpenDgca, OpenMenu
from bot.flows.common import (
    Actor,
    Ctx,
    date_range,
    entry_events,
    make_ctx,
    member_file,
    workshop_file,
)
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send, SetCommands
from bot.flows.profile import ask_next_profile_step
from bot.services import Services
from storage import DialogState, Workshop


class JoinStep(Waiting):
    """Someone opened a join link and has not consented yet (a base: no state of its own).

    Nothing is stored about the person before consent, so a language picked on the greeting
    waits here.
    """

    expects_text: ClassVar[bool] = False
    workshop_id: int
    lang: str | None = None
    # The programme event whose own link was opened (None: the workshop's or programme's).
    event: str | None = None


class Greeting(JoinStep):
    """The greeting is shown, with its language buttons and Continue."""

    state: ClassVar[DialogState] = DialogState.JOIN_GREETING


class ConsentAsked(JoinStep):
    """The consent text is shown, with Accept and Decline."""

    state: ClassVar[DialogState] = DialogState.JOIN_CONSENT


async def start(svc: Services, actor: Actor, code: str) -> list[Event]:
    """Open a workshop's join link: greet a newcomer, or go on with a known participant."""
    workshop, event_id = await _by_code(svc, code)
    if workshop is None:
        ctx = await make_ctx(svc, actor)
        return [Send(ctx.tr.t("join.unknown_code"))]
    ctx = await make_ctx(svc, actor, fallback=workshop.language)
    # A person opening a link chooses the workshop the conversation is about.
    now = svc.clock.now()
    participant = await svc.store.participant(workshop.id, actor.telegram_id)
    if participant is not None:
        await svc.store.set_active_workshop(actor.telegram_id, workshop.id, now)
        whole = workshop_file(workshop)
        added = await svc.store.add_event_members(
            participant.id, entry_events(whole, event_id), now
        )
        if not participant.profile_done:
            return await ask_next_profile_step(ctx, participant, workshop)
        spec = await member_file(svc, workshop, participant.id)
        rows: Keyboard = [[Button(ctx.tr.t("button.menu"), OpenMenu().pack())]]
        if spec.dgca is not None:
            rows.insert(0, [Button(ctx.tr.t("button.dgca"), OpenDgca(workshop.id).pack())])
        event = whole.event(event_id)
        if event is not None and added:
            # A programme member opening another event's link is now in that event too.
            text = ctx.tr.t(
                "join.event_added",
                title=event.title.get(ctx.lang),
                dates=date_range(ctx.tr, event.start_date, event.end_date),
            )
            return [Send(text, rows)]
        title = (event or spec).title.get(ctx.lang)
        return [Send(ctx.tr.t("join.already", title=title), rows)]
    user = await svc.store.user(actor.telegram_id)
    if user is None or user.language not in workshop_file(workshop).languages:
        # The greeting comes in the workshop's language until the person picks another (a
        # language of theirs that the workshop does not offer counts as none).
        ctx = Ctx(svc, actor, svc.i18n.pick(workshop.language))
    waiting = Greeting(workshop_id=workshop.id, event=event_id)
    await svc.store.set_dialog(actor.telegram_id, Greeting.state, waiting.data(), now)
    return [Send(*_greeting(ctx, workshop, event_id))]


async def _by_code(svc: Services, code: str) -> tuple[Workshop | None, str | None]:
    """Find the workshop of a join code, or the programme and event of an event's code."""
    if not is_valid_join_code(code):
        return None, None
    workshop = await svc.store.workshop_by_code(code)
    if workshop is not None:
        return workshop, None
    found = await svc.store.workshop_by_event_code(code)
    if found is None or workshop_file(found[0]).event(found[1]) is None:
        return None, None
    return found


def _greeting(ctx: Ctx, workshop: Workshop, event_id: str | None = None) -> tuple[str, Keyboard]:
    whole = workshop_file(workshop)
    # An event's own link greets with the event: its title and dates.
    event = whole.event(event_id)
    spec = whole.for_event(event) if event is not None else whole
    text = ctx.tr.t(
        "join.greeting",
        title=spec.title.get(ctx.lang),
        organizer=spec.organizers(ctx.lang),
        dates=date_range(ctx.tr, spec.start_date, spec.end_date),
    )
    others = [
        Button(ctx.svc.i18n(lang).t("language.switch_to"), JoinLanguage(workshop.id, lang).pack())
        for lang in offered(ctx, spec)
        if lang != ctx.lang
    ]
    return text, [
        [Button(ctx.tr.t("button.continue"), JoinContinue(workshop.id).pack())],
        others,
    ]


def offered(ctx: Ctx, spec: WorkshopFile) -> list[str]:
    """Return the languages a workshop offers that the bot speaks (its file's `languages`)."""
    return [lang for lang in ctx.svc.i18n.languages if lang in spec.languages]


def _consent(ctx: Ctx, spec: WorkshopFile, workshop_id: int) -> tuple[str, Keyboard]:
    text = ctx.tr.t(
        "join.consent",
        organizer=spec.organizers(ctx.lang),
        months=ctx.tr.plain("count.months", n=spec.retention_months),
        min=ctx.tr.plain("count.people", n=spec.report_min_group),
    )
    return text, [
        [
            Button(ctx.tr.t("button.decline"), Consent(workshop_id, accept=False).pack()),
            Button(ctx.tr.t("button.accept"), Consent(workshop_id, accept=True).pack()),
        ]
    ]


async def _pending(ctx: Ctx, workshop_id: int) -> tuple[Workshop, JoinStep] | None:
    """Return the workshop only if this person opened its link (forged taps get None)."""
    waiting = dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id))
    if not isinstance(waiting, JoinStep) or waiting.workshop_id != workshop_id:
        return None
    workshop = await ctx.svc.store.workshop(workshop_id)
    return (workshop, waiting) if workshop else None


async def _join_ctx(ctx: Ctx, workshop: Workshop, waiting: JoinStep) -> Ctx:
    """Speak the language picked on the greeting, else the person's, else the workshop's."""
    user = await ctx.svc.store.user(ctx.actor.telegram_id)
    # A language the workshop does not offer (the person's, from another workshop) gives
    # way to the workshop's own.
    known = user.language if user and user.language in workshop_file(workshop).languages else None
    lang = ctx.svc.i18n.pick(waiting.lang, known, workshop.language)
    return Ctx(ctx.svc, ctx.actor, lang)


JoinTap = JoinLanguage | JoinContinue | Consent


async def on_join_callback(ctx: Ctx, cb: JoinTap, message_id: int) -> list[Event]:
    """Handle the greeting and consent buttons."""
    found = await _pending(ctx, cb.workshop)
    if found is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop, waiting = found
    ctx = await _join_ctx(ctx, workshop, waiting)
    store, now, uid = ctx.svc.store, ctx.svc.clock.now(), ctx.actor.telegram_id
    if isinstance(cb, JoinLanguage):
        lang = cb.lang
        if lang not in offered(ctx, workshop_file(workshop)):
            return [Notice(ctx.tr.t("notice.stale"))]
        await dialogs.wait_for(ctx, waiting.model_copy(update={"lang": lang}))
        ctx = Ctx(ctx.svc, ctx.actor, lang)
        text, buttons = _greeting(ctx, workshop, waiting.event)
        return [Notice(), Edit(message_id, text, buttons), SetCommands(lang)]
    if isinstance(cb, JoinContinue):
        await dialogs.wait_for(
            ctx, ConsentAsked(workshop_id=workshop.id, lang=waiting.lang, event=waiting.event)
        )
        text, buttons = _consent(ctx, workshop_file(workshop), workshop.id)
        return [Notice(), Edit(message_id, text, buttons)]
    if not cb.accept:
        await store.clear_dialog(uid)
        return [Notice(), Edit(message_id, ctx.tr.t("join.declined"))]
    user = await store.user(uid)
    offers = workshop_file(workshop).languages
    if waiting.lang is not None or user is None or user.language not in offers:
        # The conversation goes on in the language of the join (a language of theirs
        # that this workshop does not offer gives way to one it does).
        await store.set_user_language(uid, ctx.lang, now)
    participant, _ = await store.join(
        workshop_id=workshop.id, telegram_id=uid, language=ctx.lang, now=now
    )
    await store.add_event_members(
        participant.id, entry_events(workshop_file(workshop), waiting.event), now
    )
    local = now.astimezone(ZoneInfo(workshop.timezone))
    consent_text = ctx.tr.t("join.consent_given", when=ctx.tr.datetime(local))
    return [
        Notice(),
        Edit(message_id, consent_text),
        *await ask_next_profile_step(ctx, participant, workshop),
    ]


async def on_join_text(ctx: Ctx, waiting: JoinStep, body: str) -> list[Event]:
    """Answer typing during the greeting or consent: ask again, with the buttons."""
    workshop = await ctx.svc.store.workshop(waiting.workshop_id)
    if workshop is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    ctx = await _join_ctx(ctx, workshop, waiting)
    if isinstance(waiting, ConsentAsked):
        text, buttons = _consent(ctx, workshop_file(workshop), workshop.id)
    else:
        text, buttons = _greeting(ctx, workshop, waiting.event)
    return [Send(ctx.tr.t("input.use_buttons")), Send(text, buttons)]


dialogs.handles(Greeting, on_join_text)
dialogs.handles(ConsentAsked, on_join_text)
