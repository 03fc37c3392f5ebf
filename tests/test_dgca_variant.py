"""The DGCA variant for national ministries and agencies, and the Quito workshop that uses it.

Issue #11: in Quito the participants were national ministries and agencies (MINTEL), so the
municipal wording ("nuestro Municipio/Agencia", "otros municipios o su asociación") did not
fit. The variant keeps the municipal instrument's structure, scale and numbering, so that
results of both stay comparable statement by statement.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.apidouble import SimUser
from bot.content import Content, Questionnaire, load_questionnaire, load_workshop_file
from bot.flows.dgca import dimension_scores
from bot.xlsform import export_xlsform, import_xlsform
from tests.e2e.conftest import live_bot
from tests.e2e.harness import Harness, progress
from tests.support import CONTENT_DIR, FakeClock

QUESTIONNAIRES = CONTENT_DIR / "questionnaires"
MUNICIPAL = QUESTIONNAIRES / "dgca.yaml"
MINISTRIES = QUESTIONNAIRES / "dgca_ministries.yaml"
QUITO = CONTENT_DIR / "workshops" / "quito-2023.yaml"
VARIANT_ID = "dgca_ministries"
MINTEL = "Ministerio de Telecomunicaciones y de la Sociedad de la Información (MINTEL)"

# Words of the municipal version that must not reach a ministry's official.
MUNICIPAL_ES = re.compile(r"municip|alcald", re.IGNORECASE)
MUNICIPAL_EN = re.compile(r"municipal", re.IGNORECASE)  # also "municipality", "municipalities"


@pytest.fixture(scope="module")
def municipal() -> Questionnaire:
    return load_questionnaire(MUNICIPAL)


@pytest.fixture(scope="module")
def ministries() -> Questionnaire:
    return load_questionnaire(MINISTRIES)


def _shape(q: Questionnaire) -> list[tuple[str, list[str], list[tuple[str, list[Any]]]]]:
    """Return sections, their own questions and subsections, with question id, type and scale."""
    return [
        (
            section.id,
            [f"{x.id}:{x.type}:{x.scale}" for x in section.questions],
            [
                (sub.id, [f"{x.id}:{x.type}:{x.scale}" for x in sub.questions])
                for sub in section.subsections
            ],
        )
        for section in q.sections
    ]


def _texts(q: Questionnaire, lang: str) -> dict[str, str]:
    """Return every text participants read in `lang`: title, intro, sections, statements."""
    found = {"title": q.title.get(lang)}
    if q.intro is not None:
        found["intro"] = q.intro.get(lang)
    for section in q.sections:
        found[section.id] = section.title.get(lang)
        for sub in section.subsections:
            found[sub.id] = sub.title.get(lang)
    for slot in q.slots():
        found[slot.question.id] = slot.question.text.get(lang)
    return found


def test_the_variant_has_the_municipal_structure_scale_and_numbering(
    municipal: Questionnaire, ministries: Questionnaire
) -> None:
    assert ministries.id == VARIANT_ID
    assert _shape(ministries) == _shape(municipal)
    # Statement n is the same question in both: position by position.
    assert [s.question.id for s in ministries.slots()] == [s.question.id for s in municipal.slots()]
    assert len(list(ministries.slots())) == 36
    # Numbered as the Bolivia report numbers the statements it quotes: 6 and 9.
    for form in (municipal, ministries):
        texts = [s.question.text.get("es") for s in form.slots()]
        assert texts[5].startswith("Nuestros líderes políticos apoyan las inversiones")
        assert texts[8].startswith("Se consultó a los ciudadanos en el desarrollo")
    assert [s.id for s in ministries.sections] == [
        "leadership",
        "strategy",
        "governance",
        "legal",
        "technology",
        "workforce",
    ]
    # Same scale: codes, values, labels and "don't know"; same engine settings.
    assert ministries.scales == municipal.scales
    assert (ministries.progress, ministries.review) == (municipal.progress, municipal.review)


def test_every_statement_is_adapted_not_copied(
    municipal: Questionnaire, ministries: Questionnaire
) -> None:
    for lang in ("es", "en"):
        theirs = _texts(municipal, lang)
        ours = _texts(ministries, lang)
        unchanged = {
            key
            for key, text in ours.items()
            if text == theirs[key] and (MUNICIPAL_ES if lang == "es" else MUNICIPAL_EN).search(text)
        }
        assert not unchanged, f"{lang}: still municipal: {sorted(unchanged)}"
        assert ours["title"] != theirs["title"]


@pytest.mark.parametrize(("lang", "pattern"), [("es", MUNICIPAL_ES), ("en", MUNICIPAL_EN)])
def test_no_text_of_the_variant_speaks_of_municipalities(
    ministries: Questionnaire, lang: str, pattern: re.Pattern[str]
) -> None:
    municipal = {
        key: text for key, text in _texts(ministries, lang).items() if pattern.search(text)
    }
    assert municipal == {}


def test_the_seed_statements_keep_their_wording_with_the_unit_adapted(
    municipal: Questionnaire, ministries: Questionnaire
) -> None:
    # The two statements the Bolivia report quotes (its nos. 6 and 9): word for word, with
    # "Ministerio o Agencia" where the municipal version says "Municipio/Agencia".
    for qid in ("lea_1", "str_3"):
        seed = municipal.question(qid).text.get("es")
        assert "Municipio/Agencia" in seed
        assert ministries.question(qid).text.get("es") == seed.replace(
            "Municipio/Agencia", "Ministerio o Agencia"
        )
    statements = [s.question.id for s in ministries.slots()]
    assert statements.index("str_3") + 1 == 9  # numbered 9 in the report too


def test_where_the_municipality_was_named_the_ministry_or_agency_is(
    municipal: Questionnaire, ministries: Questionnaire
) -> None:
    unit = re.compile(r"Ministerio o Agencia|nuestra institución")
    for slot in municipal.slots():
        qid = slot.question.id
        if "Municipio/Agencia" in slot.question.text.get("es"):
            assert unit.search(ministries.question(qid).text.get("es")), qid
        if "municipality/agency" in slot.question.text.get("en"):
            assert re.search(
                r"ministry or agency|our institution", ministries.question(qid).text.get("en")
            )
    # "Otros municipios o su asociación": the peers and the body that coordinates them.
    assert "otras entidades del Estado" in ministries.question("gov_5").text.get("es")
    assert "ente rector" in ministries.question("gov_5").text.get("es")
    assert "other government bodies" in ministries.question("gov_5").text.get("en")


def test_the_variant_scores_like_the_municipal_one(
    municipal: Questionnaire, ministries: Questionnaire
) -> None:
    answers: dict[str, str | list[str]] = {
        slot.question.id: ["5", "4", "3", "2", "1", "na"][slot.index % 6]
        for slot in municipal.slots()
    }
    ours = [(d.section_id, d.score, d.answered) for d in dimension_scores(ministries, answers)]
    theirs = [(d.section_id, d.score, d.answered) for d in dimension_scores(municipal, answers)]
    assert ours == theirs


def test_the_quito_example_loads_and_uses_the_variant(content: Content) -> None:
    spec = load_workshop_file(QUITO)
    assert spec.id == "quito-2023"
    assert spec.dgca == VARIANT_ID
    assert (spec.start_date, spec.end_date) == (date(2023, 10, 11), date(2023, 10, 12))
    assert spec.timezone == "America/Guayaquil"
    assert spec.language == "es"
    assert MINTEL in spec.institutions
    assert len(spec.agenda) == 5  # the concept note's five sessions
    assert spec.follow_up.plan_session == "roadmap"
    assert spec.association is not None and "MINTEL" in spec.association.name
    # The bot's content holds both, and the example names a questionnaire that exists.
    assert content.workshop_examples["quito-2023"] == spec
    assert content.questionnaire(spec.dgca).id == VARIANT_ID
    assert content.workshop_examples["cochabamba-2023"].dgca == "dgca"


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
async def quito_bot(tmp_path: Path, content: Content) -> AsyncIterator[Harness]:
    # 2 October 2023: before the DGCA window opens, so nothing goes out on its own.
    clock = FakeClock(datetime(2023, 10, 2, 14, 0, tzinfo=UTC))
    async with live_bot(tmp_path, content, clock) as (bot, _):
        yield bot


async def join_quito_es(bot: Harness, user: SimUser, code: str) -> None:
    """Join the Quito workshop in Spanish, as an official of MINTEL, up to a finished profile."""
    greeting = await bot.send(user, f"/start {code}")
    assert "Le damos la bienvenida" in (greeting.text or "")
    await bot.tap(user, "Continuar ›")
    await bot.tap(user, "Acepto")
    await bot.tap(user, f"Usar «{user.first_name} {user.last_name}»")
    assert MINTEL in user.buttons()
    await bot.tap(user, MINTEL)
    await bot.send(user, "Especialista de Gobierno Electrónico")
    await bot.tap(user, "Ecuador")
    assert "Su inscripción en" in (user.last.text or "")


async def test_a_ministry_official_takes_the_ministries_dgca(quito_bot: Harness) -> None:
    bot = quito_bot
    workshop = await bot.import_workshop(QUITO)
    maria = bot.double.new_user(first_name="María", last_name="Andrade", language_code="es")
    await join_quito_es(bot, maria, workshop.join_code)

    await bot.send(maria, "/dgca")
    intro, first = maria.messages[-2], maria.messages[-1]
    assert "36 preguntas" in (intro.text or "")
    assert "ministerio, secretaría o agencia" in (intro.text or "")
    assert progress(first) == ("Liderazgo", 1, 36)
    text = first.text or ""
    assert "Nuestro Ministerio o Agencia tiene una persona o unidad" in text
    assert not MUNICIPAL_ES.search(text)

    # Through to the end: every statement shown is the ministries' wording.
    answers = ["Totalmente de acuerdo", "De acuerdo", "En desacuerdo"]
    for index in range(36):
        shown = maria.last.text or ""
        assert progress(maria.last)[1] == index + 1
        assert not MUNICIPAL_ES.search(shown), shown
        if index == 5:
            # Statement 6, as the seed report numbers it, with the unit adapted.
            assert "Nuestros líderes políticos apoyan las inversiones" in shown
            assert "nuestro Ministerio o Agencia" in shown
        await bot.tap(maria, answers[index % 3])
    await bot.tap(maria, "📤 Enviar respuestas")
    await bot.tap(maria, "Enviar")
    assert "Su perfil DGCA" in (maria.last.caption or "")

    participant = await bot.services.store.participant(workshop.id, maria.id)
    assert participant is not None and participant.institution == MINTEL
    assert await bot.services.store.find_response(participant.id, "dgca") is None
    response = await bot.services.store.find_response(participant.id, VARIANT_ID)
    assert response is not None and response.submitted
    assert len(await bot.services.store.answers(response.id)) == 36


def test_the_variant_exports_to_xlsform_and_back(ministries: Questionnaire) -> None:
    # For those who answer on the web (Kobo), as the shipped questionnaires do.
    imported = import_xlsform(export_xlsform(ministries))
    assert imported.questionnaire == ministries
    assert imported.warnings == []
