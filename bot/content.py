"""Content files (questionnaires, workshops) as validated pydantic models.

Content is data that organizers may replace, so every file is checked at
startup and an error names the file and the field that is wrong.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache, cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from babel.lists import format_list
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None  # type: ignore[misc,assignment]

# The languages a workshop offers unless its file says otherwise (`languages:`).
LANGUAGES: tuple[str, ...] = ("es", "en")
FALLBACK_LANGUAGE = "es"
LANGUAGE_CODE = re.compile(r"[a-z]{2}")
ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,15}$"
OPTION_CODE_PATTERN = r"^[a-z0-9_]{1,6}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,47}$"
JOIN_CODE_PATTERN = r"^[A-Za-z0-9_-]{16,48}$"
MIN_DISTINCT_CODE_CHARS = 12
MAX_SAME_CODE_CHAR = 3
MAX_QUESTION_CHARS = 600

Ident = Annotated[str, Field(pattern=ID_PATTERN)]
OptionCode = Annotated[str, Field(pattern=OPTION_CODE_PATTERN)]


M = TypeVar("M", bound=BaseModel)


class ContentError(Exception):
    """A content file failed validation; the message names file and field."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


class Strict(BaseModel):
    """Base for content models: unknown fields are errors, models are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(BaseModel):
    """A text in several languages, by language code (es, en, pt).

    Which languages a text must have depends on where it is: a questionnaire's texts are in
    every language the bot offers (a catalog in content/locales), a workshop file's in the
    languages it declares. Those checks name the missing ones; a text alone needs one.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    es: Annotated[str, Field(min_length=1)] | None = None
    en: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _check(self) -> Text:
        for code, value in (self.model_extra or {}).items():
            if not LANGUAGE_CODE.fullmatch(code):
                raise ValueError(f"{_brief(code)} is not a language code (es, en, pt…)")
            if not isinstance(value, str) or not value:
                raise ValueError(f"{code}: write the text in this language")
        if not self.languages():
            raise ValueError("write the text in at least one language (es: …)")
        return self

    def languages(self) -> frozenset[str]:
        """Return the codes of the languages this text is written in."""
        found = {code for code in ("es", "en") if getattr(self, code)}
        return frozenset(found | set(self.model_extra or {}))

    def get(self, lang: str) -> str:
        """Return the text in `lang`, else in Spanish, else in the first language it has."""
        for code in (lang, FALLBACK_LANGUAGE, "en"):
            value = getattr(self, code, None) if code in ("es", "en") else None
            if value is None:
                value = (self.model_extra or {}).get(code)
            if isinstance(value, str) and value:
                return value
        return next(iter((self.model_extra or {}).values()))


def text_gaps(value: Any, languages: Iterable[str], path: FieldPath = ()) -> list[FieldPath]:
    """Return the path and missing language of every text in `value` lacking one of them."""
    if isinstance(value, Text):
        have = value.languages()
        return [(*path, lang) for lang in languages if lang not in have]
    found: list[FieldPath] = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += text_gaps(getattr(value, name), languages, (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += text_gaps(item, languages, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            found += text_gaps(item, languages, (*path, key))
    return found


class Option(Strict):
    """One answer option of a scale or a choice question."""

    code: OptionCode
    label: Text
    value: float | None = None


class ScaleKind(StrEnum):
    """How a scale's options are meant to be read."""

    AGREEMENT = "agreement"
    QUALITY = "quality"
    LIKELIHOOD = "likelihood"
    EXTENT = "extent"
    RATING = "rating"


class Scale(Strict):
    """An ordered answer scale, from the most positive option to the least."""

    kind: ScaleKind
    options: Annotated[list[Option], Field(min_length=2, max_length=11)]
    not_applicable: Option | None = None

    @model_validator(mode="after")
    def _check(self) -> Scale:
        codes = [o.code for o in self.all_options()]
        if len(codes) != len(set(codes)):
            raise ValueError("option codes must be unique within a scale")
        if any(o.value is None for o in self.options):
            raise ValueError("every scale option needs a numeric value")
        if self.not_applicable is not None and self.not_applicable.value is not None:
            raise ValueError("not_applicable must not carry a value")
        return self

    def all_options(self) -> list[Option]:
        """Return the options in display order, 'not applicable' last."""
        return [*self.options, *([self.not_applicable] if self.not_applicable else [])]


class QuestionType(StrEnum):
    """The kinds of question the engine can run."""

    LIKERT = "likert"
    SINGLE = "single"
    MULTI = "multi"
    NPS = "scale_0_10"
    TEXT = "text"
    # One item of a list the workshop provides (its institutions, its country), paged, with
    # "other" typed when the question allows it.
    PICK = "pick"
    # A day from today on: buttons a number of months ahead, or typed in the person's way.
    DATE = "date"
    # Notes, links, photos and documents, as many as the person sends, until "done".
    EVIDENCE = "evidence"


class PickSource(StrEnum):
    """Where a pick question's list comes from: the workshop file."""

    INSTITUTIONS = "institutions"
    COUNTRY = "country"


class ShowIf(Strict):
    """Show a question only when an earlier answer is one of `any_of`."""

    question: Ident
    any_of: Annotated[list[OptionCode], Field(min_length=1)]


class Question(Strict):
    """One question (a statement, for the DGCA)."""

    id: Ident
    type: QuestionType
    text: Text
    scale: Ident | None = None
    options: list[Option] = Field(default_factory=list)
    optional: bool = False
    show_if: ShowIf | None = None
    min_length: Annotated[int, Field(ge=0)] = 1
    max_length: Annotated[int, Field(ge=1, le=3500)] = 1000
    min_choices: Annotated[int, Field(ge=0)] = 1
    max_choices: Annotated[int, Field(ge=1)] | None = None
    # Pick questions: the list, the label of the button that lets the person type instead
    # (no button: only the list), and the question as asked when typing.
    source: PickSource | None = None
    other: Text | None = None
    text_other: Text | None = None
    # Text questions: offer the name of the person's Telegram profile as a one-tap answer.
    suggest: Literal["telegram_name"] | None = None
    # A name, not a paragraph: line breaks and repeated spaces are folded (always for picks).
    single_line: bool = False
    # Date questions: the buttons offered, in months from today (1, 3, 6 and 12 if unset).
    months: Annotated[list[Annotated[int, Field(ge=1, le=120)]], Field(max_length=4)] | None = None
    # Choice buttons per row: 2 for many short options (the 17 SDGs), 1 for sentences.
    columns: Annotated[int, Field(ge=1, le=3)] = 1
    # The label of the button that closes an evidence question ("Listo ›" if unset).
    done: Text | None = None

    @model_validator(mode="after")
    def _check(self) -> Question:
        if (self.type is QuestionType.PICK) != (self.source is not None):
            raise ValueError("a pick question needs a source, and only a pick question has one")
        if self.type is not QuestionType.PICK and (self.other or self.text_other):
            raise ValueError("only a pick question has other and text_other")
        if self.suggest is not None and self.type is not QuestionType.TEXT:
            raise ValueError("only a text question can suggest an answer")
        if self.months is not None and self.type is not QuestionType.DATE:
            raise ValueError("only a date question has months")
        if self.columns > 1 and self.type not in (QuestionType.SINGLE, QuestionType.MULTI):
            raise ValueError("only a single or multiple choice question has columns")
        if self.done is not None and self.type is not QuestionType.EVIDENCE:
            raise ValueError("only an evidence question has done")
        if self.type is QuestionType.LIKERT and self.scale is None:
            raise ValueError("a likert question needs a scale")
        if self.type in (QuestionType.SINGLE, QuestionType.MULTI):
            if len(self.options) < 2:
                raise ValueError("a choice question needs at least two options")
            codes = [o.code for o in self.options]
            if len(codes) != len(set(codes)):
                raise ValueError("option codes must be unique within a question")
        if self.type in (QuestionType.TEXT, QuestionType.PICK) and (
            self.min_length > self.max_length
        ):
            raise ValueError("min_length is greater than max_length")
        # One idea per message on a phone; it also keeps question messages within Telegram's
        # 4,096 characters, with the progress line and the echoed answer.
        for lang in sorted(self.text.languages()):
            if len(self.text.get(lang)) > MAX_QUESTION_CHARS:
                raise ValueError(f"text.{lang} is longer than {MAX_QUESTION_CHARS} characters")
        return self


class Subsection(Strict):
    """A group of questions inside a section (a DGCA sub-dimension)."""

    id: Ident
    title: Text
    questions: Annotated[list[Question], Field(min_length=1)]


class Section(Strict):
    """A titled part of a questionnaire (a DGCA dimension)."""

    id: Ident
    title: Text
    questions: list[Question] = Field(default_factory=list)
    subsections: list[Subsection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Section:
        if not self.questions and not self.subsections:
            raise ValueError("a section needs questions or subsections")
        return self


@dataclass(frozen=True)
class Slot:
    """A question in its place: section, subsection and overall position."""

    index: int
    section: Section
    subsection: Subsection | None
    question: Question


class Questionnaire(Strict):
    """A questionnaire file: scales, sections and questions."""

    id: Ident
    version: Annotated[int, Field(ge=1, le=9999)]
    title: Text
    intro: Text | None = None
    # A short form (the profile) numbers its questions as steps, and is submitted with its
    # last answer; a survey shows section progress and ends on a review before submitting.
    # "none": the heading alone, for a form asked once per item of something else.
    progress: Literal["section", "step", "none"] = "section"
    # A profile form is asked after joining, and fills the participant's record
    # (bot/flows/profile.py); a workshop names its own with `profile:`.
    purpose: Literal["survey", "profile"] = "survey"
    review: bool = True
    # Answered in one message edited from question to question (a survey, by default), or
    # one message per question, like a conversation (a short form, by default).
    live: bool | None = None
    # A short form's numbered steps may say what they belong to ("Paso 2 del plan"); the
    # form's owner fills `{placeholders}` here and in the questions (bot/flows/plans.py).
    heading: Text | None = None
    scales: dict[Ident, Scale] = Field(default_factory=dict)
    sections: Annotated[list[Section], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> Questionnaire:
        if self.progress == "none" and self.heading is None:
            raise ValueError("progress: none shows only the heading: give a heading")
        seen: set[str] = set()
        ids = [s.id for s in self.sections]
        if len(ids) != len(set(ids)):
            raise ValueError("section ids must be unique")
        for slot in self.slots():
            q = slot.question
            if q.id in seen:
                raise ValueError(f"question id {q.id!r} is used twice")
            if q.scale is not None and q.scale not in self.scales:
                raise ValueError(f"question {q.id!r} names undefined scale {q.scale!r}")
            if q.show_if is not None:
                if q.show_if.question not in seen:
                    raise ValueError(
                        f"question {q.id!r}: show_if must refer to an earlier question"
                    )
                earlier = self.question(q.show_if.question)
                allowed = {o.code for o in self.options_of(earlier)}
                unknown = set(q.show_if.any_of) - allowed
                if unknown:
                    raise ValueError(
                        f"question {q.id!r}: show_if names unknown options {sorted(unknown)}"
                    )
            seen.add(q.id)
        return self

    def languages(self) -> frozenset[str]:
        """Return the languages the questionnaire is written in: its title's."""
        return self.title.languages()

    def problems(self) -> list[tuple[FieldPath, str]]:
        """Return the texts not written in every language of the questionnaire."""
        wanted = sorted(self.languages())
        return [
            (gap, f"no text in {gap[-1]}: the questionnaire is in {', '.join(wanted)}")
            for gap in text_gaps(self, wanted)
        ]

    def slots(self) -> Iterator[Slot]:
        """Yield every question with its section and subsection, in order."""
        return iter(self.all_slots)

    # Cached: a file is frozen once read, and every answer walks its questions several times.
    @cached_property
    def all_slots(self) -> tuple[Slot, ...]:
        """Return every question with its section and subsection, in order."""
        found: list[Slot] = []
        for section in self.sections:
            for q in section.questions:
                found.append(Slot(len(found), section, None, q))
            for sub in section.subsections:
                for q in sub.questions:
                    found.append(Slot(len(found), section, sub, q))
        return tuple(found)

    @cached_property
    def question_ids(self) -> frozenset[str]:
        """Return the ids of every question."""
        return frozenset(slot.question.id for slot in self.all_slots)

    @cached_property
    def has_conditions(self) -> bool:
        """Tell whether any question is shown only after some answers (show_if)."""
        return any(slot.question.show_if is not None for slot in self.all_slots)

    def question(self, qid: str) -> Question:
        """Return the question with id `qid`, or raise KeyError."""
        for slot in self.slots():
            if slot.question.id == qid:
                return slot.question
        raise KeyError(qid)

    def options_of(self, q: Question) -> list[Option]:
        """Return the answer options of a button question, in display order."""
        if q.type is QuestionType.LIKERT:
            assert q.scale is not None
            return self.scales[q.scale].all_options()
        if q.type is QuestionType.NPS:
            return [
                Option(code=str(i), label=Text(es=str(i), en=str(i)), value=i) for i in range(11)
            ]
        return list(q.options)


def _switched_off(value: Any) -> Any:
    # YAML reads off, no and false as False; "none" is written as a word too.
    if value is False or (isinstance(value, str) and value.strip().lower() in ("none", "off")):
        return None
    return value


LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
# A questionnaire a workshop uses, or None when the file switches it off (`dgca: false`).
Instrument = Annotated[Ident | None, BeforeValidator(_switched_off)]


class Window(Strict):
    """A period when a questionnaire is open, in the workshop's local time."""

    opens: datetime
    closes: datetime


class SessionKind(StrEnum):
    """What a slot of the agenda is: only sessions of content are rated by default."""

    SESSION = "session"
    REGISTRATION = "registration"
    WELCOME = "welcome"
    BREAK = "break"
    CLOSING = "closing"


class AgendaSession(Strict):
    """One session of the agenda, in the workshop's local time.

    A session may have no end (closing words: `end` left out), or a time still to be
    confirmed: `start: 2023-10-11`, a day without a time (or `time_tbc: true`). Participants
    then see "hora por confirmar", and it gets no reminder and no rating prompt.
    """

    id: Ident
    start: datetime
    end: datetime | None = None
    time_tbc: bool = False
    title: Text
    kind: SessionKind = SessionKind.SESSION
    speakers: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    place: Text | None = None
    online_link: HttpUrl | None = None
    # In person (at `place`), online (at the link) or both. Left out, it follows from what is
    # given: a place and a link (the session's, its event's or the workshop's) make it hybrid.
    modality: Literal["in_person", "online", "hybrid"] | None = None
    # Ask participants to rate it; by default only sessions of content are rated.
    rate: bool | None = None
    # In a programme, the event this session belongs to (its `events:` id).
    event: Ident | None = None

    @model_validator(mode="before")
    @classmethod
    def _day_only(cls, data: Any) -> Any:
        # `start: 2023-10-11`, a day without a time: the time is to be confirmed.
        start = data.get("start") if isinstance(data, dict) else None
        if isinstance(start, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", start.strip()):
            try:
                start = date.fromisoformat(start.strip())
            except ValueError:
                return data  # an impossible day: the datetime field says so, on its line
        if isinstance(start, date) and not isinstance(start, datetime):
            data = {**data, "start": datetime.combine(start, time(0)), "time_tbc": True}
        return data

    @property
    def rated(self) -> bool:
        """Tell whether participants are asked to rate this session."""
        if self.time_tbc:
            return False  # no time, no moment to ask
        if self.rate is not None:
            return self.rate
        # Words with no end (a closing) are not rated; sessions of content are.
        return self.end is not None and self.kind is SessionKind.SESSION

    @property
    def until(self) -> datetime:
        """Return the session's end, or its start when it has none (closing words)."""
        return self.end if self.end is not None else self.start


def join_code_problem(value: str) -> str | None:
    """Say why a hand-written join code is too easy to guess, or None when it is not."""
    # As hard to guess as a generated one (96 random bits in 16 characters of 64 kinds):
    # many different characters, none repeated much, mixed.
    kinds = sum(
        any(test(c) for c in value)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: c in "-_")
    )
    most = max(value.count(c) for c in set(value))
    if len(set(value)) < MIN_DISTINCT_CODE_CHARS or most > MAX_SAME_CODE_CHAR or kinds < 3:
        return (
            f"join_code is too easy to guess: use at least {MIN_DISTINCT_CODE_CHARS}"
            f" different characters, none more than {MAX_SAME_CODE_CHAR} times, mixing"
            " lowercase, uppercase and digits (or leave it out to get a random one)"
        )
    return None


def _unguessable(value: str) -> str:
    if (problem := join_code_problem(value)) is not None:
        raise ValueError(problem)
    return value


# A hand-written join code: the shape of a t.me link's payload, and hard to guess.
JoinCode = Annotated[str, Field(pattern=JOIN_CODE_PATTERN), AfterValidator(_unguessable)]


class Event(Strict):
    """One event of a programme: its own dates, audience, link, evaluation and reports.

    A programme has one pool of participants and one join link. Joining by it enrols a
    person in every `open` event; an event that is not open (a replica for another
    audience) is joined by its own link, which every event gets. The DGCA is taken once per
    programme, by the participants of the events that use it (`dgca`).
    """

    id: Ident
    title: Text
    start_date: date
    end_date: date
    open: bool = True
    join_code: JoinCode | None = None
    dgca: bool = True
    # Left out, the programme's evaluation; `false`, none; or another questionnaire's id.
    evaluation: Instrument = None
    evaluation_window: Window | None = None
    venue: Text | None = None
    online_link: HttpUrl | None = None


class ReminderSettings(Strict):
    """Which automatic messages a workshop sends, and when."""

    dgca_invitation: bool = True
    dgca_nudge_days_before_close: list[Annotated[int, Field(ge=1, le=30)]] = Field(
        default_factory=lambda: [3, 1]
    )
    agenda_digest: bool = True
    agenda_digest_time: ClockTime = time(18, 0)
    session_minutes_before: Annotated[int, Field(ge=0, le=240)] = 15
    # Sessions in the same place, this close to each other, share one reminder.
    block_gap_minutes: Annotated[int, Field(ge=0, le=240)] = 30
    # "end_of_day": one message after the day's last session asks for the day's ratings, one
    # session after the other; "each": a message at the end of every rated session.
    ratings: Literal["end_of_day", "each"] = "end_of_day"
    evaluation_invitation: bool = True
    evaluation_nudge_hours_before_close: Annotated[int, Field(ge=0, le=24 * 14)] = 24
    notify_agenda_changes: bool = True


def _clock_time(value: Any) -> Any:
    """Refuse what YAML reads from an unquoted 21:00 (an integer) or a time with a zone."""
    if isinstance(value, bool | int | float):
        raise ValueError('write times in quotes, like "21:00"')
    if isinstance(value, str) and not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
        raise ValueError(f'{value!r} is not a time like "21:00"')
    return value


# A wall-clock time in the workshop's time zone, written "HH:MM" in the file.
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class QuietHours(Strict):
    """The local night: nothing the bot sends on its own goes out between `start` and `end`."""

    start: ClockTime = time(21, 0)
    end: ClockTime = time(8, 0)

    @model_validator(mode="after")
    def _check(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need a start and an end that differ")
        return self

    def contains(self, moment: time) -> bool:
        """Tell whether a wall-clock time falls in the quiet hours (which may span midnight)."""
        if self.start > self.end:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end


class FollowUp(Strict):
    """How the bot follows up action plans after the workshop."""

    # Months after the workshop's last day at which every plan is asked for an update.
    checkin_months: list[Annotated[int, Field(ge=1, le=36)]] = Field(
        default_factory=lambda: [1, 3, 6]
    )
    # Local time at which check-ins, nudges and digests go out; never at night.
    send_time: ClockTime = time(10, 0)
    nudge_after_days: Annotated[int, Field(ge=1, le=60)] = 7
    overdue_checkins: bool = True
    # The agenda session at whose start everyone is invited to write a plan (default: the last).
    plan_session: Ident | None = None
    plan_invitation: bool = True

    @field_validator("send_time")
    @classmethod
    def _daytime(cls, value: time) -> time:
        if not DAY_START <= value < DAY_END:
            raise ValueError(
                f"send_time must be between {DAY_START:%H:%M} and {DAY_END:%H:%M} (not at night)"
            )
        return value


class AssociationRef(Strict):
    """The association (federation, institute) that follows up a workshop's plans."""

    id: Annotated[str, Field(pattern=SLUG_PATTERN)]
    name: Annotated[str, Field(min_length=2, max_length=120)]


# Automatic follow-up messages are sent in this local window only. No time zone moves its
# clocks in it (checked in the tz database for 2024-2100): check-ins need no gap check.
DAY_START = time(8, 0)
DAY_END = time(20, 0)
# Dates a workshop file may use: wider than any workshop, narrow enough that every reminder
# and check-in computed from them is a real date.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100

FieldPath = tuple[str | int, ...]


def _closest(word: str, known: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest known word, or nothing."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _brief(text: str) -> str:
    """Quote a value for a message, cut short when it is long."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


@cache
def _zone_names() -> frozenset[str]:
    # The names ZoneInfo can open, and only those: it raises OSError for "America" or a long
    # name. "localtime" is whatever zone the server is set to, not where a workshop is held.
    return frozenset(zoneinfo.available_timezones()) - {"localtime"}


def _utc_offset(moment: datetime, zone: zoneinfo.ZoneInfo) -> timedelta | None:
    return moment.replace(tzinfo=UTC).astimezone(zone).utcoffset()


def skipped(naive: datetime, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime] | None:
    """Return the wall-clock times the clocks jump from and to, if they skip `naive` in `zone`."""
    if naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return None
    # In a gap, fold=0 reads the time with the offset before the jump and fold=1 with the one
    # after; the jump's UTC moment lies between the two readings, bisected to the second.
    before = naive.replace(tzinfo=zone, fold=0).utcoffset()
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    if before is None or after is None or after <= before:
        return None
    start = naive - after
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _utc_offset(start + timedelta(seconds=middle), zone) == before:
            low = middle
        else:
            high = middle
    jump = start + timedelta(seconds=high)
    return jump + before, jump + after


def _skipped_text(value: datetime, zone: str, jump: tuple[datetime, datetime]) -> str:
    def clock(moment: datetime) -> str:
        same_day = moment.date() == value.date()
        return f"{moment:%H:%M}" if same_day else f"{moment:%H:%M} on {moment:%Y-%m-%d}"

    return (
        f"{value:%H:%M} on {value:%Y-%m-%d} does not exist in {zone}: clocks jump from"
        f" {clock(jump[0])} to {clock(jump[1])}; choose another time"
    )


class WorkshopFile(Strict):
    """A workshop file: identity, dates, agenda, windows and reminder settings.

    Its times are wall-clock times where the workshop is held (`timezone`), written without
    an offset. A time that occurs twice, when the clocks are turned back, means its first
    occurrence (before the change); a time the clocks skip when they jump forward is refused
    on import, with the times they jump between.
    """

    id: Annotated[str, Field(pattern=SLUG_PATTERN)]
    # The language participants are greeted in, one of the languages the workshop offers;
    # its texts (title, agenda…) are written in each of those.
    language: LanguageCode
    languages: Annotated[list[LanguageCode], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: list(LANGUAGES)
    )
    title: Text
    # Who organizes it; co-organizers as a list, named in that order.
    organizer: Text | Annotated[list[Text], Field(min_length=1, max_length=10)]
    timezone: str
    start_date: date
    end_date: date
    country: Text | None = None
    venue: Text | None = None
    online_link: HttpUrl | None = None
    join_code: JoinCode | None = None
    institutions: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    # The instruments the workshop uses, by questionnaire id; `false` switches one off.
    dgca: Instrument = "dgca"
    evaluation: Instrument = "evaluation"
    # The questions asked after joining: a questionnaire with `purpose: profile`.
    profile: Ident = "profile"
    retention_months: Annotated[int, Field(ge=1, le=120)] = 12
    dgca_window: Window | None = None
    evaluation_window: Window | None = None
    agenda: list[AgendaSession] = Field(default_factory=list)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    session_feedback: bool = True
    # Distributions of fewer answers than this are not shown: they would reveal individuals.
    report_min_group: Annotated[int, Field(ge=1, le=50)] = 3
    association: AssociationRef | None = None
    follow_up: FollowUp = Field(default_factory=FollowUp)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    # A programme's events; a standalone workshop has none.
    events: Annotated[list[Event], Field(max_length=30)] = Field(default_factory=list)
    # Set on the view of one event (`for_event`): that event's id.
    _event: str | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _zone_names():
            raise ValueError(
                f"unknown time zone {_brief(value)}: write a name of the tz database, like"
                " 'America/La_Paz'"
            )
        return value

    @property
    def event_id(self) -> str | None:
        """Return the event this is the view of (`for_event`), or None for the whole file."""
        return self._event

    def event(self, event_id: str | None) -> Event | None:
        """Return the programme's event with this id."""
        return next((e for e in self.events if e.id == event_id), None)

    def event_of(self, session: AgendaSession) -> Event | None:
        """Return the event a session belongs to (None in a standalone workshop)."""
        return self.event(session.event)

    def event_evaluation(self, event: Event) -> str | None:
        """Return the evaluation questionnaire an event uses: its own, or the programme's."""
        return event.evaluation if "evaluation" in event.model_fields_set else self.evaluation

    def for_event(self, event: Event) -> WorkshopFile:
        """Return one event as a workshop of its own: its sessions, dates and evaluation."""
        view = self.model_copy(
            update={
                "title": event.title,
                "start_date": event.start_date,
                "end_date": event.end_date,
                "agenda": [s for s in self.agenda if s.event == event.id],
                "evaluation": self.event_evaluation(event),
                "evaluation_window": event.evaluation_window,
                "venue": event.venue or self.venue,
                "online_link": event.online_link or self.online_link,
                "dgca": self.dgca if event.dgca else None,
            }
        )
        view._event = event.id
        return view

    def for_events(self, event_ids: Iterable[str]) -> WorkshopFile:
        """Return the file as a member of these events sees it: their sessions, their DGCA."""
        if not self.events:
            return self
        chosen = set(event_ids)
        takes_dgca = any(e.dgca for e in self.events if e.id in chosen)
        return self.model_copy(
            update={
                "agenda": [s for s in self.agenda if s.event in chosen],
                "dgca": self.dgca if takes_dgca else None,
            }
        )

    def evaluation_key(self) -> str | None:
        """Return the response key of this file's evaluation (one per event in a programme)."""
        if self.evaluation is None:
            return None
        return self.evaluation if self._event is None else f"{self.evaluation}@{self._event}"

    def dgca_events(self) -> list[str] | None:
        """Return the events whose participants take the DGCA, or None for everyone."""
        if not self.events:
            return None
        return [e.id for e in self.events if e.dgca]

    def stored(self) -> dict[str, Any]:
        """Return the file as JSON data to store, reading back to the same file."""
        # An event that leaves out `evaluation` uses the programme's: writing its default
        # (None, "switched off") would change what it means when read back.
        inherit = {
            index: {"evaluation"}
            for index, event in enumerate(self.events)
            if "evaluation" not in event.model_fields_set
        }
        return self.model_dump(mode="json", exclude={"events": inherit} if inherit else None)

    def link_of(self, session: AgendaSession) -> HttpUrl | None:
        """Return a session's meeting link: its own, its event's or the workshop's."""
        if session.modality == "in_person":
            return None
        event = self.event_of(session)
        own = event.online_link if event is not None else None
        return session.online_link or own or self.online_link

    def modality_of(self, session: AgendaSession) -> str | None:
        """Say how a session is held: 'in_person', 'online', 'hybrid', or None (not said)."""
        if session.modality is not None:
            return session.modality
        place, link = session.place is not None, self.link_of(session) is not None
        if place and link:
            return "hybrid"
        return "in_person" if place else "online" if link else None

    def is_hybrid(self) -> bool:
        """Tell whether any session is held both in person and online."""
        return any(self.modality_of(s) == "hybrid" for s in self.agenda)

    def organizers(self, lang: str) -> str:
        """Name the organizers in `lang`: "A, B y C"."""
        names = self.organizer if isinstance(self.organizer, list) else [self.organizer]
        return format_list([name.get(lang) for name in names], locale=lang)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the workshop's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)

    def local(self, naive: datetime) -> datetime:
        """Attach the workshop's time zone to a wall-clock time from the file.

        A time that occurs twice (clocks turned back) is its first occurrence: fold=0, the
        offset before the change. Import refuses a time the clocks skip (problems); a file
        stored before that rule reads one with the offset before the jump (02:30 is 03:30).
        """
        return naive.replace(tzinfo=self.zone) if naive.tzinfo is None else naive

    def is_quiet(self, moment: datetime, zone: zoneinfo.ZoneInfo | None = None) -> bool:
        """Tell whether `moment` falls in the quiet hours where the workshop is (or in `zone`)."""
        return self.quiet_hours.contains(moment.astimezone(zone or self.zone).time())

    def daytime(self, moment: datetime, zone: zoneinfo.ZoneInfo | None = None) -> datetime:
        """Return `moment`, or the end of the quiet hours it falls in (the next morning).

        The quiet hours are the workshop's, read where it is held or in a person's `zone`.
        """
        zone = zone or self.zone
        if not self.is_quiet(moment, zone):
            return moment
        local = moment.astimezone(zone)
        day = local.date()
        if local.time() >= self.quiet_hours.end:
            day += timedelta(days=1)
        end = datetime.combine(day, self.quiet_hours.end)
        # On the night the clocks jump over the end of the quiet hours, the night ends with
        # the jump (read with fold=0, the skipped time would end it an hour late).
        jump = skipped(end, zone)
        return (jump[1] if jump is not None else end).replace(tzinfo=zone)

    def night_end(self, moment: datetime, own_zone: str | None = None) -> datetime | None:
        """Return when the night ends for a person at `moment`, or None if it is day for them.

        The night is the workshop's quiet hours, read in the time zone the person chose
        (/agenda), or where the workshop is held if they chose none (or one unknown here).
        """
        zone = self.zone
        if own_zone is not None and own_zone != self.timezone:
            try:
                zone = zoneinfo.ZoneInfo(own_zone)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                zone = self.zone
        morning = self.daytime(moment, zone)
        return morning if morning != moment else None

    def local_times(self) -> list[tuple[FieldPath, datetime]]:
        """Return every date and time of the file (windows, sessions) with its field's path."""
        found: list[tuple[FieldPath, datetime]] = []
        for name in ("dgca_window", "evaluation_window"):
            window = getattr(self, name)
            if window is not None:
                found += [((name, "opens"), window.opens), ((name, "closes"), window.closes)]
        for index, event in enumerate(self.events):
            if (window := event.evaluation_window) is not None:
                path = ("events", index, "evaluation_window")
                found += [((*path, "opens"), window.opens), ((*path, "closes"), window.closes)]
        for index, session in enumerate(self.agenda):
            if session.time_tbc:
                continue  # a day only: no clock time to check
            found += [(("agenda", index, "start"), session.start)]
            if session.end is not None:
                found += [(("agenda", index, "end"), session.end)]
        return found

    def _time_problems(self) -> list[tuple[FieldPath, str]]:
        """Return the times that are not plain local times, plausible and on the clock."""
        found: list[tuple[FieldPath, str]] = []
        years = f"write a year from {EARLIEST_YEAR} to {LATEST_YEAR}"
        for name in ("start_date", "end_date"):
            day: date = getattr(self, name)
            if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
                found.append(((name,), f"{day.year} is not a year for a workshop: {years}"))
        for path, value in self.local_times():
            if value.tzinfo is not None:
                found.append(
                    (
                        path,
                        f"write the time without an offset, like {value:%Y-%m-%dT%H:%M}: times"
                        f" are wall-clock times in the workshop's time zone ({self.timezone})",
                    )
                )
            elif not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
                found.append((path, f"{value.year} is not a year for a workshop: {years}"))
            elif (jump := skipped(value, self.zone)) is not None:
                found.append((path, _skipped_text(value, self.timezone, jump)))
        digest = self.reminders.agenda_digest_time
        days = {s.start.date() for s in self.agenda if s.start.tzinfo is None}
        for day in sorted(days) if self.reminders.agenda_digest else []:
            if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
                continue
            eve = datetime.combine(day - timedelta(days=1), digest)
            if (jump := skipped(eve, self.zone)) is not None:
                text = _skipped_text(eve, self.timezone, jump)
                found.append((("reminders", "agenda_digest_time"), f"the digest at {text}"))
                break
        return found

    def _event_problems(self) -> list[tuple[FieldPath, str]]:
        """Return the mistakes in a programme's events and in its sessions' `event`."""
        found: list[tuple[FieldPath, str]] = []
        ids = [e.id for e in self.events]
        codes = [e.join_code for e in self.events if e.join_code is not None]
        for index, event in enumerate(self.events):
            path: FieldPath = ("events", index)
            if ids.count(event.id) > 1:
                found.append(((*path, "id"), f"event id {event.id!r} is used twice"))
            if event.end_date < event.start_date:
                found.append(((*path, "end_date"), "the event ends before it starts"))
            if event.start_date < self.start_date or event.end_date > self.end_date:
                found.append(((*path, "start_date"), "the event is outside the programme's dates"))
            if event.join_code is not None and (
                codes.count(event.join_code) > 1 or event.join_code == self.join_code
            ):
                found.append(((*path, "join_code"), "this join code is used twice"))
            window = event.evaluation_window
            if window is not None and window.closes <= window.opens:
                found.append(
                    ((*path, "evaluation_window", "closes"), "the window closes before it opens")
                )
            if window is not None and self.event_evaluation(event) is None:
                found.append(
                    (
                        (*path, "evaluation_window"),
                        "the event has no evaluation: remove evaluation_window, or name the"
                        " evaluation questionnaire",
                    )
                )
        if self.events and self.evaluation_window is not None:
            found.append(
                (
                    ("evaluation_window",),
                    "a programme has one evaluation per event: write evaluation_window on each"
                    " event instead",
                )
            )
        for index, session in enumerate(self.agenda):
            path = ("agenda", index, "event")
            owner = self.event(session.event)
            if self.events and session.event is None:
                named = ", ".join(dict.fromkeys(ids))
                found.append((path, f"say which event the session belongs to ({named})"))
            elif session.event is not None and not self.events:
                found.append((path, "the file has no events: remove event, or list the events"))
            elif session.event is not None and owner is None:
                hint = _closest(session.event, ids)
                found.append((path, f"no event has id {session.event!r}{hint}"))
            elif owner is not None:
                days = (session.start.date(), session.until.date())
                if min(days) < owner.start_date or max(days) > owner.end_date:
                    found.append(
                        (
                            ("agenda", index, "start"),
                            f"the session is outside the dates of event {owner.id!r}",
                        )
                    )
        return found

    def problems(self) -> list[tuple[FieldPath, str]]:
        """Return the cross-field mistakes, each with the path of the field at fault."""
        found = self._time_problems()
        if any(value.tzinfo is not None for _, value in self.local_times()):
            # The checks below compare times, which Python cannot do across an offset and none.
            return found
        quiet = self.quiet_hours
        for path, value in (
            (("follow_up", "send_time"), self.follow_up.send_time),
            (("reminders", "agenda_digest_time"), self.reminders.agenda_digest_time),
        ):
            if quiet.contains(value):
                found.append(
                    (
                        path,
                        f"{value:%H:%M} is in the quiet hours "
                        f"({quiet.start:%H:%M}-{quiet.end:%H:%M}): pick a daytime hour",
                    )
                )
        if self.end_date < self.start_date:
            found.append((("end_date",), "the workshop ends before it starts"))
        if len(set(self.languages)) != len(self.languages):
            found.append((("languages",), "a language is listed twice"))
        if self.language not in self.languages:
            offered = ", ".join(self.languages)
            found.append((("language",), f"{self.language} is not one of languages ({offered})"))
        for gap in text_gaps(self, self.languages):
            offered = ", ".join(self.languages)
            found.append((gap, f"no text in {gap[-1]}: the workshop offers {offered}"))
        if len(set(self.institutions)) != len(self.institutions):
            found.append((("institutions",), "an institution is listed twice"))
        for name in ("dgca_window", "evaluation_window"):
            window = getattr(self, name)
            if window is not None and window.closes <= window.opens:
                found.append(((name, "closes"), "the window closes before it opens"))
            instrument = name.removesuffix("_window")
            if window is not None and getattr(self, instrument) is None:
                found.append(
                    (
                        (name,),
                        f"{instrument} is switched off: remove {name}, or name the"
                        f" {instrument} questionnaire",
                    )
                )
        ids = [s.id for s in self.agenda]
        if self.follow_up.plan_session is not None and self.follow_up.plan_session not in ids:
            found.append(
                (
                    ("follow_up", "plan_session"),
                    f"no agenda session has id {self.follow_up.plan_session!r}",
                )
            )
        # Sessions whose time is to be confirmed overlap nothing yet.
        ordered = sorted(
            ((i, s) for i, s in enumerate(self.agenda) if not s.time_tbc),
            key=lambda item: item[1].start,
        )
        for index, session in enumerate(self.agenda):
            if ids.count(session.id) > 1:
                found.append((("agenda", index, "id"), f"session id {session.id!r} is used twice"))
            if session.end is not None and session.end <= session.start:
                found.append((("agenda", index, "end"), "the session ends before it starts"))
            if session.time_tbc and session.end is not None:
                found.append(
                    (("agenda", index, "end"), "a session whose time is to be confirmed has no end")
                )
            days = (session.start.date(), session.until.date())
            if min(days) < self.start_date or max(days) > self.end_date:
                found.append(
                    (("agenda", index, "start"), "the session is outside the workshop dates")
                )
        found += self._event_problems()
        for index, session in enumerate(self.agenda):
            if session.modality in ("online", "hybrid") and self.link_of(session) is None:
                found.append(
                    (
                        ("agenda", index, "modality"),
                        f"a session held {session.modality} needs a link: write its"
                        " online_link (or the workshop's)",
                    )
                )
            if session.modality == "online" and session.place is not None:
                found.append(
                    (
                        ("agenda", index, "place"),
                        "an online session has no place: remove place, or make it hybrid",
                    )
                )
        # Sessions of different events may run at once (replicas in parallel).
        ordered.sort(key=lambda item: (item[1].event or "", item[1].start))
        for (_, earlier), (index, later) in pairwise(ordered):
            if earlier.event != later.event:
                continue
            if later.start < earlier.until:
                found.append(
                    (
                        ("agenda", index, "start"),
                        f"session {later.id!r} overlaps session {earlier.id!r}",
                    )
                )
        return found


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # A key that is not a plain name (":", "fr fr", 100 KB of text) is quoted, short.
            plain = isinstance(part, str) and re.fullmatch(r"\w+", part, re.ASCII)
            out += ("." if out else "") + (part if plain else _brief(str(part)))
    return out or "(file)"


def _read_text(path: Path) -> str:
    """Read a content file as UTF-8, naming the line of a byte that is not."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ContentError(path, ["file not found"]) from exc
    except OSError as exc:
        raise ContentError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ContentError(path, [f"line {line}: not UTF-8 text; save the file as UTF-8"]) from exc


# Deeper than any content file needs; bounds the composer's recursion and pydantic's.
MAX_NESTING = 32
# Values and characters that aliases (*name) may repeat in one file, all together: enough to
# reuse a place or a text a few hundred times, not to grow a small file into gigabytes.
MAX_REPEATED = 100_000
_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"
# What YAML allows in a file; the readers refuse the rest with a position, not a line.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Refused(yaml.MarkedYAMLError):
    """What the content loader refuses, its problem in plain words at `problem_mark`."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _PythonEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own scanner and parser, for when libyaml is not installed."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


# libyaml scans and parses six times faster than PyYAML's Python code: an upload is read in
# the event loop. The tests switch it off to check that both give the same answers.
USE_LIBYAML = _CParser is not None


def _shown(node: yaml.Node) -> str:
    value = node.value if isinstance(node, yaml.ScalarNode) else "…"
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


class _Loader(yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """A safe loader that names the line of whatever it cannot or will not read.

    Dates and times stay text, for the models to read: PyYAML builds `2026-02-30` into a date
    itself and raises a bare ValueError, with no line. It refuses duplicate keys (one of the two
    values would be lost without a word), unknown tags, nesting deeper than MAX_NESTING, an
    alias inside the value it names, and aliases that repeat more than MAX_REPEATED values and
    characters (a "billion laughs" file expands a few lines into gigabytes).
    """

    def __init__(self, text: str) -> None:
        self._events: Any = _CParser(text) if USE_LIBYAML else _PythonEvents(text)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        # Each composed node's size and depth with its aliases expanded.
        self._expanded: dict[yaml.Node, tuple[int, int]] = {}
        self._repeated = 0

    def check_event(self, *choices: type[yaml.Event]) -> bool:
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> yaml.Event:
        event: yaml.Event = self._events.peek_event()
        return event

    def get_event(self) -> yaml.Event:
        event: yaml.Event = self._events.get_event()
        return event

    def dispose(self) -> None:
        self._events.dispose()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            if anchor not in self.anchors:
                problem = f"*{anchor} names no anchor (&{anchor}) written before it"
                raise _Refused(problem, event.start_mark)
            node = super().compose_node(parent, index)
            if node not in self._expanded:
                problem = f"the alias *{anchor} is inside the value it names"
                raise _Refused(problem, event.start_mark)
            self._repeated += self._expanded[node][0]
            if self._repeated > MAX_REPEATED:
                problem = (
                    f"the aliases (*name) repeat more than {MAX_REPEATED:,} values and"
                    " characters; write the values out"
                )
                raise _Refused(problem, event.start_mark)
            return node
        if anchor is not None and anchor in self.anchors:
            line = self.anchors[anchor].start_mark.line + 1
            problem = f"the anchor &{anchor} is written twice (also on line {line}); rename one"
            raise _Refused(problem, event.start_mark)
        if self._depth >= MAX_NESTING:
            raise _Refused(f"more than {MAX_NESTING} levels of nesting", event.start_mark)
        self._depth += 1
        try:
            composed = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if composed is None:
            raise _Refused("nothing to read here", event.start_mark)
        self._measure(composed)
        return composed

    def _measure(self, node: yaml.Node) -> None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.ScalarNode) and (bad := _NOT_YAML.search(node.value)):
            # Escapes ("\0", "\e") write what a file cannot hold: NUL in a title fails to
            # store in PostgreSQL (JSONB), control characters garble messages.
            problem = f"{_shown(node)} holds U+{ord(bad.group()):04X}, which a text cannot hold"
            raise _Refused(problem, node.start_mark)
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                children += (key, value)
                if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                    continue
                if key.value in seen:
                    raise _Refused(
                        f"{_shown(key)} is written twice here (also on line"
                        f" {seen[key.value]}); keep one",
                        key.start_mark,
                    )
                seen[key.value] = key.start_mark.line + 1
        size = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        depth = 0
        for child in children:
            child_size, child_depth = self._expanded[child]
            size += child_size
            depth = max(depth, child_depth)
        if depth + 1 > MAX_NESTING:
            problem = f"the aliases (*name) here nest more than {MAX_NESTING} levels deep"
            raise _Refused(problem, node.start_mark)
        self._expanded[node] = (size, depth + 1)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, LookupError, TypeError) as exc:
            kind = node.tag.removeprefix(_YAML_TAG)
            if kind in ("int", "float"):
                problem = f"{_shown(node)} is not a number YAML can read"
            elif kind == "bool":
                problem = f"{_shown(node)} is neither true nor false"
            else:
                problem = f"cannot read {_shown(node)} as {_tag_name(node.tag)}"
            raise _Refused(problem, node.start_mark) from exc


def _as_text(loader: _Loader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _unknown_tag(loader: _Loader, node: yaml.Node) -> Any:
    raise _Refused(f"the tag {_tag_name(node.tag)} is not allowed here; remove it", node.start_mark)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _YAML_TAG + "timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Loader.yaml_constructors = {
    **yaml.constructor.SafeConstructor.yaml_constructors,
    _YAML_TAG + "timestamp": _as_text,
    None: _unknown_tag,
}


def _line(text: str, mark: Any) -> int:
    """Return the 1-based line of a YAML mark, within the text (libyaml may point past it)."""
    return max(1, min(mark.line + 1, len(text.splitlines())))


# What the parser was reading when it failed, in words: the place to look for the mistake.
_OPENED = {
    "while parsing a flow mapping": "in the { … } that starts on line {line}",
    "while parsing a flow sequence": "in the [ … ] that starts on line {line}",
    "while scanning a quoted scalar": "in the text in quotes that starts on line {line}",
    "while scanning a double-quoted scalar": "in the text in quotes that starts on line {line}",
    "while parsing a block mapping": "among the fields that start on line {line}",
    "while parsing a block collection": "in the list that starts on line {line}",
}


def _compose(text: str, path: Path | str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text into data and the node tree it was built from (for lines)."""
    bad = _NOT_YAML.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise ContentError(
            path, [f"line {line}: U+{ord(bad.group()):04X} cannot be in a YAML file; remove it"]
        )
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return (None if root is None else loader.construct_document(root)), root
    except _Refused as exc:
        raise ContentError(path, [f"line {_line(text, exc.problem_mark)}: {exc.problem}"]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {_line(text, mark)}, column {mark.column + 1}: " if mark is not None else ""
        if exc.context == "expected a single document in the stream":
            problem = "a second document starts here (after ---); keep one per file"
        else:
            problem = f"not valid YAML: {exc.problem or exc.context}"
            opened = _OPENED.get(str(exc.context or ""))
            if opened and exc.context_mark is not None and exc.problem:
                problem += f" ({opened.replace('{line}', str(_line(text, exc.context_mark)))})"
        raise ContentError(path, [where + problem]) from exc
    except yaml.YAMLError as exc:
        raise ContentError(path, [f"not valid YAML: {str(exc).splitlines()[0]}"]) from exc
    except (ValueError, RecursionError, OverflowError, LookupError, TypeError) as exc:
        # What PyYAML can still raise on odd input, if anything: a plain answer, not a traceback.
        raise ContentError(path, [f"not readable as YAML ({type(exc).__name__})"]) from exc
    finally:
        loader.dispose()


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse YAML text, naming the line of a syntax error."""
    return _compose(text, path)[0]


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Return the 1-based line of the YAML node at `loc`, or of its nearest parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                break
            # A field whose value is a block (a window, a list) is named on its key's line.
            line = pair[0].start_mark.line + 1
            node = pair[1]
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


# What a value of each pattern looks like, in the words of the person writing the file.
PATTERN_WORDS = {
    ID_PATTERN: "an identifier: lowercase letters, digits and _, at most 16 (like dgca_ministries)",
    OPTION_CODE_PATTERN: "a code of at most 6 lowercase letters, digits or _ (like yes, na, 5)",
    SLUG_PATTERN: "lowercase letters, digits and dashes, at most 48 (like cochabamba-2023)",
    JOIN_CODE_PATTERN: "16 to 48 letters, digits, dashes or underscores",
    r"^[a-z]{2}$": "a two-letter language code, like es, en or pt",
}
DATE_WORDS = "write a date as year-month-day, like 2024-11-01"
DATETIME_WORDS = "write a date and time as year-month-dayThour:minute, like 2024-11-01T10:30"


# How the validator names the branch of a union it tried ("function-after[_check(), Text]"):
# not a field of the file, so left out of the path shown.
_VALIDATOR_STEP = re.compile(r"[a-z][a-z-]*\[.*\]", re.DOTALL)


# A value of the wrong shape altogether: said by a union's other branch when one branch
# got further into the value (a list of texts where one text fails).
_SHAPE_ERRORS = frozenset({"dict_type", "model_type", "list_type", "string_type"})


def _deepest(errors: list[Any]) -> list[Any]:
    """Drop a union branch's "wrong shape" when another branch names a mistake inside it."""
    paths = [_field_path(e["loc"]) for e in errors]
    return [
        error
        for error, path in zip(errors, paths, strict=True)
        if error["type"] not in _SHAPE_ERRORS
        or not any(len(other) > len(path) and other[: len(path)] == path for other in paths)
    ]


def _field_path(loc: Iterable[Any]) -> tuple[Any, ...]:
    """Return an error's location as the file's fields, without the validator's own steps."""
    return tuple(p for p in loc if not (isinstance(p, str) and _VALIDATOR_STEP.fullmatch(p)))


def _plain(model: type[BaseModel], error: Any) -> str:
    """Say what is wrong with a value in plain words, without the validator's jargon."""
    kind, ctx, loc = error["type"], error.get("ctx") or {}, _field_path(error["loc"])
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        if close:
            return f"unknown key {_brief(str(loc[-1]))}; did you mean {close[0]!r}?"
        listed = ", ".join(sorted(known)) if known else "none here"
        return f"unknown key {_brief(str(loc[-1]))} (the keys here are: {listed})"
    words: dict[str, str] = {
        "missing": "required: write this field",
        "int_parsing": "write a whole number",
        "int_type": "write a whole number",
        "int_from_float": "write a whole number",
        "float_parsing": "write a number",
        "bool_parsing": "write true or false",
        "bool_type": "write true or false",
        "date_parsing": DATE_WORDS,
        "date_from_datetime_parsing": DATE_WORDS,
        "date_from_datetime_inexact": DATE_WORDS,
        "date_type": DATE_WORDS,
        "datetime_parsing": DATETIME_WORDS,
        "datetime_from_date_parsing": DATETIME_WORDS,
        "datetime_type": DATETIME_WORDS,
        "url_parsing": "write a full web address, starting with https://",
        "url_scheme": "write a full web address, starting with https://",
        "list_type": "write a list: one item per line, each starting with '- '",
        "dict_type": "write fields here, one 'key: value' per line",
        "model_type": "write fields here, one 'key: value' per line",
        "model_attributes_type": "write fields here, one 'key: value' per line",
        "string_type": "write a text here (in quotes if it has a colon or starts with a digit)",
    }
    if kind in words:
        return words[kind]
    if kind == "string_pattern_mismatch":
        return "write " + PATTERN_WORDS.get(str(ctx.get("pattern")), "a value of the right form")
    if kind == "greater_than_equal":
        return f"write {ctx.get('ge')} or more"
    if kind == "less_than_equal":
        return f"write {ctx.get('le')} or less"
    if kind in ("literal_error", "enum"):
        return f"write one of: {ctx.get('expected')}"
    if kind == "string_too_short":
        return f"write at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"write at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"give at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"give at most {ctx.get('max_length')} items"
    return str(error["msg"]).removeprefix("Value error, ")


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Return the keys a model accepts at `path` (a mapping inside the file), if known."""
    current: Any = model
    for part in path:
        current = _unwrap(current, list_item=isinstance(part, int))
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = field.annotation
    current = _unwrap(current, list_item=False)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(hint: Any, *, list_item: bool) -> Any:
    """Strip Annotated and `| None` from a type, and take a list's item type if asked."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = members[0] if len(members) == 1 else hint
            if len(members) != 1:
                return hint
        elif list_item and origin in (list, tuple):
            hint, list_item = typing.get_args(hint)[0], False
        else:
            return hint


def parse_model(model: type[M], data: Any, path: Path | str) -> M:
    """Validate `data` as `model`, turning errors into a ContentError for `path`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_format_loc(_field_path(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ContentError(path, problems) from exc


def parse_model_with_lines(
    model: type[M], text: str, path: Path | str, languages: Iterable[str] = ()
) -> M:
    """Validate YAML text as `model`, each problem prefixed with its line.

    With `languages`, every text of the model must be written in each of them.
    """
    data, root = _compose(text, path)
    if root is None or (data is None and root.value == ""):
        raise ContentError(path, ["the file is empty (or holds only comments)"])
    if not isinstance(data, dict):
        held = "a list" if isinstance(data, list) else "a single value"
        raise ContentError(
            path,
            [
                f"line {_line(text, root.start_mark)}: expected fields such as 'id: ...', one"
                f" per line, but the file holds {held}"
            ],
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in _deepest(exc.errors()):
            loc = _field_path(error["loc"])
            line = _line_of(root, loc)
            where = f"line {line}, " if line else ""
            problems.append(f"{where}{_format_loc(loc)}: {_plain(model, error)}")
        raise ContentError(path, problems) from exc
    cross = getattr(parsed, "problems", None)
    found: list[tuple[FieldPath, str]] = list(cross()) if callable(cross) else []
    wanted = list(languages)
    for loc in text_gaps(parsed, wanted):
        found.append((loc, f"no text in {loc[-1]}: the bot offers {', '.join(wanted)}"))
    if found:
        wrong = [f"line {_line_of(root, loc)}, {_format_loc(loc)}: {msg}" for loc, msg in found]
        raise ContentError(path, wrong)
    return parsed


def load_questionnaire(path: Path, languages: Iterable[str] = ()) -> Questionnaire:
    """Load and validate one questionnaire file (its texts in `languages`), naming lines."""
    return parse_model_with_lines(Questionnaire, _read_text(path), path, languages)


def load_workshop_file(path: Path) -> WorkshopFile:
    """Load and validate one workshop file, naming lines and fields on error."""
    return parse_model_with_lines(WorkshopFile, _read_text(path), path)


@dataclass(frozen=True)
class Content:
    """All content the bot runs on, validated."""

    root: Path
    questionnaires: dict[str, Questionnaire]
    workshop_examples: dict[str, WorkshopFile]

    def questionnaire(self, qid: str) -> Questionnaire:
        """Return the questionnaire with id `qid`, or raise KeyError."""
        return self.questionnaires[qid]


# The form that asks participants' details after joining; its ids name the fields of the
# participant's record that it fills (bot/flows/profile.py).
PROFILE_FORM = "profile"
PROFILE_FIELDS = frozenset({"name", "institution", "position", "country"})
# The action plan and each of its steps, written in chat (bot/flows/plans.py): their
# question ids name the columns of the plan's tables, each of the type it can hold.
PLAN_FORM = "plan"
STEP_FORM = "plan_step"
UPDATE_FORM = "plan_update"
BOUND_FORMS: dict[str, dict[str, tuple[QuestionType, ...]]] = {
    PLAN_FORM: {
        "title": (QuestionType.TEXT,),
        "objective": (QuestionType.TEXT,),
        "sdgs": (QuestionType.MULTI,),
        "contact": (QuestionType.SINGLE,),
    },
    STEP_FORM: {
        "action": (QuestionType.TEXT,),
        "responsible": (QuestionType.TEXT,),
        "resources": (QuestionType.TEXT,),
        "indicator": (QuestionType.TEXT,),
        "due_date": (QuestionType.DATE,),
        "success": (QuestionType.TEXT,),
    },
    UPDATE_FORM: {
        "status": (QuestionType.SINGLE,),
        "evidence": (QuestionType.EVIDENCE,),
    },
}
# The question that creates the record, asked first; the first two cannot be skipped.
PLAN_REQUIRED = {PLAN_FORM: "title", STEP_FORM: "action", UPDATE_FORM: "status"}
NOT_OPTIONAL = frozenset({"title", "action"})
STATUS_CODES = frozenset({"ns", "ip", "dn", "bl", "dr"})
SDG_CODES = frozenset(str(n) for n in range(1, 18))
CONTACT_CODES = frozenset({"yes", "no"})


def _check_bound(qdir: Path, form_id: str, form: Questionnaire | None) -> None:
    """Refuse a plan form whose questions the plan's tables could not hold, at startup."""
    path = qdir / f"{form_id}.yaml"
    if form is None:
        raise ContentError(path, [f"no questionnaire with id {form_id!r} (action plans)"])
    problems = []
    if form.review or form.progress == "section":
        problems.append(
            "review, progress: a plan form is asked step by step (review: false, progress:"
            " step or none)"
        )
    fields = BOUND_FORMS[form_id]
    ids = [slot.question.id for slot in form.slots()]
    if not ids or ids[0] != PLAN_REQUIRED[form_id]:
        problems.append(f"the first question must be {PLAN_REQUIRED[form_id]!r}")
    text = _read_text(path)
    for slot in form.slots():
        q = slot.question
        where = _id_line(text, q.id)
        before = len(problems)
        if q.id not in fields:
            known = ", ".join(fields)
            problems.append(f"question {q.id!r}: not a field of the plan's tables ({known})")
        elif q.type not in fields[q.id]:
            problems.append(f"question {q.id!r}: must be of type {fields[q.id][0].value}")
        elif q.id in NOT_OPTIONAL and q.optional:
            problems.append(f"question {q.id!r}: cannot be optional")
        elif q.id == "sdgs" and {o.code for o in q.options} - SDG_CODES:
            problems.append("question 'sdgs': option codes are the SDG numbers 1 to 17")
        elif q.id == "contact" and {o.code for o in q.options} != CONTACT_CODES:
            problems.append("question 'contact': options are 'yes' and 'no'")
        elif q.id == "status" and {o.code for o in q.options} != STATUS_CODES:
            problems.append("question 'status': options are ns, ip, dn, bl and dr")
        if q.show_if is not None and form_id != UPDATE_FORM:
            problems.append(f"question {q.id!r}: a plan form has no show_if")
        if where is not None:
            problems[before:] = [f"line {where}, {p}" for p in problems[before:]]
    if problems:
        raise ContentError(path, problems)


def _id_line(text: str, ident: str) -> int | None:
    """Return the line of the list item `- id: <ident>` in a YAML text, if there is one."""
    pattern = re.compile(rf"^\s*-\s*id:\s*[\"']?{re.escape(ident)}[\"']?\s*(#.*)?$")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)


def profile_problems(form: Questionnaire) -> list[str]:
    """Name what keeps a questionnaire from being a profile form."""
    problems = []
    if form.purpose != "profile" and form.id != PROFILE_FORM:
        problems.append("purpose: a profile form says `purpose: profile`")
    if form.review:
        problems.append("review: the profile is submitted with its last answer (review: false)")
    for slot in form.slots():
        q = slot.question
        if q.id in PROFILE_FIELDS and q.type not in (QuestionType.TEXT, QuestionType.PICK):
            problems.append(f"question {q.id!r}: a field of the record is a text or pick question")
    if "name" not in form.question_ids:
        problems.append("a profile form asks the person's name (a question with id 'name')")
    return problems


def _check_profile(qdir: Path, form: Questionnaire | None) -> None:
    """Refuse a missing or unsuitable profile form when the bot starts, not at the first join."""
    path = qdir / f"{PROFILE_FORM}.yaml"
    if form is None:
        raise ContentError(path, ["no questionnaire with id 'profile' (participants' details)"])
    problems = profile_problems(form)
    if problems:
        raise ContentError(path, problems)


def load_content(root: Path) -> Content:
    """Load and validate every content file under `root`."""
    qdir = root / "questionnaires"
    if not qdir.is_dir():
        raise ContentError(qdir, ["folder not found"])
    questionnaires: dict[str, Questionnaire] = {}
    offered = offered_languages(root)
    for path in sorted(qdir.glob("*.yaml")):
        q = load_questionnaire(path)
        if q.id in questionnaires:
            raise ContentError(path, [f"id: questionnaire id {q.id!r} is used by another file"])
        questionnaires[q.id] = q
    if "dgca" not in questionnaires:
        raise ContentError(qdir, ["no questionnaire with id 'dgca'"])
    _check_profile(qdir, questionnaires.get(PROFILE_FORM))
    for form_id in BOUND_FORMS:
        _check_bound(qdir, form_id, questionnaires.get(form_id))
    for form in questionnaires.values():
        if form.purpose == "profile":
            wrong = profile_problems(form)
            if wrong:
                raise ContentError(qdir / f"{form.id}.yaml", wrong)
        evidence = [s.question.id for s in form.slots() if s.question.type is QuestionType.EVIDENCE]
        if evidence and form.id != UPDATE_FORM:
            raise ContentError(
                qdir / f"{form.id}.yaml",
                [
                    f"question {evidence[0]!r}: evidence questions are asked only in"
                    f" {UPDATE_FORM}.yaml (the bot keeps the files with the plan's updates)"
                ],
            )
    workshops: dict[str, WorkshopFile] = {}
    for path in sorted((root / "workshops").glob("*.yaml")):
        w = load_workshop_file(path)
        missing = instrument_problems(w, questionnaires) + language_problems(w, offered)
        if missing:
            raise ContentError(path, missing)
        workshops[w.id] = w
    return Content(root=root, questionnaires=questionnaires, workshop_examples=workshops)


def offered_languages(root: Path) -> tuple[str, ...]:
    """Return the languages the bot offers: those with a catalog, Spanish first."""
    found = {
        d.name
        for d in (root / "locales").glob("*")
        if (d / "LC_MESSAGES" / "bot.po").is_file() and LANGUAGE_CODE.fullmatch(d.name)
    }
    return tuple(sorted(found, key=lambda code: (code != FALLBACK_LANGUAGE, code)))


def language_problems(w: WorkshopFile, offered: Iterable[str]) -> list[str]:
    """Name the languages a workshop offers that the bot does not."""
    known = set(offered)
    return [
        f"languages: the bot has no texts in {lang!r} (it offers {', '.join(sorted(known))})"
        for lang in w.languages
        if lang not in known
    ]


def instrument_problems(w: WorkshopFile, questionnaires: dict[str, Questionnaire]) -> list[str]:
    """Name the instruments a workshop file uses that the bot does not have."""
    found = []
    named = [(name, getattr(w, name)) for name in ("dgca", "evaluation")]
    named += [
        (f"events[{i}].evaluation", e.evaluation)
        for i, e in enumerate(w.events)
        if "evaluation" in e.model_fields_set
    ]
    for name, qid in named:
        if qid is not None and qid not in questionnaires:
            found.append(f"{name}: no questionnaire with id {qid!r}")
        elif qid is not None and (qid in BOUND_FORMS or questionnaires[qid].purpose != "survey"):
            found.append(f"{name}: {qid!r} is not a survey (it is the plan's or a profile form)")
    profile = questionnaires.get(w.profile)
    if profile is None:
        found.append(f"profile: no questionnaire with id {w.profile!r}")
    else:
        found += [f"profile ({w.profile}): {p}" for p in profile_problems(profile)]
    # Every questionnaire the workshop's participants answer speaks its languages.
    used = [*named, ("profile", w.profile)]
    used += [("plans", form_id) for form_id in BOUND_FORMS]
    for name, qid in used:
        form = questionnaires.get(qid) if qid is not None else None
        missing = sorted(set(w.languages) - form.languages()) if form is not None else []
        if form is not None and missing:
            found.append(
                f"{name} ({qid}): not written in {', '.join(missing)}, which the workshop"
                " offers (languages)"
            )
    return found


def is_valid_join_code(code: str) -> bool:
    """Tell whether `code` has the shape of a join code."""
    return re.fullmatch(JOIN_CODE_PATTERN, code) is not None
