"""Pieces every flow shares: who is talking, in which language, about which workshop."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.content import WorkshopFile, parse_model
from bot.flows.callbacks import OpenMenu
from bot.flows.events import Button, Keyboard
from bot.i18n import Translator
from bot.services import Services
from storage import Participant, Recipient, Workshop


@dataclass(frozen=True)
class Actor:
    """The person behind an update, as Telegram describes them."""

    telegram_id: int
    first_name: str
    last_name: str | None = None
    language_code: str | None = None
    username: str | None = None

    @property
    def full_name(self) -> str:
        """Return the name shown in the person's Telegram profile."""
        return " ".join(p for p in (self.first_name, self.last_name) if p).strip()


@dataclass(frozen=True)
class Media:
    """A photo, document or other media someone sent."""

    kind: str
    file_id: str
    caption: str | None = None
    file_name: str | None = None
    file_size: int | None = None


@dataclass(frozen=True)
class Ctx:
    """A flow's view of one update: services, the person, their language and the chat."""

    svc: Services
    actor: Actor
    lang: str
    chat_id: int | None = None

    @property
    def tr(self) -> Translator:
        """Return the translator for the person's language."""
        return self.svc.i18n(self.lang)

    def now_iso(self) -> str:
        """Return the current time as ISO text."""
        return self.svc.clock.now().isoformat()


async def make_ctx(
    svc: Services, actor: Actor, *, fallback: str | None = None, chat_id: int | None = None
) -> Ctx:
    """Build a Ctx, choosing the stored language, then `fallback`, then Telegram's."""
    user = await svc.store.user(actor.telegram_id)
    lang = svc.i18n.pick(user.language if user else None, fallback, actor.language_code)
    return Ctx(svc, actor, lang, chat_id)


def workshop_file(workshop: Workshop) -> WorkshopFile:
    """Return the validated workshop file a stored workshop was made from."""
    return parse_model(WorkshopFile, workshop.spec, f"workshop {workshop.slug}")


def date_range(tr: Translator, start: date, end: date) -> str:
    """Format a span of days compactly: 28–29 nov 2023."""
    if start == end:
        return tr.date(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{tr.date(end)}"
    return f"{tr.date(start)} – {tr.date(end)}"


def short_hash(*parts: str) -> str:
    """Return 6 hex characters identifying a list's content, to spot stale buttons."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:6]


def normalise(text: str) -> str:
    """Fold case, accents and spacing, so that typed names compare with listed ones."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def clean_text_answer(text: str) -> str:
    """Trim a typed answer and drop control characters, keeping line breaks."""
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs"))
    return kept.strip()


def text_length_error(tr: Translator, text: str, minimum: int, maximum: int) -> str | None:
    """Return a polite message when typed text is too short or too long."""
    length = len(text)
    if length > maximum:
        return tr.t("input.too_long", length=length, max=maximum)
    # Invisible characters (zero-width spaces, joiners, marks) do not make a name.
    visible = sum(1 for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
    if length < minimum or (minimum and visible == 0):
        return tr.t("input.too_short", min=minimum)
    return None


def fit_lines(lines: list[str], limit: int) -> str:
    """Join lines, leaving out whole lines from the end rather than cutting one (or its HTML)."""
    total = sum(len(line) + 1 for line in lines) - 1
    while lines and total > limit:
        total -= len(lines[-1]) + 1
        lines = lines[:-1]
    return "\n".join(lines)


def menu_button(tr: Translator) -> Keyboard:
    """Return a keyboard with a single Menu button."""
    return [[Button(tr.t("button.menu"), OpenMenu().pack())]]


@dataclass(frozen=True)
class Current:
    """Which workshop a conversation is about, if it can be told."""

    participant: Participant | None
    workshop: Workshop | None
    choices: list[tuple[Participant, Workshop]]

    @property
    def ambiguous(self) -> bool:
        """Tell whether the person must pick a workshop first."""
        return self.participant is None and len(self.choices) > 1


async def current_workshop(ctx: Ctx) -> Current:
    """Find the workshop the person is talking about: the active one, or their only one."""
    parts = await ctx.svc.store.participations(ctx.actor.telegram_id)
    if not parts:
        return Current(None, None, [])
    user = await ctx.svc.store.user(ctx.actor.telegram_id)
    active = user.active_workshop_id if user else None
    for participant, workshop in parts:
        if workshop.id == active:
            return Current(participant, workshop, parts)
    if len(parts) == 1:
        participant, workshop = parts[0]
        return Current(participant, workshop, parts)
    return Current(None, None, parts)


async def member_file(svc: Services, workshop: Workshop, participant_id: int) -> WorkshopFile:
    """Return the workshop file as one participant sees it: in a programme, their events."""
    spec = workshop_file(workshop)
    if not spec.events:
        return spec
    return spec.for_events(await svc.store.events_of(participant_id))


def entry_events(spec: WorkshopFile, event_id: str | None) -> list[str]:
    """Return the events a join link enrols in: its event, or the programme's open ones."""
    if event_id is not None:
        return [event_id]
    return [e.id for e in spec.events if e.open]


async def workshop_recipients(
    svc: Services, workshop: Workshop, spec: WorkshopFile | None = None, *, dgca: bool = False
) -> list[Recipient]:
    """Return a workshop's participants with their progress on its DGCA and evaluation.

    Given one event's view of a programme (`WorkshopFile.for_event`), only that event's
    members, with their progress on its evaluation; with `dgca`, only those who take the DGCA.
    """
    spec = spec or workshop_file(workshop)
    # An instrument switched off matches no response: nobody has "not yet answered" it.
    found = await svc.store.recipients(workshop.id, spec.dgca or "", spec.evaluation_key() or "")
    wanted: set[str] | None = None
    if spec.event_id is not None:
        wanted = {spec.event_id}
    elif dgca and (takers := spec.dgca_events()) is not None:
        wanted = set(takers)
    if wanted is None:
        return found
    members = await svc.store.event_members(workshop.id)
    return [r for r in found if members.get(r.participant_id, frozenset()) & wanted]
