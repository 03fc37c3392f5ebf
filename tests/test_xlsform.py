"""XLSForm import and export: what the engine runs comes in whole, the rest is named and refused."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from pyxform.xls2xform import convert  # type: ignore[import-untyped]

from bot.content import QuestionType, load_questionnaire
from bot.flows.forms import visible_slots
from bot.xlsform import Problem, XLSFormError, export_xlsform, import_xlsform, language_column

ROOT = Path(__file__).resolve().parent.parent
QUESTIONNAIRES = ROOT / "content" / "questionnaires"

ES, EN = "label::Español (es)", "label::English (en)"
SURVEY_HEADER = ["type", "name", ES, EN, "hint::Español (es)", "hint::English (en)"]
SURVEY_HEADER += ["required", "relevant", "constraint", "appearance"]
CHOICES_HEADER = ["list_name", "name", ES, EN, "bot_scale", "bot_score"]
SETTINGS = [
    ["form_title", "bot_title::English (en)", "form_id", "version", "default_language"],
    ["Evaluación del taller", "Workshop evaluation", "evaluation", "2", "Español (es)"],
]


def q(kind: str, name: str, es: str | None, en: str | None, **cols: str) -> list[Any]:
    """Return one survey row, in SURVEY_HEADER's columns."""
    row: list[Any] = [kind, name, es, en, cols.get("hint_es"), cols.get("hint_en")]
    return row + [cols.get(c) for c in ("required", "relevant", "constraint", "appearance")]


def workbook(
    survey: list[list[Any]],
    choices: list[list[Any]] | None = None,
    settings: list[list[Any]] | None = None,
    *,
    survey_header: list[str] | None = None,
) -> bytes:
    """Build an XLSForm workbook in memory, as a survey designer would save it."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    sheet.append(survey_header or SURVEY_HEADER)
    for row in survey:
        sheet.append(row)
    if choices is not None:
        sheet = book.create_sheet("choices")
        sheet.append(CHOICES_HEADER)
        for row in choices:
            sheet.append(row)
    sheet = book.create_sheet("settings")
    for row in settings if settings is not None else SETTINGS:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


QUALITY = [
    ["quality", "5", "Muy bueno", "Very good", "quality", None],
    ["quality", "4", "Bueno", "Good", None, None],
    ["quality", "3", "Regular", "Fair", None, None],
    ["quality", "2", "Malo", "Poor", None, None],
    ["quality", "1", "Muy malo", "Very poor", None, None],
]
AGREEMENT = [
    ["agreement", "5", "Totalmente de acuerdo", "Strongly agree", "agreement", None],
    ["agreement", "4", "De acuerdo", "Agree", "agreement", None],
    ["agreement", "2", "En desacuerdo", "Disagree", "agreement", None],
    ["agreement", "1", "Totalmente en desacuerdo", "Strongly disagree", "agreement", None],
    ["agreement", "na", "No sé", "Don't know", "agreement", None],
]
TOPICS = [
    ["topics", "data", "Datos", "Data", None, None],
    ["topics", "serv", "Servicios", "Services", None, None],
    ["topics", "other", "Otro", "Other", None, None],
]


def seed_evaluation() -> bytes:
    """The seed evaluation as a survey designer writes it in Kobo, with the bot's columns."""
    survey = [
        q("start", "start", None, None),
        q("end", "end", None, None),
        q("note", "welcome", "Esta evaluación toma 5 minutos.", "This takes 5 minutes."),
        q("begin_group", "facilitation", "La facilitación", "Facilitation"),
        q(
            "select_one quality",
            "q_facilitation",
            "Calidad general de la facilitación",
            "Overall quality of the facilitation",
            required="yes",
        ),
        q("end_group", "", None, None),
        q("begin_group", "learning", "Aprendizajes", "Learning"),
        q(
            "select_one agreement",
            "q_understanding",
            "He aumentado mi comprensión.",
            "I have increased my understanding.",
            hint_es="Piense en los temas principales.",
            hint_en="Think of the main topics.",
            required="yes",
        ),
        q(
            "select_multiple topics",
            "q_topics",
            "¿Qué temas le sirvieron?",
            "Which topics helped you?",
            required="yes",
            constraint="count-selected(.) <= 2",
        ),
        q(
            "text",
            "q_other",
            "¿Qué otro tema?",
            "Which other topic?",
            relevant="selected(${q_topics}, 'other')",
            constraint="string-length(.) >= 2 and string-length(.) <= 200",
        ),
        q(
            "integer",
            "q_nps",
            "¿Recomendaría el taller? (0 a 10)",
            "Would you recommend the workshop? (0 to 10)",
            required="yes",
            constraint=". >= 0 and . <= 10",
        ),
        q(
            "text",
            "q_why",
            "¿Por qué tan poco?",
            "Why so little?",
            relevant="${q_nps} <= 6",
            appearance="multiline",
        ),
        q("end_group", "", None, None),
    ]
    return workbook(survey, QUALITY + AGREEMENT + TOPICS)


def where(error: XLSFormError) -> set[tuple[str, int | None, str | None]]:
    return {(p.sheet, p.row, p.column) for p in error.problems}


def refused(data: bytes) -> XLSFormError:
    with pytest.raises(XLSFormError) as caught:
        import_xlsform(data)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("name", ["evaluation", "dgca"])
def test_a_shipped_questionnaire_exports_and_imports_back_the_same(name: str) -> None:
    original = load_questionnaire(QUESTIONNAIRES / f"{name}.yaml")
    imported = import_xlsform(export_xlsform(original))
    assert imported.questionnaire == original
    assert imported.warnings == []


@pytest.mark.parametrize("name", ["evaluation", "dgca"])
def test_the_export_is_a_form_kobo_converts(name: str) -> None:
    original = load_questionnaire(QUESTIONNAIRES / f"{name}.yaml")
    result = convert(export_xlsform(original), validate=False)
    assert 'lang="Español (es)"' in result.xform
    assert 'lang="English (en)"' in result.xform
    assert result.warnings == []


def test_the_export_writes_what_a_designer_reads(tmp_path: Path) -> None:
    evaluation = load_questionnaire(QUESTIONNAIRES / "evaluation.yaml")
    book = load_workbook(io.BytesIO(export_xlsform(evaluation)))
    assert book.sheetnames == ["survey", "choices", "settings"]
    survey = [[c.value for c in row] for row in book["survey"].iter_rows()]
    header = survey[0]
    # One label column per language the bot speaks, and the questionnaire is written in.
    assert header[:5] == ["type", "name", ES, EN, "label::Português (pt)"]
    assert survey[1][:2] == ["note", "intro"]
    assert survey[2][:2] == ["begin_group", "facilitation"]
    useful = dict(zip(header, next(row for row in survey if row[1] == "open_useful"), strict=True))
    assert useful["type"] == "text" and useful["required"] == "yes"
    assert useful["constraint"] == "string-length(.) >= 2 and string-length(.) <= 1000"
    assert useful["appearance"] == "multiline"
    settings = [[c.value for c in row] for row in book["settings"].iter_rows()]
    assert dict(zip(settings[0], settings[1], strict=True)) == {
        "form_title": "Evaluación del taller",
        "form_id": "evaluation",
        "version": "1",
        "default_language": "Español (es)",
        "bot_title::English (en)": "Workshop evaluation",
        "bot_title::Português (pt)": "Avaliação da oficina",
    }


def test_a_condition_survives_the_round_trip() -> None:
    imported = import_xlsform(seed_evaluation()).questionnaire
    again = import_xlsform(export_xlsform(imported)).questionnaire
    assert again == imported


def test_a_pick_question_is_not_exported() -> None:
    profile = load_questionnaire(QUESTIONNAIRES / "profile.yaml")
    with pytest.raises(XLSFormError) as caught:
        export_xlsform(profile)
    reasons = " ".join(p.reason for p in caught.value.problems)
    assert "question 'institution'" in reasons and "workshop file" in reasons
    assert "question 'name'" in reasons


# ---------------------------------------------------------------------------------------------
# What comes in


def test_the_seed_evaluation_imports_as_the_engine_runs_it(tmp_path: Path) -> None:
    imported = import_xlsform(seed_evaluation())
    form = imported.questionnaire
    assert (form.id, form.version, form.title.en) == ("evaluation", 2, "Workshop evaluation")
    assert form.intro is not None and form.intro.es == "Esta evaluación toma 5 minutos."
    assert [s.id for s in form.sections] == ["facilitation", "learning"]
    types = {slot.question.id: slot.question.type for slot in form.slots()}
    assert types == {
        "q_facilitation": QuestionType.LIKERT,
        "q_understanding": QuestionType.LIKERT,
        "q_topics": QuestionType.MULTI,
        "q_other": QuestionType.TEXT,
        "q_nps": QuestionType.NPS,
        "q_why": QuestionType.TEXT,
    }
    agreement = form.scales["agreement"]
    assert [o.value for o in agreement.options] == [5, 4, 2, 1]
    assert agreement.not_applicable is not None and agreement.not_applicable.code == "na"
    understanding = form.question("q_understanding")
    hinted = "I have increased my understanding.\n\nThink of the main topics."
    assert understanding.text.en == hinted
    topics = form.question("q_topics")
    assert (topics.min_choices, topics.max_choices, topics.optional) == (1, 2, False)
    other = form.question("q_other")
    assert (other.min_length, other.max_length, other.optional) == (2, 200, True)
    assert other.single_line and not form.question("q_why").single_line
    assert other.show_if is not None and other.show_if.any_of == ["other"]
    why = form.question("q_why").show_if
    assert why is not None and why.any_of == [str(i) for i in range(7)]
    # Kobo's automatic start and end rows are left out, with a word.
    assert {(w.row, w.column) for w in imported.warnings} == {(2, "type"), (3, "type")}
    # The YAML file loads through the content validation as the same questionnaire.
    path = tmp_path / "evaluation.yaml"
    path.write_text(imported.yaml_text, encoding="utf-8")
    assert load_questionnaire(path) == form


def test_conditions_show_questions_as_kobo_would() -> None:
    form = import_xlsform(seed_evaluation()).questionnaire
    shown = {s.question.id for s in visible_slots(form, {"q_topics": ["data"], "q_nps": "9"})}
    assert "q_other" not in shown and "q_why" not in shown
    shown = {s.question.id for s in visible_slots(form, {"q_topics": ["other"], "q_nps": "3"})}
    assert {"q_other", "q_why"} <= shown


@pytest.mark.parametrize(
    ("relevant", "any_of"),
    [
        ("${pick} = 'a'", ["a"]),
        ("${pick} = 'a' or ${pick} = 'c'", ["a", "c"]),
        ("${pick}='b' or (selected(${pick}, 'c'))", ["b", "c"]),
        ("${pick} != 'a' and ${pick} != ''", ["b", "c"]),
        ("${pick} != ''", ["a", "b", "c"]),
        ("string-length(${pick}) > 0 and not(${pick} = 'b')", ["a", "c"]),
        # Smart quotes, as a spreadsheet types them, read as Kobo reads them.
        ("${pick} = \u2018c\u2019", ["c"]),
    ],
)
def test_a_relevant_on_a_select_one_becomes_the_options_that_show(
    relevant: str, any_of: list[str]
) -> None:
    choices = [
        ["abc", "a", "A", "A", None, None],
        ["abc", "b", "B", "B", None, None],
        ["abc", "c", "C", "C", None, None],
    ]
    survey = [
        q("select_one abc", "pick", "Elija", "Pick"),
        q("text", "more", "Más", "More", relevant=relevant),
    ]
    form = import_xlsform(workbook(survey, choices)).questionnaire
    show_if = form.question("more").show_if
    assert show_if is not None and show_if.question == "pick"
    assert show_if.any_of == any_of


@pytest.mark.parametrize(
    ("relevant", "any_of"),
    [
        ("${nps} >= 9", ["9", "10"]),
        ("${nps} > 6 and ${nps} < 9", ["7", "8"]),
        ("${nps} = 0 or ${nps} = '10'", ["0", "10"]),
    ],
)
def test_a_relevant_on_a_0_to_10_question_is_a_range(relevant: str, any_of: list[str]) -> None:
    survey = [
        q("range", "nps", "Del 0 al 10", "From 0 to 10"),
        q("text", "more", "Más", "More", relevant=relevant),
    ]
    header = [*SURVEY_HEADER, "parameters"]
    survey[0].append("start=0 end=10 step=1")
    form = import_xlsform(workbook(survey, survey_header=header)).questionnaire
    assert form.question("nps").type is QuestionType.NPS
    show_if = form.question("more").show_if
    assert show_if is not None and show_if.any_of == any_of


def test_a_form_without_groups_is_one_section_named_after_it() -> None:
    survey = [q("text", "name", "Nombre", "Name", required="yes")]
    form = import_xlsform(workbook(survey)).questionnaire
    assert [(s.id, s.title.en) for s in form.sections] == [("evaluation", "Workshop evaluation")]
    assert form.question("name").optional is False


def test_nested_groups_are_sections_and_subsections() -> None:
    survey = [
        q("begin_group", "lead", "Liderazgo", "Leadership"),
        q("begin group", "lead_pol", "Apoyo político", "Political support"),
        q("text", "a", "A", "A"),
        q("end group", "", None, None),
        q("begin_group", "lead_dig", "Liderazgo digital", "Digital leadership"),
        q("text", "b", "B", "B"),
        q("end_group", "", None, None),
        q("end_group", "", None, None),
    ]
    form = import_xlsform(workbook(survey)).questionnaire
    (section,) = form.sections
    assert [(s.id, [x.id for x in s.questions]) for s in section.subsections] == [
        ("lead_pol", ["a"]),
        ("lead_dig", ["b"]),
    ]


@pytest.mark.parametrize(
    "header",
    [
        ["label::Spanish", "label::English"],
        ["label::es", "label::en"],
        ["label::español", "label::English (en-GB)"],
    ],
)
def test_language_columns_are_read_by_name_or_code(header: list[str]) -> None:
    columns = ["type", "name", *header]
    form = import_xlsform(
        workbook([["text", "a", "Hola", "Hello"]], survey_header=columns)
    ).questionnaire
    assert (form.question("a").text.es, form.question("a").text.en) == ("Hola", "Hello")


def test_a_plain_label_is_in_the_default_language() -> None:
    columns = ["type", "name", "label", EN]
    form = import_xlsform(
        workbook([["text", "a", "Hola", "Hello"]], survey_header=columns)
    ).questionnaire
    assert form.question("a").text.es == "Hola"


def test_a_language_the_bot_does_not_speak_is_left_out_with_a_warning() -> None:
    columns = ["type", "name", ES, EN, "label::Français (fr)"]
    imported = import_xlsform(
        workbook([["text", "a", "Hola", "Hello", "Bonjour"]], survey_header=columns)
    )
    why = "not a language the bot speaks; left out"
    left_out = Problem("survey", 1, "label::Français (fr)", why)
    assert left_out in imported.warnings


def test_a_path_gives_the_form_id_when_settings_do_not(tmp_path: Path) -> None:
    settings = [
        ["form_title", "bot_title::English (en)", "default_language"],
        ["Encuesta", "Survey", "Español (es)"],
    ]
    path = tmp_path / "my_survey.xlsx"
    path.write_bytes(workbook([q("text", "a", "A", "A")], settings=settings))
    assert import_xlsform(path).questionnaire.id == "my_survey"
    assert import_xlsform(str(path), form_id="other").questionnaire.id == "other"


def test_bot_settings_travel_in_bot_columns() -> None:
    settings = [[*SETTINGS[0], "bot_progress", "bot_review"], [*SETTINGS[1], "step", "no"]]
    form = import_xlsform(workbook([q("text", "a", "A", "A")], settings=settings)).questionnaire
    assert (form.progress, form.review) == ("step", False)
    again = import_xlsform(export_xlsform(form)).questionnaire
    assert again == form


# ---------------------------------------------------------------------------------------------
# What is refused, and where


def test_a_calculate_row_is_refused_by_sheet_row_and_column() -> None:
    header = [*SURVEY_HEADER, "calculation"]
    survey = [q("text", "a", "A", "A"), [*q("calculate", "total", None, None), "1 + 1"]]
    error = refused(workbook(survey, survey_header=header))
    assert ("survey", 3, "type") in where(error)
    assert ("survey", 3, "calculation") not in where(error)
    assert any("computes no values" in p.reason for p in error.problems)


def test_a_repeat_with_a_count_is_refused_at_its_count() -> None:
    header = [*SURVEY_HEADER, "repeat_count"]
    survey = [
        [*q("begin_repeat", "people", "Personas", "People"), "${n}"],
        q("text", "who", "Quién", "Who"),
        q("end_repeat", "", None, None),
    ]
    error = refused(workbook(survey, survey_header=header))
    assert ("survey", 2, "repeat_count") in where(error)
    assert all(p.row == 2 for p in error.problems)
    assert "repeats" in error.problems[0].reason


def test_a_geopoint_is_refused() -> None:
    error = refused(workbook([q("geopoint", "where", "¿Dónde?", "Where?")]))
    assert error.problems == [
        Problem("survey", 2, "type", "the bot does not collect locations"),
    ]
    assert str(error.problems[0]) == (
        "survey sheet, row 2, column 'type': the bot does not collect locations"
    )


@pytest.mark.parametrize(
    ("relevant", "reason"),
    [
        ("${a} = 'x' and ${b} = 'y'", "exactly one earlier question"),
        ("${b} = 'y'", "not an earlier"),
        ("not(${a} = 'x')", "not answered"),
        ("${a} = 'zz'", "no answer"),
        ("count(${a}) > 1", "count()"),
        ("${t} = 'x'", "not a text"),
        ("${m} = 'x'", "selected(${m}, 'option')"),
        ("${a} = 'x' or", "cannot read 'or'"),
        ("(${a} = 'x'", "not closed"),
    ],
)
def test_a_relevant_the_engine_cannot_run_is_refused(relevant: str, reason: str) -> None:
    choices = [["xy", "x", "X", "X", None, None], ["xy", "y", "Y", "Y", None, None]]
    survey = [
        q("select_one xy", "a", "A", "A"),
        q("select_multiple xy", "m", "M", "M"),
        q("text", "t", "T", "T"),
        q("text", "c", "C", "C", relevant=relevant),
        q("select_one xy", "b", "B", "B"),
    ]
    error = refused(workbook(survey, choices))
    mine = [p for p in error.problems if p.row == 5]
    assert [(p.sheet, p.column) for p in mine] == [("survey", "relevant")]
    assert reason in mine[0].reason


def test_a_missing_label_in_a_required_language_is_refused() -> None:
    choices = [["yn", "y", "Sí", "Yes", None, None], ["yn", "n", "No", None, None, None]]
    survey = [q("select_one yn", "a", "¿Sí?", None)]
    error = refused(workbook(survey, choices))
    assert where(error) == {("survey", 2, EN), ("choices", 3, EN)}
    assert "no English text" in error.problems[0].reason


def test_a_form_in_one_language_is_written_in_that_one() -> None:
    """A form is in the languages of its label columns: Spanish alone is a whole form."""
    columns = ["type", "name", ES]
    form = import_xlsform(workbook([["text", "a", "Hola"]], survey_header=columns)).questionnaire
    assert form.question("a").text.languages() == {"es"}
    assert form.title.languages() == {"es"}


def test_a_choice_list_not_found_is_refused() -> None:
    error = refused(workbook([q("select_one missing", "a", "A", "A")], TOPICS))
    assert error.problems == [
        Problem("survey", 2, "type", "the choice list 'missing' is not on the choices sheet")
    ]


def test_names_and_codes_the_bot_cannot_store_are_refused() -> None:
    choices = [
        ["long", "much_too_long", "A", "A", None, None],
        ["long", "b", "B", "B", None, None],
    ]
    survey = [q("select_one long", "Question_1", "A", "A")]
    error = refused(workbook(survey, choices))
    assert where(error) == {("survey", 2, "name"), ("choices", 2, "name")}


def test_every_problem_is_named_in_one_run() -> None:
    header = [*SURVEY_HEADER, "calculation"]
    survey = [
        [*q("calculate", "total", None, None), "1"],
        q("date", "when", "¿Cuándo?", "When?"),
        q("integer", "age", "Edad", "Age", constraint=". >= 18"),
        q("note", "late", "Nota", "Note"),
        q("text", "a", "A", None),
    ]
    error = refused(workbook(survey, survey_header=header))
    rows = sorted({p.row or 0 for p in error.problems if p.sheet == "survey"})
    assert rows == [2, 3, 4, 5, 6]
    assert ("survey", 4, "constraint") in where(error)


@pytest.mark.parametrize(
    "kind", ["select_one_from_file places.csv", "select_one topics or_other", "rank topics"]
)
def test_selects_the_engine_cannot_run_are_refused(kind: str) -> None:
    error = refused(workbook([q(kind, "a", "A", "A")], TOPICS))
    assert where(error) == {("survey", 2, "type")}
    assert "select_one and select_multiple" in error.problems[0].reason


def test_an_integer_other_than_0_to_10_is_refused() -> None:
    error = refused(workbook([q("integer", "n", "N", "N", constraint=". >= 1 and . <= 5")]))
    assert where(error) == {("survey", 2, "constraint")}
    assert ". >= 0 and . <= 10" in error.problems[0].reason


def test_a_scale_needs_its_not_applicable_last() -> None:
    choices = [
        ["agree", "na", "No sé", "Don't know", "agreement", None],
        ["agree", "1", "Sí", "Yes", None, None],
        ["agree", "0", "No", "No", None, None],
    ]
    error = refused(workbook([q("select_one agree", "a", "A", "A")], choices))
    assert where(error) == {("choices", 3, "name"), ("choices", 4, "name")}


def test_a_question_after_a_subgroup_is_refused() -> None:
    survey = [
        q("begin_group", "s", "S", "S"),
        q("begin_group", "sub", "Sub", "Sub"),
        q("text", "a", "A", "A"),
        q("end_group", "", None, None),
        q("text", "b", "B", "B"),
        q("end_group", "", None, None),
    ]
    error = refused(workbook(survey))
    assert where(error) == {("survey", 6, "type")}
    assert "above row 3" in error.problems[0].reason


def test_a_title_in_every_language_is_required() -> None:
    settings = [["form_title", "form_id", "default_language"], ["Título", "f", "Español (es)"]]
    error = refused(workbook([q("text", "a", "A", "A")], settings=settings))
    assert error.problems == [
        Problem("settings", 2, "bot_title::English (en)", "the form has no English title")
    ]


def test_pyxform_names_what_only_it_checks() -> None:
    # A question type pyxform knows and the bot reads as text would pass our checks; a broken
    # reference inside a label is Kobo's to refuse, and the problem keeps pyxform's words.
    survey = [q("text", "a", "A ${nothing}", "A")]
    error = refused(workbook(survey))
    (problem,) = error.problems
    assert (problem.sheet, problem.row) == ("survey", 2)
    assert "nothing" in problem.reason


def test_an_unreadable_file_is_one_problem() -> None:
    error = refused(b"PK\x03\x04 not really a zip")
    assert len(error.problems) == 1 and error.problems[0].sheet in ("", "survey")


def test_language_column_names_the_language_in_itself() -> None:
    assert language_column("es") == "Español (es)"
    assert language_column("en") == "English (en)"
    assert language_column("pt") == "Português (pt)"
