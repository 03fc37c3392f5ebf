"""Report aggregates against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.content import Content, load_workshop_file
from bot.flows import exports
from bot.flows.reports import (
    StatementStat,
    _formatters,
    caption_for,
    dimension_stats,
    statement_stats,
    strongest_and_weakest,
)
from bot.flows.workshops import import_workshop
from bot.report_charts import Distribution, majority
from bot.services import Services
from storage import AnswerSet
from tests.e2e.harness import COCHABAMBA
from tests.support import load_i18n

NOW = datetime(2023, 11, 28, tzinfo=UTC)


def answer_set(pid: int, answers: dict[str, str | list[str]]) -> AnswerSet:
    return AnswerSet(pid, "GAM", NOW, dict(answers), {})


def test_statement_counts_means_and_dont_know(content: Content) -> None:
    q = content.questionnaire("dgca")
    sets = [
        answer_set(1, {"lea_1": "5", "lea_2": "4"}),
        answer_set(2, {"lea_1": "4", "lea_2": "na"}),
        answer_set(3, {"lea_1": "1", "lea_2": "na"}),
    ]
    stats = {s.question_id: s for s in statement_stats(q, sets, "es")}
    lea_1, lea_2 = stats["lea_1"], stats["lea_2"]
    assert lea_1.counts == [1, 1, 0, 0, 1] and lea_1.not_applicable == 0
    assert lea_1.mean == pytest.approx(10 / 3)
    assert lea_1.agree_share == pytest.approx(2 / 3)
    assert lea_2.counts == [0, 1, 0, 0, 0] and lea_2.not_applicable == 2
    assert lea_2.mean == 4.0
    assert stats["str_1"].answered == 0 and stats["str_1"].mean is None
    assert lea_1.labels[0] == "Totalmente de acuerdo"


def test_dimension_means_average_each_persons_score(content: Content) -> None:
    q = content.questionnaire("dgca")
    lead = [s.question.id for s in q.slots() if s.section.id == "leadership"]
    sets = [
        answer_set(1, dict.fromkeys(lead, "5")),  # score 5
        answer_set(2, {lead[0]: "1", lead[1]: "2"}),  # score 1.5
        answer_set(3, dict.fromkeys(lead, "na")),  # no score: not counted in n
    ]
    dims = {d.section_id: d for d in dimension_stats(q, sets, "es")}
    assert dims["leadership"].mean == pytest.approx(3.25)
    assert dims["leadership"].n == 2
    assert dims["strategy"].mean is None and dims["strategy"].n == 0


def test_strongest_and_weakest_need_enough_answers(content: Content) -> None:
    q = content.questionnaire("dgca")
    sets = [
        answer_set(i, {"lea_1": "5", "lea_2": "1", "lea_3": "3", "lea_4": "4"}) for i in range(3)
    ]
    sets.append(answer_set(9, {"str_1": "5"}))  # one answer only: below the threshold of 3
    best, worst = strongest_and_weakest(statement_stats(q, sets, "es"), minimum=3, k=2)
    assert [s.question_id for s in best] == ["lea_1", "lea_4"]
    assert [s.question_id for s in worst] == ["lea_2", "lea_3"]


@pytest.mark.parametrize(
    ("counts", "na", "expected"),
    [
        ([3, 1, 0], 0, "representa la mayoría de «P» (3 de 4, 75 %)"),
        ([2, 2, 0], 0, "La respuesta más frecuente a «P» es <b>Muy bueno</b> (2 de 4, 50 %)"),
        ([2, 1, 1], 1, "La respuesta más frecuente a «P» es <b>Muy bueno</b> (2 de 4, 50 %)"),
    ],
)
def test_a_caption_says_majority_only_above_half_and_states_its_base(
    counts: list[int], na: int, expected: str
) -> None:
    tr = load_i18n()("es")
    stat = StatementStat("q", "P", "s", ["Muy bueno", "Bueno", "Malo"], counts, na, None)
    _, pct = _formatters(tr)
    caption = caption_for(tr, stat, majority(Distribution("P", stat.labels, counts)), pct)
    assert expected in caption
    assert ("«No sé / No aplica», aparte: 1." in caption) == bool(na)


async def test_the_export_merges_institutions_too_small_to_hide_anyone(svc: Services) -> None:
    spec = load_workshop_file(COCHABAMBA)
    workshop = (await import_workshop(svc, spec, str(COCHABAMBA), NOW)).workshop
    store = svc.store
    # Three people from Sacaba, one from Tiquipaya: the one would be named by the column.
    people = [(10 + i, "GAM de Sacaba") for i in range(3)] + [(20, "GAM de Tiquipaya")]
    for telegram_id, institution in people:
        participant, _ = await store.join(
            workshop_id=workshop.id, telegram_id=telegram_id, language="es", now=NOW
        )
        await store.update_profile(participant.id, field="institution", value=institution)
        await store.mark_profile_done(participant.id)
        response = await store.start_response(
            participant_id=participant.id,
            questionnaire_id="evaluation",
            version=1,
            first_question="x",
            now=NOW,
        )
        await store.record_answer(
            response.id,
            "useful",
            "Los casos",
            next_question=None,
            reviewing=True,
            is_text=True,
            now=NOW,
        )
    shown = {
        row.participant: row.institution
        for sheet in await exports.sheets(svc, workshop, "es")
        for row in sheet.rows
    }
    assert sorted(str(v) for v in shown.values()) == [
        "GAM de Sacaba",
        "GAM de Sacaba",
        "GAM de Sacaba",
        "Otras instituciones (menos de 3 personas cada una)",
    ]
