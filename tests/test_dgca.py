"""DGCA scoring against hand-computed values, and the profile chart's structure."""

from __future__ import annotations

import pytest
from matplotlib.patches import Rectangle

from bot.charts import ProfileChart, build_profile_figure, render_profile
from bot.content import Content
from bot.flows.dgca import dimension_scores


def test_dimension_scores_by_hand(content: Content) -> None:
    q = content.questionnaire("dgca")
    lead = [s.question.id for s in q.slots() if s.section.id == "leadership"]
    strat = [s.question.id for s in q.slots() if s.section.id == "strategy"]
    legal = [s.question.id for s in q.slots() if s.section.id == "legal"]
    answers: dict[str, str | list[str]] = {}
    # Leadership: 5, 4, 4 and three "don't know" -> (5 + 4 + 4) / 3
    for qid, code in zip(lead, ["5", "4", "4", "na", "na", "na"], strict=False):
        answers[qid] = code
    # Strategy: 1 and 2 -> 1.5; the rest unanswered
    answers[strat[0]], answers[strat[1]] = "1", "2"
    # Legal: all don't know -> no score
    for qid in legal:
        answers[qid] = "na"
    scores = {s.section_id: s for s in dimension_scores(q, answers)}
    assert scores["leadership"].score == pytest.approx(13 / 3)
    assert scores["leadership"].answered == 3
    assert scores["leadership"].total == len(lead)
    assert scores["strategy"].score == pytest.approx(1.5)
    assert scores["legal"].score is None and scores["legal"].answered == 0
    assert scores["technology"].score is None


def _chart() -> ProfileChart:
    labels = [
        "Liderazgo",
        "Estrategia",
        "Gobernanza",
        "Marco legal y regulatorio",
        "Tecnología",
        "Desarrollo profesional y fuerza laboral",
    ]
    return ProfileChart(
        title="Su perfil",
        subtitle="Ana · 20 nov 2023",
        footer="Taller",
        labels=labels,
        scores=[4.3, 1.5, None, 3.0, 5.0, 2.0],
        value_labels=["4,3", "1,5", "sin datos", "3,0", "5,0", "2,0"],
        axis_label="Puntaje",
    )


def test_profile_figure_structure() -> None:
    fig = build_profile_figure(_chart())
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 6
    # Bars start at 1 and their length is score - 1; a missing score draws nothing.
    widths = [round(b.get_width(), 3) for b in bars]
    assert widths == [3.3, 0.5, 0.0, 2.0, 4.0, 1.0]
    assert all(b.get_x() == 1.0 for b in bars)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "Liderazgo"
    assert "Desarrollo profesional y\nfuerza laboral" in ticks  # long labels wrap
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["4,3", "1,5", "sin datos", "3,0", "5,0", "2,0"]
    fig_texts = [t.get_text() for t in fig.texts]
    assert fig_texts == ["Su perfil", "Ana · 20 nov 2023", "Taller"]
    assert ax.get_xlim() == (1.0, 5.6)


def test_profile_png_is_phone_sized() -> None:
    png = render_profile(_chart())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert (width, height) == (1080, 720)
