"""Content files: the DGCA instrument and validation errors that name file and field."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

import bot.content
from bot.cli import main
from bot.content import (
    ContentError,
    Questionnaire,
    WorkshopFile,
    instrument_problems,
    load_content,
    load_questionnaire,
    load_workshop_file,
    parse_model,
    parse_model_with_lines,
    parse_yaml,
)
from tests.support import CONTENT_DIR, DATA

QUOTED = (
    "Nuestros líderes políticos apoyan las inversiones en prioridades de gobierno digital "
    "para nuestro Municipio/Agencia.",
    "Se consultó a los ciudadanos en el desarrollo de la estrategia de gobierno digital de "
    "nuestro Municipio/Agencia.",
)


def test_dgca_has_six_dimensions_with_sub_dimensions(content) -> None:
    dgca: Questionnaire = content.questionnaire("dgca")
    assert [s.id for s in dgca.sections] == [
        "leadership",
        "strategy",
        "governance",
        "legal",
        "technology",
        "workforce",
    ]
    for section in dgca.sections:
        assert 2 <= len(section.subsections) <= 3, section.id
        assert not section.questions
    slots = list(dgca.slots())
    assert len(slots) >= 30
    texts = {slot.question.text.es for slot in slots}
    for quoted in QUOTED:
        assert quoted in texts
    scale = dgca.scales["agreement"]
    assert [o.label.es for o in scale.options] == [
        "Totalmente de acuerdo",
        "De acuerdo",
        "Ni de acuerdo ni en desacuerdo",
        "En desacuerdo",
        "Totalmente en desacuerdo",
    ]
    assert scale.not_applicable is not None
    for slot in slots:
        assert slot.question.type == "likert" and slot.question.scale == "agreement"


def _copy_content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def test_missing_translation_names_file_and_field(tmp_path: Path) -> None:
    root = _copy_content(tmp_path)
    path = root / "questionnaires" / "dgca.yaml"
    text = path.read_text(encoding="utf-8")
    # Drop the English text of statement 6 (the last of the first section).
    marker = 'en: "Our political leaders'
    assert marker in text
    path.write_text(text.replace(marker, 'fr: "Our political leaders', 1), encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_content(root)
    message = str(info.value)
    assert "dgca.yaml" in message
    assert "sections[0].subsections[2].questions[1].text.en" in message


def test_duplicate_ids_and_undefined_scale(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    source = (DATA / "all_types.yaml").read_text(encoding="utf-8")
    bad.write_text(source.replace("id: role", "id: quality"), encoding="utf-8")
    with pytest.raises(ContentError, match="used twice"):
        load_questionnaire(bad)
    bad.write_text(source.replace("scale: quality", "scale: nowhere"), encoding="utf-8")
    with pytest.raises(ContentError, match="undefined scale"):
        load_questionnaire(bad)
    bad.write_text(source.replace('any_of: ["auth"]', 'any_of: ["zzz"]'), encoding="utf-8")
    with pytest.raises(ContentError, match="unknown options"):
        load_questionnaire(bad)
    bad.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(ContentError, match="line 1"):
        load_questionnaire(bad)


def test_check_content_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CONTENT_DIR", str(CONTENT_DIR))
    assert main(["check-content"]) == 0
    assert "content OK" in capsys.readouterr().out
    root = _copy_content(tmp_path)
    workshop = root / "workshops" / "cochabamba-2023.yaml"
    workshop.write_text(
        workshop.read_text(encoding="utf-8").replace("America/La_Paz", "America/Atlantis"),
        encoding="utf-8",
    )
    monkeypatch.setenv("CONTENT_DIR", str(root))
    assert main(["check-content"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cochabamba-2023.yaml" in err and "timezone" in err and "Traceback" not in err


def test_all_types_fixture_is_valid() -> None:
    q = load_questionnaire(DATA / "all_types.yaml")
    assert [s.question.id for s in q.slots()] == [
        "quality",
        "role",
        "why_auth",
        "topics",
        "nps",
        "comment",
    ]


def test_an_impossible_date_names_its_field_and_line(tmp_path: Path) -> None:
    text = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text(encoding="utf-8")
    path = tmp_path / "feb30.yaml"
    path.write_text(text.replace("start_date: 2023-11-28", "start_date: 2023-02-30"), "utf-8")
    with pytest.raises(ContentError) as caught:
        load_workshop_file(path)
    message = str(caught.value)
    assert "start_date" in message and "line " in message


@pytest.mark.parametrize("text", ["a: " + "[" * 5000, "a: 1e999999999"])
def test_odd_yaml_is_a_content_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError):
        load_workshop_file(path)


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("abcdefghijaaaaaa", False),  # ten different characters, one of them seven times
        ("aaaabbbbccccdddd", False),
        ("abcdefghijklmnop", False),  # lowercase only
        ("Tq7-xR2mK9pL4wZ_", True),
    ],
)
def test_a_hand_set_join_code_must_be_hard_to_guess(tmp_path: Path, code: str, ok: bool) -> None:
    text = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text(encoding="utf-8")
    path = tmp_path / "code.yaml"
    path.write_text(text + f"\njoin_code: {code}\n", encoding="utf-8")
    if ok:
        assert load_workshop_file(path).join_code == code
        return
    with pytest.raises(ContentError, match="too easy to guess"):
        load_workshop_file(path)


# Times the clocks skip or repeat, and YAML that must not blow up (issue 15).

COCHABAMBA = CONTENT_DIR / "workshops" / "cochabamba-2023.yaml"


def _moved(zone: str, days: dict[str, str], *changes: tuple[str, str]) -> str:
    """Return the Cochabamba file in another zone, its dates moved, with some lines changed."""
    text = COCHABAMBA.read_text(encoding="utf-8").replace("America/La_Paz", zone)
    for before, after in [*changes, *days.items()]:
        assert before in text, before
        text = text.replace(before, after)
    return text


def _refusal(text: str) -> list[str]:
    with pytest.raises(ContentError) as caught:
        parse_model_with_lines(WorkshopFile, text, "taller.yaml")
    return caught.value.problems


def _line(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# New York, weekend of the March 2026 change: clocks go from 02:00 to 03:00 on Sunday 8.
SPRING = {
    "2023-11-20": "2026-02-27",
    "2023-11-27": "2026-03-06",
    "2023-11-28": "2026-03-07",
    "2023-11-29": "2026-03-08",
    "2023-12-06": "2026-03-15",
}
# New York, weekend of the November 2026 change: 01:00-02:00 comes twice on Sunday 1.
AUTUMN = {
    "2023-11-20": "2026-10-23",
    "2023-11-27": "2026-10-30",
    "2023-11-28": "2026-10-31",
    "2023-11-29": "2026-11-01",
    "2023-12-06": "2026-11-08",
}
MINDSETS = "start: 2023-11-29T09:00"  # the first session of the second day


def test_a_session_the_clocks_skip_is_refused_with_line_and_field() -> None:
    text = _moved("America/New_York", SPRING, (MINDSETS, "start: 2026-03-08T02:30"))
    assert _refusal(text) == [
        f"line {_line(text, 'start: 2026-03-08T02:30')}, agenda[5].start: 02:30 on 2026-03-08"
        " does not exist in America/New_York: clocks jump from 02:00 to 03:00; choose another"
        " time"
    ]
    # The first minute after the jump exists; so does the last one before it.
    for fine in ("03:00", "01:59"):
        parse_model_with_lines(WorkshopFile, text.replace("T02:30", f"T{fine}"), "taller.yaml")


def test_a_window_the_clocks_skip_in_santiago_is_refused(tmp_path: Path) -> None:
    # Chile moves its clocks at midnight: on 6 September 2026 from 00:00 to 01:00.
    text = _moved(
        "America/Santiago",
        {"2023-12-06": "2026-09-13"},
        ("opens: 2023-11-29T15:00", "opens: 2026-09-06T00:30"),
    )
    path = tmp_path / "santiago.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_workshop_file(path)
    line = _line(text, "opens: 2026-09-06T00:30")
    assert str(caught.value) == (
        f"{path}: line {line}, evaluation_window.opens: 00:30 on 2026-09-06 does not exist in"
        " America/Santiago: clocks jump from 00:00 to 01:00; choose another time"
    )


def test_a_digest_the_clocks_skip_is_refused() -> None:
    # The digest of Monday's sessions goes out on Sunday 8 March, at a time that night skips.
    monday = {**SPRING, "2023-11-27": "2026-03-08", "2023-11-28": "2026-03-09"}
    monday["2023-11-29"] = "2026-03-10"
    text = _moved(
        "America/New_York", monday, ('agenda_digest_time: "18:00"', 'agenda_digest_time: "02:30"')
    )
    text += 'quiet_hours: {start: "22:00", end: "02:00"}\n'
    assert _refusal(text) == [
        f"line {_line(text, 'agenda_digest_time')}, reminders.agenda_digest_time: the digest at"
        " 02:30 on 2026-03-08 does not exist in America/New_York: clocks jump from 02:00 to"
        " 03:00; choose another time"
    ]


def test_a_time_the_clocks_repeat_is_its_first_occurrence() -> None:
    text = _moved("America/New_York", AUTUMN, (MINDSETS, "start: 2026-11-01T01:30"))
    spec = parse_model_with_lines(WorkshopFile, text, "taller.yaml")
    start = spec.local(spec.agenda[5].start)
    assert start.utcoffset() == timedelta(hours=-4)  # still summer time
    assert start.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # The same session moved to a stored file and back means the same moment.
    stored = parse_model(WorkshopFile, spec.model_dump(mode="json"), "stored")
    assert stored.local(stored.agenda[5].start).astimezone(UTC) == start.astimezone(UTC)


def test_quiet_hours_end_when_the_clocks_jump_over_their_end() -> None:
    text = _moved("America/New_York", SPRING) + 'quiet_hours: {start: "22:00", end: "02:30"}\n'
    spec = parse_model_with_lines(WorkshopFile, text, "taller.yaml")
    night = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 in New York, winter time
    # 02:30 does not come that night: the quiet hours end at the jump, 03:00 summer time.
    assert spec.daytime(night).astimezone(UTC) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert spec.daytime(night + timedelta(days=1)).astimezone(UTC) == datetime(
        2026, 3, 9, 6, 30, tzinfo=UTC
    )


def test_an_offset_is_refused_not_a_traceback() -> None:
    # Comparing a time with an offset to one without raised TypeError.
    text = _moved("America/La_Paz", {}, (MINDSETS, "start: 2023-11-29T09:00-04:00"))
    assert _refusal(text) == [
        f"line {_line(text, 'T09:00-04:00')}, agenda[5].start: write the time without an offset,"
        " like 2023-11-29T09:00: times are wall-clock times in the workshop's time zone"
        " (America/La_Paz)"
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("end_date: 2023-11-29", "end_date: 9999-12-31"), "end_date: 9999 is not a year"),
        ((MINDSETS, "start: 0001-01-01T00:00"), "agenda[5].start: 1 is not a year"),
        (("America/La_Paz", "America"), "timezone: unknown time zone 'America'"),
        (("America/La_Paz", "x" * 300), "timezone: unknown time zone 'xxxx"),
        (("America/La_Paz", "localtime"), "timezone: unknown time zone 'localtime'"),
        (('"Bolivia"', '"Bo\\0livia"'), "line 17: 'Bo\\x00livia' holds U+0000"),
        (("retention_months: 12", "retention_months: !!int twelve"), "line 24: 'twelve' is not"),
        (("start_date: 2023-11-28", "start_date: !!timestamp 2023-02-30"), "line 14, start_date"),
        (("dgca: dgca", "dgca: !!python/object/apply:os.system [true]"), "line 25: the tag"),
        (("language: es", "language: es\nlanguage: en"), "'language' is written twice here"),
        (("id: cochabamba-2023", "id: [" * 40 + "]" * 40), "line 5: more than 32 levels"),
    ],
)
def test_odd_values_are_refused_with_a_line(change: tuple[str, str], problem: str) -> None:
    # Before, these raised a traceback (on import or when planning), were accepted (a NUL that
    # PostgreSQL refuses to store, a key written twice losing one value) or had no line.
    problems = _refusal(_moved("America/La_Paz", {}, change))
    assert problem in problems[0] and problems[0].startswith("line "), problems


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize("libyaml", [True, False])
def test_an_alias_bomb_is_refused_at_its_line(libyaml: bool, monkeypatch) -> None:
    # Nine lines that a reader walking them would expand into 9**9 strings (2 GB as JSON).
    monkeypatch.setattr(bot.content, "USE_LIBYAML", libyaml and yaml.__with_libyaml__)
    with pytest.raises(ContentError) as caught:
        parse_yaml(BOMB, "bomb.yaml")
    assert caught.value.problems == [
        "line 5: the aliases (*name) repeat more than 100,000 values and characters; write the"
        " values out"
    ]
    merge = "a: &a {k: 1, l: 2}\n" + "".join(
        f"{n}: &{n} {{<<: [{', '.join([f'*{p}'] * 9)}]}}\n" for p, n in pairwise("abcdefgh")
    )
    with pytest.raises(ContentError, match="repeat more than"):
        parse_yaml(merge, "merge.yaml")
    with pytest.raises(ContentError, match="line 1: the alias \\*a is inside the value it names"):
        parse_yaml("a: &a [1, *a]\n", "loop.yaml")


def test_aliases_that_repeat_a_little_are_fine() -> None:
    text = COCHABAMBA.read_text(encoding="utf-8")
    hall = '{es: "Salón principal", en: "Main hall"}'
    reused = text.replace(f"place: {hall}", "place: *hall").replace(
        "place: *hall", f"place: &hall {hall}", 1
    )
    assert reused.count("*hall") == 7
    spec = parse_model_with_lines(WorkshopFile, reused, "taller.yaml")
    assert spec == parse_model_with_lines(WorkshopFile, text, "taller.yaml")


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(COCHABAMBA.read_text(encoding="utf-8").encode("latin-1", "replace"))
    with pytest.raises(ContentError) as caught:
        load_workshop_file(path)
    # Line 4's en dash has no Latin-1 form ("?"); line 8's "ó" is the first wrong byte.
    assert caught.value.problems == ["line 8: not UTF-8 text; save the file as UTF-8"]


def test_the_plan_forms_name_what_the_plan_tables_cannot_hold(tmp_path: Path) -> None:
    root = _copy_content(tmp_path)
    path = root / "questionnaires" / "plan_step.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("- id: resources", "- id: budget")
        .replace("type: date", "type: text")
        .replace("        months: [1, 3, 6, 12]\n", ""),
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as info:
        load_content(root)
    message = str(info.value)
    lines = text.splitlines()
    budget = next(n for n, line in enumerate(lines, 1) if "- id: resources" in line)
    due = next(n for n, line in enumerate(lines, 1) if "- id: due_date" in line)
    assert "plan_step.yaml" in message
    assert f"line {budget}, question 'budget': not a field of the plan's tables" in message
    assert f"line {due}, question 'due_date': must be of type date" in message


def test_the_plan_form_names_the_sdgs_as_the_catalogs_do() -> None:
    """The SDGs' names live in the plan form (its buttons) and the catalogs (cards, reports)."""
    from bot.flows.plans import sdg_label
    from bot.i18n import I18n

    form = load_content(CONTENT_DIR).questionnaire("plan")
    options = form.question("sdgs").options
    assert [o.code for o in options] == [str(n) for n in range(1, 18)]
    i18n = I18n.load(CONTENT_DIR / "locales")
    for lang in i18n.languages:
        assert [o.label.get(lang) for o in options] == [
            sdg_label(i18n(lang), n) for n in range(1, 18)
        ]


def test_the_update_form_names_the_statuses_as_the_plan_card_does() -> None:
    from bot.flows.checkins import STATUS_CODES
    from bot.flows.plans import status_label
    from bot.i18n import I18n

    form = load_content(CONTENT_DIR).questionnaire("plan_update")
    options = form.question("status").options
    i18n = I18n.load(CONTENT_DIR / "locales")
    for lang in i18n.languages:
        assert [o.label.get(lang) for o in options] == [
            status_label(i18n(lang), STATUS_CODES[o.code]) for o in options
        ]


def test_evidence_is_asked_only_where_the_bot_keeps_the_files(tmp_path: Path) -> None:
    root = _copy_content(tmp_path)
    path = root / "questionnaires" / "evaluation.yaml"
    text = path.read_text(encoding="utf-8")
    marker = "type: text"
    assert marker in text
    path.write_text(text.replace(marker, "type: evidence", 1), encoding="utf-8")
    with pytest.raises(ContentError, match="evidence questions are asked only in plan_update"):
        load_content(root)


def test_an_instrument_switched_off_takes_no_window(tmp_path: Path) -> None:
    source = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text(encoding="utf-8")
    path = tmp_path / "off.yaml"
    path.write_text(source.replace("\ndgca: dgca\n", "\ndgca: false\n", 1))
    with pytest.raises(ContentError) as info:
        load_workshop_file(path)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if text == "dgca_window:")
    assert f"line {line}, dgca_window: dgca is switched off" in str(info.value)
    kept = source.replace("evaluation_window:", "x_window:", 1)
    start = kept.index("x_window:")
    end = kept.index("\n\n", start)
    path.write_text(kept[:start] + "evaluation: off" + kept[end:])
    assert load_workshop_file(path).evaluation is None
    assert load_workshop_file(CONTENT_DIR / "workshops" / "punta-cana-2024.yaml").dgca is None


def test_a_workshop_names_a_profile_form_it_may_use() -> None:
    content = load_content(CONTENT_DIR)
    spec = content.workshop_examples["punta-cana-2024"]
    assert spec.profile == "profile_flacma"
    assert instrument_problems(spec, content.questionnaires) == []
    wrong = spec.model_copy(update={"profile": "evaluation", "evaluation": "nowhere"})
    assert instrument_problems(wrong, content.questionnaires) == [
        "evaluation: no questionnaire with id 'nowhere'",
        "profile (evaluation): purpose: a profile form says `purpose: profile`",
        "profile (evaluation): review: the profile is submitted with its last answer"
        " (review: false)",
        "profile (evaluation): a profile form asks the person's name (a question with id 'name')",
    ]


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ("retention_months: 12", "retention_month: 12", "did you mean 'retention_months'?"),
        ("retention_months: 12", "retention_months: doce", "retention_months: write a whole"),
        ("retention_months: 12", "retention_months: 500", "retention_months: write 120 or less"),
        ("id: cochabamba-2023", "id: Cochabamba 2023", "like cochabamba-2023"),
        ("start_date: 2023-11-28", "start_date: 28/11/2023", "like 2024-11-01"),
    ],
)
def test_a_mistake_in_a_workshop_file_is_said_in_plain_words(
    tmp_path: Path, before: str, after: str, said: str
) -> None:
    source = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text(encoding="utf-8")
    assert before in source
    path = tmp_path / "wrong.yaml"
    path.write_text(source.replace(before, after, 1), encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_workshop_file(path)
    message = str(info.value)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if text.startswith(before))
    assert f"line {line}, " in message and said in message
    for jargon in ("Input should", "String should", "Extra inputs", "Field required"):
        assert jargon not in message


def test_every_mistake_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    source = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text(encoding="utf-8")
    wrong = source.replace("retention_months: 12", "retention_month: 12").replace(
        "start_date: 2023-11-28", "start_date: someday"
    )
    path = tmp_path / "two.yaml"
    path.write_text(wrong, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_workshop_file(path)
    assert len(info.value.problems) == 2


def test_a_workshop_uses_only_questionnaires_written_in_its_languages() -> None:
    from bot.content import Text

    content = load_content(CONTENT_DIR)
    spec = content.workshop_examples["cochabamba-2023"].model_copy(
        update={"languages": ["es", "pt"]}
    )
    assert instrument_problems(spec, content.questionnaires) == []
    spanish_only = content.questionnaire("evaluation").model_copy(
        update={"title": Text(es="Evaluación")}
    )
    forms = {**content.questionnaires, "evaluation": spanish_only}
    assert instrument_problems(spec, forms) == [
        "evaluation (evaluation): not written in pt, which the workshop offers (languages)"
    ]


def test_a_session_may_have_no_end_or_a_time_to_be_confirmed() -> None:
    from bot.flows.schedule import plan

    spec = load_workshop_file(CONTENT_DIR / "workshops" / "quito-2023.yaml")
    assert all(s.time_tbc and s.end is None and not s.rated for s in spec.agenda)
    kinds = [item.kind for item in plan(spec, has_evaluation=True)]
    # No reminder and no rating prompt for a session with no time; the rest as ever.
    assert "session" not in kinds and "feedback_day" not in kinds and "feedback" not in kinds
    assert {"dgca_open", "evaluation_open", "plan_invite", "digest"} <= set(kinds)
    invite = next(i for i in plan(spec, has_evaluation=True) if i.kind == "plan_invite")
    assert invite.due_at == spec.local(datetime(2023, 10, 12, 10, 0))
    closing = load_workshop_file(CONTENT_DIR / "workshops" / "punta-cana-2024.yaml")
    last = closing.agenda[-1].model_copy(update={"end": None})
    assert last.until == last.start and not last.rated


def test_a_session_to_be_confirmed_takes_no_end(tmp_path: Path) -> None:
    text = (CONTENT_DIR / "workshops" / "quito-2023.yaml").read_text(encoding="utf-8")
    path = tmp_path / "tbc.yaml"
    path.write_text(
        text.replace(
            "    start: 2023-10-12\n", "    start: 2023-10-12\n    end: 2023-10-12T12:00\n", 1
        )
    )
    with pytest.raises(ContentError, match="a session whose time is to be confirmed has no end"):
        load_workshop_file(path)


def test_participants_see_a_time_to_be_confirmed_as_such() -> None:
    from datetime import date as day

    from bot.flows.agenda import agenda_text
    from bot.i18n import I18n

    spec = load_workshop_file(CONTENT_DIR / "workshops" / "quito-2023.yaml")
    i18n = I18n.load(CONTENT_DIR / "locales")
    text = agenda_text(i18n("es"), spec, "es", "America/La_Paz", [day(2023, 10, 11)])
    assert text.count("hora por confirmar") == 3 and "00:00" not in text
    closing = load_workshop_file(CONTENT_DIR / "workshops" / "punta-cana-2024.yaml")
    last = closing.agenda[-1].model_copy(update={"end": None})
    words = closing.model_copy(update={"agenda": [last]})
    shown = agenda_text(i18n("es"), words, "es", None, [day(2024, 11, 1)])
    assert "<b>11:55</b> Conclusiones" in shown


def test_co_organizers_are_a_list_named_in_each_language() -> None:
    quito = load_workshop_file(CONTENT_DIR / "workshops" / "quito-2023.yaml")
    assert isinstance(quito.organizer, list) and len(quito.organizer) == 4
    assert quito.organizers("es").endswith(
        "UN DESA/DPIDG y Oficina del Coordinador Residente de la ONU en Ecuador"
    )
    assert quito.organizers("en").endswith(
        "UN DESA/DPIDG, and UN Resident Coordinator Office in Ecuador"
    )
    flacma = load_workshop_file(CONTENT_DIR / "workshops" / "punta-cana-2024.yaml")
    assert flacma.organizers("es") == "FLACMA y UN DESA/DPIDG"
    cochabamba = load_workshop_file(CONTENT_DIR / "workshops" / "cochabamba-2023.yaml")
    assert cochabamba.organizers("es") == cochabamba.organizer.get("es")  # type: ignore[union-attr]


def test_the_evaluation_opens_after_the_last_session_with_a_time() -> None:
    from bot.flows.evaluation import window
    from storage import Workshop

    spec = load_workshop_file(CONTENT_DIR / "workshops" / "punta-cana-2024.yaml")
    last = spec.agenda[-1].model_copy(
        update={"start": datetime(2024, 11, 1), "end": None, "time_tbc": True}
    )
    untimed = spec.model_copy(
        update={"agenda": [*spec.agenda[:-1], last], "evaluation_window": None}
    )
    workshop = Workshop(1, "w", "J" * 16, "es", spec.timezone, spec.start_date, spec.end_date, {})
    opens, _ = window(untimed, workshop)
    assert opens == untimed.local(datetime(2024, 11, 1, 11, 55))


def test_a_mistake_inside_a_list_of_texts_is_named_once(tmp_path: Path) -> None:
    source = (CONTENT_DIR / "workshops" / "punta-cana-2024.yaml").read_text(encoding="utf-8")
    path = tmp_path / "org.yaml"
    path.write_text(source.replace('  - es: "FLACMA"', '  - fr: ""', 1), encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_workshop_file(path)
    # Not also "organizer: write fields here", the other branch of one-text-or-a-list.
    assert [p.split(", ", 1)[1] for p in info.value.problems] == [
        "organizer[0]: fr: write the text in this language"
    ]


PROGRAMME = (DATA / "programme.yaml").read_text("utf-8")


def test_a_programme_reads_as_events_each_a_workshop_of_its_own() -> None:
    spec = parse_model_with_lines(WorkshopFile, PROGRAMME, "programa.yaml")
    replica = spec.event("replica")
    assert replica is not None and not replica.open
    view = spec.for_event(replica)
    assert view.event_id == "replica" and view.title.get("es") == "Réplica"
    assert [s.id for s in view.agenda] == ["r1", "r2"]
    # The programme's evaluation, one response per event; the online session has none.
    assert view.evaluation_key() == "evaluation@replica"
    online = spec.event("online")
    assert online is not None and spec.for_event(online).evaluation is None
    # What a member of the online session alone sees: its session, and no DGCA.
    alone = spec.for_events(["online"])
    assert [s.id for s in alone.agenda] == ["o1"] and alone.dgca is None
    assert spec.for_events(["online", "presencial"]).dgca == "dgca"
    # Stored and read back, an event that leaves out its evaluation still uses the programme's.
    stored = parse_model(WorkshopFile, spec.stored(), "stored")
    kept = stored.event("replica")
    assert kept is not None and stored.event_evaluation(kept) == "evaluation"


def test_a_programme_names_each_mistake_in_its_events() -> None:
    text = (
        PROGRAMME.replace(
            "    event: replica\n    start: 2024-03-20T09:00",
            "    event: replika\n    start: 2024-03-20T09:00",
        )
        .replace(
            "    event: presencial\n    start: 2024-03-12T11:00",
            "    event: online\n    start: 2024-03-12T11:00",
        )
        .replace("  - id: replica\n", "  - id: presencial\n")
        .replace("    event: online\n    start: 2024-03-05T10:00", "    start: 2024-03-05T10:00")
    )
    problems = _refusal(text)
    assert any("events[2].id: event id 'presencial' is used twice" in p for p in problems)
    assert any("agenda[3].event: no event has id 'replika'" in p for p in problems)
    assert any("outside the dates of event 'online'" in p for p in problems)
    assert any("say which event the session belongs to" in p for p in problems)
    # Every mistake at once, each on its line.
    assert all(p.startswith("line ") for p in problems)


def test_a_sessions_modality_follows_from_its_place_and_link() -> None:
    spec = parse_model_with_lines(WorkshopFile, PROGRAMME, "programa.yaml")
    modes = {s.id: spec.modality_of(s) for s in spec.agenda}
    # The online session has its event's link; the others a room and no link.
    assert modes == {
        "o1": "online",
        "p1": "in_person",
        "p2": "in_person",
        "r1": "in_person",
        "r2": "in_person",
    }
    assert not spec.is_hybrid()
    hybrid = PROGRAMME.replace(
        '      es: "Sala B"\nassociation',
        '      es: "Sala B"\n    online_link: "https://meet.example.org/r2"\nassociation',
    )
    assert parse_model_with_lines(WorkshopFile, hybrid, "p.yaml").is_hybrid()
    # Said outright, a modality needs what it promises.
    problems = _refusal(
        PROGRAMME.replace(
            '    title:\n      es: "Mentalidades"',
            '    modality: online\n    title:\n      es: "Mentalidades"',
        )
    )
    assert any("agenda[1].modality: a session held online needs a link" in p for p in problems)
    assert any("agenda[1].place: an online session has no place" in p for p in problems)


def test_a_generated_join_code_could_be_written_into_a_file() -> None:
    # About one raw random code in twenty fails the hand-written rule; none handed out may.
    from bot.content import join_code_problem
    from bot.flows.workshops import new_join_code

    codes = [new_join_code() for _ in range(2000)]
    assert [c for c in codes if join_code_problem(c) is not None] == []
    assert len(set(codes)) == len(codes) and all(len(c) == 16 for c in codes)
