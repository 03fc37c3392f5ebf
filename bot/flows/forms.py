"""Forms as data the engine runs: runs, bindings and keys (bot/flows/questionnaire.py runs them).

A `Run` is a person's response to a questionnaire with its answers; a `Binding` is what a
form's owner registers: where answers also go, what follows the last one, and for a form
bound to a record of its own (a plan, a step, an update), how to read the record and who
may change it. Kept apart from the conversation so that owners (profile, plans, check-ins)
and the engine share them without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.content import Questionnaire, Slot
from bot.flows.common import Ctx
from bot.flows.events import Event, Keyboard
from storage import AnswerValue, Dialog, Participant, Response, Workshop

# A form run once per record is keyed `form@subject` in `responses.questionnaire_id`.
KEY_SEP = "@"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def instance_key(form_id: str, subject: str) -> str:
    """Return the response key of a form run for one record (a plan, a step)."""
    return f"{form_id}{KEY_SEP}{subject}"


def split_key(key: str) -> tuple[str, str | None]:
    """Return the form id and the subject (None for a form run once) of a response key."""
    form_id, sep, subject = key.partition(KEY_SEP)
    return form_id, (subject if sep else None)


def is_skipped(value: AnswerValue | None) -> bool:
    """Tell whether a stored answer is the mark of a skipped optional question."""
    return value == []


def _matches(value: AnswerValue | None, wanted: list[str]) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(v in wanted for v in value)
    return value in wanted


def visible_slots(q: Questionnaire, answers: Mapping[str, AnswerValue]) -> list[Slot]:
    """Return the questions shown given the answers so far (show_if applied)."""
    if not q.has_conditions:
        return list(q.all_slots)
    shown: list[Slot] = []
    shown_ids: set[str] = set()
    for slot in q.slots():
        cond = slot.question.show_if
        if cond is not None and (
            cond.question not in shown_ids or not _matches(answers.get(cond.question), cond.any_of)
        ):
            continue
        shown.append(slot)
        shown_ids.add(slot.question.id)
    return shown


def first_open(q: Questionnaire, answers: Mapping[str, AnswerValue]) -> Slot | None:
    """Return the first shown question without an answer, if any."""
    for slot in visible_slots(q, answers):
        if slot.question.id not in answers:
            return slot
    return None


@dataclass
class Run:
    """A participant's response, with its questionnaire, answers and workshop."""

    questionnaire: Questionnaire
    response: Response
    answers: dict[str, AnswerValue]
    participant: Participant
    workshop: Workshop
    # The person's pending dialog as read with the run, kept current by this module, so
    # that an answer needs no separate read of it.
    dialog: Dialog | None = None
    # What the form's owner fills in its texts' `{placeholders}` (a step's number).
    values: dict[str, str] = field(default_factory=dict)
    # The message whose button is being handled, if any: an ending may carry on in it.
    tapped: int | None = None

    @property
    def version(self) -> int:
        """Return the questionnaire version the run is on."""
        return self.questionnaire.version

    def slots(self) -> list[Slot]:
        """Return the questions shown in this run, in order."""
        return visible_slots(self.questionnaire, self.answers)

    @property
    def subject(self) -> str | None:
        """Return the record this run is for (a plan's or step's id, or a draft's mark)."""
        return split_key(self.response.questionnaire_id)[1]

    @property
    def editing(self) -> bool:
        """Tell whether one answer of a record's form is being changed (edit_answer)."""
        return binding_of(self.questionnaire).record and self.response.reviewing


AfterSubmit = Callable[[Ctx, Run], Awaitable[list[Event]]]
# Called with each answer as it is stored (the question id and the value).
AnswerSink = Callable[[Ctx, Run, str, AnswerValue], Awaitable[None]]
# The record's current values by question id (None: not given), read with each run.
Source = Callable[[Ctx, Run], Awaitable[dict[str, AnswerValue | None]]]
# After one answer was asked again: whether it changed, and what the person sees next.
Edited = Callable[[Ctx, Run, bool], Awaitable[list[Event]]]
# A catalog key refusing the person (no longer on the plan's team), or None to go on.
Guard = Callable[[Ctx, Run], Awaitable[str | None]]
Variables = Callable[[Ctx, Run], Awaitable[dict[str, str]]]
Buttons = Callable[[Ctx, Run], Keyboard]


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence: a note, a link, or a photo or document sent in the chat."""

    kind: str  # "note", "link", "photo" or "document"
    text: str | None = None
    file_id: str | None = None
    file_name: str | None = None
    file_size: int | None = None


# Keeps one piece of evidence; returns a catalog key refusing it (a note too long), or None.
EvidenceSink = Callable[[Ctx, Run, str, EvidenceItem], Awaitable[str | None]]


@dataclass(frozen=True)
class Binding:
    """What a form does besides keeping its answers, registered by the form's owner."""

    sink: AnswerSink | None = None
    ending: AfterSubmit | None = None
    # A form bound to a record of its own (`record`) runs once per record and is never
    # submitted. It may read the record with `source`; `guard` is checked at every answer;
    # `edited` follows an answer asked again from the record's menu (edit_answer).
    record: bool = False
    source: Source | None = None
    edited: Edited | None = None
    guard: Guard | None = None
    variables: Variables | None = None
    # Where each piece of evidence goes as it arrives (an evidence question keeps only
    # their kinds as its answer), and buttons the owner adds under every question.
    evidence: EvidenceSink | None = None
    buttons: Buttons | None = None


def fill(text: str, values: Mapping[str, str]) -> str:
    """Put the form owner's values in a text's `{placeholders}`, leaving unknown ones."""
    if not values or "{" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text)


# What each form does besides keeping its answers, by questionnaire id.
_BINDINGS: dict[str, Binding] = {}
# ... and by purpose, for forms a workshop names (its own profile form).
_PURPOSES: dict[str, Binding] = {}
NO_BINDING = Binding()


def binding_of(questionnaire: Questionnaire) -> Binding:
    """Return what a form does besides keeping its answers (its id's, else its purpose's)."""
    found = _BINDINGS.get(questionnaire.id) or _PURPOSES.get(questionnaire.purpose)
    return found if found is not None else NO_BINDING


def register_form(questionnaire_id: str, binding: Binding) -> None:
    """Register where a form's answers also go, and what follows its last answer."""
    _BINDINGS[questionnaire_id] = binding


def register_purpose(purpose: str, binding: Binding) -> None:
    """Register the binding of every form with this purpose (whatever its id)."""
    _PURPOSES[purpose] = binding
