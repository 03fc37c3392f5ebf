"""Content files: the DGCA instrument and validation errors that name file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.content import (
    ContentError,
    Questionnaire,
    load_content,
    load_questionnaire,
    load_workshop_file,
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
    # Drop the English text of the first statement.
    marker = 'en: "Our political leaders'
    assert marker in text
    path.write_text(text.replace(marker, 'fr: "Our political leaders', 1), encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_content(root)
    message = str(info.value)
    assert "dgca.yaml" in message
    assert "sections[0].subsections[0].questions[0].text.en" in message


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
