"""Content files (questionnaires, workshops) as validated pydantic models.

Content is data that organizers may replace, so every file is checked at
startup and an error names the file and the field that is wrong.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

LANGUAGES: tuple[str, ...] = ("es", "en")
ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,15}$"
OPTION_CODE_PATTERN = r"^[a-z0-9_]{1,6}$"
JOIN_CODE_PATTERN = r"^[A-Za-z0-9_-]{16,48}$"
MIN_DISTINCT_CODE_CHARS = 10
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

    @model_validator(mode="after")
    def _check(self) -> Question:
        if self.type is QuestionType.LIKERT and self.scale is None:
            raise ValueError("a likert question needs a scale")
        if self.type in (QuestionType.SINGLE, QuestionType.MULTI):
            if len(self.options) < 2:
                raise ValueError("a choice question needs at least two options")
            codes = [o.code for o in self.options]
            if len(codes) != len(set(codes)):
                raise ValueError("option codes must be unique within a question")
        if self.type is QuestionType.TEXT and self.min_length > self.max_length:
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
        index = 0
        for section in self.sections:
            for q in section.questions:
                yield Slot(index, section, None, q)
                index += 1
            for sub in section.subsections:
                for q in sub.questions:
                    yield Slot(index, section, sub, q)
                    index += 1

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


class WorkshopFile(Strict):
    """A workshop file: identity, dates and who is expected to join."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,47}$")]
    language: Literal["es", "en"]
    title: Text
    organizer: Text
    timezone: str
    start_date: date
    end_date: date
    country: Text | None = None
    venue: Text | None = None
    join_code: Annotated[str, Field(pattern=JOIN_CODE_PATTERN)] | None = None
    institutions: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    dgca: Ident = "dgca"
    retention_months: Annotated[int, Field(ge=1, le=120)] = 12

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
        # A hand-written code must still be hard to guess (leave it out to get 96 random bits).
        if value is not None and len(set(value)) < MIN_DISTINCT_CODE_CHARS:
            raise ValueError(
                f"join_code needs at least {MIN_DISTINCT_CODE_CHARS} different characters"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> WorkshopFile:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if len(set(self.institutions)) != len(self.institutions):
            raise ValueError("institutions are listed twice")
        return self


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
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ContentError(path, ["file not found"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ContentError(path, [f"{where}not valid YAML"]) from exc


def parse_model(model: type[M], data: Any, path: Path | str) -> M:
    """Validate `data` as `model`, turning errors into a ContentError for `path`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_format_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ContentError(path, problems) from exc


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and validate one questionnaire file."""
    return parse_model(Questionnaire, _read_yaml(path), path)


def load_workshop_file(path: Path) -> WorkshopFile:
    """Load and validate one workshop file."""
    return parse_model(WorkshopFile, _read_yaml(path), path)


@dataclass(frozen=True)
class Content:
    """All content the bot runs on, validated."""

    root: Path
    questionnaires: dict[str, Questionnaire]
    workshop_examples: dict[str, WorkshopFile]

    def questionnaire(self, qid: str) -> Questionnaire:
        """Return the questionnaire with id `qid`, or raise KeyError."""
        return self.questionnaires[qid]


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
