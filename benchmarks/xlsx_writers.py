"""Compare streaming XLSX writers on the exports' real data shapes.

    .venv/bin/python -m benchmarks.xlsx_writers                 # 1,000 participants, 3 runs
    .venv/bin/python -m benchmarks.xlsx_writers --quick         # 30 participants, 1 run

Simulates a workshop once (`benchmarks.simulate`), collects the answers export exactly as
`bot.flows.exports.export_events` does, then builds the workbook with each writer, every
build in a fresh spawned process (as the bot's worker process is), and prints the wall and
CPU time of the build and the process's peak RSS above what it held before the build:

* `xlsxwriter constant_memory`: what `bot.export` ships: XlsxWriter's `constant_memory`
  workbook, the body rows written as XML by `bot.export._Book._stream_rows`;
* `xlsxwriter per-cell calls`: the same workbook with every cell written by XlsxWriter's
  own `write_string`/`write_number`/... calls (`_Book._cell_rows`, the bytes the streamed
  rows must match);
* `xlsxwriter shared strings`: the per-cell calls with `constant_memory` off (every cell
  kept in memory until the end, strings shared);
* `openpyxl write-only`: `WriteOnlyBook` below, the same sheets (styles, widths, frozen
  header, filter, merged note) with openpyxl's `write_only=True` workbook, put in place of
  `bot.export._Book`. openpyxl writes XML with lxml when it is installed; here it is not
  (the line "lxml:" says), so it uses its pure-Python writer.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.simulate import simulate_workshop
from bot.content import load_content
from bot.flows.events import SendDocument
from bot.flows.exports import export_events
from storage import open_store
from tests.support import CONTENT_DIR, FakeClock, make_services

CLOCK_NOW = datetime(2023, 11, 29, 22, 0, tzinfo=UTC)
WRITERS = (
    "xlsxwriter constant_memory",
    "xlsxwriter per-cell calls",
    "xlsxwriter shared strings",
    "openpyxl write-only",
)
MB = 1024 * 1024


class WriteOnlyBook:
    """`bot.export._Book`'s interface over an openpyxl write-only workbook (rows in order)."""

    def __init__(self, generated_at: datetime, *, title: str = "") -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        from bot import export as ex

        self._ex = ex
        self._wb = Workbook(write_only=True)
        created = generated_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        self._wb.properties.created = created
        self._wb.properties.modified = created
        self._wb.properties.creator = ex.CREATOR
        self._wb.properties.lastModifiedBy = ex.CREATOR
        if title:
            self._wb.properties.title = title
        self._styles: dict[str, dict[str, Any]] = {
            "": {},
            "header": {
                "font": Font(name="Calibri", size=11, bold=True),
                "fill": PatternFill("solid", start_color="FFE7E6E6", end_color="FFE7E6E6"),
                "border": Border(bottom=Side(style="thin", color="FF808080")),
                "alignment": Alignment(wrap_text=True, vertical="top"),
            },
            "code": {
                "font": Font(name="Calibri", size=11, color="FF595959"),
                "alignment": Alignment(horizontal="center"),
            },
            "center": {"alignment": Alignment(horizontal="center")},
            "key": {"font": Font(name="Calibri", size=11, bold=True)},
            "left": {"alignment": Alignment(horizontal="left")},
            "note": {"alignment": Alignment(wrap_text=True, vertical="top")},
        }
        self._templates: dict[tuple[str, bool, bool], Any] = {}
        self._pending: dict[int, tuple[Any, int, dict[int, Any]]] = {}
        self._written: dict[int, int] = {}

    def sheet(self, name: str) -> Any:
        return self._wb.create_sheet(name)

    def _cell(self, ws: Any, value: Any, style: str, *, date: bool, quote: bool) -> Any:
        from openpyxl.cell import WriteOnlyCell

        key = (style, date, quote)
        template: Any = self._templates.get(key)
        if template is None:
            template = WriteOnlyCell(ws)
            for attr, obj in self._styles[style].items():
                setattr(template, attr, obj)
            if date:
                template.number_format = self._ex.DATETIME_FORMAT
            if quote:
                template.quotePrefix = True
            self._templates[key] = template
        cell: Any = WriteOnlyCell(ws, value)
        if key != ("", False, False):
            cell._style = copy.copy(template._style)
        if quote:
            cell.data_type = "s"
        return cell

    def _value(self, ws: Any, value: Any, style: str) -> Any:
        if isinstance(value, str):
            value = self._ex._clean(value)
            quote = value.startswith(self._ex.FORMULA_TRIGGERS)
            if quote or style:
                return self._cell(ws, value, style, date=False, quote=quote)
            return value
        if isinstance(value, datetime):
            return self._cell(ws, value, style, date=True, quote=False)
        if style:
            return self._cell(ws, value, style, date=False, quote=False)
        return value

    def column_width(self, ws: Any, col: int, width: float) -> None:
        from openpyxl.utils import get_column_letter

        ws.column_dimensions[get_column_letter(col + 1)].width = width

    def row_height(self, ws: Any, row: int, height: float) -> None:
        ws.row_dimensions[row + 1].height = height

    def _flush(self, ws: Any, before: int) -> None:
        pending = self._pending.get(id(ws))
        if pending is None or pending[1] >= before:
            return
        _, row, cells = self._pending.pop(id(ws))
        done = self._written.get(id(ws), 0)
        for _ in range(done, row):
            ws.append([])
        width = max(cells, default=-1) + 1
        ws.append([cells.get(c) for c in range(width)])
        self._written[id(ws)] = row + 1

    def put(self, ws: Any, row: int, col: int, value: Any, style: str = "") -> None:
        if value is None:
            return
        self._flush(ws, row)
        pending = self._pending.setdefault(id(ws), (ws, row, {}))
        pending[2][col] = self._value(ws, value, style)

    def merge(
        self, ws: Any, row: int, first_col: int, last_col: int, text: str, style: str
    ) -> None:
        from openpyxl.utils import get_column_letter

        self.put(ws, row, first_col, text, style)
        first, last = get_column_letter(first_col + 1), get_column_letter(last_col + 1)
        ws.merged_cells.add(f"{first}{row + 1}:{last}{row + 1}")

    def table(
        self,
        name: str,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        widths: Sequence[float],
        styles: Sequence[str],
        *,
        freeze_col: int,
        styled_blanks: AbstractSet[int] = frozenset(),
    ) -> None:
        from openpyxl.utils import get_column_letter

        ex = self._ex
        ws = self.sheet(name)
        for col, width in enumerate(widths):
            self.column_width(ws, col, width)
        lines = max([ex._line_count(h, w) for h, w in zip(headers, widths, strict=True)], default=1)
        self.row_height(ws, 0, ex.HEADER_LINE_PT * min(max(lines, 1), ex.MAX_HEADER_LINES))
        ws.freeze_panes = f"{get_column_letter(freeze_col + 1)}2"
        if headers:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"
        ws.append([self._value(ws, h, "header") for h in headers])
        value = self._value
        for row in rows:
            ws.append(
                [
                    None
                    if v is None and col not in styled_blanks
                    else value(ws, v, styles[col])
                    if v is not None
                    else self._cell(ws, None, styles[col], date=False, quote=False)
                    for col, v in enumerate(row)
                ]
            )
        self._written[id(ws)] = len(rows) + 1

    def close(self) -> bytes:
        import io
        import zipfile

        from openpyxl.writer.excel import ExcelWriter

        for ws, row, _ in list(self._pending.values()):
            self._flush(ws, row + 1)
        raw = io.BytesIO()
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            ExcelWriter(self._wb, archive).save()
        return raw.getvalue()


def _vm(field: str) -> int:
    """Return a field of /proc/self/status in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(x for x in f if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def _reset_peak() -> None:
    """Start the kernel's peak RSS (VmHWM) again from the current RSS."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def _warm_up() -> None:
    """Import the writers in the worker, so that the build is timed alone."""
    import openpyxl.writer.excel  # noqa: F401

    import bot.export  # noqa: F401  (and XlsxWriter with it)


def build_once(writer: str, build: Any) -> tuple[float, float, float, int]:
    """Build one workbook with `writer` in this (fresh) process: wall s, CPU s, +peak MB, bytes."""
    from bot import export as ex

    if writer == "openpyxl write-only":
        ex._Book = WriteOnlyBook  # type: ignore[misc, assignment]
    elif writer == "xlsxwriter per-cell calls":
        ex._streams = lambda ws: False
    elif writer == "xlsxwriter shared strings":
        ex.WORKBOOK_OPTIONS["constant_memory"] = False
    _reset_peak()
    before = _vm("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    data = build()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, (_vm("VmHWM") - before) / MB, len(data)


async def _answers_export(participants: int) -> Any:
    with tempfile.TemporaryDirectory(prefix="bench-xlsx-") as tmp:
        store = await open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            svc = make_services(store, load_content(CONTENT_DIR), FakeClock(CLOCK_NOW))
            workshop = await simulate_workshop(svc, participants=participants, seed=7)
            lang = svc.i18n.pick(workshop.language)
            (event,) = await export_events(svc, workshop, lang, "xlsx")
        finally:
            await store.close()
    assert isinstance(event, SendDocument)
    return event.build


def main(argv: Sequence[str] | None = None) -> None:
    """Build the answers workbook with each writer and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.xlsx_writers")
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="30 participants, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.participants, args.runs = 30, 1
    try:
        lxml = metadata.version("lxml")
    except metadata.PackageNotFoundError:
        lxml = "not installed"
    print(
        f"Machine: python {sys.version.split()[0]}, xlsxwriter {metadata.version('xlsxwriter')},"
        f" openpyxl {metadata.version('openpyxl')}, lxml: {lxml}, {os.cpu_count()} CPUs,"
        " load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        flush=True,
    )
    build = asyncio.run(_answers_export(args.participants))
    print(f"answers workbook of {args.participants} participants; each build in a fresh process")
    print(f"  {'writer':<28} {'run':>3} {'wall s':>7} {'CPU s':>6} {'+peak MB':>8} {'KB':>6}  load")
    spawn = multiprocessing.get_context("spawn")
    figures: dict[str, list[tuple[float, float, float, int]]] = {w: [] for w in WRITERS}
    for run in range(1, args.runs + 1):
        for writer in WRITERS:
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                # Import first, so that neither the import nor the spawn is timed.
                pool.submit(_warm_up).result()
                result = pool.submit(build_once, writer, build).result()
            figures[writer].append(result)
            wall, cpu, peak, size = result
            load = os.getloadavg()[0]
            print(
                f"  {writer:<28} {run:>3} {wall:>7.2f} {cpu:>6.2f} {peak:>8.1f}"
                f" {size / 1024:>6.0f}  {load:.2f}",
                flush=True,
            )
    print("medians:")
    for writer, runs in figures.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = statistics.median(r[2] for r in runs)
        print(f"  {writer:<28} wall {wall:.2f} s, CPU {cpu:.2f} s, peak +{peak:.1f} MB")
    print("load average at the end {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
