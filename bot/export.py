"""Exports of questionnaire answers for organizers: plain dataclasses in, file bytes out.

Every word arrives translated from the caller in `ExportLabels`, so this module knows no
language. The XLSX holds one wide sheet per questionnaire (a row per participant, a code and a
label column per question), a long sheet for analysts (a row per answer) and an "about" sheet;
the CSV holds the long format only. Cells typed by participants are never read as formulas.

Workbooks are streamed with XlsxWriter in `constant_memory` mode: each row goes to a
temporary file as soon as the next one starts, so a workbook takes a few megabytes whatever
its size, where openpyxl kept a cell object per value. Rows must therefore be written in
order, and everything that depends on the data (column widths, the header's height) is
computed first. XlsxWriter makes the workbook (formats, sheets, header rows, the zip); the
body rows are written here as the XML its own cell calls would write, byte for byte
(`_Book._stream_rows`, checked against `_Book._cell_rows` in tests/test_export.py): half a
million cells take about 1.2 s instead of 5-7 s (benchmarks/README.md compares the writers).
"""

from __future__ import annotations

import csv
import gc
import io
import math
import pickle
import re
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice, zip_longest
from typing import Any
from zoneinfo import ZoneInfo

# XlsxWriter has type hints but no py.typed marker, so mypy sees its objects as Any.
from xlsxwriter import Workbook  # type: ignore[import-untyped]
from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped]

__all__ = [
    "DATETIME_FORMAT",
    "ExportLabels",
    "ExportQuestion",
    "ExportRow",
    "ExportSheet",
    "Table",
    "build_csv",
    "build_tables_xlsx",
    "build_xlsx",
    "collector_paused",
    "export_filename",
    "pack_rows",
    "sheet_name",
    "unpack_rows",
]

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MULTI_SEPARATOR = "; "
# OWASP's list of characters that make Excel or LibreOffice read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot hold (the same set openpyxl refuses).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# What XlsxWriter escapes in an inline string: text that looks like its escape, and the
# control characters left (carriage return) as _xHHHH_.
CONTROL_ESCAPE_RE = re.compile("(_x[0-9a-fA-F]{4}_)")
CONTROL_CHARACTER_RE = re.compile(r"([\x00-\x08\x0b-\x1f])")
XML_PRESERVE = ' xml:space="preserve"'
# Excel's serial dates count days from here, and wrongly take 1900 for a leap year.
EXCEL_EPOCH = datetime(1899, 12, 31)
EXCEL_EPOCH_UTC = EXCEL_EPOCH.replace(tzinfo=UTC)
EXCEL_LEAP_YEAR = 1900
# Whole numbers below this are held exactly by a float, so "%.16G" writes them as str() does.
EXACT_INT = 2**53
MAX_SHEET_NAME = 31
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Excel refuses a sheet named "History": it keeps that name for change tracking.
RESERVED_SHEET_NAMES = frozenset({"history"})
MAX_CELL_CHARS = 32_767
# Small whole numbers become numbers, so analysts can average Likert codes; "05" or "na" stay text.
NUMERIC_CODE = re.compile(r"0|[1-9][0-9]{0,14}")
HEADER_LINE_PT = 15.0
MAX_HEADER_LINES = 6
# Excel measures column widths in widths of the digit "0" of Calibri 11: 7 pixels.
DIGIT_PX = 7
DATETIME_CHARS = len("2023-11-28 10:05:00")  # str() of a datetime, as widths count it
CREATOR = "taller-bot"
# Rows pickled at once on their way to the worker process: a few milliseconds of work.
ROWS_PER_SLICE = 50
# Rows of XML written to XlsxWriter's temporary file at once.
ROWS_PER_WRITE = 64
# Never strings_to_formulas: a participant's "=SUM(A1)" stays text whichever write is used.
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

# Cell styles by name. Excel's default body font is named: without it LibreOffice falls back
# to a serif. Codes mix numbers and text ("5", "na"); centring stops them from zigzagging.
STYLES: dict[str, dict[str, Any]] = {
    "": {},
    "header": {
        "font_name": "Calibri",
        "font_size": 11,
        "bold": True,
        "pattern": 1,
        "bg_color": "#E7E6E6",
        "bottom": 1,
        "bottom_color": "#808080",
        "text_wrap": True,
        "valign": "top",
    },
    "code": {"font_name": "Calibri", "font_size": 11, "font_color": "#595959", "align": "center"},
    "center": {"align": "center"},
    "key": {"font_name": "Calibri", "font_size": 11, "bold": True},
    "left": {"align": "left"},
    "note": {"text_wrap": True, "valign": "top"},
}

Value = str | int | float | datetime | None
Worksheet = Any  # xlsxwriter.worksheet.Worksheet
Format = Any  # xlsxwriter.format.Format


@dataclass(frozen=True)
class ExportQuestion:
    """One question as the export shows it, in the workshop's language."""

    id: str
    text: str
    section: str
    options: dict[str, str]


@dataclass(frozen=True)
class ExportRow:
    """One participant's answers to one questionnaire."""

    participant: str
    institution: str | None
    submitted_at: datetime | None
    answers: dict[str, str | list[str]]
    answered_at: dict[str, datetime]


@dataclass(frozen=True)
class ExportSheet:
    """One questionnaire: its questions in order and a row per participant."""

    questionnaire_id: str
    title: str
    questions: list[ExportQuestion]
    rows: list[ExportRow]

    def __reduce__(self) -> tuple[Any, ...]:
        return _unpack_sheet, (self.questionnaire_id, self.title, self.questions, _pack(self.rows))


def _unpack_sheet(
    questionnaire_id: str, title: str, questions: list[ExportQuestion], slices: list[bytes]
) -> ExportSheet:
    return ExportSheet(questionnaire_id, title, questions, _unpack(slices))


def _pack(rows: Sequence[Any]) -> list[bytes]:
    # Workbooks are built in the bot's worker process, and the executor pickles their rows
    # on a thread of the bot's own process. One pickle.dumps of every row holds the GIL, and
    # so the event loop, for about 100 ms at 1,000 participants; slices of a few
    # milliseconds each let the loop run in between.
    return [
        pickle.dumps(rows[start : start + ROWS_PER_SLICE], pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(rows), ROWS_PER_SLICE)
    ]


def _unpack(slices: list[bytes]) -> list[Any]:
    return [row for piece in slices for row in pickle.loads(piece)]


def pack_rows(rows: Iterable[Any]) -> list[bytes]:
    """Pickle rows in slices as they come, for the worker process (see `_pack`)."""
    # Each slice is made, pickled and dropped in turn: no list of every row is ever held,
    # so the rows die young and never reach the collector's older generations.
    out = []
    iterator = iter(rows)
    while piece := list(islice(iterator, ROWS_PER_SLICE)):
        out.append(pickle.dumps(piece, pickle.HIGHEST_PROTOCOL))
    return out


def unpack_rows(slices: list[bytes]) -> list[Any]:
    """Return the rows that `pack_rows` pickled, in order."""
    return _unpack(slices)


@dataclass(frozen=True)
class ExportLabels:
    """Column headers and words of the export, in the workshop's language."""

    participant: str
    institution: str
    submitted_at: str
    questionnaire: str
    question: str
    question_text: str
    answer_code: str
    answer_label: str
    answered_at: str
    long_sheet: str
    about_sheet: str
    workshop: str
    generated: str
    timezone: str
    skipped: str
    yes: str
    no: str
    # A sentence for the about sheet, e.g. that participants appear under pseudonyms; empty: none.
    pseudonymous_note: str = ""


@dataclass(frozen=True)
class _Answer:
    code: str | int | None
    label: str


_pause_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a workbook is built.

    A build makes hundreds of thousands of short-lived objects (rows, cells), all freed by
    reference counting. Each time enough of them pile up the collector walks every object
    of the process: in the worker process, with matplotlib loaded by the charts, that was a
    third of the plans workbook's time (1.0 of 3.0 s). Nested and concurrent builds (on
    threads, when there is no worker process) share one pause.
    """
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def build_xlsx(
    sheets: Sequence[ExportSheet],
    labels: ExportLabels,
    *,
    workshop: str,
    generated_at: datetime,
    tz: ZoneInfo,
) -> bytes:
    """Build an XLSX workbook: a sheet per questionnaire, the long sheet and the about sheet.

    Answers to questions missing from `ExportSheet.questions` are left out: the caller decides
    what is exported. Datetimes must be aware; they appear in `tz`, whose name is in the headers.
    """
    with collector_paused():
        return _build_xlsx(sheets, labels, workshop=workshop, generated_at=generated_at, tz=tz)


def _build_xlsx(
    sheets: Sequence[ExportSheet],
    labels: ExportLabels,
    *,
    workshop: str,
    generated_at: datetime,
    tz: ZoneInfo,
) -> bytes:
    generated_local = _local(generated_at, tz)
    book = _Book(generated_at, title=_clean(workshop))
    answer = _answerer(labels)
    taken: set[str] = set()
    for sheet in sheets:
        name = sheet_name(sheet.title, taken, fallback=sheet.questionnaire_id)
        taken.add(name.casefold())
        _write_wide(book, name, sheet, labels, tz, answer)
    long_name = sheet_name(labels.long_sheet, taken, fallback="long")
    taken.add(long_name.casefold())
    _write_long(book, long_name, sheets, labels, tz, answer)
    about_name = sheet_name(labels.about_sheet, taken, fallback="about")
    _write_about(book, about_name, labels, workshop, generated_local, tz)
    return book.close()


def build_csv(sheets: Sequence[ExportSheet], labels: ExportLabels, *, tz: ZoneInfo) -> bytes:
    """Build the long format as CSV: UTF-8 with a BOM, comma-separated, CRLF line endings."""
    with collector_paused():
        return _build_csv(sheets, labels, tz=tz)


def _build_csv(sheets: Sequence[ExportSheet], labels: ExportLabels, *, tz: ZoneInfo) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in _long_headers(labels, tz)])
    for participant, institution, questionnaire, question, text, code, label, when in _long_rows(
        sheets, tz, _answerer(labels)
    ):
        writer.writerow(
            [
                _csv_text(participant),
                _csv_text(institution or ""),
                _csv_text(questionnaire),
                _csv_text(question),
                _csv_text(text),
                _csv_text("" if code is None else str(code)),
                _csv_text(label),
                when.strftime(CSV_DATETIME_FORMAT) if when else "",
            ]
        )
    # Excel on Windows reads a CSV without a BOM in the ANSI code page and garbles accents.
    return buffer.getvalue().encode("utf-8-sig")


def export_filename(kind: str, workshop_slug: str, day: date, ext: str) -> str:
    """Return the download name f"{kind}-{workshop_slug}-{day.isoformat()}.{ext}"."""
    for part in (kind, workshop_slug, ext):
        if not part or "/" in part or "\\" in part:
            raise ValueError(f"not usable in a file name: {part!r}")
    return f"{kind}-{workshop_slug}-{day.isoformat()}.{ext}"


def sheet_name(
    title: str, taken: AbstractSet[str] = frozenset(), *, fallback: str = "Sheet"
) -> str:
    """Return `title` made valid as an Excel sheet name and unique among `taken` (casefolded)."""
    name = _sanitize_sheet_name(title) or _sanitize_sheet_name(fallback) or "Sheet"
    name = _fit_utf16(name, MAX_SHEET_NAME)
    candidate, number = name, 1
    while candidate.casefold() in taken or candidate.casefold() in RESERVED_SHEET_NAMES:
        number += 1
        suffix = f" ({number})"
        candidate = _fit_utf16(name, MAX_SHEET_NAME - len(suffix)).rstrip() + suffix
    return candidate


def _sanitize_sheet_name(title: str) -> str:
    text = SHEET_NAME_FORBIDDEN.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title))
    # Excel rejects a name that starts or ends with an apostrophe.
    return " ".join(text.split()).strip("'").strip()


def _fit_utf16(text: str, limit: int) -> str:
    # Excel counts UTF-16 code units, so an emoji takes two of the 31.
    while len(text.encode("utf-16-le")) // 2 > limit:
        text = text[:-1]
    return text


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: the export needs aware ones")
    # Excel has no time zones: a naive local time, with the zone's name in the header.
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def _answer(question: ExportQuestion, value: str | list[str], labels: ExportLabels) -> _Answer:
    if isinstance(value, list):
        if not value:
            return _Answer(None, labels.skipped)
        codes = MULTI_SEPARATOR.join(value)
        texts = MULTI_SEPARATOR.join(question.options.get(code, code) for code in value)
        return _Answer(codes, texts)
    if not question.options:
        return _Answer(None, value)
    code: str | int = int(value) if NUMERIC_CODE.fullmatch(value) else value
    return _Answer(code, question.options.get(value, value))


Answerer = Callable[[ExportQuestion, "str | list[str]"], _Answer]


def _answerer(labels: ExportLabels) -> Answerer:
    """Return `_answer` for these labels, remembering single answers: they repeat a lot."""
    memo: dict[tuple[int, str], _Answer] = {}

    def answer(question: ExportQuestion, value: str | list[str]) -> _Answer:
        if isinstance(value, list):
            return _answer(question, value, labels)
        key = (id(question), value)
        found = memo.get(key)
        if found is None:
            found = memo[key] = _answer(question, value, labels)
        return found

    return answer


def _tz_header(text: str, tz: ZoneInfo) -> str:
    return f"{text} ({tz.key})"


def _wide_headers(sheet: ExportSheet, labels: ExportLabels, tz: ZoneInfo) -> list[str]:
    headers = [labels.participant, labels.institution, _tz_header(labels.submitted_at, tz)]
    for q in sheet.questions:
        headers += [f"{q.id} ({labels.answer_code})", f"{q.id} {q.text}"]
    return headers


def _write_wide(
    book: _Book,
    name: str,
    sheet: ExportSheet,
    labels: ExportLabels,
    tz: ZoneInfo,
    answer: Answerer,
) -> None:
    headers = _wide_headers(sheet, labels, tz)
    rows: list[list[Value]] = []
    for row in sheet.rows:
        cells: list[Value] = [
            row.participant,
            row.institution,
            _local(row.submitted_at, tz) if row.submitted_at else None,
        ]
        for q in sheet.questions:
            value = row.answers.get(q.id)
            if value is None:
                cells += (None, None)
                continue
            found = answer(q, value)
            cells += (found.code, found.label)
        rows.append(cells)

    longest = _longest(rows, len(headers))
    widths = [
        _width(longest[0], headers[0], 8, 16),
        _width(longest[1], headers[1], 14, 40),
        _width(longest[2], headers[2], 18, 30),
    ]
    styles = ["", "", ""]
    for i in range(len(sheet.questions)):
        code, label = 3 + 2 * i, 4 + 2 * i
        # Wide enough for the question to wrap onto about three header lines.
        label_low = min(max(24.0, len(headers[label]) / 3), 45.0)
        widths += [
            _width(longest[code], headers[code], 9, 16),
            _width(longest[label], headers[label], label_low, 45),
        ]
        styles += ["code", ""]
    book.table(name, headers, rows, widths, styles, freeze_col=2)


def _long_headers(labels: ExportLabels, tz: ZoneInfo) -> list[str]:
    return [
        labels.participant,
        labels.institution,
        labels.questionnaire,
        labels.question,
        labels.question_text,
        labels.answer_code,
        labels.answer_label,
        _tz_header(labels.answered_at, tz),
    ]


# participant, institution, questionnaire, question, question text, code, label, answered at
LongRow = tuple[str, str | None, str, str, str, str | int | None, str, datetime | None]


def _long_rows(sheets: Sequence[ExportSheet], tz: ZoneInfo, answer: Answerer) -> Iterator[LongRow]:
    for sheet in sheets:
        for row in sheet.rows:
            for q in sheet.questions:
                value = row.answers.get(q.id)
                if value is None:
                    continue
                when = row.answered_at.get(q.id)
                found = answer(q, value)
                yield (
                    row.participant,
                    row.institution,
                    sheet.questionnaire_id,
                    q.id,
                    q.text,
                    found.code,
                    found.label,
                    _local(when, tz) if when else None,
                )


def _write_long(
    book: _Book,
    name: str,
    sheets: Sequence[ExportSheet],
    labels: ExportLabels,
    tz: ZoneInfo,
    answer: Answerer,
) -> None:
    headers = _long_headers(labels, tz)
    rows = list(_long_rows(sheets, tz, answer))
    longest = _longest(rows, len(headers))
    bounds = [(8, 16), (14, 40), (10, 20), (8, 16), (30, 60), (8, 16), (20, 45), (18, 30)]
    widths = [
        _width(longest[col], headers[col], low, high) for col, (low, high) in enumerate(bounds)
    ]
    styles = ["", "", "", "", "", "center", "", ""]
    # The code column is centred even where a question has no code, as typed values will be.
    book.table(name, headers, rows, widths, styles, freeze_col=0, styled_blanks={5})


def _write_about(
    book: _Book,
    name: str,
    labels: ExportLabels,
    workshop: str,
    generated: datetime,
    tz: ZoneInfo,
) -> None:
    ws = book.sheet(name)
    book.column_width(ws, 0, 24)
    book.column_width(ws, 1, 50)
    rows: list[tuple[str, str | datetime]] = [
        (labels.workshop, workshop),
        (labels.generated, generated),
        (labels.timezone, tz.key),
    ]
    for r, (key, value) in enumerate(rows):
        book.put(ws, r, 0, key, "key")
        book.put(ws, r, 1, value, "left")
    if labels.pseudonymous_note:
        r = len(rows) + 1
        # Excel does not grow a row to fit wrapped text on opening, so the height is set here.
        book.row_height(ws, r, HEADER_LINE_PT * _line_count(labels.pseudonymous_note, 24 + 50))
        book.merge(ws, r, 0, 1, labels.pseudonymous_note, "note")


def _line_count(text: str, width: float) -> int:
    # Bold header text runs wider than the digit-based column width; 0.85 is a rough margin.
    per_line = max(int(width * 0.85), 1)
    return sum(max(len(textwrap.wrap(part, per_line)), 1) for part in text.split("\n"))


def _longest(rows: Sequence[Sequence[Value]], columns: int) -> list[int]:
    """Return the length of the longest value written in each column (str() of it)."""
    return _longest_in(zip_longest(*rows), columns)


def _longest_in(columns: Iterable[Sequence[Value]], count: int) -> list[int]:
    """Return the length of the longest value (str() of it) in each of the first columns."""
    longest = [0] * count
    # Column by column, over the types and then the distinct values it holds: most columns
    # repeat a few labels or codes, and a column of texts or dates needs no look at each.
    for col, column in enumerate(columns):
        if col >= count:
            break
        kinds = set(map(type, column))
        kinds.discard(type(None))
        if kinds and all(issubclass(kind, datetime) for kind in kinds):
            longest[col] = DATETIME_CHARS
            continue
        distinct = set(column)
        distinct.discard(None)
        if kinds == {str}:
            longest[col] = max(map(len, distinct), default=0)  # type: ignore[arg-type]
        else:
            longest[col] = max(
                (
                    len(value)
                    if isinstance(value, str)
                    else DATETIME_CHARS
                    if isinstance(value, datetime)
                    else len(str(value))
                    for value in distinct
                ),
                default=0,
            )
    return longest


def _width(longest: int, header: str, low: float, high: float) -> float:
    # The header wraps, but a word cut in two ("Particip-ante") reads badly; bold runs wider.
    words = header.split()
    longest = max(longest, *(math.ceil(len(w) * 1.15) for w in words), 0)
    return float(min(max(longest + 2, low), high))


def _is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def _clean(text: str) -> str:
    # Control characters make the XML invalid; Excel cannot hold more than 32,767 UTF-16
    # units in a cell (an emoji takes two), and a character is never cut in half.
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if len(text) <= MAX_CELL_CHARS // 2:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > MAX_CELL_CHARS:
            return text[:index]
    return text


def _streams(ws: Worksheet) -> bool:
    """Tell whether a worksheet streams its rows to a file as `_Book._stream_rows` expects."""
    fh = getattr(ws, "row_data_fh", None)
    return (
        getattr(ws, "constant_memory", False)
        and fh is not None
        and ws.fh is fh
        and not getattr(ws, "row_data_fh_closed", True)
        and getattr(ws, "previous_row", None) == 0
        and all(
            hasattr(ws, name)
            for name in ("_write_single_row", "_check_dimensions", "_convert_date_time")
        )
    )


class _Book:
    """An XlsxWriter workbook streamed row by row, its formats made once, saved to bytes."""

    def __init__(self, generated_at: datetime, *, title: str = "") -> None:
        self._buffer = io.BytesIO()
        self._workbook = Workbook(self._buffer, WORKBOOK_OPTIONS)
        # Stored as naive UTC. Fixing it keeps the bytes free of the clock; XlsxWriter dates
        # the zip entries 1980-01-31 itself.
        created = generated_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        properties: dict[str, Any] = {"created": created, "author": CREATOR}
        if title:
            properties["title"] = title
        self._workbook.set_properties(properties)
        self._formats: dict[tuple[str, bool, bool], Format | None] = {}
        # Participants' texts repeat (institutions, question texts): clean each once.
        self._cleaned: dict[str, str] = {}
        # The same, as the XML of a cell: (format variant, what follows the cell's style).
        self._texts: dict[str, tuple[int, str]] = {}

    def sheet(self, name: str) -> Worksheet:
        """Add a worksheet named `name` (already valid and unique)."""
        return self._workbook.add_worksheet(name)

    def format(self, style: str, *, date: bool = False, quote: bool = False) -> Format | None:
        """Return the cell format of a style, as a date or with a quote prefix if asked."""
        key = (style, date, quote)
        if key not in self._formats:
            spec = dict(STYLES[style])
            if date:
                spec["num_format"] = DATETIME_FORMAT
            if quote:
                # The quote prefix keeps the text a string when someone edits the cell.
                spec["quote_prefix"] = True
            self._formats[key] = self._workbook.add_format(spec) if spec else None
        return self._formats[key]

    def column_width(self, ws: Worksheet, col: int, width: float) -> None:
        """Set a column's width in characters, stored as openpyxl stored it (no padding)."""
        ws.set_column_pixels(col, col, round(width * DIGIT_PX))

    def row_height(self, ws: Worksheet, row: int, height: float) -> None:
        """Set a row's height in points; in constant_memory mode, before the row is written."""
        ws.set_row(row, height)

    def merge(
        self, ws: Worksheet, row: int, first_col: int, last_col: int, text: str, style: str
    ) -> None:
        """Write `text` across the cells of one row from `first_col` to `last_col`."""
        text = self._clean(text)
        ws.merge_range(
            row, first_col, row, last_col, text, self.format(style, quote=_is_formula_like(text))
        )

    def put(self, ws: Worksheet, row: int, col: int, value: Value, style: str = "") -> None:
        """Write one cell: text is always a string, never a formula, a link or a number."""
        if value is None:
            return
        if isinstance(value, str):
            text = self._clean(value)
            ws.write_string(row, col, text, self.format(style, quote=_is_formula_like(text)))
        elif isinstance(value, datetime):
            ws.write_datetime(row, col, value, self.format(style, date=True))
        elif isinstance(value, bool):
            ws.write_boolean(row, col, value, self.format(style))
        else:
            ws.write_number(row, col, value, self.format(style))

    def table(
        self,
        name: str,
        headers: Sequence[str],
        rows: Sequence[Sequence[Value]],
        widths: Sequence[float],
        styles: Sequence[str],
        *,
        freeze_col: int,
        styled_blanks: AbstractSet[int] = frozenset(),
        tz: ZoneInfo | None = None,
    ) -> None:
        """Write a sheet: a styled, frozen, filtered header row above `rows`, in order.

        With `tz`, datetimes must be aware and are written as naive local times in `tz`.
        """
        ws = self.sheet(name)
        for col, width in enumerate(widths):
            self.column_width(ws, col, width)
        lines = max([_line_count(h, w) for h, w in zip(headers, widths, strict=True)], default=1)
        # Excel does not grow a row to fit wrapped text on opening, so the height is set here.
        self.row_height(ws, 0, HEADER_LINE_PT * min(max(lines, 1), MAX_HEADER_LINES))
        for col, header in enumerate(headers):
            self.put(ws, 0, col, header, "header")
        ws.freeze_panes(1, freeze_col)
        if headers:
            ws.autofilter(0, 0, len(rows), len(headers) - 1)
        self._rows(ws, rows, styles, styled_blanks, tz)

    def _rows(
        self,
        ws: Worksheet,
        rows: Sequence[Sequence[Value]],
        styles: Sequence[str],
        styled_blanks: AbstractSet[int],
        tz: ZoneInfo | None,
    ) -> None:
        if rows and _streams(ws):
            self._stream_rows(ws, rows, styles, styled_blanks, tz)
        else:
            self._cell_rows(ws, rows, styles, styled_blanks, tz)

    def _cell_rows(
        self,
        ws: Worksheet,
        rows: Sequence[Sequence[Value]],
        styles: Sequence[str],
        styled_blanks: AbstractSet[int],
        tz: ZoneInfo | None,
    ) -> None:
        # XlsxWriter's own cell calls: the reference that _stream_rows must match byte for
        # byte (tests/test_export.py), and the way when its internals are not as expected.
        plain = [self.format(s) for s in styles]
        quoted = [self.format(s, quote=True) for s in styles]
        dates = [self.format(s, date=True) for s in styles]
        blanks = [(col, plain[col]) for col in sorted(styled_blanks)]
        write_string, write_number = ws.write_string, ws.write_number
        write_datetime, write_blank = ws.write_datetime, ws.write_blank
        clean = self._clean
        for r, values in enumerate(rows, start=1):
            col = -1
            for value in values:
                col += 1
                if value is None:
                    continue
                kind = type(value)
                if kind is str:
                    text = clean(value)  # type: ignore[arg-type]
                    fmt = quoted[col] if text.startswith(FORMULA_TRIGGERS) else plain[col]
                    write_string(r, col, text, fmt)
                elif kind is int or kind is float:
                    write_number(r, col, value, plain[col])
                elif kind is datetime:
                    local = value if tz is None else _local(value, tz)  # type: ignore[arg-type]
                    write_datetime(r, col, local, dates[col])
                else:
                    self.put(ws, r, col, value, styles[col])
            for col, fmt in blanks:
                if values[col] is None:
                    write_blank(r, col, None, fmt)

    def _stream_rows(
        self,
        ws: Worksheet,
        rows: Sequence[Sequence[Value]],
        styles: Sequence[str],
        styled_blanks: AbstractSet[int],
        tz: ZoneInfo | None,
    ) -> None:
        """Write rows 1.. as the XML XlsxWriter's constant_memory mode writes, a row at a time.

        XlsxWriter spends about 6 µs on each cell (the call, its checks, a tuple, then the
        XML with its escaping, one write per cell); here a cell is a few string joins, the
        escaping is done once per distinct text, and a row is one write. Its bookkeeping
        (the dimensions, the row it is at) is kept as its own calls would leave it.
        """
        # The header row is still held by XlsxWriter: out it goes, ahead of the body.
        ws._write_single_row(1)
        width = len(styles)
        formats = [
            (self.format(s), self.format(s, quote=True), self.format(s, date=True)) for s in styles
        ]
        # XlsxWriter numbers a format when a cell first uses it; so does this, so that the
        # styles part lists them in the same order. Per column: plain, quoted, date.
        attrs: list[list[str | None]] = [[None] * width for _ in range(3)]

        def attr(variant: int, col: int) -> str:
            fmt = formats[col][variant]
            found = attrs[variant][col] = f' s="{fmt._get_xf_index()}"' if fmt else ""
            return found

        plain_attrs, quoted_attrs, date_attrs = attrs
        refs = [f'<c r="{xl_col_to_name(col)}' for col in range(width)]
        blank_cols = frozenset(c for c in styled_blanks if formats[c][0] is not None)
        texts = self._texts
        text_xml = self._text_xml
        excel_time = ws._convert_date_time

        def serial(value: datetime) -> float:
            # XlsxWriter's arithmetic (Worksheet._convert_date_time) without its checks, for
            # the datetimes after 1900 that exports hold; others go through it.
            if tz is not None and value.tzinfo is not None:
                # What _local does (local wall time, microseconds dropped) without making a
                # naive datetime: replace() is the slow part of it.
                local = value.astimezone(tz)
                offset = local.utcoffset()
                if offset is not None and local.year > EXCEL_LEAP_YEAR:
                    delta = value - EXCEL_EPOCH_UTC + offset
                    return delta.days + float(delta.seconds) / 86400 + 1
            if tz is not None:
                value = _local(value, tz)
            if value.tzinfo is not None or value.year <= EXCEL_LEAP_YEAR:
                return float(excel_time(value))
            delta = value - EXCEL_EPOCH
            days = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / 86400
            # Excel's phantom 29 February 1900.
            return days + 1

        fh = ws.row_data_fh
        pending: list[str] = []
        a: str | None  # the style attribute of a cell
        low_row = top_row = low_col = top_col = -1
        for r, values in enumerate(rows, start=1):
            number = f'{r + 1}"'
            cells: list[str] = []
            first = last = -1
            col = -1
            for value in values:
                col += 1
                kind = type(value)
                if kind is str:
                    found = texts.get(value) or text_xml(value)  # type: ignore[arg-type]
                    if found[0]:
                        a = quoted_attrs[col] or attr(1, col)
                    else:
                        a = plain_attrs[col]
                        if a is None:
                            a = attr(0, col)
                    cells.append(refs[col] + number + a + found[1])
                elif value is None:
                    if col not in blank_cols:
                        continue
                    a = plain_attrs[col]
                    if a is None:
                        a = attr(0, col)
                    cells.append(refs[col] + number + a + "/>")
                elif kind is int or kind is float:
                    a = plain_attrs[col]
                    if a is None:
                        a = attr(0, col)
                    if kind is int and -EXACT_INT < value < EXACT_INT:  # type: ignore[operator]
                        # What "%.16G" makes of a whole number a float holds exactly.
                        cells.append(f"{refs[col]}{number}{a}><v>{value}</v></c>")
                    elif not math.isfinite(value):  # type: ignore[arg-type]
                        raise TypeError(f"{value!r} cannot be written to a cell")
                    else:
                        cells.append(f"{refs[col]}{number}{a}><v>{value:.16G}</v></c>")
                elif kind is datetime:
                    a = date_attrs[col] or attr(2, col)
                    cells.append(f"{refs[col]}{number}{a}><v>{serial(value):.16G}</v></c>")  # type: ignore[arg-type]
                elif kind is bool:
                    a = plain_attrs[col]
                    if a is None:
                        a = attr(0, col)
                    cells.append(f'{refs[col]}{number}{a} t="b"><v>{value:d}</v></c>')
                else:
                    raise TypeError(f"{type(value).__name__} cannot be written to a cell")
                if first < 0:
                    first = col
                last = col
            if first < 0:
                continue
            pending.append(f'<row r="{r + 1}">{"".join(cells)}</row>')
            if len(pending) == ROWS_PER_WRITE:
                fh.write("".join(pending))
                pending.clear()
            if low_row < 0:
                low_row = r
            top_row = r
            if low_col < 0 or first < low_col:
                low_col = first
            if last > top_col:
                top_col = last
        fh.write("".join(pending))
        if top_row < 0:
            return
        ws._check_dimensions(low_row, low_col)
        ws._check_dimensions(top_row, top_col)
        # Where XlsxWriter's own calls would have left it: at the last row written.
        ws.previous_row = top_row

    def _text_xml(self, value: str) -> tuple[int, str]:
        """Return a text's format variant (0 plain, 1 quoted) and the rest of its cell XML."""
        text = self._clean(value)
        variant = 1 if text.startswith(FORMULA_TRIGGERS) else 0
        # As XlsxWriter escapes inline strings: "_xHHHH_" look-alikes, then the control
        # characters XML cannot hold as _xHHHH_, then the non-characters.
        escaped = text
        if "_x" in escaped:
            escaped = CONTROL_ESCAPE_RE.sub(r"_x005F\1", escaped)
        if CONTROL_CHARACTER_RE.search(escaped):
            escaped = CONTROL_CHARACTER_RE.sub(lambda m: f"_x{ord(m[1]):04X}_", escaped)
        escaped = escaped.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
        space = escaped[:1].isspace() or escaped[-1:].isspace()
        escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        found = (
            variant,
            f' t="inlineStr"><is><t{XML_PRESERVE if space else ""}>{escaped}</t></is></c>',
        )
        self._texts[value] = found
        return found

    def _clean(self, text: str) -> str:
        cleaned = self._cleaned.get(text)
        if cleaned is None:
            cleaned = self._cleaned[text] = _clean(text)
        return cleaned

    def close(self) -> bytes:
        """Finish the workbook and return its bytes."""
        self._workbook.close()
        return self._buffer.getvalue()


def _csv_text(text: str) -> str:
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    # A leading apostrophe is how spreadsheets are told "this is text, not a formula".
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


@dataclass(frozen=True)
class Table:
    """A plain sheet: a title, translated headers and rows of cells."""

    title: str
    headers: list[str]
    rows: list[list[str | int | datetime | None]]

    def __reduce__(self) -> tuple[Any, ...]:
        return _unpack_table, (self.title, self.headers, _pack(self.rows))


def _unpack_table(title: str, headers: list[str], slices: list[bytes]) -> Table:
    return Table(title, headers, _unpack(slices))


def build_tables_xlsx(tables: Sequence[Table], *, generated_at: datetime, tz: ZoneInfo) -> bytes:
    """Write plain tables as one sheet each, with styled headers and safe cells."""
    with collector_paused():
        return _build_tables_xlsx(tables, generated_at=generated_at, tz=tz)


def _build_tables_xlsx(tables: Sequence[Table], *, generated_at: datetime, tz: ZoneInfo) -> bytes:
    book = _Book(generated_at)
    taken: set[str] = set()
    for table in tables:
        name = sheet_name(table.title, taken, fallback="Sheet")
        taken.add(name.casefold())
        longest = _longest(table.rows, len(table.headers))
        widths = [_width(longest[c], h, 8, 60) for c, h in enumerate(table.headers)]
        # Datetimes are made local as they are written: the rows are not copied.
        styles = [""] * len(table.headers)
        book.table(name, table.headers, table.rows, widths, styles, freeze_col=0, tz=tz)
    return book.close()
