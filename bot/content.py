"""Content files (questionnaires, workshops) as validated pydantic models.

Content is data that organizers may replace, so every file is checked at
startup and an error names the file and the field that is wrong.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

LANGUAGES: tuple[str, ...] = ("es", "en")
ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,15}$"
OPTION_CODE_PATTERN = r"^[a-z0-9_]{1,6}$"
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


class Text(Strict):
    """A text in every supported language."""

    es: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    def get(self, lang: str) -> str:
        """Return the text in `lang`, falling back to Spanish."""
        value = getattr(self, lang, None)
        return value if isinstance(value, str) else self.es


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

    @model_validator(mode="after")
    def _check(self) -> Question:
        if (self.type is QuestionType.PICK) != (self.source is not None):
            raise ValueError("a pick question needs a source, and only a pick question has one")
        if self.type is not QuestionType.PICK and (self.other or self.text_other):
            raise ValueError("only a pick question has other and text_other")
        if self.suggest is not None and self.type is not QuestionType.TEXT:
            raise ValueError("only a text question can suggest an answer")
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
        for lang in LANGUAGES:
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
    progress: Literal["section", "step"] = "section"
    review: bool = True
    scales: dict[Ident, Scale] = Field(default_factory=dict)
    sections: Annotated[list[Section], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> Questionnaire:
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
    """One session of the agenda, in the workshop's local time."""

    id: Ident
    start: datetime
    end: datetime
    title: Text
    kind: SessionKind = SessionKind.SESSION
    speakers: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    place: Text | None = None
    online_link: HttpUrl | None = None
    # Ask participants to rate it; by default only sessions of content are rated.
    rate: bool | None = None

    @property
    def rated(self) -> bool:
        """Tell whether participants are asked to rate this session."""
        return self.rate if self.rate is not None else self.kind is SessionKind.SESSION


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

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,47}$")]
    name: Annotated[str, Field(min_length=2, max_length=120)]


# Automatic follow-up messages are sent in this local window only.
DAY_START = time(8, 0)
DAY_END = time(20, 0)


class WorkshopFile(Strict):
    """A workshop file: identity, dates, agenda, windows and reminder settings."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,47}$")]
    language: Literal["es", "en"]
    title: Text
    organizer: Text
    timezone: str
    start_date: date
    end_date: date
    country: Text | None = None
    venue: Text | None = None
    online_link: HttpUrl | None = None
    join_code: Annotated[str, Field(pattern=JOIN_CODE_PATTERN)] | None = None
    institutions: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    dgca: Ident = "dgca"
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("join_code")
    @classmethod
    def _unguessable(cls, value: str | None) -> str | None:
        # A hand-written code must be as hard to guess as a generated one (96 random bits in
        # 16 characters of 64 kinds): many different characters, none repeated much, mixed.
        if value is None:
            return value
        kinds = sum(
            any(test(c) for c in value)
            for test in (str.islower, str.isupper, str.isdigit, lambda c: c in "-_")
        )
        most = max(value.count(c) for c in set(value))
        if len(set(value)) < MIN_DISTINCT_CODE_CHARS or most > MAX_SAME_CODE_CHAR or kinds < 3:
            raise ValueError(
                f"join_code is too easy to guess: use at least {MIN_DISTINCT_CODE_CHARS}"
                f" different characters, none more than {MAX_SAME_CODE_CHAR} times, mixing"
                " lowercase, uppercase and digits (or leave it out to get a random one)"
            )
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the workshop's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)

    def local(self, naive: datetime) -> datetime:
        """Attach the workshop's time zone to a wall-clock time from the file."""
        return naive.replace(tzinfo=self.zone) if naive.tzinfo is None else naive

    def is_quiet(self, moment: datetime) -> bool:
        """Tell whether `moment` falls in the workshop's quiet hours, where it is held."""
        return self.quiet_hours.contains(moment.astimezone(self.zone).time())

    def daytime(self, moment: datetime) -> datetime:
        """Return `moment`, or the end of the quiet hours it falls in (the next morning)."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(self.zone)
        day = local.date()
        if local.time() >= self.quiet_hours.end:
            day += timedelta(days=1)
        return datetime.combine(day, self.quiet_hours.end, tzinfo=self.zone)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return the cross-field mistakes, each with the path of the field at fault."""
        found: list[tuple[tuple[str | int, ...], str]] = []
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
        if len(set(self.institutions)) != len(self.institutions):
            found.append((("institutions",), "an institution is listed twice"))
        for name in ("dgca_window", "evaluation_window"):
            window = getattr(self, name)
            if window is not None and window.closes <= window.opens:
                found.append(((name, "closes"), "the window closes before it opens"))
        ids = [s.id for s in self.agenda]
        if self.follow_up.plan_session is not None and self.follow_up.plan_session not in ids:
            found.append(
                (
                    ("follow_up", "plan_session"),
                    f"no agenda session has id {self.follow_up.plan_session!r}",
                )
            )
        ordered = sorted(enumerate(self.agenda), key=lambda item: item[1].start)
        for index, session in enumerate(self.agenda):
            if ids.count(session.id) > 1:
                found.append((("agenda", index, "id"), f"session id {session.id!r} is used twice"))
            if session.end <= session.start:
                found.append((("agenda", index, "end"), "the session ends before it starts"))
            days = (session.start.date(), session.end.date())
            if min(days) < self.start_date or max(days) > self.end_date:
                found.append(
                    (("agenda", index, "start"), "the session is outside the workshop dates")
                )
        for (_, earlier), (index, later) in pairwise(ordered):
            if later.start < earlier.end:
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
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ContentError(path, ["file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(path, [f"cannot read: {exc}"]) from exc
    return parse_yaml(text, path)


class _Loader(yaml.SafeLoader):
    """A safe loader that leaves dates and times as text, for the models to read.

    PyYAML builds `2026-02-30` into a date itself and raises a bare ValueError, with no line;
    as text, the model refuses it like any other wrong value, naming the field and its line.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse YAML text, naming the line of a syntax error."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ContentError(path, [f"{where}not valid YAML"]) from exc
    except (ValueError, RecursionError, OverflowError) as exc:
        # What the safe loader can still raise on odd input (deep nesting, huge numbers).
        raise ContentError(path, [f"not readable as YAML ({type(exc).__name__})"]) from exc


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Return the 1-based line of the YAML node at `loc`, or of its nearest parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_model(model: type[M], data: Any, path: Path | str) -> M:
    """Validate `data` as `model`, turning errors into a ContentError for `path`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_format_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ContentError(path, problems) from exc


def parse_model_with_lines(model: type[M], text: str, path: Path | str) -> M:
    """Validate YAML text as `model`, each problem prefixed with its line."""
    data = parse_yaml(text, path)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(root, loc)
            where = f"line {line}, " if line else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}{_format_loc(loc)}: {message}")
        raise ContentError(path, problems) from exc
    cross = getattr(parsed, "problems", None)
    if callable(cross):
        found = [f"line {_line_of(root, loc)}, {_format_loc(loc)}: {msg}" for loc, msg in cross()]
        if found:
            raise ContentError(path, found)
    return parsed


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and validate one questionnaire file."""
    return parse_model(Questionnaire, _read_yaml(path), path)


def load_workshop_file(path: Path) -> WorkshopFile:
    """Load and validate one workshop file, naming lines and fields on error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ContentError(path, ["file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(path, [f"cannot read: {exc}"]) from exc
    return parse_model_with_lines(WorkshopFile, text, path)


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


def _check_profile(qdir: Path, form: Questionnaire | None) -> None:
    """Refuse a missing or unsuitable profile form when the bot starts, not at the first join."""
    path = qdir / f"{PROFILE_FORM}.yaml"
    if form is None:
        raise ContentError(path, ["no questionnaire with id 'profile' (participants' details)"])
    problems = []
    if form.review:
        problems.append("review: the profile is submitted with its last answer (review: false)")
    for slot in form.slots():
        q = slot.question
        if q.id in PROFILE_FIELDS and q.type not in (QuestionType.TEXT, QuestionType.PICK):
            problems.append(f"question {q.id!r}: a field of the record is a text or pick question")
    if problems:
        raise ContentError(path, problems)


def load_content(root: Path) -> Content:
    """Load and validate every content file under `root`."""
    qdir = root / "questionnaires"
    if not qdir.is_dir():
        raise ContentError(qdir, ["folder not found"])
    questionnaires: dict[str, Questionnaire] = {}
    for path in sorted(qdir.glob("*.yaml")):
        q = load_questionnaire(path)
        if q.id in questionnaires:
            raise ContentError(path, [f"id: questionnaire id {q.id!r} is used by another file"])
        questionnaires[q.id] = q
    if "dgca" not in questionnaires:
        raise ContentError(qdir, ["no questionnaire with id 'dgca'"])
    _check_profile(qdir, questionnaires.get(PROFILE_FORM))
    workshops: dict[str, WorkshopFile] = {}
    for path in sorted((root / "workshops").glob("*.yaml")):
        w = load_workshop_file(path)
        if w.dgca not in questionnaires:
            raise ContentError(path, [f"dgca: no questionnaire with id {w.dgca!r}"])
        workshops[w.id] = w
    return Content(root=root, questionnaires=questionnaires, workshop_examples=workshops)


def is_valid_join_code(code: str) -> bool:
    """Tell whether `code` has the shape of a join code."""
    return re.fullmatch(JOIN_CODE_PATTERN, code) is not None
