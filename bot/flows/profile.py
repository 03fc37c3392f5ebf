"""The participant's details after joining: name, institution, position and country."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.content import WorkshopFile
from bot.flows.callbacks import (
    InstitutionPage,
    OpenDgca,
    OpenMenu,
    OtherCountry,
    OtherInstitution,
    PickCountry,
    PickInstitution,
    ProfileName,
)
from bot.flows.common import Ctx, short_hash, text_length_error, workshop_file
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.i18n import Html
from storage import Dialog, DialogState, Participant, Workshop

INSTITUTIONS_PER_PAGE = 6


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
            buttons = [[Button(label, ProfileName(pid).pack())]]
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
                        [Button(country, PickCountry(pid).pack())],
                        [Button(tr.t("button.other_country"), OtherCountry(pid).pack())],
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
                [Button(tr.t("button.start_dgca"), OpenDgca(workshop.id).pack())],
                [Button(tr.t("button.menu"), OpenMenu().pack())],
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
        [Button(name, PickInstitution(pid, index, digest).pack())]
        for index, name in enumerate(names[start : start + INSTITUTIONS_PER_PAGE], start=start)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append(Button("‹", InstitutionPage(pid, page - 1, digest).pack()))
    if page < pages - 1:
        nav.append(Button("›", InstitutionPage(pid, page + 1, digest).pack()))
    if nav:
        rows.append(nav)
    rows.append([Button(ctx.tr.t("button.other_institution"), OtherInstitution(pid).pack())])
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


ProfileTap = (
    ProfileName | PickInstitution | InstitutionPage | OtherInstitution | PickCountry | OtherCountry
)
PROFILE_TAPS: tuple[type[ProfileTap], ...] = (
    ProfileName,
    PickInstitution,
    InstitutionPage,
    OtherInstitution,
    PickCountry,
    OtherCountry,
)
# The state a profile button belongs to: a button of another question is stale.
EXPECTED_STATE: dict[type[ProfileTap], DialogState] = {
    ProfileName: DialogState.PROFILE_NAME,
    PickInstitution: DialogState.PROFILE_INSTITUTION,
    InstitutionPage: DialogState.PROFILE_INSTITUTION,
    OtherInstitution: DialogState.PROFILE_INSTITUTION,
    PickCountry: DialogState.PROFILE_COUNTRY,
    OtherCountry: DialogState.PROFILE_COUNTRY,
}


async def on_profile_callback(ctx: Ctx, cb: ProfileTap, message_id: int) -> list[Event]:
    """Handle the buttons of the profile questions."""
    found = await _own_participant(ctx, cb.participant)
    dialog = await ctx.svc.store.dialog(ctx.actor.telegram_id)
    if (
        found is None
        or dialog is None
        or dialog.state is not EXPECTED_STATE[type(cb)]
        or dialog.data.get("participant_id") != found[0].id
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    participant, workshop = found
    spec = workshop_file(workshop)
    store, tr, now = ctx.svc.store, ctx.tr, ctx.svc.clock.now()
    if isinstance(cb, InstitutionPage):
        if cb.digest != short_hash(*spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        text, buttons = _institution_page(ctx, spec, participant.id, cb.page)
        return [Notice(), Edit(message_id, text, buttons)]
    if isinstance(cb, OtherInstitution):
        await store.set_dialog(
            ctx.actor.telegram_id,
            DialogState.PROFILE_INSTITUTION_TEXT,
            {"participant_id": participant.id},
            now,
        )
        return [Notice(), Edit(message_id, tr.t("profile.ask_institution_text", step=2))]
    if isinstance(cb, OtherCountry):
        await store.set_dialog(
            ctx.actor.telegram_id,
            DialogState.PROFILE_COUNTRY_TEXT,
            {"participant_id": participant.id},
            now,
        )
        return [Notice(), Edit(message_id, tr.t("profile.ask_country_text", step=4))]
    if isinstance(cb, ProfileName):
        field, value, prompt = "name", ctx.actor.full_name, tr.t("profile.ask_name", step=1)
        if not value or len(value) > NAME.max_length:
            return [Notice(tr.t("notice.stale"))]
    elif isinstance(cb, PickInstitution):
        if cb.digest != short_hash(*spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        if not 0 <= cb.index < len(spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        field, value = "institution", spec.institutions[cb.index]
        prompt = tr.t("profile.ask_institution", step=2)
    else:  # PickCountry
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
