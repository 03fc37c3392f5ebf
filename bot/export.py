"""Exports of questionnaire answers for organizers: plain dataclasses in, file bytes out.

Every word arrives translated from the caller in `ExportLabels`, so this module knows no
language. The XLSX holds one wide sheet per questionnaire (a row per participant, a code and a
label column per question), a long sheet for analysts (a row per answer) and an "about" sheet;
the CSV holds the long format only. Cells typed by participants are never read as formulas.
"""

from __future__ import annotations

import csv
import io
import math
import re
import textwrap
import zipfile
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

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
    "export_filename",
    "sheet_name",
]

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MULTI_SEPARATOR = "; "
# OWASP's list of characters that make Excel or LibreOffice read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_SHEET_NAME = 31
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Excel refuses a sheet named "History": it keeps that name for change tracking.
RESERVED_SHEET_NAMES = frozenset({"history"})
MAX_CELL_CHARS = 32_767
# Small whole numbers become numbers, so analysts can average Likert codes; "05" or "na" stay text.
NUMERIC_CODE = re.compile(r"0|[1-9][0-9]{0,14}")
HEADER_LINE_PT = 15.0
MAX_HEADER_LINES = 6

# Excel's default body font; a Font without a name makes LibreOffice fall back to a serif.
HEADER_FONT = Font(name="Calibri", size=11, bold=True)
HEADER_FILL = PatternFill(fill_type="solid", start_color="FFE7E6E6", end_color="FFE7E6E6")
HEADER_BORDER = Border(bottom=Side(style="thin", color="FF808080"))
HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="top")
CODE_FONT = Font(name="Calibri", size=11, color="FF595959")
# Codes mix numbers and text ("5", "na"); centring stops them from zigzagging left and right.
CODE_ALIGNMENT = Alignment(horizontal="center")


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


@dataclass(frozen=True)
class _LongRow:
    participant: str
    institution: str | None
    questionnaire: str
    question_id: str
    question_text: str
    answer: _Answer
    answered_at: datetime | None


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
    generated_local = _local(generated_at, tz)
    wb = Workbook()
    for default in list(wb.worksheets):
        wb.remove(default)
    taken: set[str] = set()
    for sheet in sheets:
        name = sheet_name(sheet.title, taken, fallback=sheet.questionnaire_id)
        taken.add(name.casefold())
        _write_wide(wb.create_sheet(name), sheet, labels, tz)
    long_name = sheet_name(labels.long_sheet, taken, fallback="long")
    taken.add(long_name.casefold())
    _write_long(wb.create_sheet(long_name), sheets, labels, tz)
    about_name = sheet_name(labels.about_sheet, taken, fallback="about")
    _write_about(wb.create_sheet(about_name), labels, workshop, generated_local, tz)
    wb.active = 0

    # Core properties are stored as naive UTC; fixing them keeps the bytes free of the clock.
    generated_utc = generated_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = generated_utc
    wb.properties.modified = generated_utc
    wb.properties.title = _clean(workshop)
    wb.properties.creator = "taller-bot"
    wb.properties.lastModifiedBy = "taller-bot"
    return _save(wb, generated_local)


def build_csv(sheets: Sequence[ExportSheet], labels: ExportLabels, *, tz: ZoneInfo) -> bytes:
    """Build the long format as CSV: UTF-8 with a BOM, comma-separated, CRLF line endings."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in _long_headers(labels, tz)])
    for row in _long_rows(sheets, labels, tz):
        code = row.answer.code
        writer.writerow(
            [
                _csv_text(row.participant),
                _csv_text(row.institution or ""),
                _csv_text(row.questionnaire),
                _csv_text(row.question_id),
                _csv_text(row.question_text),
                _csv_text("" if code is None else str(code)),
                _csv_text(row.answer.label),
                row.answered_at.strftime(CSV_DATETIME_FORMAT) if row.answered_at else "",
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


def _tz_header(text: str, tz: ZoneInfo) -> str:
    return f"{text} ({tz.key})"


def _wide_headers(sheet: ExportSheet, labels: ExportLabels, tz: ZoneInfo) -> list[str]:
    headers = [labels.participant, labels.institution, _tz_header(labels.submitted_at, tz)]
    for q in sheet.questions:
        headers += [f"{q.id} ({labels.answer_code})", f"{q.id} {q.text}"]
    return headers


def _write_wide(ws: Worksheet, sheet: ExportSheet, labels: ExportLabels, tz: ZoneInfo) -> None:
    headers = _wide_headers(sheet, labels, tz)
    for col, header in enumerate(headers, start=1):
        _put(ws, 1, col, header)
    for r, row in enumerate(sheet.rows, start=2):
        _put(ws, r, 1, row.participant)
        _put(ws, r, 2, row.institution)
        _put(ws, r, 3, _local(row.submitted_at, tz) if row.submitted_at else None)
        for i, q in enumerate(sheet.questions):
            value = row.answers.get(q.id)
            if value is None:
                continue
            answer = _answer(q, value, labels)
            if answer.code is not None:
                code_cell = _put(ws, r, 4 + 2 * i, answer.code)
                code_cell.font = CODE_FONT
                code_cell.alignment = CODE_ALIGNMENT
            _put(ws, r, 5 + 2 * i, answer.label)

    widths = [_width(ws, 1, 8, 16), _width(ws, 2, 14, 40), _width(ws, 3, 18, 30)]
    for i in range(len(sheet.questions)):
        # Wide enough for the question to wrap onto about three header lines.
        label_low = min(max(24.0, len(headers[4 + 2 * i]) / 3), 45.0)
        widths += [_width(ws, 4 + 2 * i, 9, 16), _width(ws, 5 + 2 * i, label_low, 45)]
    _finish_table(ws, headers, widths, freeze="C2")


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


def _long_rows(
    sheets: Sequence[ExportSheet], labels: ExportLabels, tz: ZoneInfo
) -> Iterator[_LongRow]:
    for sheet in sheets:
        for row in sheet.rows:
            for q in sheet.questions:
                value = row.answers.get(q.id)
                if value is None:
                    continue
                when = row.answered_at.get(q.id)
                yield _LongRow(
                    participant=row.participant,
                    institution=row.institution,
                    questionnaire=sheet.questionnaire_id,
                    question_id=q.id,
                    question_text=q.text,
                    answer=_answer(q, value, labels),
                    answered_at=_local(when, tz) if when else None,
                )


def _write_long(
    ws: Worksheet, sheets: Sequence[ExportSheet], labels: ExportLabels, tz: ZoneInfo
) -> None:
    headers = _long_headers(labels, tz)
    for col, header in enumerate(headers, start=1):
        _put(ws, 1, col, header)
    for r, row in enumerate(_long_rows(sheets, labels, tz), start=2):
        values: list[Any] = [
            row.participant,
            row.institution,
            row.questionnaire,
            row.question_id,
            row.question_text,
            row.answer.code,
            row.answer.label,
            row.answered_at,
        ]
        for col, value in enumerate(values, start=1):
            _put(ws, r, col, value)
        ws.cell(row=r, column=6).alignment = CODE_ALIGNMENT
    widths = [
        _width(ws, 1, 8, 16),
        _width(ws, 2, 14, 40),
        _width(ws, 3, 10, 20),
        _width(ws, 4, 8, 16),
        _width(ws, 5, 30, 60),
        _width(ws, 6, 8, 16),
        _width(ws, 7, 20, 45),
        _width(ws, 8, 18, 30),
    ]
    _finish_table(ws, headers, widths, freeze="A2")


def _write_about(
    ws: Worksheet, labels: ExportLabels, workshop: str, generated: datetime, tz: ZoneInfo
) -> None:
    rows: list[tuple[str, str | datetime]] = [
        (labels.workshop, workshop),
        (labels.generated, generated),
        (labels.timezone, tz.key),
    ]
    for r, (key, value) in enumerate(rows, start=1):
        _put(ws, r, 1, key).font = HEADER_FONT
        _put(ws, r, 2, value).alignment = Alignment(horizontal="left")
    if labels.pseudonymous_note:
        note = _put(ws, len(rows) + 2, 1, labels.pseudonymous_note)
        note.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=len(rows) + 2, start_column=1, end_row=len(rows) + 2, end_column=2)
        ws.row_dimensions[len(rows) + 2].height = HEADER_LINE_PT * _line_count(
            labels.pseudonymous_note, 24 + 50
        )
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 50


def _finish_table(ws: Worksheet, headers: list[str], widths: list[float], *, freeze: str) -> None:
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    lines = 1
    for col, header in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=col)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = HEADER_BORDER
        cell.alignment = HEADER_ALIGNMENT
        lines = max(lines, _line_count(header, widths[col - 1]))
    # Excel does not grow a row to fit wrapped text on opening, so the height is set here.
    ws.row_dimensions[1].height = HEADER_LINE_PT * min(lines, MAX_HEADER_LINES)
    ws.freeze_panes = freeze
    last = get_column_letter(len(headers))
    ws.auto_filter.ref = f"A1:{last}{max(ws.max_row, 1)}"


def _line_count(text: str, width: float) -> int:
    # Bold header text runs wider than the digit-based column width; 0.85 is a rough margin.
    per_line = max(int(width * 0.85), 1)
    return sum(max(len(textwrap.wrap(part, per_line)), 1) for part in text.split("\n"))


def _width(ws: Worksheet, col: int, low: float, high: float) -> float:
    longest = 0
    for (value,) in ws.iter_rows(min_row=2, min_col=col, max_col=col, values_only=True):
        if value is not None:
            longest = max(longest, len(str(value)))
    # The header wraps, but a word cut in two ("Particip-ante") reads badly; bold runs wider.
    words = str(ws.cell(row=1, column=col).value or "").split()
    longest = max(longest, *(math.ceil(len(w) * 1.15) for w in words), 0)
    return float(min(max(longest + 2, low), high))


def _put(
    ws: Worksheet, row: int, col: int, value: str | int | datetime | None
) -> Cell | MergedCell:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, datetime):
        cell.value = value
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, str):
        text = _clean(value)
        cell.value = text
        if text.startswith(FORMULA_TRIGGERS):
            # openpyxl turns "=..." into a formula; "s" keeps it a string, and the quote prefix
            # keeps it one when someone edits the cell in Excel or LibreOffice.
            cell.data_type = "s"
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def _clean(text: str) -> str:
    # Control characters make the XML invalid; Excel cannot hold more than 32,767 per cell.
    return ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_CHARS]


def _csv_text(text: str) -> str:
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    # A leading apostrophe is how spreadsheets are told "this is text, not a formula".
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _save(wb: Workbook, stamp: datetime) -> bytes:
    # openpyxl's save() stamps the clock on the core properties, and its zip entries carry the
    # current time; ExcelWriter skips the first, and re-packing with a fixed time the second.
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    # ZIP cannot store times before 1980.
    date_time = max(stamp, datetime(1980, 1, 1)).timetuple()[:6]
    out = io.BytesIO()
    with (
        zipfile.ZipFile(raw) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, source.read(entry))
    return out.getvalue()


@dataclass(frozen=True)
class Table:
    """A plain sheet: a title, translated headers and rows of cells."""

    title: str
    headers: list[str]
    rows: list[list[str | int | datetime | None]]


def build_tables_xlsx(tables: Sequence[Table], *, generated_at: datetime, tz: ZoneInfo) -> bytes:
    """Write plain tables as one sheet each, with styled headers and safe cells."""
    wb = Workbook()
    first = True
    for table in tables:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = _fit_utf16(_sanitize_sheet_name(table.title), MAX_SHEET_NAME) or "Sheet"
        for col, header in enumerate(table.headers, start=1):
            _put(ws, 1, col, header)
        for r, row in enumerate(table.rows, start=2):
            for col, value in enumerate(row, start=1):
                _put(ws, r, col, _local(value, tz) if isinstance(value, datetime) else value)
        widths = [_width(ws, col, 8, 60) for col in range(1, len(table.headers) + 1)]
        _finish_table(ws, table.headers, widths, freeze="A2")
    return _save(wb, _local(generated_at, tz))
