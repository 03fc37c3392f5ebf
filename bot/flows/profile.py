"""The participant's details after joining: name, institution, position and country."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import ClassVar

from bot.content import WorkshopFile
from bot.flows import dialogs
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
from bot.flows.dialogs import Waiting
from bot.flows.events import Button, Edit, Event, Keyboard, Notice, Send
from bot.i18n import Html
from storage import DialogState, Participant, Workshop

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


class ProfileQuestion(Waiting):
    """A profile question waits for the participant's answer (a base: no state of its own)."""

    participant_id: int


class AskName(ProfileQuestion):
    """The name is typed (or taken from the Telegram profile with a button)."""

    state: ClassVar[DialogState] = DialogState.PROFILE_NAME


class AskInstitution(ProfileQuestion):
    """The institution is picked from the workshop's list (a typed one that matches counts)."""

    state: ClassVar[DialogState] = DialogState.PROFILE_INSTITUTION
    expects_text: ClassVar[bool] = False


class AskInstitutionText(ProfileQuestion):
    """The institution is typed."""

    state: ClassVar[DialogState] = DialogState.PROFILE_INSTITUTION_TEXT


class AskPosition(ProfileQuestion):
    """The position is typed."""

    state: ClassVar[DialogState] = DialogState.PROFILE_POSITION


class AskCountry(ProfileQuestion):
    """The workshop's country is offered as a button (or another one is typed)."""

    state: ClassVar[DialogState] = DialogState.PROFILE_COUNTRY
    expects_text: ClassVar[bool] = False


class AskCountryText(ProfileQuestion):
    """The country is typed."""

    state: ClassVar[DialogState] = DialogState.PROFILE_COUNTRY_TEXT


# What a typed answer must look like, per question that takes one.
TEXT_RULES: dict[type[ProfileQuestion], FieldRule] = {
    AskName: NAME,
    AskInstitutionText: INSTITUTION,
    AskPosition: POSITION,
    AskCountryText: COUNTRY,
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
    store, tr = ctx.svc.store, ctx.tr
    uid, pid = ctx.actor.telegram_id, participant.id
    spec = workshop_file(workshop)
    field = _next_field(participant)
    if field == "name":
        await dialogs.wait_for(ctx, AskName(participant_id=pid))
        name = ctx.actor.full_name
        buttons: Keyboard = []
        if name and len(name) <= NAME.max_length:
            # Button labels are plain text: no HTML escaping here.
            label = tr.plain("profile.use_name", name=name)
            buttons = [[Button(label, ProfileName(pid).pack())]]
        return [Send(tr.t("profile.ask_name", step=1), buttons or None)]
    if field == "institution":
        if spec.institutions:
            await dialogs.wait_for(ctx, AskInstitution(participant_id=pid))
            return [Send(*_institution_page(ctx, spec, pid, 0))]
        await dialogs.wait_for(ctx, AskInstitutionText(participant_id=pid))
        return [Send(tr.t("profile.ask_institution_text", step=2))]
    if field == "position":
        await dialogs.wait_for(ctx, AskPosition(participant_id=pid))
        return [Send(tr.t("profile.ask_position", step=3))]
    if field == "country":
        if spec.country is not None:
            await dialogs.wait_for(ctx, AskCountry(participant_id=pid))
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
        await dialogs.wait_for(ctx, AskCountryText(participant_id=pid))
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
EXPECTED: dict[type[ProfileTap], type[ProfileQuestion]] = {
    ProfileName: AskName,
    PickInstitution: AskInstitution,
    InstitutionPage: AskInstitution,
    OtherInstitution: AskInstitution,
    PickCountry: AskCountry,
    OtherCountry: AskCountry,
}


async def on_profile_callback(ctx: Ctx, cb: ProfileTap, message_id: int) -> list[Event]:
    """Handle the buttons of the profile questions."""
    found = await _own_participant(ctx, cb.participant)
    waiting = dialogs.decode(await ctx.svc.store.dialog(ctx.actor.telegram_id))
    if (
        found is None
        or type(waiting) is not EXPECTED[type(cb)]
        or not isinstance(waiting, ProfileQuestion)
        or waiting.participant_id != found[0].id
    ):
        return [Notice(ctx.tr.t("notice.stale"))]
    participant, workshop = found
    spec = workshop_file(workshop)
    tr = ctx.tr
    if isinstance(cb, InstitutionPage):
        if cb.digest != short_hash(*spec.institutions):
            return [Notice(tr.t("notice.stale"))]
        text, buttons = _institution_page(ctx, spec, participant.id, cb.page)
        return [Notice(), Edit(message_id, text, buttons)]
    if isinstance(cb, OtherInstitution):
        await dialogs.wait_for(ctx, AskInstitutionText(participant_id=participant.id))
        return [Notice(), Edit(message_id, tr.t("profile.ask_institution_text", step=2))]
    if isinstance(cb, OtherCountry):
        await dialogs.wait_for(ctx, AskCountryText(participant_id=participant.id))
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


async def on_profile_text(ctx: Ctx, waiting: ProfileQuestion, text: str) -> list[Event]:
    """Handle typed text while a profile question waits for it."""
    found = await _own_participant(ctx, waiting.participant_id)
    if found is None:
        await ctx.svc.store.clear_dialog(ctx.actor.telegram_id)
        return [Send(ctx.tr.t("fallback.nothing_pending"))]
    participant, workshop = found
    value = clean_typed(text)
    spec = workshop_file(workshop)
    if isinstance(waiting, AskInstitution | AskInstitutionText):
        # A typed name that matches the list takes the list's spelling, so that reports
        # per institution stay consistent.
        wanted = _normalise(value)
        for name in spec.institutions:
            if _normalise(name) == wanted:
                return await _save_field(ctx, participant, workshop, "institution", name)
    if isinstance(waiting, AskInstitution):
        return [
            Send(ctx.tr.t("profile.pick_institution")),
            Send(*_institution_page(ctx, spec, participant.id, 0)),
        ]
    if isinstance(waiting, AskCountry):
        return [
            Send(ctx.tr.t("input.use_buttons")),
            *await ask_next_profile_step(ctx, participant, workshop),
        ]
    rule = TEXT_RULES[type(waiting)]
    problem = text_length_error(ctx.tr, value, rule.min_length, rule.max_length)
    if problem:
        return [Send(problem)]
    return await _save_field(ctx, participant, workshop, rule.field, value)


for _question in (
    AskName,
    AskInstitution,
    AskInstitutionText,
    AskPosition,
    AskCountry,
    AskCountryText,
):
    dialogs.handles(_question, on_profile_text)
