"""Exports: build a small workshop, read the XLSX and CSV back, compare with hand-made values."""

from __future__ import annotations

import csv
import io
import pickle
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.export import (
    DATETIME_FORMAT,
    ExportLabels,
    ExportQuestion,
    ExportRow,
    ExportSheet,
    Table,
    build_csv,
    build_tables_xlsx,
    build_xlsx,
    export_filename,
    sheet_name,
)

TZ = ZoneInfo("America/La_Paz")  # UTC-4 all year
GENERATED = datetime(2023, 11, 29, 1, 30, 15, tzinfo=UTC)  # 28 Nov, 21:30 in La Paz
SACABA = "Gobierno Autónomo Municipal de Sacaba"
USEFUL = "¿Qué fue lo más útil?"
NOTE = "Los participantes aparecen con seudónimos (P001…), nunca con su nombre."

LABELS = ExportLabels(
    participant="Participante",
    institution="Institución",
    submitted_at="Enviado",
    questionnaire="Cuestionario",
    question="Pregunta",
    question_text="Texto de la pregunta",
    answer_code="código",
    answer_label="Respuesta",
    answered_at="Respondida",
    long_sheet="Respuestas",
    about_sheet="Acerca de",
    workshop="Taller",
    generated="Generado",
    timezone="Zona horaria",
    skipped="(omitida)",
    yes="Sí",
    no="No",
    pseudonymous_note=NOTE,
)

AGREEMENT = {
    "5": "Totalmente de acuerdo",
    "4": "De acuerdo",
    "3": "Ni de acuerdo ni en desacuerdo",
    "2": "En desacuerdo",
    "1": "Totalmente en desacuerdo",
    "na": "No sé / No aplica",
}
LEA_1 = "Nuestros líderes políticos apoyan las inversiones en gobierno digital."
LEA_2 = "Existe una estrategia de gobierno digital aprobada."


def utc(day: int, hour: int, minute: int) -> datetime:
    return datetime(2023, 11, day, hour, minute, tzinfo=UTC)


DGCA = ExportSheet(
    questionnaire_id="dgca",
    title="DGCA",
    questions=[
        ExportQuestion("lea_1", LEA_1, "Liderazgo", AGREEMENT),
        ExportQuestion("lea_2", LEA_2, "Liderazgo", AGREEMENT),
    ],
    rows=[
        ExportRow(
            participant="P001",
            institution=SACABA,
            submitted_at=utc(28, 14, 5),
            answers={"lea_1": "5", "lea_2": "na"},
            answered_at={"lea_1": utc(28, 14, 1), "lea_2": utc(28, 14, 4)},
        ),
        # Not submitted yet, no institution given, one of two questions answered.
        ExportRow(
            participant="P002",
            institution=None,
            submitted_at=None,
            answers={"lea_1": "3"},
            answered_at={"lea_1": utc(28, 15, 0)},
        ),
    ],
)

EVALUATION = ExportSheet(
    questionnaire_id="evaluation",
    # Colons and brackets are not allowed in Excel sheet names.
    title="Evaluación: taller [final]",
    questions=[
        ExportQuestion(
            "q_topics",
            "¿Qué temas le interesaron?",
            "Contenidos",
            {"gov": "Gobernanza", "data": "Datos abiertos", "svc": "Servicios en línea"},
        ),
        ExportQuestion("q_useful", USEFUL, "Comentarios", {}),
        ExportQuestion(
            "q_overall", "En general, el taller fue…", "General", {"5": "Muy bueno", "4": "Bueno"}
        ),
    ],
    rows=[
        ExportRow(
            participant="P001",
            institution=SACABA,
            # 02:10 UTC on the 29th is still the 28th in La Paz.
            submitted_at=datetime(2023, 11, 29, 2, 10, tzinfo=UTC),
            answers={"q_topics": ["gov", "data"], "q_useful": "=SUM(A1)", "q_overall": []},
            answered_at={
                "q_topics": datetime(2023, 11, 29, 2, 0, tzinfo=UTC),
                "q_useful": datetime(2023, 11, 29, 2, 5, tzinfo=UTC),
                "q_overall": datetime(2023, 11, 29, 2, 9, tzinfo=UTC),
            },
        ),
        ExportRow(
            participant="P003",
            institution="Alcaldía de Quillacollo",
            submitted_at=None,
            # An answer given in another offset must land in La Paz time too.
            answers={"q_topics": ["svc"], "q_useful": "Ver cómo se diseña un trámite"},
            answered_at={
                "q_topics": datetime(2023, 11, 28, 16, 0, tzinfo=timezone(timedelta(hours=-3))),
            },
        ),
    ],
)

SHEETS = [DGCA, EVALUATION]
EVAL_NAME = "Evaluación taller final"


def make_xlsx(sheets: list[ExportSheet] | None = None) -> bytes:
    return build_xlsx(
        SHEETS if sheets is None else sheets,
        LABELS,
        workshop="Taller Cochabamba 2023",
        generated_at=GENERATED,
        tz=TZ,
    )


def rows_of(ws: Worksheet) -> list[tuple[object, ...]]:
    return list(ws.iter_rows(values_only=True))


@pytest.fixture(scope="module")
def xlsx() -> bytes:
    return make_xlsx()


@pytest.fixture(scope="module")
def book(xlsx: bytes):
    return load_workbook(io.BytesIO(xlsx))


def test_sheets_in_order_with_excel_safe_names(book) -> None:
    assert book.sheetnames == ["DGCA", EVAL_NAME, "Respuestas", "Acerca de"]
    assert book.active.title == "DGCA"


def test_wide_sheet_headers_have_code_and_label_per_question(book) -> None:
    header = rows_of(book["DGCA"])[0]
    assert header == (
        "Participante",
        "Institución",
        "Enviado (America/La_Paz)",
        "lea_1 (código)",
        f"lea_1 {LEA_1}",
        "lea_2 (código)",
        f"lea_2 {LEA_2}",
    )
    assert rows_of(book[EVAL_NAME])[0][3:] == (
        "q_topics (código)",
        "q_topics ¿Qué temas le interesaron?",
        "q_useful (código)",
        f"q_useful {USEFUL}",
        "q_overall (código)",
        "q_overall En general, el taller fue…",
    )


def test_wide_sheet_values_codes_labels_and_local_times(book) -> None:
    dgca = rows_of(book["DGCA"])[1:]
    assert dgca == [
        # 14:05 UTC is 10:05 in La Paz; numeric codes are numbers, "na" stays text.
        (
            "P001",
            SACABA,
            datetime(2023, 11, 28, 10, 5),
            5,
            "Totalmente de acuerdo",
            "na",
            "No sé / No aplica",
        ),
        ("P002", None, None, 3, "Ni de acuerdo ni en desacuerdo", None, None),
    ]
    evaluation = rows_of(book[EVAL_NAME])[1:]
    assert evaluation == [
        (
            "P001",
            SACABA,
            datetime(2023, 11, 28, 22, 10),
            "gov; data",
            "Gobernanza; Datos abiertos",
            None,
            "=SUM(A1)",
            None,
            "(omitida)",
        ),
        (
            "P003",
            "Alcaldía de Quillacollo",
            None,
            "svc",
            "Servicios en línea",
            None,
            "Ver cómo se diseña un trámite",
            None,
            None,
        ),
    ]


def test_datetimes_are_naive_excel_dates_with_a_number_format(book) -> None:
    cell = book["DGCA"]["C2"]
    assert cell.is_date
    assert cell.value.tzinfo is None
    assert cell.number_format == DATETIME_FORMAT


def test_wide_sheet_layout(book) -> None:
    ws = book["DGCA"]
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref == "A1:G3"
    assert ws["E1"].alignment.wrap_text
    assert ws["A1"].font.bold
    assert ws.row_dimensions[1].height >= 30
    widths = [ws.column_dimensions[c].width for c in "ABCDEFG"]
    assert all(8 <= w <= 45 for w in widths)
    assert widths[1] >= len(SACABA)
    assert book[EVAL_NAME].auto_filter.ref == "A1:I3"


def test_formula_typed_by_a_participant_stays_text(xlsx: bytes, book) -> None:
    cell = book[EVAL_NAME]["G2"]
    assert cell.value == "=SUM(A1)"
    assert cell.data_type == "s"
    assert cell.quotePrefix
    long_cell = next(c for c in book["Respuestas"]["G"] if c.value == "=SUM(A1)")
    assert long_cell.data_type == "s"
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name)


def test_long_sheet_has_one_row_per_answer(book) -> None:
    ws = book["Respuestas"]
    rows = rows_of(ws)
    assert rows[0] == (
        "Participante",
        "Institución",
        "Cuestionario",
        "Pregunta",
        "Texto de la pregunta",
        "código",
        "Respuesta",
        "Respondida (America/La_Paz)",
    )
    # DGCA: P001 two answers + P002 one; evaluation: P001 three (one skipped) + P003 two.
    assert len(rows) - 1 == 2 + 1 + 3 + 2
    assert rows[1:] == [
        ("P001", SACABA, "dgca", "lea_1", LEA_1, 5, "Totalmente de acuerdo",
         datetime(2023, 11, 28, 10, 1)),
        ("P001", SACABA, "dgca", "lea_2", LEA_2, "na", "No sé / No aplica",
         datetime(2023, 11, 28, 10, 4)),
        ("P002", None, "dgca", "lea_1", LEA_1, 3, "Ni de acuerdo ni en desacuerdo",
         datetime(2023, 11, 28, 11, 0)),
        ("P001", SACABA, "evaluation", "q_topics", "¿Qué temas le interesaron?", "gov; data",
         "Gobernanza; Datos abiertos", datetime(2023, 11, 28, 22, 0)),
        ("P001", SACABA, "evaluation", "q_useful", USEFUL, None, "=SUM(A1)",
         datetime(2023, 11, 28, 22, 5)),
        ("P001", SACABA, "evaluation", "q_overall", "En general, el taller fue…", None,
         "(omitida)", datetime(2023, 11, 28, 22, 9)),
        ("P003", "Alcaldía de Quillacollo", "evaluation", "q_topics",
         "¿Qué temas le interesaron?", "svc", "Servicios en línea", datetime(2023, 11, 28, 15, 0)),
        ("P003", "Alcaldía de Quillacollo", "evaluation", "q_useful", USEFUL, None,
         "Ver cómo se diseña un trámite", None),
    ]  # fmt: skip
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H9"
    assert ws["H2"].number_format == DATETIME_FORMAT


def test_about_sheet(book) -> None:
    rows = rows_of(book["Acerca de"])
    assert rows[:3] == [
        ("Taller", "Taller Cochabamba 2023"),
        ("Generado", datetime(2023, 11, 28, 21, 30, 15)),
        ("Zona horaria", "America/La_Paz"),
    ]
    assert rows[4][0] == NOTE
    assert book["Acerca de"]["B2"].number_format == DATETIME_FORMAT


def test_xlsx_is_deterministic_and_carries_no_clock(xlsx: bytes, book) -> None:
    assert make_xlsx() == xlsx
    assert book.properties.created == datetime(2023, 11, 29, 1, 30, 15)
    assert book.properties.modified == datetime(2023, 11, 29, 1, 30, 15)
    # XlsxWriter dates every zip entry 1980-01-31, whenever the workbook is built.
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 31, 0, 0, 0)}


def test_xlsx_without_questionnaires_still_has_long_and_about_sheets() -> None:
    book = load_workbook(io.BytesIO(make_xlsx([])))
    assert book.sheetnames == ["Respuestas", "Acerca de"]
    assert book["Respuestas"].max_row == 1


def test_control_characters_are_dropped_and_names_deduplicated() -> None:
    row = ExportRow("P009", "Sacaba\x07", None, {"q_useful": "hola\x00 mundo\nbis"}, {})
    sheet = ExportSheet("evaluation", "Respuestas", [EVALUATION.questions[1]], [row])
    book = load_workbook(io.BytesIO(make_xlsx([sheet])))
    # The questionnaire took "Respuestas" first, so the long sheet gets a suffix.
    assert book.sheetnames == ["Respuestas", "Respuestas (2)", "Acerca de"]
    assert rows_of(book["Respuestas"])[1] == ("P009", "Sacaba", None, None, "hola mundo\nbis")


def test_naive_datetimes_are_refused() -> None:
    row = ExportRow("P001", None, datetime(2023, 11, 28, 10, 0), {}, {})
    with pytest.raises(ValueError, match="naive"):
        make_xlsx([ExportSheet("dgca", "DGCA", [], [row])])


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_is_the_long_format_with_bom_and_crlf() -> None:
    data = build_csv(SHEETS, LABELS, tz=TZ)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 9
    assert data.count(b"\n") == 9
    rows = read_csv(data)
    assert rows[0] == [
        "Participante",
        "Institución",
        "Cuestionario",
        "Pregunta",
        "Texto de la pregunta",
        "código",
        "Respuesta",
        "Respondida (America/La_Paz)",
    ]
    assert len(rows) == 9
    assert rows[1] == [
        "P001",
        SACABA,
        "dgca",
        "lea_1",
        LEA_1,
        "5",
        "Totalmente de acuerdo",
        "2023-11-28 10:01:00",
    ]
    assert rows[3][1] == ""
    assert rows[4][5:7] == ["gov; data", "Gobernanza; Datos abiertos"]
    # The leading apostrophe keeps Excel from running the formula.
    assert rows[5][4:8] == [USEFUL, "", "'=SUM(A1)", "2023-11-28 22:05:00"]
    assert rows[6][5:7] == ["", "(omitida)"]
    assert rows[8][6:] == ["Ver cómo se diseña un trámite", ""]
    assert build_csv(SHEETS, LABELS, tz=TZ) == data


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    text = 'Dijo "sí", y luego\notra línea'
    for prefix in "+-@":
        row = ExportRow("P004", None, None, {"q_useful": prefix + text}, {})
        sheet = ExportSheet("evaluation", "E", [EVALUATION.questions[1]], [row])
        rows = read_csv(build_csv([sheet], LABELS, tz=TZ))
        assert rows[1][6] == "'" + prefix + text


@pytest.mark.parametrize(
    ("title", "taken", "expected"),
    [
        ("DGCA", set(), "DGCA"),
        ("a/b\\c?d*e[f]g:h", set(), "a b c d e f g h"),
        ("Evaluación de Capacidades de Gobierno Digital", set(), "Evaluación de Capacidades de Go"),
        ("dgca", {"dgca"}, "dgca (2)"),
        ("DGCA", {"dgca", "dgca (2)"}, "DGCA (3)"),
        ("x" * 40, {"x" * 31}, "x" * 27 + " (2)"),
        ("'Resumen'", set(), "Resumen"),
        ("History", set(), "History (2)"),
        ("???", set(), "fallback"),
        ("📊" * 20, set(), "📊" * 15),
    ],
)
def test_sheet_name(title: str, taken: set[str], expected: str) -> None:
    assert sheet_name(title, taken, fallback="fallback") == expected


def test_export_filename() -> None:
    name = export_filename("dgca", "cochabamba-2023", date(2023, 11, 28), "xlsx")
    assert name == "dgca-cochabamba-2023-2023-11-28.xlsx"
    with pytest.raises(ValueError):
        export_filename("dgca", "../etc", date(2023, 11, 28), "xlsx")


TABLES = [
    Table(
        "Planes: 2023",
        ["Id", "Título", "Creado"],
        [
            [1, '=HYPERLINK("x")', datetime(2023, 11, 28, 14, 5, tzinfo=UTC)],
            [2, "Trámites\x07 en línea", None],
        ],
    ),
    Table("Pasos", ["Id", "Acción"], []),
]


def make_tables_xlsx() -> bytes:
    return build_tables_xlsx(TABLES, generated_at=GENERATED, tz=TZ)


def test_tables_workbook_values_layout_and_safe_cells() -> None:
    data = make_tables_xlsx()
    assert make_tables_xlsx() == data
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Planes 2023", "Pasos"]
    ws = book["Planes 2023"]
    assert rows_of(ws) == [
        ("Id", "Título", "Creado"),
        (1, '=HYPERLINK("x")', datetime(2023, 11, 28, 10, 5)),
        (2, "Trámites en línea", None),
    ]
    assert ws["B2"].data_type == "s" and ws["B2"].quotePrefix
    assert ws["C2"].number_format == DATETIME_FORMAT
    assert ws["A1"].font.bold and ws["A1"].alignment.wrap_text
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C3"
    assert all(8 <= ws.column_dimensions[c].width <= 60 for c in "ABC")
    assert book["Pasos"].auto_filter.ref == "A1:B1"
    assert book.properties.created == datetime(2023, 11, 29, 1, 30, 15)


def test_rows_reach_the_worker_process_intact() -> None:
    # Rows are pickled in slices (bot.export._pack) so the event loop runs in between.
    rows = [ExportRow(f"P{i:03d}", None, None, {"q": str(i)}, {}) for i in range(120)]
    sheet = ExportSheet("dgca", "DGCA", DGCA.questions, rows)
    assert pickle.loads(pickle.dumps(sheet)) == sheet
    assert pickle.loads(pickle.dumps(TABLES)) == TABLES


# Rows are written as XML by bot.export itself (`_Book._stream_rows`), with XlsxWriter's own
# per-cell calls (`_Book._cell_rows`) as the reference: both must make the same bytes.

TRICKY_TEXTS = [
    "plain",
    "",
    "=SUM(A1)",
    "+591 700",
    "-5",
    "@mention",
    "\tleading tab",
    " leading space",
    "trailing space ",
    "\u00a0no-break space",
    "line\nbreak",
    "windows\r\nline",
    "_x0041_ looks like an escape",
    "x_x00e9_y",
    "<b>&amp; \"quoted\" & 'single'</b>",
    "non\ufffecharacters\uffff",
    "bell\x07 and nul\x00",
    "Gobierno Autónomo 📊",
    "a" * 40_000,
    "📊" * 16_384 + "tail",
]


def _both_ways(build: object, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    from bot import export

    assert callable(build)
    streamed = build()
    with monkeypatch.context() as patched:
        patched.setattr(export, "_streams", lambda ws: False)
        per_cell = build()
    return streamed, per_cell


def _differing_parts(a: bytes, b: bytes) -> list[str]:
    left, right = zipfile.ZipFile(io.BytesIO(a)), zipfile.ZipFile(io.BytesIO(b))
    assert left.namelist() == right.namelist()
    return [name for name in left.namelist() if left.read(name) != right.read(name)]


def test_streamed_rows_are_the_bytes_xlsxwriter_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.export import _Book

    rows: list[list[object]] = [
        [n, text, None, datetime(2023, 11, 28, 10, 5, 30, 123456)]
        for n, text in enumerate(TRICKY_TEXTS)
    ]
    rows += [
        [0, -5, 2**53 - 1, 2**53],
        [10**16, 10**20, -(2**60), 1.5],
        [1e-7, 1e20, 0.1 + 0.2, -0.0],
        [True, False, None, datetime(1900, 1, 1)],
        [None, None, None, None],  # nothing to write: no row at all
        [datetime(1900, 2, 28), datetime(1900, 3, 1), None, datetime(2100, 12, 31, 23, 59, 59)],
    ]

    madrid = ZoneInfo("Europe/Madrid")
    spring = datetime(2024, 3, 31, 0, 59, 59, 999_999, tzinfo=UTC)  # the clocks go forward
    aware = [
        [1, spring, spring + timedelta(microseconds=1), None],
        [2, datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 30, tzinfo=UTC)],
        [3, datetime(2023, 11, 28, 16, 0, tzinfo=timezone(timedelta(hours=-3))), None, None],
    ]

    def build() -> bytes:
        book = _Book(GENERATED, title="t")
        for name, styles in (("A", ["", "code", "center", ""]), ("B", ["", "", "", "code"])):
            book.table(
                name,
                ["n", "text", "blank", "when"],
                rows,  # type: ignore[arg-type]
                [10, 20, 10, 18],
                styles,
                freeze_col=1,
                styled_blanks={2},
            )
        book.table(
            "C",
            ["n", "a", "b", "c"],
            aware,  # type: ignore[arg-type]
            [10] * 4,
            [""] * 4,
            freeze_col=0,
            tz=madrid,
        )
        return book.close()

    from bot import export

    probe = _Book(GENERATED)
    sheet = probe.sheet("probe")
    probe.put(sheet, 0, 0, "header")
    assert export._streams(sheet), "XlsxWriter's internals changed: rows go cell by cell"
    streamed, per_cell = _both_ways(build, monkeypatch)
    assert _differing_parts(streamed, per_cell) == []
    assert streamed == per_cell
    ws = load_workbook(io.BytesIO(streamed))["A"]
    # Excel's limit is 32,767 UTF-16 units a cell; an emoji is never cut in half.
    assert ws["B20"].value == "a" * 32_767
    assert ws["B21"].value == "📊" * 16_383
    assert [r[1] for r in rows_of(ws)[1:8]] == TRICKY_TEXTS[:7]
    assert ws["B4"].quotePrefix and ws["B4"].data_type == "s"
    local = list(load_workbook(io.BytesIO(streamed))["C"].iter_rows(min_row=2, values_only=True))
    assert local[0][1:3] == (datetime(2024, 3, 31, 1, 59, 59), datetime(2024, 3, 31, 3, 0))
    assert local[1][1:3] == (datetime(2024, 10, 27, 2, 30), datetime(2024, 10, 27, 2, 30))
    assert local[2][1] == datetime(2023, 11, 28, 20, 0)


def test_streamed_workbooks_match_the_per_cell_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _both_ways(make_xlsx, monkeypatch)[0] == _both_ways(make_xlsx, monkeypatch)[1]
    streamed, per_cell = _both_ways(make_tables_xlsx, monkeypatch)
    assert streamed == per_cell


def test_text_shaped_like_rich_text_stays_plain_text() -> None:
    # XlsxWriter writes a string that starts with "<r>" and ends with "</r>" as raw rich-text
    # XML; a participant's answer must not be able to inject markup, so it is escaped here.
    table = Table("T", ["Nota"], [["<r><t>x</t></r>"], ["<r>oops</r>"]])
    data = build_tables_xlsx([table], generated_at=GENERATED, tz=TZ)
    assert rows_of(load_workbook(io.BytesIO(data))["T"]) == [
        ("Nota",),
        ("<r><t>x</t></r>",),
        ("<r>oops</r>",),
    ]


def test_pack_rows_round_trip() -> None:
    from bot.export import ROWS_PER_SLICE, pack_rows, unpack_rows

    when = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(n, f"row {n}", when) for n in range(2 * ROWS_PER_SLICE + 3)]
    slices = pack_rows(iter(rows))
    assert len(slices) == 3
    assert unpack_rows(slices) == rows
    assert pack_rows([]) == []


def test_the_collector_pauses_during_a_build_and_resumes() -> None:
    import gc

    from bot.export import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer build is still running
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the build failed")
    assert gc.isenabled()
    make_tables_xlsx()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "a collector someone else turned off stays off"
    finally:
        gc.enable()
