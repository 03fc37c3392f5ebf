"""Joining a workshop: greeting, language, consent and the participant's details."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.content import WorkshopFile, is_valid_join_code
from bot.flows.callbacks import Callback, Kind, pack
from bot.flows.common import (
    Actor,
    Ctx,
    current_workshop,
    date_range,
    make_ctx,
    short_hash,
    text_length_error,
    workshop_file,
)
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send, SetCommands
from bot.i18n import Html
from bot.services import Services
from storage import Dialog, DialogState, Participant, Workshop

INSTITUTIONS_PER_PAGE = 6
ORGANIZER_PREFIX = "org-"
# Deep-link prefixes of team and viewer invitations, which /start hands on.
TEAM_PREFIX = "team-"
VIEWER_PREFIX = "view-"


@dataclass(frozen=True)
class FieldRule:
    """Limits of a typed profile field."""

    field: str
    min_length: int
    max_length: int


NAME = FieldRule("name", 2, 80)
INSTITUTION = FieldRule("institution", 2, 120)
POSITION = FieldRule("position", 2, 80)
COUNTRY = FieldRule("country", 2, 60)

JOIN_STATES = (DialogState.JOIN_GREETING, DialogState.JOIN_CONSENT)
PROFILE_TEXT_STATES = {
    DialogState.PROFILE_NAME: NAME,
    DialogState.PROFILE_INSTITUTION_TEXT: INSTITUTION,
    DialogState.PROFILE_POSITION: POSITION,
    DialogState.PROFILE_COUNTRY_TEXT: COUNTRY,
}


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def clean_typed(text: str) -> str:
    """Collapse white space in a typed value."""
    return " ".join(text.split())


async def start(svc: Services, actor: Actor, payload: str | None) -> list[Event]:
    """Handle /start, with or without a join code."""
    code = (payload or "").strip()
    if not code:
        ctx = await make_ctx(svc, actor)
        current = await current_workshop(ctx)
        if current.choices:
            from bot.flows.menu import menu

            return await menu(ctx)
        return [Send(ctx.tr.t("start.no_code"))]
    if code.startswith(TEAM_PREFIX):
        from bot.flows.plans import join_team

        return await join_team(await make_ctx(svc, actor), code[len(TEAM_PREFIX) :])
    if code.startswith(VIEWER_PREFIX):
        from bot.flows.associations import redeem as redeem_viewer

        return await redeem_viewer(await make_ctx(svc, actor), code[len(VIEWER_PREFIX) :])
    if code.startswith(ORGANIZER_PREFIX):
        from bot.flows.organizer import redeem

        events = await redeem(await make_ctx(svc, actor), code[len(ORGANIZER_PREFIX) :])
        return events
    workshop = await svc.store.workshop_by_code(code) if is_valid_join_code(code) else None
    if workshop is None:
        ctx = await make_ctx(svc, actor)
        return [Send(ctx.tr.t("join.unknown_code"))]
    ctx = await make_ctx(svc, actor, fallback=workshop.language)
    # A person opening a link chooses the workshop the conversation is about.
    now = svc.clock.now()
    participant = await svc.store.participant(workshop.id, actor.telegram_id)
    if participant is not None:
        await svc.store.set_active_workshop(actor.telegram_id, workshop.id, now)
        if not participant.profile_done:
            return await ask_next_profile_step(ctx, participant, workshop)
        spec = workshop_file(workshop)
        return [
            Send(
                ctx.tr.t("join.already", title=spec.title.get(ctx.lang)),
                [
                    [Button(ctx.tr.t("button.dgca"), pack(Kind.OPEN_DGCA, workshop.id))],
                    [Button(ctx.tr.t("button.menu"), pack(Kind.MENU))],
                ],
            )
        ]
    user = await svc.store.user(actor.telegram_id)
    if user is None or user.language is None:
        # The greeting comes in the workshop's language until the person picks another.
        ctx = Ctx(svc, actor, svc.i18n.pick(workshop.language))
    await svc.store.set_dialog(
        actor.telegram_id, DialogState.JOIN_GREETING, {"workshop_id": workshop.id}, now
    )
    return [Send(*_greeting(ctx, workshop))]


def _greeting(ctx: Ctx, workshop: Workshop) -> tuple[str, Keyboard]:
    spec = workshop_file(workshop)
    text = ctx.tr.t(
        "join.greeting",
        title=spec.title.get(ctx.lang),
        organizer=spec.organizer.get(ctx.lang),
        dates=date_range(ctx.tr, spec.start_date, spec.end_date),
    )
    others = [
        Button(
            ctx.svc.i18n(lang).t("language.switch_to"), pack(Kind.JOIN_LANGUAGE, workshop.id, lang)
        )
        for lang in ctx.svc.i18n.languages
        if lang != ctx.lang
    ]
    return text, [
        [Button(ctx.tr.t("button.continue"), pack(Kind.JOIN_CONTINUE, workshop.id))],
        others,
    ]


def _consent(ctx: Ctx, spec: WorkshopFile, workshop_id: int) -> tuple[str, Keyboard]:
    text = ctx.tr.t(
        "join.consent",
        organizer=spec.organizer.get(ctx.lang),
        months=spec.retention_months,
    )
    return text, [
        [
            Button(ctx.tr.t("button.decline"), pack(Kind.CONSENT, workshop_id, 0)),
            Button(ctx.tr.t("button.accept"), pack(Kind.CONSENT, workshop_id, 1)),
        ]
    ]


async def _pending(ctx: Ctx, workshop_id: int | None) -> tuple[Workshop, Dialog] | None:
    """Return the workshop only if this person opened its link (forged taps get None)."""
    if workshop_id is None:
        return None
    dialog = await ctx.svc.store.dialog(ctx.actor.telegram_id)
    if dialog is None or dialog.state not in JOIN_STATES:
        return None
    if dialog.data.get("workshop_id") != workshop_id:
        return None
    workshop = await ctx.svc.store.workshop(workshop_id)
    return (workshop, dialog) if workshop else None


async def _join_ctx(ctx: Ctx, workshop: Workshop, dialog: Dialog) -> Ctx:
    """Speak the language picked on the greeting, else the person's, else the workshop's."""
    user = await ctx.svc.store.user(ctx.actor.telegram_id)
    chosen = dialog.data.get("lang")
    lang = ctx.svc.i18n.pick(
        chosen if isinstance(chosen, str) else None,
        user.language if user else None,
        workshop.language,
    )
    return Ctx(ctx.svc, ctx.actor, lang)


async def on_join_callback(ctx: Ctx, cb: Callback, message_id: int) -> list[Event]:
    """Handle the greeting and consent buttons."""
    found = await _pending(ctx, cb.int_field(0))
    if found is None:
        return [Notice(ctx.tr.t("notice.stale"))]
    workshop, dialog = found
    ctx = await _join_ctx(ctx, workshop, dialog)
    store, now, uid = ctx.svc.store, ctx.svc.clock.now(), ctx.actor.telegram_id
    if cb.kind is Kind.JOIN_LANGUAGE:
        lang = cb.str_field(1)
        if lang not in ctx.svc.i18n.languages:
            return [Notice(ctx.tr.t("notice.stale"))]
        # Nothing is stored about the person before consent, so the choice waits in the dialog.
        await store.set_dialog(uid, dialog.state, {**dialog.data, "lang": lang}, now)
        ctx = Ctx(ctx.svc, ctx.actor, lang)
        text, buttons = _greeting(ctx, workshop)
        return [Notice(), Edit(message_id, text, buttons), SetCommands(lang)]
    if cb.kind is Kind.JOIN_CONTINUE:
        await store.set_dialog(uid, DialogState.JOIN_CONSENT, dialog.data, now)
        text, buttons = _consent(ctx, workshop_file(workshop), workshop.id)
        return [Notice(), Edit(message_id, text, buttons)]
    # Kind.CONSENT
    if cb.str_field(1) != "1":
        await store.clear_dialog(uid)
        return [Notice(), Edit(message_id, ctx.tr.t("join.declined"))]
    user = await store.user(uid)
    if "lang" in dialog.data or user is None or user.language is None:
        await store.set_user_language(uid, ctx.lang, now)
    participant, _ = await store.join(
        workshop_id=workshop.id, telegram_id=uid, language=ctx.lang, now=now
    )
    local = now.astimezone(ZoneInfo(workshop.timezone))
    consent_text = ctx.tr.t("join.consent_given", when=ctx.tr.datetime(local))
    return [
        Notice(),
        Edit(message_id, consent_text),
        *await ask_next_profile_step(ctx, participant, workshop),
    ]


async def on_join_text(ctx: Ctx, dialog: Dialog) -> list[Event]:
    """Answer typing during the greeting or consent: ask again, with the buttons."""
    workshop_id = dialog.data.get("workshop_id")
    workshop = await ctx.svc.store.workshop(workshop_id) if isinstance(workshop_id, int) else None
    if workshop is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    ctx = await _join_ctx(ctx, workshop, dialog)
    if dialog.state is DialogState.JOIN_CONSENT:
        text, buttons = _consent(ctx, workshop_file(workshop), workshop.id)
    else:
        text, buttons = _greeting(ctx, workshop)
    return [Send(ctx.tr.t("input.use_buttons")), Send(text, buttons)]


def _next_field(participant: Participant) -> str | None:
    for rule in (NAME, INSTITUTION, POSITION, COUNTRY):
        if not getattr(participant, rule.field):
            return rule.field
    return None


async def ask_next_profile_step(
    ctx: Ctx, participant: Participant, workshop: Workshop
) -> list[Event]:
    """Ask for the first missing detail, or finish the profile."""
    store, now, tr = ctx.svc.store, ctx.svc.clock.now(), ctx.tr
    uid, pid = ctx.actor.telegram_id, participant.id
    spec = workshop_file(workshop)
    field = _next_field(participant)
    if field == "name":
        await store.set_dialog(uid, DialogState.PROFILE_NAME, {"participant_id": pid}, now)
        name = ctx.actor.full_name
        buttons: Keyboard = []
        if name and len(name) <= NAME.max_length:
            # Button labels are plain text: no HTML escaping here.
            label = tr.plain("profile.use_name", name=name)
            buttons = [[Button(label, pack(Kind.PROFILE_NAME, pid))]]
        return [Send(tr.t("profile.ask_name", step=1), buttons or None)]
    if field == "institution":
        if spec.institutions:
            await store.set_dialog(
                uid, DialogState.PROFILE_INSTITUTION, {"participant_id": pid}, now
            )
            return [Send(*_institution_page(ctx, spec, pid, 0))]
        await store.set_dialog(
            uid, DialogState.PROFILE_INSTITUTION_TEXT, {"participant_id": pid}, now
        )
        return [Send(tr.t("profile.ask_institution_text", step=2))]
    if field == "position":
        await store.set_dialog(uid, DialogState.PROFILE_POSITION, {"participant_id": pid}, now)
        return [Send(tr.t("profile.ask_position", step=3))]
    if field == "country":
        if spec.country is not None:
            await store.set_dialog(uid, DialogState.PROFILE_COUNTRY, {"participant_id": pid}, now)
            country = spec.country.get(ctx.lang)
            return [
                Send(
                    tr.t("profile.ask_country", step=4),
                    [
                        [Button(country, pack(Kind.COUNTRY, pid))],
                        [Button(tr.t("button.other_country"), pack(Kind.COUNTRY_OTHER, pid))],
                    ],
                )
            ]
        await store.set_dialog(uid, DialogState.PROFILE_COUNTRY_TEXT, {"participant_id": pid}, now)
        return [Send(tr.t("profile.ask_country_text", step=4))]
    await store.clear_dialog(uid)
    if not participant.profile_done:
        await store.mark_profile_done(pid)
    return [
        Send(
            tr.t("profile.done", name=participant.name or "", title=spec.title.get(ctx.lang)),
            [
                [Button(tr.t("button.start_dgca"), pack(Kind.OPEN_DGCA, workshop.id))],
                [Button(tr.t("button.menu"), pack(Kind.MENU))],
            ],
        )
    ]


def _institution_page(ctx: Ctx, spec: WorkshopFile, pid: int, page: int) -> tuple[str, Keyboard]:
    names = spec.institutions
    digest = short_hash(*names)
    pages = max(1, -(-len(names) // INSTITUTIONS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * INSTITUTIONS_PER_PAGE
    rows: Keyboard = [
        [Button(name, pack(Kind.INSTITUTION, pid, index, digest))]
        for index, name in enumerate(names[start : start + INSTITUTIONS_PER_PAGE], start=start)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append(Button("‹", pack(Kind.INSTITUTION_PAGE, pid, page - 1, digest)))
    if page < pages - 1:
        nav.append(Button("›", pack(Kind.INSTITUTION_PAGE, pid, page + 1, digest)))
    if nav:
        rows.append(nav)
    rows.append([Button(ctx.tr.t("button.other_institution"), pack(Kind.INSTITUTION_OTHER, pid))])
    text = ctx.tr.t("profile.ask_institution", step=2)
    if pages > 1:
        text += "\n" + ctx.tr.t("profile.page", page=page + 1, pages=pages)
    return text, rows


async def _own_participant(ctx: Ctx, pid: int | None) -> tuple[Participant, Workshop] | None:
    if pid is None:
        return None
    participant = await ctx.svc.store.participant_by_id(pid)
    if participant is None or participant.telegram_id != ctx.actor.telegram_id:
        return None
    workshop = await ctx.svc.store.workshop(participant.workshop_id)
    return (participant, workshop) if workshop else None


EXPECTED_STATE = {
    Kind.PROFILE_NAME: (DialogState.PROFILE_NAME,),
    Kind.INSTITUTION: (DialogState.PROFILE_INSTITUTION,),
    Kind.INSTITUTION_PAGE: (DialogState.PROFILE_INSTITUTION,),
    Kind.INSTITUTION_OTHER: (DialogState.PROFILE_INSTITUTION,),
    Kind.COUNTRY: (DialogState.PROFILE_COUNTRY,),
    Kind.COUNTRY_OTHER: (DialogState.PROFILE_COUNTRY,),
}


async def on_profile_callback(ctx: Ctx, cb: Callback, message_id: int) -> list[Event]:
    """Handle the buttons of the profile questions."""
    found = await _own_participant(ctx, cb.int_field(0))
    dialog = await ctx.svc.store.dialog(ctx.actor.telegram_id)
    if (
        found is None
        or dialog is None
        or dialog.state not in EXPECTED_STATE[cb.kind]
        or dialog.data.get("participant_id") != found[0].id
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    participant, workshop = found
    spec = workshop_file(workshop)
    store, tr, now = ctx.svc.store, ctx.tr, ctx.svc.clock.now()
    if cb.kind is Kind.INSTITUTION_PAGE:
        if cb.str_field(2) != short_hash(*spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        text, buttons = _institution_page(ctx, spec, participant.id, cb.int_field(1) or 0)
        return [Notice(), Edit(message_id, text, buttons)]
    if cb.kind is Kind.INSTITUTION_OTHER:
        await store.set_dialog(
            ctx.actor.telegram_id,
            DialogState.PROFILE_INSTITUTION_TEXT,
            {"participant_id": participant.id},
            now,
        )
        return [Notice(), Edit(message_id, tr.t("profile.ask_institution_text", step=2))]
    if cb.kind is Kind.COUNTRY_OTHER:
        await store.set_dialog(
            ctx.actor.telegram_id,
            DialogState.PROFILE_COUNTRY_TEXT,
            {"participant_id": participant.id},
            now,
        )
        return [Notice(), Edit(message_id, tr.t("profile.ask_country_text", step=4))]
    if cb.kind is Kind.PROFILE_NAME:
        field, value, prompt = "name", ctx.actor.full_name, tr.t("profile.ask_name", step=1)
        if not value or len(value) > NAME.max_length:
            return [Notice(tr.t("notice.stale"))]
    elif cb.kind is Kind.INSTITUTION:
        index = cb.int_field(1)
        if cb.str_field(2) != short_hash(*spec.institutions) or index is None:
            return [Notice(tr.t("notice.stale"))]
        if not 0 <= index < len(spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        field, value = "institution", spec.institutions[index]
        prompt = tr.t("profile.ask_institution", step=2)
    else:  # Kind.COUNTRY
        if spec.country is None:
            return [Notice(tr.t("notice.stale"))]
        field, value = "country", spec.country.get(workshop.language)
        prompt = tr.t("profile.ask_country", step=4)
    return [
        Notice(),
        Edit(message_id, tr.t("answer.chosen", prompt=_first_line(prompt), answer=value)),
        *await _save_field(ctx, participant, workshop, field, value),
    ]


def _first_line(html_text: str) -> str:
    return Html(html_text.split("\n", 1)[0])


async def _save_field(
    ctx: Ctx, participant: Participant, workshop: Workshop, field: str, value: str
) -> list[Event]:
    await ctx.svc.store.update_profile(participant.id, field=field, value=value)
    updated = await ctx.svc.store.participant_by_id(participant.id)
    assert updated is not None
    return await ask_next_profile_step(ctx, updated, workshop)


async def on_profile_text(ctx: Ctx, dialog: Dialog, text: str) -> list[Event]:
    """Handle typed text while a profile question waits for it."""
    found = await _own_participant(ctx, dialog.data.get("participant_id"))
    if found is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    participant, workshop = found
    value = clean_typed(text)
    spec = workshop_file(workshop)
    if dialog.state in (DialogState.PROFILE_INSTITUTION, DialogState.PROFILE_INSTITUTION_TEXT):
        # A typed name that matches the list takes the list's spelling, so that reports
        # per institution stay consistent.
        wanted = _normalise(value)
        for name in spec.institutions:
            if _normalise(name) == wanted:
                return await _save_field(ctx, participant, workshop, "institution", name)
    if dialog.state is DialogState.PROFILE_INSTITUTION:
        return [
            Send(ctx.tr.t("profile.pick_institution")),
            Send(*_institution_page(ctx, spec, participant.id, 0)),
        ]
    if dialog.state is DialogState.PROFILE_COUNTRY:
        return [
            Send(ctx.tr.t("input.use_buttons")),
            *await ask_next_profile_step(ctx, participant, workshop),
        ]
    rule = PROFILE_TEXT_STATES[dialog.state]
    problem = text_length_error(ctx.tr, value, rule.min_length, rule.max_length)
    if problem:
        return [Send(problem)]
    return await _save_field(ctx, participant, workshop, rule.field, value)
