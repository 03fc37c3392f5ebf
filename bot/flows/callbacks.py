"""Typed, versioned callback data that fits Telegram's 64 bytes.

Each kind of button is a small frozen dataclass with named, typed fields and a short prefix
(in the spirit of aiogram's `CallbackData`). `pack()` writes `<version><prefix>:<field>:…`;
`parse()` reads it back into the right class, or returns None for anything this release did
not produce: another codec version, an unknown prefix, a wrong field count, a number out of
its declared range, a value a `Literal` field does not allow. Every class's longest possible
encoding is checked against Telegram's limit when the class is defined, so a button that
could overflow never ships.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Literal, TypeVar, dataclass_transform

# Bump when the wire format of any class changes: buttons of older releases are then refused
# politely instead of being misread.
CODEC_VERSION = "2"
MAX_BYTES = 64
SEP = ":"
PREFIX_PATTERN = re.compile(r"[a-z]{2,3}")
# Printable ASCII without the separator, so that characters and bytes are the same count.
SAFE_TEXT = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class Digits:
    """The most decimal digits an int field may take (it is never negative)."""

    n: int


@dataclass(frozen=True)
class Chars:
    """The most characters a text field may take (printable ASCII, no separator)."""

    n: int


# Row ids: 12 digits leave room for a trillion rows and keep room in 64 bytes.
Id = Annotated[int, Digits(12)]
Small = Annotated[int, Digits(4)]
# Telegram user ids have at most 52 significant bits: 16 digits.
TelegramId = Annotated[int, Digits(16)]
Code = Annotated[str, Chars(16)]
Digest = Annotated[str, Chars(6)]
Lang = Annotated[str, Chars(5)]


@dataclass(frozen=True)
class _Field:
    name: str
    write: Callable[[Any], str]
    read: Callable[[str], Any]
    width: int


class _Refused(ValueError):
    """A field's text is not a value of its type."""


def _int_field(digits: int) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    def write(value: Any) -> str:
        if type(value) is not int or not 0 <= value < 10**digits:
            raise ValueError(f"{value!r} is not an int of at most {digits} digits")
        return str(value)

    def read(text: str) -> int:
        if not text.isascii() or not text.isdigit() or len(text) > digits:
            raise _Refused(text)
        return int(text)

    return write, read


def _text_field(chars: int) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    def write(value: Any) -> str:
        if not isinstance(value, str) or len(value) > chars or not SAFE_TEXT.fullmatch(value):
            raise ValueError(f"{value!r} is not a text of at most {chars} safe characters")
        return value

    def read(text: str) -> str:
        if len(text) > chars or not SAFE_TEXT.fullmatch(text):
            raise _Refused(text)
        return text

    return write, read


def _literal_field(allowed: tuple[str, ...]) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    def write(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {allowed}")
        return str(value)

    def read(text: str) -> str:
        if text not in allowed:
            raise _Refused(text)
        return text

    return write, read


def _bool_write(value: Any) -> str:
    if type(value) is not bool:
        raise ValueError(f"{value!r} is not a bool")
    return "1" if value else "0"


def _bool_read(text: str) -> bool:
    if text not in ("0", "1"):
        raise _Refused(text)
    return text == "1"


def _optional(
    write: Callable[[Any], str], read: Callable[[str], Any]
) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    def write_optional(value: Any) -> str:
        return "" if value is None else write(value)

    def read_optional(text: str) -> Any:
        return None if text == "" else read(text)

    return write_optional, read_optional


def _field(cls: type, name: str, hint: Any) -> _Field:
    """Build the codec of one field from its annotation."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{cls.__name__}.{name}: only `X | None` unions are supported")
        hint, optional = members[0], True
    extra = None
    if typing.get_origin(hint) is Annotated:
        hint, extra, *_ = typing.get_args(hint)
    pair: tuple[Callable[[Any], str], Callable[[str], Any]]
    if typing.get_origin(hint) is Literal:
        allowed = tuple(str(a) for a in typing.get_args(hint))
        pair, width = _literal_field(allowed), max(len(a) for a in allowed)
    elif hint is bool:
        pair, width = (_bool_write, _bool_read), 1
    elif hint is int and isinstance(extra, Digits):
        pair, width = _int_field(extra.n), extra.n
    elif hint is str and isinstance(extra, Chars):
        pair, width = _text_field(extra.n), extra.n
    else:
        raise TypeError(
            f"{cls.__name__}.{name}: use bool, a Literal, Annotated[int, Digits(n)] "
            "or Annotated[str, Chars(n)] (optionally `| None`)"
        )
    if optional:
        pair = _optional(*pair)
    return _Field(name, pair[0], pair[1], width)


_REGISTRY: dict[str, type[CallbackData]] = {}

T = TypeVar("T", bound="CallbackData")


@dataclass_transform(frozen_default=True)
class CallbackData:
    """Base of every button kind: subclass with `prefix=` and typed fields."""

    prefix: ClassVar[str]
    _fields: ClassVar[tuple[_Field, ...]]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise TypeError(f"{cls.__name__}: prefix {prefix!r} must be 2-3 lowercase letters")
        if prefix in _REGISTRY:
            raise TypeError(f"{cls.__name__}: prefix {prefix!r} is {_REGISTRY[prefix].__name__}'s")
        dataclass(frozen=True)(cls)
        hints = typing.get_type_hints(cls, include_extras=True)
        cls.prefix = prefix
        cls._fields = tuple(_field(cls, f.name, hints[f.name]) for f in fields(cls))  # type: ignore[arg-type]
        if cls.max_bytes() > MAX_BYTES:
            raise TypeError(f"{cls.__name__}: up to {cls.max_bytes()} bytes, over {MAX_BYTES}")
        _REGISTRY[prefix] = cls

    @classmethod
    def max_bytes(cls) -> int:
        """Return the longest encoding this class can produce, in bytes."""
        head = len(CODEC_VERSION) + len(cls.prefix)
        return head + sum(1 + f.width for f in cls._fields)

    def pack(self) -> str:
        """Encode this button press; raise ValueError for a value out of its field's range."""
        parts = [f.write(getattr(self, f.name)) for f in self._fields]
        return SEP.join([CODEC_VERSION + self.prefix, *parts])

    @classmethod
    def unpack(cls: type[T], data: str | None) -> T | None:
        """Decode data as this class; None if it is anything else."""
        found = parse(data)
        return found if isinstance(found, cls) else None


def parse(data: str | None) -> CallbackData | None:
    """Decode button data into its class; None for anything this release did not produce."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    head, *parts = data.split(SEP)
    if head.startswith(LEGACY_VERSION):
        return _legacy(head[len(LEGACY_VERSION) :], parts)
    if not head.startswith(CODEC_VERSION):
        return None
    cls = _REGISTRY.get(head[len(CODEC_VERSION) :])
    if cls is None or len(parts) != len(cls._fields):
        return None
    try:
        values = {f.name: f.read(text) for f, text in zip(cls._fields, parts, strict=True)}
    except _Refused:
        return None
    return cls(**values)


def registered() -> list[type[CallbackData]]:
    """Return every button kind, in the order they were defined."""
    return list(_REGISTRY.values())


def pattern(classes: Iterable[type[CallbackData]]) -> re.Pattern[str]:
    """Match the callback data of the given button kinds (for a handler's filter)."""
    kinds = list(classes)
    current = "|".join(sorted(re.escape(c.prefix) for c in kinds))
    heads = [f"{CODEC_VERSION}(?:{current})"]
    legacy = sorted({_LEGACY_KIND[c] for c in kinds if c in _LEGACY_KIND})
    if legacy:
        heads.append(f"{LEGACY_VERSION}(?:{'|'.join(legacy)})")
    return re.compile(rf"^(?:{'|'.join(heads)})(?::|$)")


# Release 0.4 wrote buttons as "1<kind>:<positional fields>". The ones that stay in chats for
# months (reminders, check-ins, invitations, digests) are still understood; any other old
# button gets the polite "no longer active".
LEGACY_VERSION = "1"


def _legacy(kind: str, parts: list[str]) -> CallbackData | None:
    """Decode a long-lived button of release 0.4, or return None."""
    read_id = _int_field(12)[1]
    try:
        if kind == "od" and len(parts) == 1:
            return OpenDgca(read_id(parts[0]))
        if kind == "oe" and len(parts) == 1:
            return OpenEvaluation(read_id(parts[0]))
        if kind == "mn" and not parts:
            return OpenMenu()
        if kind == "pl" and len(parts) == 2 and parts[0] == "new":
            return PlanNew(read_id(parts[1]) or None)
        if kind == "pu" and len(parts) in (2, 3) and parts[0] == "st":
            step = read_id(parts[2]) if len(parts) == 3 else 0
            return UpdateStart(read_id(parts[1]), step or None)
        if kind == "pg" and len(parts) == 2 and parts[0] == "v" and parts[1][:1] in ("a", "w"):
            scope: ScopeKind = "a" if parts[1][0] == "a" else "w"
            return ProgressView(scope, read_id(parts[1][1:]))
    except _Refused:
        return None
    return None


# Option codes of a questionnaire (content/questionnaires) are at most 6 characters.
OptionCode = Annotated[str, Chars(6)]
Version = Annotated[int, Digits(4)]
Then = Literal["mn", "od", "oe", "pl", "ag"]
OrgActionName = Literal["bc", "iv", "rp", "ev"]
AudienceName = Literal["all", "nodgca", "noeval", "inst"]
ReportName = Literal["dgca", "eval", "status", "inst", "xlsx", "csv"]
AttendanceName = Literal["in_person", "online"]
ScopeKind = Literal["a", "w"]


# Joining a workshop (bot/flows/join.py).
class JoinLanguage(CallbackData, prefix="jl"):
    """Greet again in another of the workshop's languages."""

    workshop: Id
    lang: Lang


class JoinContinue(CallbackData, prefix="jg"):
    """Go on from the greeting to the consent."""

    workshop: Id


class Consent(CallbackData, prefix="jc"):
    """Accept or decline what is kept about the person."""

    workshop: Id
    accept: bool


# Questionnaires: the DGCA, the evaluation and the profile (bot/flows/questionnaire.py). Every
# button carries the questionnaire's version, so a tap from before a change of statements is
# refused.
class Answer(CallbackData, prefix="qa"):
    """Answer a question with one option."""

    response: Id
    version: Version
    question: Code
    option: OptionCode


class Toggle(CallbackData, prefix="qt"):
    """Tick or untick an option of a multiple-choice question."""

    response: Id
    version: Version
    question: Code
    option: OptionCode


class Done(CallbackData, prefix="qd"):
    """Close a multiple-choice question (or keep a text answer)."""

    response: Id
    version: Version
    question: Code


class Back(CallbackData, prefix="qb"):
    """Go back to the question before this one."""

    response: Id
    version: Version
    question: Code


class Skip(CallbackData, prefix="qs"):
    """Skip an optional question."""

    response: Id
    version: Version
    question: Code


class Pick(CallbackData, prefix="qp"):
    """Answer a pick question with an item of its list (the digest spots a changed list)."""

    response: Id
    version: Version
    question: Code
    index: Small
    digest: Digest


class PickPage(CallbackData, prefix="qg"):
    """Show another page of a pick question's list."""

    response: Id
    version: Version
    question: Code
    page: Small
    digest: Digest


class PickOther(CallbackData, prefix="qo"):
    """Type an answer to a pick question instead of picking one."""

    response: Id
    version: Version
    question: Code


class Suggest(CallbackData, prefix="qu"):
    """Take the suggested answer of a text question (the Telegram profile's name)."""

    response: Id
    version: Version
    question: Code


class AnswerDate(CallbackData, prefix="qy"):
    """Answer a date question with the day a number of months from today."""

    response: Id
    version: Version
    question: Code
    months: Small


class EditCancel(CallbackData, prefix="qc"):
    """Leave an answer of a plan or step as it was, instead of changing it."""

    response: Id
    version: Version
    question: Code


class ReviewEdit(CallbackData, prefix="re"):
    """Choose a section whose answers to change."""

    response: Id
    version: Version


class ReviewSection(CallbackData, prefix="rs"):
    """Show the questions of one section to pick one to change."""

    response: Id
    version: Version
    index: Small


class ReviewQuestion(CallbackData, prefix="rq"):
    """Change the answer to one question."""

    response: Id
    version: Version
    question: Code


class ReviewShow(CallbackData, prefix="rv"):
    """Show the review of all answers."""

    response: Id
    version: Version


class Submit(CallbackData, prefix="su"):
    """Ask to submit the answers (a confirmation follows)."""

    response: Id
    version: Version


class SubmitConfirm(CallbackData, prefix="sc"):
    """Submit the answers, confirmed."""

    response: Id
    version: Version


# The menu and personal settings (bot/flows/menu.py, agenda.py, privacy.py).
class OpenDgca(CallbackData, prefix="od"):
    """Open the DGCA self-assessment of a workshop."""

    workshop: Id


class OpenEvaluation(CallbackData, prefix="oe"):
    """Open the evaluation of a workshop."""

    workshop: Id


class OpenEventEvaluation(CallbackData, prefix="oev"):
    """Open the evaluation of one event of a programme."""

    workshop: Id
    event: Code


class OpenMenu(CallbackData, prefix="mn"):
    """Show the main menu."""


class PickWorkshop(CallbackData, prefix="ws"):
    """Make a workshop the current one (0 lists them), then open `then`."""

    workshop: Id
    then: Then


class PickLanguage(CallbackData, prefix="lg"):
    """Switch language, or list the languages when none is given."""

    lang: Lang | None = None


class ShowHelp(CallbackData, prefix="hp"):
    """Show the help text."""


class ShowPrivacy(CallbackData, prefix="pv"):
    """Show what is kept and the privacy choices."""


class MyData(CallbackData, prefix="md"):
    """Send the person everything kept about them."""


class Forget(CallbackData, prefix="fg"):
    """Ask to delete the person's data (None), or answer that question."""

    confirm: bool | None = None


class PickTimezone(CallbackData, prefix="tz"):
    """Store a time zone from the list, or show the list when none is given."""

    index: Small | None = None


class SetReminders(CallbackData, prefix="rm"):
    """Turn the person's reminders on or off."""

    on: bool


class SetAttendance(CallbackData, prefix="at"):
    """Say how the person attends a hybrid workshop's sessions: in person or online."""

    workshop: Id
    mode: AttendanceName
    # Tapped in /reminders' settings, which are drawn again with the choice ticked.
    settings: bool = False


# Organizers (bot/flows/organizer.py, broadcast.py, reports.py, evaluation.py).
class OrgAction(CallbackData, prefix="ow"):
    """Run an organizer action on the picked workshop."""

    workshop: Id
    action: OrgActionName


class OrgInvite(CallbackData, prefix="oi"):
    """Make a one-time organizer invitation for a workshop (administrators)."""

    workshop: Id


class OrgPanel(CallbackData, prefix="op"):
    """Show a workshop's organizers and pending invitations (administrators)."""

    workshop: Id


class OrgRemove(CallbackData, prefix="or"):
    """Remove an organizer from a workshop (administrators)."""

    workshop: Id
    organizer: TelegramId


class OrgRevoke(CallbackData, prefix="ox"):
    """Cancel a workshop's pending organizer invitations (administrators)."""

    workshop: Id


class LinkGroup(CallbackData, prefix="lk"):
    """Link this group to a workshop as its organizers' group."""

    workshop: Id


class Audience(CallbackData, prefix="ba"):
    """Choose who receives a broadcast."""

    workshop: Id
    audience: AudienceName


class AudienceInstitution(CallbackData, prefix="bi"):
    """Send a broadcast to one institution of the workshop's list."""

    workshop: Id
    index: Small
    digest: Digest


class BroadcastSend(CallbackData, prefix="bs"):
    """Send the previewed broadcast now."""

    broadcast: Id


class BroadcastSchedule(CallbackData, prefix="bt"):
    """Ask when to send the previewed broadcast."""

    broadcast: Id


class BroadcastCancel(CallbackData, prefix="bc"):
    """Drop a broadcast being prepared."""

    broadcast: Id


class BroadcastStop(CallbackData, prefix="bx"):
    """Stop a broadcast being sent."""

    broadcast: Id


class EvaluationAdmin(CallbackData, prefix="ea"):
    """Open a workshop's evaluation early (organizers)."""

    workshop: Id


class RateSession(CallbackData, prefix="sf"):
    """Rate a session from 1 to 5."""

    workshop: Id
    session: Code
    rating: Small


class CommentSession(CallbackData, prefix="sk"):
    """Add a comment to a session's rating."""

    workshop: Id
    session: Code


class Report(CallbackData, prefix="rp"):
    """Build a report; for one institution, its index in the list and the list's digest."""

    workshop: Id
    what: ReportName
    index: Small | None = None
    digest: Digest | None = None


# Action plans (bot/flows/plans.py).
class PlanList(CallbackData, prefix="pll"):
    """List the person's plans."""


class PlanNew(CallbackData, prefix="pln"):
    """Start writing a plan (for a given workshop, or the current one)."""

    workshop: Id | None = None


class PlanOpen(CallbackData, prefix="plo"):
    """Show a plan's card (and leave any field being written)."""

    plan: Id


class PlanEdit(CallbackData, prefix="ple"):
    """Show what can be changed in a plan."""

    plan: Id


class PlanField(CallbackData, prefix="plf"):
    """Change one answer of the plan's form (its question id: title, objective, sdgs)."""

    plan: Id
    field: Code


class PlanContact(CallbackData, prefix="plp"):
    """Agree or not, from the edit menu, that those following the plans up see one's name."""

    plan: Id
    ok: bool


class PlanAddStep(CallbackData, prefix="pla"):
    """Add a step to a plan."""

    plan: Id


class PlanTeam(CallbackData, prefix="plt"):
    """Show the plan's team and its link."""

    plan: Id


class PlanNewLink(CallbackData, prefix="plx"):
    """Replace the plan's team link (owner only)."""

    plan: Id


class PlanLeave(CallbackData, prefix="plv"):
    """Ask to leave a team plan."""

    plan: Id


class PlanLeaveConfirm(CallbackData, prefix="plc"):
    """Leave a team plan, confirmed."""

    plan: Id


class StepOpen(CallbackData, prefix="pls"):
    """Show what can be changed in a step."""

    plan: Id
    step: Id


class StepField(CallbackData, prefix="plb"):
    """Change one answer of a step's form (its question id: action, due_date…)."""

    plan: Id
    step: Id
    field: Code


class StepUp(CallbackData, prefix="plu"):
    """Move a step up."""

    plan: Id
    step: Id


class StepDown(CallbackData, prefix="plw"):
    """Move a step down."""

    plan: Id
    step: Id


class StepRemove(CallbackData, prefix="plr"):
    """Ask to remove a step."""

    plan: Id
    step: Id


class StepRemoveConfirm(CallbackData, prefix="plq"):
    """Remove a step, confirmed (its history stays)."""

    plan: Id
    step: Id


# Progress updates on plans (bot/flows/checkins.py).
class UpdateStart(CallbackData, prefix="put"):
    """Start updating a plan's progress (at a given step, or the first open one)."""

    plan: Id
    step: Id | None = None


class UpdateStop(CallbackData, prefix="pux"):
    """Stop updating for now."""

    plan: Id


# Dashboards of associations and organizers (bot/flows/progress.py, associations.py).
class ProgressView(CallbackData, prefix="pgv"):
    """Show the dashboard of an association ("a") or a workshop ("w")."""

    kind: ScopeKind
    id: Id


class ProgressExport(CallbackData, prefix="pgx"):
    """Send the dashboard's workbook."""

    kind: ScopeKind
    id: Id


class ProgressEvidence(CallbackData, prefix="pge"):
    """List evidence files and links, from `offset`."""

    kind: ScopeKind
    id: Id
    offset: Small


class ProgressDigest(CallbackData, prefix="pgd"):
    """Turn the monthly digest on or off."""

    kind: ScopeKind
    id: Id
    on: bool


class Evidence(CallbackData, prefix="pe"):
    """Send one piece of evidence back through the bot."""

    item: Id


class ViewerPanel(CallbackData, prefix="vwp"):
    """Show an association's viewers."""

    association: Id


class ViewerInvite(CallbackData, prefix="vwi"):
    """Make a one-time viewer invitation for an association."""

    association: Id


class ViewerRemove(CallbackData, prefix="vwr"):
    """Remove a viewer from an association."""

    association: Id
    viewer: TelegramId


_LEGACY_KIND: dict[type[CallbackData], str] = {
    OpenDgca: "od",
    OpenEvaluation: "oe",
    OpenMenu: "mn",
    PlanNew: "pl",
    UpdateStart: "pu",
    ProgressView: "pg",
}
