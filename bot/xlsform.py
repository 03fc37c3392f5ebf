"""Questionnaires to and from XLSForm, the spreadsheet format of KoboToolbox and ODK.

Survey designers write forms as XLSForm workbooks (`survey`, `choices` and `settings`
sheets). pyxform, the library Kobo itself converts forms with, reads the workbook (any of
its file types, with its header aliases and its row numbers) and checks it as Kobo would;
this module then keeps to what the bot's one form engine can run and refuses the rest,
naming the sheet, the row and the column of each problem. A form is imported whole or not
at all: every problem is reported in one go, and nothing is returned while one remains.

The bot's own settings that XLSForm has no word for travel in columns that start with
`bot_`, which Kobo ignores: the title in more than one language, a choice list's scale and
its scores, the form's kind of progress and review. docs/xlsform.md is the guide for
survey designers.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError
from openpyxl import Workbook
from pydantic import ValidationError

# pyxform ships no type information (no py.typed marker): mypy sees its objects as Any.
from pyxform import aliases  # type: ignore[import-untyped]
from pyxform import question as pyx_question
from pyxform.errors import PyXFormError  # type: ignore[import-untyped]
from pyxform.parsing.expression import parse_expression  # type: ignore[import-untyped]
from pyxform.parsing.sheet_headers import (  # type: ignore[import-untyped]
    clean_text_values,
    process_header,
)
from pyxform.survey import Survey  # type: ignore[import-untyped]
from pyxform.xls2json_backends import get_xlsform  # type: ignore[import-untyped]
from pyxform.xls2xform import convert  # type: ignore[import-untyped]

import content as content_pkg
from bot.content import (
    ID_PATTERN,
    MAX_QUESTION_CHARS,
    OPTION_CODE_PATTERN,
    Option,
    Question,
    Questionnaire,
    QuestionType,
    ScaleKind,
    Text,
    offered_languages,
    parse_model,
    parse_yaml,
)

__all__ = [
    "Imported",
    "Problem",
    "XLSFormError",
    "export_xlsform",
    "import_xlsform",
    "language_column",
]

SURVEY, CHOICES, SETTINGS = "survey", "choices", "settings"
# Columns of the bot's own, which Kobo and ODK ignore.
TITLE_COLUMN = "bot_title"
SCALE_COLUMN = "bot_scale"
SCORE_COLUMN = "bot_score"
PROGRESS_COLUMN = "bot_progress"
REVIEW_COLUMN = "bot_review"
INTRO_NOTE = "intro"
NPS_CONSTRAINT = ". >= 0 and . <= 10"
MULTILINE = "multiline"

# Automatic metadata (when the form was opened, on which device): no question is asked, and
# Kobo's form builder adds some of it to every new form, so it is left out with a warning.
_METADATA_TYPES = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "imei",
        "username",
        "phonenumber",
        "simserial",
        "subscriberid",
        "email",
        "audit",
        "start time",
        "end time",
        "get start time",
        "get end time",
        "get today",
        "device id",
        "get device id",
        "phone number",
        "get phone number",
        "sim id",
        "get sim id",
        "subscriber id",
        "get subscriber id",
        "uri:deviceid",
        "uri:email",
        "uri:phonenumber",
        "uri:simserial",
        "uri:subscriberid",
        "uri:username",
    }
)
_TEXT_TYPES = frozenset({"text", "string", "add text prompt", "q string"})
_INTEGER_TYPES = frozenset({"integer", "int", "add integer prompt", "q int"})
_NOTE_TYPES = frozenset({"note", "add note prompt", "q note"})
_REFUSED_TYPES: dict[str, str] = {
    "calculate": "the bot computes no values; remove the calculate row",
    "hidden": "the bot keeps no hidden values; remove the row",
    "decimal": "the bot asks numbers only on a 0 to 10 scale (integer with constraint"
    f" {NPS_CONSTRAINT})",
    "geopoint": "the bot does not collect locations",
    "geotrace": "the bot does not collect locations",
    "geoshape": "the bot does not collect locations",
    "start-geopoint": "the bot does not collect locations",
    "background-geopoint": "the bot does not collect locations",
    "location": "the bot does not collect locations",
    "gps": "the bot does not collect locations",
    "date": "the bot asks no dates or times",
    "time": "the bot asks no dates or times",
    "datetime": "the bot asks no dates or times",
    "dateTime": "the bot asks no dates or times",
    "date time": "the bot asks no dates or times",
    "image": "the bot collects no photos or files",
    "photo": "the bot collects no photos or files",
    "audio": "the bot collects no recordings",
    "background-audio": "the bot collects no recordings",
    "video": "the bot collects no videos",
    "file": "the bot collects no photos or files",
    "barcode": "the bot reads no barcodes",
    "acknowledge": "the bot has no acknowledge question; use a select_one with one option",
    "trigger": "the bot has no acknowledge question; use a select_one with one option",
    "rank": "the bot does not rank options",
}
# Columns whose every use changes what the form does, in a way the bot cannot.
_REFUSED_COLUMNS: dict[tuple[str, ...], str] = {
    ("bind", "calculate"): "the bot computes no values",
    ("control", "jr:count"): "the bot asks each question once; it has no repeats",
    ("choice_filter",): "the bot shows every option of a list; it filters none",
    ("trigger",): "the bot computes no values",
}
# Columns the bot does without: the form still runs, so they are left out with a warning.
_IGNORED_COLUMNS: dict[tuple[str, ...], str] = {
    ("bind", "jr:constraintMsg"): "the bot says in its own words what an answer lacks",
    ("bind", "jr:requiredMsg"): "the bot says in its own words that an answer is needed",
    ("default",): "the bot suggests no default answer",
    ("guidance_hint",): "the bot shows no guidance hints",
    ("parameters",): "the bot uses no parameters (except start, end, step of a range)",
    ("control", "autoplay"): "the bot sends no media with questions",
}


@dataclass(frozen=True)
class Problem:
    """Something in a workbook the bot cannot run or leaves out, and where it is."""

    sheet: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [f"{self.sheet} sheet" if self.sheet else "workbook"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return ", ".join(where) + ": " + self.reason


class XLSFormError(Exception):
    """A form that cannot be imported (or exported), with every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Imported:
    """An imported form: the validated questionnaire, its YAML file, and what was left out."""

    questionnaire: Questionnaire
    yaml_text: str
    warnings: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Languages


DEFAULT_DIR = content_pkg.DEFAULT_DIR


@cache
def _text_languages() -> tuple[list[str], list[str]]:
    """Return every language a text may have (the bot's), and those it must have (none).

    A form is written in the languages of its label columns, each text in all of them
    (`_Reader.form_languages`); the bot speaks those with a catalog in the bundled content.
    """
    return list(offered_languages(DEFAULT_DIR)), []


@cache
def _language_names(code: str) -> frozenset[str]:
    try:
        locale = Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return frozenset({code})
    names = {code, locale.get_language_name(code) or "", locale.get_language_name("en") or ""}
    return frozenset(n.casefold() for n in names if n)


def _language_code(name: str) -> str | None:
    """Return the code in an XLSForm language name: `Español (es)`, `es`, or `Spanish`."""
    found = re.search(r"\(\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*\)\s*$", name)
    if found:
        return found.group(1).lower()
    if re.fullmatch(r"[A-Za-z]{2,3}", name.strip()):
        return name.strip().lower()
    folded = name.strip().casefold()
    for code in _text_languages()[0]:
        if folded in _language_names(code):
            return code
    return None


def language_column(code: str) -> str:
    """Return the XLSForm language name for `code` in its own language: `Español (es)`."""
    try:
        name = Locale.parse(code).get_language_name(code) or code
    except (ValueError, UnknownLocaleError):
        name = code
    return f"{name[:1].upper()}{name[1:]} ({code})"


# ---------------------------------------------------------------------------------------------
# Sheets as pyxform reads them


@dataclass
class _Sheet:
    """One sheet: its rows by spreadsheet row number and its headers by pyxform's tokens."""

    name: str
    rows: list[tuple[int, dict[str, str]]]
    columns: dict[tuple[str, ...], str]

    @classmethod
    def read(
        cls,
        name: str,
        data: Sequence[dict[str, str]] | None,
        header: Sequence[dict[str, Any]] | None,
        header_aliases: dict[str, Any],
        known: set[str],
    ) -> _Sheet:
        headers = list(header[0]) if header else []
        double_colon = any("::" in h for h in headers)
        columns: dict[tuple[str, ...], str] = {}
        for original in headers:
            _, tokens = process_header(original, double_colon, header_aliases, known)
            columns.setdefault(tuple(tokens), original)
        # pyxform keeps empty rows so that row numbers match the spreadsheet's (headers: 1).
        rows = [(number, row) for number, row in enumerate(data or [], start=2) if row]
        return cls(name, rows, columns)

    def header(self, *tokens: str) -> str | None:
        return self.columns.get(tokens)

    def value(self, row: Mapping[str, str], *tokens: str) -> str:
        original = self.columns.get(tokens)
        value = row.get(original, "") if original is not None else ""
        return str(value).strip()

    def languages(self, base: str, default: str | None) -> dict[str, str]:
        """Return the header of each language column of `base` (label, hint), by code."""
        found: dict[str, str] = {}
        for tokens, original in self.columns.items():
            if tokens[0] != base or len(tokens) > 2:
                continue
            code = default if len(tokens) == 1 else _language_code(tokens[1])
            if code is not None and code not in found:
                found[code] = original
        return found


@dataclass
class _Reader:
    """The state of one import: the sheets, the problems found so far, the warnings."""

    survey: _Sheet
    choices: _Sheet
    settings: _Sheet
    default_language: str | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def refuse(self, sheet: _Sheet | str, row: int | None, column: str | None, why: str) -> None:
        name = sheet if isinstance(sheet, str) else sheet.name
        self.problems.append(Problem(name, row, column, why))

    def warn(self, sheet: _Sheet | str, row: int | None, column: str | None, why: str) -> None:
        name = sheet if isinstance(sheet, str) else sheet.name
        self.warnings.append(Problem(name, row, column, why))

    def form_languages(self) -> list[str]:
        """Return the languages the form is written in: its survey labels' the bot speaks."""
        every, _ = _text_languages()
        found = self.survey.languages("label", self.default_language)
        return [code for code in every if code in found] or every[:1]

    def text(
        self, sheet: _Sheet, number: int, row: Mapping[str, str], base: str, what: str
    ) -> dict[str, str] | None:
        """Return `base` (label, hint) in every language, refusing a missing required one."""
        every, _ = _text_languages()
        required = self.form_languages()
        columns = sheet.languages(base, self.default_language)
        texts = {
            code: str(row.get(header, "")).strip()
            for code, header in columns.items()
            if code in every and str(row.get(header, "")).strip()
        }
        if base != "label" and not texts:
            return None
        missing = False
        for code in required:
            if code not in texts:
                column = columns.get(code) or f"{base}::{language_column(code)}"
                self.refuse(sheet, number, column, f"{what} has no {_language_word(code)} text")
                missing = True
        return None if missing else texts

    def check_language_columns(self) -> None:
        """Refuse texts in no known language, and leave out those the bot does not speak."""
        every, _ = _text_languages()
        if self.default_language is None:
            for sheet in (self.survey, self.choices):
                for base in ("label", "hint"):
                    original = sheet.header(base)
                    if original is not None:
                        why = (
                            f"say which language this is: {base}::{language_column(every[0])},"
                            " or default_language on the settings sheet"
                        )
                        self.refuse(sheet, 1, original, why)
        for sheet, base in (
            (self.survey, "label"),
            (self.survey, "hint"),
            (self.choices, "label"),
            (self.settings, TITLE_COLUMN),
        ):
            for tokens, original in sheet.columns.items():
                if tokens[0] != base or len(tokens) != 2:
                    continue
                code = _language_code(tokens[1])
                if code is None or code not in every:
                    self.warn(sheet, 1, original, "not a language the bot speaks; left out")


def _language_word(code: str) -> str:
    try:
        return Locale.parse(code).get_language_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


# ---------------------------------------------------------------------------------------------
# Expressions (relevant, constraint), on pyxform's own XPath tokens


class _Unsupported(Exception):
    """An expression the bot cannot run; the message says what in plain words."""


@dataclass(frozen=True)
class _Node:
    kind: str  # or, and, cmp, call, ref, self, str, num
    value: str = ""
    args: tuple[_Node, ...] = ()


class _Parser:
    """A recursive-descent reader of the XPath the bot runs: or, and, comparisons, calls."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        end = -1
        for token in parse_expression(text):
            kind, value = token.type, str(token).strip()
            # pyxform's lexer reads ">=" as ">" then "=": one operator, when nothing is between.
            if (
                kind == "OPS_COMP"
                and value == "="
                and token.start_pos == end
                and self.tokens
                and self.tokens[-1] in (("OPS_COMP", "<"), ("OPS_COMP", ">"))
            ):
                self.tokens[-1] = (kind, self.tokens[-1][1] + "=")
            elif kind != "WHITESPACE":
                self.tokens.append((kind, value))
            end = token.end_pos
        self.at = 0

    def parse(self) -> _Node:
        node = self._or()
        if self.at < len(self.tokens):
            raise _Unsupported(f"cannot read {self.tokens[self.at][1]!r} here")
        return node

    def _peek(self, kind: str, value: str | None = None) -> bool:
        if self.at >= len(self.tokens):
            return False
        token = self.tokens[self.at]
        return token[0] == kind and (value is None or token[1] == value)

    def _take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _Unsupported("the expression ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def _or(self) -> _Node:
        node = self._and()
        while self._peek("OPS_BOOL", "or"):
            self._take()
            node = _Node("or", args=(node, self._and()))
        return node

    def _and(self) -> _Node:
        node = self._comparison()
        while self._peek("OPS_BOOL", "and"):
            self._take()
            node = _Node("and", args=(node, self._comparison()))
        return node

    def _comparison(self) -> _Node:
        node = self._primary()
        if self._peek("OPS_COMP"):
            op = self._take()[1]
            node = _Node("cmp", op, (node, self._primary()))
        return node

    def _primary(self) -> _Node:
        kind, text = self._take()
        if kind == "OPEN_PAREN":
            node = self._or()
            self._close()
            return node
        if kind == "FUNC_CALL":
            name = text[:-1]
            args: list[_Node] = []
            if not self._peek("CLOSE_PAREN"):
                args.append(self._or())
                while self._peek("COMMA"):
                    self._take()
                    args.append(self._or())
            self._close()
            return _Node("call", name, tuple(args))
        if kind == "PYXFORM_REF":
            return _Node("ref", text[2:-1])
        if kind == "SELF_REF":
            return _Node("self")
        if kind == "SYSTEM_LITERAL":
            return _Node("str", text[1:-1])
        if kind == "NUMBER":
            return _Node("num", text)
        raise _Unsupported(f"cannot read {text!r} here")

    def _close(self) -> None:
        if not self._peek("CLOSE_PAREN"):
            raise _Unsupported("a parenthesis is not closed")
        self._take()


def _parse(text: str) -> _Node:
    return _Parser(clean_text_values(text)).parse()


def _refs(node: _Node) -> set[str]:
    found = {node.value} if node.kind == "ref" else set()
    for arg in node.args:
        found |= _refs(arg)
    return found


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def _truth(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    return bool(value)


_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _evaluate(node: _Node, answer: str) -> object:
    """Evaluate a condition on one answer code ("" when unanswered), as ODK would."""
    if node.kind == "ref":
        return answer
    if node.kind == "str":
        return node.value
    if node.kind == "num":
        return _number(node.value)
    if node.kind == "or":
        return any(_truth(_evaluate(a, answer)) for a in node.args)
    if node.kind == "and":
        return all(_truth(_evaluate(a, answer)) for a in node.args)
    if node.kind == "cmp":
        left, right = (_evaluate(a, answer) for a in node.args)
        if node.value in ("=", "!="):
            if isinstance(left, bool) or isinstance(right, bool):
                left, right = _truth(left), _truth(right)
            elif isinstance(left, float) or isinstance(right, float):
                left, right = _number(left), _number(right)
            return bool(_COMPARE[node.value](left, right))
        return bool(_COMPARE[node.value](_number(left), _number(right)))
    if node.kind == "call":
        args = [_evaluate(a, answer) for a in node.args]
        if node.value == "selected" and len(args) == 2:
            return str(args[1]) in str(args[0]).split()
        if node.value == "not" and len(args) == 1:
            return not _truth(args[0])
        if node.value in ("true", "false") and not args:
            return node.value == "true"
        if node.value == "string-length" and len(args) == 1:
            return float(len(str(args[0])))
        if node.value == "count-selected" and len(args) == 1:
            return float(len(str(args[0]).split()))
        raise _Unsupported(f"the bot cannot evaluate {node.value}() in a condition")
    raise _Unsupported("the bot cannot evaluate '.' in a condition")


def _selected_any(node: _Node, qid: str) -> list[str]:
    """Return the options of `selected(${q}, 'x') or ...`, the one form a multi-select allows."""
    if node.kind == "or":
        return [c for arg in node.args for c in _selected_any(arg, qid)]
    if (
        node.kind == "call"
        and node.value == "selected"
        and len(node.args) == 2
        and node.args[0] == _Node("ref", qid)
        and node.args[1].kind in ("str", "num")
    ):
        return [node.args[1].value]
    raise _Unsupported(
        f"for the select_multiple ${{{qid}}} the bot runs selected(${{{qid}}}, 'option')"
        " conditions joined by or"
    )


def _bounds(text: str, subject: _Node, what: str) -> tuple[int | None, int | None]:
    """Return the lowest and highest value allowed by `subject >= a and subject <= b`."""
    try:
        node = _parse(text)
    except _Unsupported as exc:
        raise _Unsupported(f"{exc}; the bot reads only ranges such as {what}") from exc
    terms: list[_Node] = []
    pending = [node]
    while pending:
        item = pending.pop()
        if item.kind == "and":
            pending.extend(item.args)
        else:
            terms.append(item)
    low: int | None = None
    high: int | None = None
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}
    for term in terms:
        if term.kind != "cmp" or term.value not in flip:
            raise _Unsupported(f"the bot reads only ranges such as {what}")
        left, right = term.args
        op = term.value
        if left.kind == "num" and right == subject:
            left, right, op = right, left, flip[op]
        number = _number(right.value) if right.kind == "num" else math.nan
        if left != subject or math.isnan(number) or number != int(number):
            raise _Unsupported(f"the bot reads only ranges such as {what}")
        n = int(number)
        if op in (">=", ">", "="):
            value = n + 1 if op == ">" else n
            low = value if low is None else max(low, value)
        if op in ("<=", "<", "="):
            value = n - 1 if op == "<" else n
            high = value if high is None else min(high, value)
    return low, high


_SELF = _Node("self")
_LENGTH = _Node("call", "string-length", (_SELF,))
_COUNT = _Node("call", "count-selected", (_SELF,))


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class _Group:
    """A group being read: a section, or a subsection inside one."""

    row: int
    name: str
    title: dict[str, str] | None
    depth: int
    questions: list[dict[str, Any]] = field(default_factory=list)
    subsections: list[_Group] = field(default_factory=list)
    # Question rows read inside it, refused ones included: an empty group is its own problem.
    rows: int = 0


@dataclass
class _Seen:
    """A question read so far, for the conditions of later ones."""

    row: int
    type: QuestionType
    codes: list[str]


def _read_sources(source: bytes | str | os.PathLike[str]) -> tuple[bytes, str | None]:
    if isinstance(source, bytes):
        return source, None
    path = Path(source)
    try:
        return path.read_bytes(), path.stem
    except OSError as exc:
        problem = Problem("", None, None, f"cannot read {path}: {exc.strerror or exc}")
        raise XLSFormError([problem]) from exc


def _pyxform_problem(message: str) -> Problem:
    """Turn one of pyxform's messages into a Problem, with its row and sheet if it names them."""
    text = " ".join(message.split())
    row: int | None = None
    found = re.match(r"\[row\s*:\s*(\d+)\]\s*", text)
    if found:
        row = int(found.group(1))
        text = text[found.end() :]
    sheet = SURVEY if row is not None else ""
    named = re.search(r"On the '(\w+)' sheet", text)
    if named:
        sheet = named.group(1)
    column = re.search(r"the '([^']+)' value is invalid", text)
    return Problem(sheet, row, column.group(1) if column else None, text)


def import_xlsform(
    source: bytes | str | os.PathLike[str], *, form_id: str | None = None
) -> Imported:
    """Read an XLSForm workbook (bytes or a path) into a questionnaire and its YAML file."""
    data, stem = _read_sources(source)
    try:
        book = get_xlsform(data)
    # pyxform's readers let their libraries' own errors through (xlrd's BadZipFile on a broken
    # file): whatever a sent file holds, the person gets a sentence, not a traceback.
    except Exception as exc:
        why = f"not a workbook the bot can read as XLSForm (.xlsx or .xls): {exc}"
        raise XLSFormError([Problem("", None, None, why)]) from exc
    survey = _Sheet.read(
        SURVEY,
        book.survey,
        book.survey_header,
        aliases.survey_header,
        set(pyx_question.MultipleChoiceQuestion.get_slot_names()),
    )
    choices = _Sheet.read(
        CHOICES,
        book.choices,
        book.choices_header,
        aliases.list_header,
        set(pyx_question.Option.get_slot_names()),
    )
    settings = _Sheet.read(
        SETTINGS,
        book.settings,
        book.settings_header,
        aliases.settings_header,
        set(Survey.get_slot_names()),
    )
    first_settings = settings.rows[0][1] if settings.rows else {}
    default_name = settings.value(first_settings, "default_language")
    reader = _Reader(
        survey, choices, settings, _language_code(default_name) if default_name else None
    )
    if not survey.rows:
        reader.refuse(SURVEY, None, None, "the workbook has no survey sheet, or it is empty")
    reader.check_language_columns()
    header = _read_settings(reader, form_id or stem)
    lists = _read_choices(reader)
    body = _read_survey(reader, header, lists)
    _check_with_pyxform(reader, data)
    if reader.problems:
        raise XLSFormError(_in_order(reader.problems))
    assert body is not None
    questionnaire = _validated(reader, body)
    text = _yaml_text(questionnaire)
    return Imported(questionnaire, text, _in_order(reader.warnings))


def _in_order(problems: Iterable[Problem]) -> list[Problem]:
    order = {"": 0, SETTINGS: 1, SURVEY: 2, CHOICES: 3}
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order.get(p.sheet, 4), p.row or 0))


def _check_with_pyxform(reader: _Reader, data: bytes) -> None:
    """Convert the form as Kobo does; its first error is added unless its row has one already."""
    warnings: list[str] = []
    try:
        convert(data, warnings=warnings, validate=False)
    except PyXFormError as exc:
        problem = _pyxform_problem(str(exc))
        taken = {(p.sheet, p.row) for p in reader.problems}
        if (problem.sheet, problem.row) not in taken or problem.row is None:
            reader.problems.append(problem)
    # pyxform may still fail on input it did not foresee; the person gets a sentence, not a trace.
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        if not reader.problems:
            reader.refuse("", None, None, f"pyxform cannot convert this form ({exc})")
    for message in warnings:
        problem = _pyxform_problem(message)
        reader.warnings.append(problem)


def _read_settings(reader: _Reader, fallback_id: str | None) -> dict[str, Any]:
    sheet = reader.settings
    number: int | None = sheet.rows[0][0] if sheet.rows else None
    row = sheet.rows[0][1] if sheet.rows else {}
    out: dict[str, Any] = {}
    form_id = sheet.value(row, "id_string") or fallback_id or ""
    column = sheet.header("id_string") or "form_id"
    if not form_id:
        reader.refuse(SETTINGS, number, column, "the form needs a form_id")
    elif not re.fullmatch(ID_PATTERN, form_id):
        reader.refuse(SETTINGS, number, column, _bad_name(form_id))
    out["id"] = form_id
    version = sheet.value(row, "version") or "1"
    if not re.fullmatch(r"\d{1,4}", version) or not 1 <= int(version) <= 9999:
        column = sheet.header("version") or "version"
        reader.refuse(SETTINGS, number, column, "the bot numbers versions 1 to 9999")
    else:
        out["version"] = int(version)
    every, _ = _text_languages()
    required = reader.form_languages()
    titles = {
        code: sheet.value(row, *tokens)
        for tokens in sheet.columns
        if tokens[0] == TITLE_COLUMN
        and len(tokens) == 2
        and (code := _language_code(tokens[1])) in every
        and sheet.value(row, *tokens)
    }
    plain = sheet.value(row, "title")
    if plain and reader.default_language in every:
        titles.setdefault(reader.default_language or "", plain)
    if plain and reader.default_language is None:
        why = "say which language form_title is in, for example Español (es)"
        reader.refuse(SETTINGS, number, sheet.header("default_language") or "default_language", why)
    for code in required:
        if code in titles or (plain and reader.default_language is None):
            continue
        column = f"{TITLE_COLUMN}::{language_column(code)}"
        if not plain and reader.default_language in (None, code):
            column = sheet.header("title") or "form_title"
        reader.refuse(SETTINGS, number, column, f"the form has no {_language_word(code)} title")
    # The form is in its labels' languages: a title in another has no questions to go with.
    out["title"] = {code: text for code, text in titles.items() if code in required}
    progress = sheet.value(row, PROGRESS_COLUMN)
    if progress:
        if progress not in ("section", "step"):
            reader.refuse(SETTINGS, number, sheet.header(PROGRESS_COLUMN), "write section or step")
        out["progress"] = progress
    review = sheet.value(row, REVIEW_COLUMN)
    if review:
        if review not in aliases.yes_no:
            reader.refuse(SETTINGS, number, sheet.header(REVIEW_COLUMN), "write yes or no")
        out["review"] = bool(aliases.yes_no.get(review, True))
    return out


@dataclass
class _List:
    """A choice list: its options, each with its row, and the scale it makes, if any."""

    name: str
    rows: list[int] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    kind: str | None = None
    usable: bool = True


def _read_choices(reader: _Reader) -> dict[str, _List]:
    sheet = reader.choices
    lists: dict[str, _List] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, row in sheet.rows:
        list_name = sheet.value(row, "list name")
        if not list_name:
            continue
        found = lists.setdefault(list_name, _List(list_name))
        code = sheet.value(row, "name")
        name_column = sheet.header("name") or "name"
        if not re.fullmatch(OPTION_CODE_PATTERN, code):
            found.usable = False
            why = (
                f"the bot stores answers as codes of 1 to 6 lowercase letters, digits or _;"
                f" {code!r} is not one"
            )
            reader.refuse(CHOICES, number, name_column, why)
        elif (list_name, code) in seen:
            found.usable = False
            other = seen[(list_name, code)]
            why = f"{code!r} is already a choice of {list_name!r} (row {other})"
            reader.refuse(CHOICES, number, name_column, why)
        seen.setdefault((list_name, code), number)
        label = reader.text(sheet, number, row, "label", f"choice {code!r}")
        if label is None:
            found.usable = False
        score_text = sheet.value(row, SCORE_COLUMN)
        score: float | None = None
        if score_text:
            score = _number(score_text)
            if math.isnan(score):
                found.usable = False
                reader.refuse(CHOICES, number, sheet.header(SCORE_COLUMN), "not a number")
                score = None
        kind = sheet.value(row, SCALE_COLUMN)
        if kind:
            if kind not in {k.value for k in ScaleKind}:
                found.usable = False
                why = "a scale is one of " + ", ".join(k.value for k in ScaleKind)
                reader.refuse(CHOICES, number, sheet.header(SCALE_COLUMN), why)
            elif found.kind not in (None, kind):
                found.usable = False
                why = f"the list {list_name!r} is already a {found.kind} scale"
                reader.refuse(CHOICES, number, sheet.header(SCALE_COLUMN), why)
            else:
                found.kind = kind
        found.rows.append(number)
        found.options.append({"code": code, "label": label or {}})
        found.scores.append(score)
    return lists


def _plain(value: float) -> float | int:
    return int(value) if value == int(value) else value


def _scale(reader: _Reader, found: _List) -> dict[str, Any] | None:
    """Return the scale a list with a bot_scale makes: scored options, then 'not applicable'."""
    sheet = reader.choices
    scored: list[dict[str, Any]] = []
    not_applicable: dict[str, Any] | None = None
    ok = True
    for number, option, score in zip(found.rows, found.options, found.scores, strict=True):
        value = score if score is not None else _number(option["code"])
        if not math.isnan(value):
            if not_applicable is not None:
                why = "the option without a score ('not applicable') must come last"
                reader.refuse(CHOICES, number, sheet.header("name") or "name", why)
                ok = False
            scored.append({**option, "value": _plain(value)})
        elif not_applicable is None:
            not_applicable = option
        else:
            why = f"a scale has one option without a score ('not applicable'); add {SCORE_COLUMN}"
            reader.refuse(CHOICES, number, sheet.header(SCORE_COLUMN) or SCORE_COLUMN, why)
            ok = False
    if not 2 <= len(scored) <= 11:
        why = "a scale has 2 to 11 scored options"
        reader.refuse(CHOICES, found.rows[0], sheet.header(SCALE_COLUMN), why)
        ok = False
    if not re.fullmatch(ID_PATTERN, found.name):
        column = sheet.header("list name") or "list_name"
        reader.refuse(CHOICES, found.rows[0], column, "a scale's " + _bad_name(found.name))
        ok = False
    if not ok:
        return None
    scale: dict[str, Any] = {"kind": found.kind, "options": scored}
    if not_applicable is not None:
        scale["not_applicable"] = not_applicable
    return scale


def _bad_name(name: str) -> str:
    return (
        f"name {name!r} is not one the bot can use: at most 16 lowercase letters, digits or _,"
        " starting with a letter or digit"
    )


def _read_survey(
    reader: _Reader, header: dict[str, Any], lists: dict[str, _List]
) -> dict[str, Any] | None:
    sheet = reader.survey
    scales: dict[str, Any] = {}
    seen: dict[str, _Seen] = {}
    names: dict[str, int] = {}
    stack: list[_Group] = []
    sections: list[_Group] = []
    loose: list[tuple[int, dict[str, Any]]] = []
    intro: dict[str, list[str]] = {}
    started = False
    type_column = sheet.header("type") or "type"
    name_column = sheet.header("name") or "name"
    for number, row in sheet.rows:
        raw_type = " ".join(sheet.value(row, "type").split())
        if not raw_type:
            continue
        _check_columns(reader, number, row, raw_type)
        name = sheet.value(row, "name")
        group = re.fullmatch(r"(begin|end)[ _](group|repeat)", raw_type.lower())
        if group and group.group(1) == "end":
            if not stack:
                reader.refuse(SURVEY, number, type_column, f"{raw_type} without a begin")
            else:
                closed = stack.pop()
                if not closed.rows and not closed.subsections:
                    why = f"the group {closed.name!r} holds no question"
                    reader.refuse(SURVEY, closed.row, type_column, why)
            continue
        if raw_type in _METADATA_TYPES:
            reader.warn(SURVEY, number, type_column, "metadata the bot does not record; left out")
            continue
        if not group and not name:
            reader.refuse(SURVEY, number, name_column, "the question needs a name")
        elif not group:
            if not re.fullmatch(ID_PATTERN, name):
                reader.refuse(SURVEY, number, name_column, _bad_name(name))
            elif name in names:
                why = f"the name {name!r} is already used on row {names[name]}"
                reader.refuse(SURVEY, number, name_column, why)
            names.setdefault(name, number)
        if group:
            started = True
            _begin_group(reader, number, row, raw_type, stack, sections)
            continue
        if raw_type in _NOTE_TYPES:
            if started:
                why = (
                    "the bot shows text only with a question: move this note to the hint of"
                    " the question it introduces, or to the top of the form (the introduction)"
                )
                reader.refuse(SURVEY, number, type_column, why)
            else:
                _read_intro(reader, number, row, intro)
            continue
        started = True
        if stack:
            stack[-1].rows += 1
        question = _read_question(reader, number, row, raw_type, lists, scales, seen)
        if question is None:
            continue
        if not stack:
            loose.append((number, question))
        elif stack[-1].depth == 0 and stack[-1].subsections:
            later = stack[-1].subsections[0].row
            why = (
                "the bot asks a group's own questions before the groups inside it:"
                f" move this question above row {later}"
            )
            reader.refuse(SURVEY, number, type_column, why)
        else:
            stack[-1].questions.append(question)
    for unended in stack:
        why = f"the group {unended.name!r} is not ended"
        reader.refuse(SURVEY, unended.row, type_column, why)
    if sections and loose:
        for number, _ in loose:
            why = "put this question inside a begin_group … end_group, like the others"
            reader.refuse(SURVEY, number, type_column, why)
    if reader.problems:
        return None
    body: dict[str, Any] = dict(header)
    if intro:
        body["intro"] = {code: "\n\n".join(parts) for code, parts in intro.items()}
    if scales:
        body["scales"] = scales
    if sections:
        body["sections"] = [_section(s) for s in sections]
    else:
        body["sections"] = [
            {"id": header["id"], "title": header["title"], "questions": [q for _, q in loose]}
        ]
    return body


def _section(group: _Group) -> dict[str, Any]:
    out: dict[str, Any] = {"id": group.name, "title": group.title}
    if group.questions:
        out["questions"] = group.questions
    if group.subsections:
        out["subsections"] = [
            {"id": s.name, "title": s.title, "questions": s.questions} for s in group.subsections
        ]
    return out


def _check_columns(reader: _Reader, number: int, row: Mapping[str, str], raw_type: str) -> None:
    sheet = reader.survey
    for tokens, original in sheet.columns.items():
        if not str(row.get(original, "")).strip():
            continue
        if tokens == ("parameters",) and raw_type == "range":
            continue
        if tokens == ("bind", "calculate") and raw_type == "calculate":
            continue
        if tokens in _REFUSED_COLUMNS:
            reader.refuse(SURVEY, number, original, _REFUSED_COLUMNS[tokens])
        elif tokens[0] == "media":
            reader.refuse(SURVEY, number, original, "the bot sends no media with questions")
        elif tokens == ("bind", "readonly") and aliases.yes_no.get(row[original].strip()):
            reader.refuse(SURVEY, number, original, "the bot has no read-only questions")
        elif tokens[:2] in _IGNORED_COLUMNS or tokens[:1] in _IGNORED_COLUMNS:
            why = _IGNORED_COLUMNS.get(tokens[:2]) or _IGNORED_COLUMNS[tokens[:1]]
            reader.warn(SURVEY, number, original, why + "; left out")


def _begin_group(
    reader: _Reader,
    number: int,
    row: Mapping[str, str],
    raw_type: str,
    stack: list[_Group],
    sections: list[_Group],
) -> None:
    sheet = reader.survey
    type_column = sheet.header("type") or "type"
    name = sheet.value(row, "name")
    depth = len(stack)
    group = _Group(number, name, None, depth)
    if "repeat" in raw_type.lower():
        column = sheet.header("control", "jr:count") or type_column
        reader.refuse(SURVEY, number, column, "the bot asks each question once; it has no repeats")
    if not re.fullmatch(ID_PATTERN, name):
        reader.refuse(SURVEY, number, sheet.header("name") or "name", _bad_name(name))
    relevant_column = sheet.header("bind", "relevant")
    if sheet.value(row, "bind", "relevant"):
        why = "the bot shows or hides questions one by one: put the condition on each question"
        reader.refuse(SURVEY, number, relevant_column, why)
    group.title = reader.text(sheet, number, row, "label", f"the group {name!r}")
    if depth == 0:
        sections.append(group)
    elif depth == 1:
        stack[-1].subsections.append(group)
    else:
        why = "the bot has two levels of groups (sections and subsections), not more"
        reader.refuse(SURVEY, number, type_column, why)
    stack.append(group)


def _read_intro(
    reader: _Reader, number: int, row: Mapping[str, str], intro: dict[str, list[str]]
) -> None:
    sheet = reader.survey
    if sheet.value(row, "bind", "relevant"):
        why = "the introduction is shown to everyone; it has no condition"
        reader.refuse(SURVEY, number, sheet.header("bind", "relevant"), why)
    texts = reader.text(sheet, number, row, "label", "the note")
    for code, value in (texts or {}).items():
        intro.setdefault(code, []).append(value)


def _read_question(
    reader: _Reader,
    number: int,
    row: Mapping[str, str],
    raw_type: str,
    lists: dict[str, _List],
    scales: dict[str, Any],
    seen: dict[str, _Seen],
) -> dict[str, Any] | None:
    """Return one question as the bot's file writes it, or None after refusing it."""
    sheet = reader.survey
    type_column = sheet.header("type") or "type"
    name = sheet.value(row, "name")
    before = len(reader.problems)
    out: dict[str, Any] = {"id": name}
    kind: QuestionType | None = None
    codes: list[str] = []
    select = _select_kind(raw_type)
    if select is not None:
        how, list_name, extra = select
        found = lists.get(list_name)
        if how not in ("select one", "select all that apply") or extra:
            why = f"the bot runs select_one and select_multiple, not {raw_type!r}"
            reader.refuse(SURVEY, number, type_column, why)
        elif found is None:
            why = f"the choice list {list_name!r} is not on the choices sheet"
            reader.refuse(SURVEY, number, type_column, why)
        elif found.usable:
            codes = [o["code"] for o in found.options]
            if how == "select one" and found.kind is not None:
                kind = QuestionType.LIKERT
                if list_name not in scales:
                    scale = _scale(reader, found)
                    if scale is not None:
                        scales[list_name] = scale
                out["scale"] = list_name
            else:
                kind = QuestionType.SINGLE if how == "select one" else QuestionType.MULTI
                out["options"] = [
                    {**o, "value": _plain(s)} if s is not None else o
                    for o, s in zip(found.options, found.scores, strict=True)
                ]
    elif raw_type in _TEXT_TYPES:
        kind = QuestionType.TEXT
        appearance = sheet.value(row, "control", "appearance").split()
        if MULTILINE not in appearance:
            out["single_line"] = True
    elif raw_type in _INTEGER_TYPES or raw_type == "range":
        kind = _nps(reader, number, row, raw_type)
        codes = [str(i) for i in range(11)]
    else:
        # Its labels are not worth a word more: the row is refused whatever they say.
        why = _REFUSED_TYPES.get(raw_type, f"{raw_type!r} is not a question type the bot runs")
        reader.refuse(SURVEY, number, type_column, why)
        return None
    label = reader.text(sheet, number, row, "label", f"the question {name!r}")
    hint = reader.text(sheet, number, row, "hint", f"the hint of {name!r}")
    if label is not None:
        # The engine has no hint of its own: a form's hint is shown under its question.
        text = {c: f"{v}\n\n{hint[c]}" if hint and hint.get(c) else v for c, v in label.items()}
        for code, value in text.items():
            if len(value) > MAX_QUESTION_CHARS:
                base = "hint" if hint and hint.get(code) else "label"
                column = sheet.languages(base, reader.default_language).get(code)
                why = (
                    f"longer than {MAX_QUESTION_CHARS} characters (with its hint): one idea per"
                    " message on a phone"
                )
                reader.refuse(SURVEY, number, column, why)
        out["text"] = text
    required = sheet.value(row, "bind", "required")
    if required and required not in aliases.yes_no:
        why = "the bot reads required as yes or no, not as a condition"
        reader.refuse(SURVEY, number, sheet.header("bind", "required"), why)
    elif not aliases.yes_no.get(required, False):
        out["optional"] = True
    if kind is not None:
        out["type"] = kind.value
        _constraint(reader, number, row, kind, out)
    relevant = sheet.value(row, "bind", "relevant")
    if relevant:
        show_if = _show_if(reader, number, relevant, seen)
        if show_if is not None:
            out["show_if"] = show_if
    if len(reader.problems) > before or kind is None:
        return None
    seen[name] = _Seen(number, kind, codes)
    return {"id": out.pop("id"), "type": out.pop("type"), "text": out.pop("text"), **out}


def _select_kind(raw_type: str) -> tuple[str, str, str] | None:
    """Split a select type into pyxform's kind, the list name and what follows it."""
    for alias in sorted(aliases.select, key=len, reverse=True):
        if raw_type.startswith(alias + " "):
            rest = raw_type[len(alias) :].split()
            # pyxform reads select_one_from_file as a select one: its list is a file.
            how = "from file" if alias in aliases.select_from_file else aliases.select[alias]
            return how, rest[0] if rest else "", " ".join(rest[1:])
    return None


def _nps(
    reader: _Reader, number: int, row: Mapping[str, str], raw_type: str
) -> QuestionType | None:
    sheet = reader.survey
    why = f"the bot asks numbers only on a 0 to 10 scale: constraint {NPS_CONSTRAINT}"
    if raw_type == "range":
        parameters = dict(
            part.split("=", 1)
            for part in sheet.value(row, "parameters").replace(",", " ").split()
            if "=" in part
        )
        wanted = {"start": "0", "end": "10", "step": "1"}
        if {k: parameters.get(k, "1" if k == "step" else "") for k in wanted} != wanted:
            reader.refuse(SURVEY, number, sheet.header("parameters") or "parameters", why)
            return None
        return QuestionType.NPS
    constraint = sheet.value(row, "bind", "constraint")
    column = sheet.header("bind", "constraint") or "constraint"
    try:
        low, high = _bounds(constraint, _SELF, NPS_CONSTRAINT) if constraint else (None, None)
    except _Unsupported as exc:
        reader.refuse(SURVEY, number, column, str(exc))
        return None
    if (low, high) != (0, 10):
        reader.refuse(SURVEY, number, column, why)
        return None
    return QuestionType.NPS


def _constraint(
    reader: _Reader, number: int, row: Mapping[str, str], kind: QuestionType, out: dict[str, Any]
) -> None:
    sheet = reader.survey
    constraint = sheet.value(row, "bind", "constraint")
    column = sheet.header("bind", "constraint")
    if not constraint or kind is QuestionType.NPS:
        return
    if kind is QuestionType.TEXT:
        subject, example, fields = _LENGTH, "string-length(.) <= 500", ("min_length", "max_length")
    elif kind is QuestionType.MULTI:
        subject, example, fields = _COUNT, "count-selected(.) <= 3", ("min_choices", "max_choices")
    else:
        reader.refuse(SURVEY, number, column, "the bot has no constraint for a select_one")
        return
    try:
        low, high = _bounds(constraint, subject, example)
    except _Unsupported as exc:
        reader.refuse(SURVEY, number, column, str(exc))
        return
    if low is not None:
        out[fields[0]] = max(low, 0)
    if high is not None:
        if high < 1 or (low is not None and high < low):
            reader.refuse(SURVEY, number, column, "no answer fits this range")
            return
        out[fields[1]] = high


def _show_if(
    reader: _Reader, number: int, relevant: str, seen: Mapping[str, _Seen]
) -> dict[str, Any] | None:
    """Return the engine's show_if for a relevant expression, or None after refusing it."""
    column = reader.survey.header("bind", "relevant")
    try:
        node = _parse(relevant)
        refs = _refs(node)
        if len(refs) != 1:
            raise _Unsupported("a condition names exactly one earlier question, as ${name}")
        (qid,) = refs
        earlier = seen.get(qid)
        if earlier is None:
            raise _Unsupported(
                f"${{{qid}}} is not an earlier select_one, select_multiple or 0 to 10 question"
            )
        if earlier.type is QuestionType.TEXT:
            raise _Unsupported("a condition can name a choice or 0 to 10 question, not a text")
        if earlier.type is QuestionType.MULTI:
            wanted = list(dict.fromkeys(_selected_any(node, qid)))
            unknown = [c for c in wanted if c not in earlier.codes]
            if unknown:
                raise _Unsupported(f"${{{qid}}} has no option {unknown[0]!r}")
        else:
            if _truth(_evaluate(node, "")):
                raise _Unsupported(
                    f"this holds when ${{{qid}}} is not answered; the bot shows a question"
                    " only after an answer"
                )
            wanted = [c for c in earlier.codes if _truth(_evaluate(node, c))]
        if not wanted:
            raise _Unsupported(f"no answer to ${{{qid}}} makes this true")
    except _Unsupported as exc:
        reader.refuse(SURVEY, number, column, str(exc))
        return None
    return {"question": qid, "any_of": wanted}


def _validated(reader: _Reader, body: dict[str, Any]) -> Questionnaire:
    """Validate the questionnaire as the bot's content files are; what slips through is named."""
    try:
        return Questionnaire.model_validate(body)
    except ValidationError as exc:
        problems = [
            Problem(SURVEY, None, None, f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
            for e in exc.errors()
        ]
        raise XLSFormError(problems) from exc


def _tidy(data: Any) -> Any:
    """Write whole-number scores as 5, not 5.0."""
    if isinstance(data, dict):
        return {k: _tidy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_tidy(v) for v in data]
    if isinstance(data, float) and data.is_integer():
        return int(data)
    return data


def _yaml_text(questionnaire: Questionnaire) -> str:
    data = _tidy(questionnaire.model_dump(mode="json", exclude_defaults=True))
    head = (
        "# Imported from an XLSForm (python -m bot questionnaire import). Change the XLSForm\n"
        "# and import it again, so that the two stay the same instrument.\n"
    )
    # Texts stay on one line each, as in the files written by hand.
    text = head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)
    # The file must read back through the content loader into the same questionnaire.
    again = parse_model(Questionnaire, parse_yaml(text, "<xlsform>"), "<xlsform>")
    assert again == questionnaire
    return text


# ---------------------------------------------------------------------------------------------
# Export


def export_xlsform(questionnaire: Questionnaire) -> bytes:
    """Write a questionnaire as an XLSForm workbook that Kobo and ODK can run."""
    every, _ = _text_languages()
    languages = [c for c in every if any(_has(t, c) for t in _texts(questionnaire))]
    problems = [
        Problem(SURVEY, None, None, f"question {s.question.id!r}: {why}")
        for s in questionnaire.slots()
        if (why := _not_exportable(s.question))
    ]
    if problems:
        raise XLSFormError(problems)
    book = Workbook()
    survey = book.active
    assert survey is not None
    survey.title = SURVEY
    labels = [f"label::{language_column(c)}" for c in languages]
    survey.append(["type", "name", *labels, "required", "relevant", "constraint", "appearance"])
    taken = {s.question.id for s in questionnaire.slots()} | {s.id for s in questionnaire.sections}
    if questionnaire.intro is not None:
        name = INTRO_NOTE if INTRO_NOTE not in taken else f"{INTRO_NOTE}_note"
        survey.append(["note", name, *_cells(questionnaire.intro, languages)])
    lists: dict[str, list[list[Any]]] = {}
    list_of: dict[str, str] = {}
    for slot in questionnaire.slots():
        q = slot.question
        if q.type in (QuestionType.SINGLE, QuestionType.MULTI):
            name = q.id if q.id not in questionnaire.scales else f"{q.id}_choices"
            list_of[q.id] = name
            lists[name] = [_choice(name, o, languages, None, o.value) for o in q.options]
    for scale_id, scale in questionnaire.scales.items():
        lists[scale_id] = [
            _choice(scale_id, o, languages, scale.kind.value, o.value) for o in scale.all_options()
        ]
    bare = (
        len(questionnaire.sections) == 1
        and not questionnaire.sections[0].subsections
        and questionnaire.sections[0].id == questionnaire.id
        and questionnaire.sections[0].title == questionnaire.title
    )
    for section in questionnaire.sections:
        if not bare:
            survey.append(["begin_group", section.id, *_cells(section.title, languages)])
        for q in section.questions:
            survey.append(_question_row(questionnaire, q, languages, list_of))
        for sub in section.subsections:
            survey.append(["begin_group", sub.id, *_cells(sub.title, languages)])
            for q in sub.questions:
                survey.append(_question_row(questionnaire, q, languages, list_of))
            survey.append(["end_group", sub.id])
        if not bare:
            survey.append(["end_group", section.id])
    _choices_sheet(book, lists, languages)
    _settings_sheet(book, questionnaire, languages)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _texts(questionnaire: Questionnaire) -> Iterator[Text]:
    yield questionnaire.title
    if questionnaire.intro is not None:
        yield questionnaire.intro
    for section in questionnaire.sections:
        yield section.title
        for sub in section.subsections:
            yield sub.title
    for slot in questionnaire.slots():
        yield slot.question.text
        for option in questionnaire.options_of(slot.question):
            yield option.label


def _has(text: Text, code: str) -> bool:
    return isinstance(getattr(text, code, None), str)


def _cells(text: Text, languages: Sequence[str]) -> list[str | None]:
    return [getattr(text, code, None) for code in languages]


def _not_exportable(q: Question) -> str | None:
    if q.type is QuestionType.PICK:
        return "a pick question's list comes from the workshop file, which XLSForm cannot name"
    if q.suggest is not None:
        return "XLSForm cannot offer the person's Telegram name as an answer"
    return None


def _choice(
    list_name: str, option: Option, languages: Sequence[str], kind: str | None, score: float | None
) -> list[Any]:
    as_number = _number(option.code)
    written = None if score is None or as_number == score else _plain(score)
    return [list_name, option.code, *_cells(option.label, languages), kind, written]


def _question_row(
    questionnaire: Questionnaire, q: Question, languages: Sequence[str], list_of: Mapping[str, str]
) -> list[Any]:
    appearance = None
    constraint = None
    if q.type is QuestionType.LIKERT:
        kind = f"select_one {q.scale}"
    elif q.type is QuestionType.SINGLE:
        kind = f"select_one {list_of[q.id]}"
    elif q.type is QuestionType.MULTI:
        kind = f"select_multiple {list_of[q.id]}"
        parts = [f"count-selected(.) >= {q.min_choices}"] if q.min_choices != 1 else []
        if q.max_choices is not None:
            parts.append(f"count-selected(.) <= {q.max_choices}")
        constraint = " and ".join(parts) or None
    elif q.type is QuestionType.NPS:
        kind, constraint = "integer", NPS_CONSTRAINT
    else:
        kind = "text"
        parts = [f"string-length(.) >= {q.min_length}"] if q.min_length != 1 else []
        parts.append(f"string-length(.) <= {q.max_length}")
        constraint = " and ".join(parts)
        appearance = None if q.single_line else MULTILINE
    relevant = None
    if q.show_if is not None:
        source = questionnaire.question(q.show_if.question)
        ref = "${" + q.show_if.question + "}"
        if source.type is QuestionType.MULTI:
            relevant = " or ".join(f"selected({ref}, '{c}')" for c in q.show_if.any_of)
        elif source.type is QuestionType.NPS:
            relevant = " or ".join(f"{ref} = {c}" for c in q.show_if.any_of)
        else:
            relevant = " or ".join(f"{ref} = '{c}'" for c in q.show_if.any_of)
    required = None if q.optional else "yes"
    return [kind, q.id, *_cells(q.text, languages), required, relevant, constraint, appearance]


def _choices_sheet(
    book: Workbook, lists: Mapping[str, list[list[Any]]], languages: Sequence[str]
) -> None:
    rows = [row for options in lists.values() for row in options]
    if not rows:
        return
    scaled = any(row[-2] is not None for row in rows)
    scored = any(row[-1] is not None for row in rows)
    sheet = book.create_sheet(CHOICES)
    header = ["list_name", "name", *(f"label::{language_column(c)}" for c in languages)]
    sheet.append(header + [SCALE_COLUMN] * scaled + [SCORE_COLUMN] * scored)
    for row in rows:
        sheet.append(row[:-2] + row[-2:-1] * scaled + row[-1:] * scored)


def _settings_sheet(book: Workbook, questionnaire: Questionnaire, languages: Sequence[str]) -> None:
    sheet = book.create_sheet(SETTINGS)
    default = languages[0]
    header: list[str] = ["form_title", "form_id", "version", "default_language"]
    values: list[Any] = [
        getattr(questionnaire.title, default),
        questionnaire.id,
        str(questionnaire.version),
        language_column(default),
    ]
    for code in languages[1:]:
        header.append(f"{TITLE_COLUMN}::{language_column(code)}")
        values.append(getattr(questionnaire.title, code, None))
    if questionnaire.progress != "section":
        header.append(PROGRESS_COLUMN)
        values.append(questionnaire.progress)
    if not questionnaire.review:
        header.append(REVIEW_COLUMN)
        values.append("no")
    sheet.append(header)
    sheet.append(values)
