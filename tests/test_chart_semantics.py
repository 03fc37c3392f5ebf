"""Chart semantics from issue 12: status colours, whole statements, one zero, legends, months.

Structure only, never pixels: the tests read the Figure and Axes the chart functions build.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bot import report_charts as rc
from bot.charts import OKABE_ITO, STATUS_COLOURS, STATUS_ORDER
from bot.flows import progress
from bot.flows.events import SendPhoto
from bot.i18n import Translator
from bot.plan_stats import Figures
from bot.report_charts import (
    DivergingChart,
    Frame,
    LikertRow,
    diverging_figure,
    profile_vs_group_figure,
    steps_by_status_figure,
)
from storage.models import StepStatus
from tests.support import load_i18n

ROOT = Path(__file__).resolve().parent.parent
FRAME = Frame(title="Estrategia", subtitle="n = 40 · 29 nov 2023", footer="Taller AMB")
SCALE = [
    "Totalmente de acuerdo",
    "De acuerdo",
    "Ni de acuerdo ni en desacuerdo",
    "En desacuerdo",
    "Totalmente en desacuerdo",
]


def pct(share: float) -> str:
    return f"{round(share * 100)} %"


def fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def diverging(rows: list[LikertRow], group_title: str | None = None) -> DivergingChart:
    return diverging_figure(
        FRAME, rows, SCALE, na_label="No sé / No aplica", pct=pct, group_title=group_title
    )


def row_labels(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == "row-label"]


def dgca_statements(section: str, lang: str = "es") -> list[str]:
    data = yaml.safe_load((ROOT / "content" / "questionnaires" / "dgca.yaml").read_text("utf-8"))
    found = next(s for s in data["sections"] if s["id"] == section)
    return [q["text"][lang] for sub in found["subsections"] for q in sub["questions"]]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Figure]]:
    """Keep the figures the flows hand to `to_png` instead of rendering them."""
    figures: list[Figure] = []

    def keep(fig: Figure) -> bytes:
        figures.append(fig)
        return b""

    monkeypatch.setattr(rc, "to_png", keep)
    yield figures


def dashboard_figures() -> Figures:
    every = {s: n for s, n in zip(STATUS_ORDER, [3, 2, 4, 1, 1], strict=True)}
    return Figures(
        plans=2,
        steps=sum(every.values()),
        by_status=every,
        by_institution={"GAM Sacaba": every},
        overdue=[],
        blocked=[],
        checkins_sent=0,
        checkins_answered=0,
        members=2,
        unreachable=0,
        stalest=[],
        sdgs=[],
        done_by_month=[("2023-11", 1), ("2023-12", 2), ("2024-01", 0)],
        updates=0,
        evidence=0,
    )


def render_dashboard(tr: Translator, captured: list[Figure]) -> list[Figure]:
    now = datetime(2024, 1, 20, 12, tzinfo=UTC)
    events = progress.chart_events(tr, "AMB", dashboard_figures(), now)
    for event in events:
        assert isinstance(event, SendPhoto)
        event.render()
    return captured


# ---------------------------------------------------------------- 1. status colours


def _grey(colour: str) -> bool:
    r, g, b = to_rgb(colour)
    return r == g == b


def test_status_colours_carry_their_meaning() -> None:
    assert STATUS_COLOURS[StepStatus.DONE] == OKABE_ITO["green"]
    assert STATUS_COLOURS[StepStatus.IN_PROGRESS] == OKABE_ITO["blue"]
    assert STATUS_COLOURS[StepStatus.BLOCKED] == OKABE_ITO["vermillion"]
    light, dark = STATUS_COLOURS[StepStatus.NOT_STARTED], STATUS_COLOURS[StepStatus.DROPPED]
    assert _grey(light) and _grey(dark)
    assert to_rgb(light)[0] - to_rgb(dark)[0] > 0.3  # told apart by lightness alone
    assert set(STATUS_COLOURS) == set(StepStatus)
    assert len(set(STATUS_COLOURS.values())) == len(StepStatus)


def test_status_colours_follow_the_status_not_its_place() -> None:
    keys = [StepStatus.BLOCKED, StepStatus.DROPPED, StepStatus.DONE]
    fig = steps_by_status_figure(
        FRAME,
        ["GAM Vinto"],
        ["Bloqueado", "Descartado", "Hecho"],
        [[1, 2, 3]],
        axis_label="Pasos",
        keys=keys,
    )
    ax = fig.axes[0]
    for key in keys:
        segs = [p for p in ax.patches if p.get_gid() == f"status-{key.value}"]
        assert [to_hex(p.get_facecolor()) for p in segs] == [STATUS_COLOURS[key].lower()]
    legend = ax.get_legend()
    assert legend is not None
    shown = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
        if isinstance(h, Rectangle)
    }
    assert shown == {
        "Bloqueado": STATUS_COLOURS[StepStatus.BLOCKED].lower(),
        "Descartado": STATUS_COLOURS[StepStatus.DROPPED].lower(),
        "Hecho": STATUS_COLOURS[StepStatus.DONE].lower(),
    }


def test_status_names_without_keys_must_name_every_status() -> None:
    with pytest.raises(ValueError):
        steps_by_status_figure(FRAME, ["A"], ["Hecho", "Bloqueado"], [[1, 2]], axis_label="x")


@pytest.mark.parametrize("lang", ["es", "en"])
def test_progress_dashboard_paints_blocked_red_and_dropped_grey(
    lang: str, captured: list[Figure]
) -> None:
    # The dashboard passes its names in its own STATUS_ORDER and no keys: the orders must agree.
    assert progress.STATUS_ORDER == STATUS_ORDER
    tr = load_i18n()(lang)
    status_fig = render_dashboard(tr, captured)[0]
    legend = status_fig.axes[0].get_legend()
    assert legend is not None
    shown = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
        if isinstance(h, Rectangle)
    }
    for status in StepStatus:
        assert shown[tr.plain(f"plan.status.{status.value}")] == STATUS_COLOURS[status].lower()
    bars = status_fig.axes[0].patches
    blocked = [p for p in bars if p.get_gid() == "status-blocked"]
    assert [to_hex(p.get_facecolor()) for p in blocked] == [OKABE_ITO["vermillion"].lower()]


# ---------------------------------------------------------------- 2. whole, numbered statements


def test_dgca_statements_are_wrapped_whole_and_numbered() -> None:
    statements = dgca_statements("strategy")
    assert max(len(s) for s in statements) > 100  # longer than the old 80-character cut
    rows = [LikertRow(text, [4, 13, 10, 11, 1], 2) for text in statements]
    chart = diverging(rows)
    fig, ax = chart.figure, chart.figure.axes[0]
    labels = row_labels(ax)
    assert len(labels) == len(statements)
    for number, (label, text) in enumerate(zip(labels, statements, strict=True), start=1):
        assert label.startswith(f"{number}. ")
        assert " ".join(label.splitlines()) == f"{number}. {text}"
        assert not label.rstrip().endswith("…")
        assert all(len(line) <= rc.STATEMENT_WRAP for line in label.splitlines())
    # Every label fits on the page, left of the N/A column.
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    na_left = fig.axes[1].get_window_extent(renderer).x0
    for drawn in (t for t in ax.texts if t.get_gid() == "row-label"):
        box = drawn.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 < na_left


def test_statement_numbers_come_from_the_report_and_stay_in_front() -> None:
    text = dgca_statements("strategy")[2]  # "Se consultó a los ciudadanos…", 9 in the seed report
    chart = diverging([LikertRow(text, [5, 12, 14, 5, 1], 3, number=9)])
    (label,) = row_labels(chart.figure.axes[0])
    assert label.splitlines()[0].startswith("9. Se consultó")
    assert " ".join(label.splitlines()) == f"9. {text}"
    numbered = diverging(
        [LikertRow(f"{text} {i}", [1, 1, 1, 1, 1], number=7 + i) for i in range(10)]
    )
    assert numbered.numbered
    ticks = [t.get_text() for t in numbered.figure.axes[0].get_yticklabels()]
    assert ticks == [f"{7 + i}." for i in range(10)]


def test_a_lone_statement_carries_no_number() -> None:
    question = "En general, recomendaría el taller a colegas y socios."
    chart = diverging([LikertRow(question, [20, 15, 3, 1, 0], 1)])
    assert row_labels(chart.figure.axes[0]) == [textwrap.fill(question, rc.STATEMENT_WRAP)]


def test_the_figure_grows_with_longer_statements() -> None:
    short = diverging([LikertRow(f"Afirmación {i}", [1, 1, 1, 1, 1]) for i in range(8)])
    long = diverging([LikertRow("palabra " * 40, [1, 1, 1, 1, 1]) for _ in range(8)])
    assert short.figure.get_figwidth() == long.figure.get_figwidth() == 9.0
    assert long.figure.get_figheight() > short.figure.get_figheight() + 8 * 0.6
    labels = row_labels(long.figure.axes[0])
    assert all(" ".join(label.splitlines()).endswith("palabra") for label in labels)


# ---------------------------------------------------------------- 3. one zero line


def _zero_x(chart: DivergingChart) -> float:
    """Return where 0 % falls, in inches from the figure's left edge."""
    fig, ax = chart.figure, chart.figure.axes[0]
    x_display = ax.transData.transform((0.0, 0.0))[0]
    return float(fig.transFigure.inverted().transform((x_display, 0.0))[0] * fig.get_figwidth())


def test_zero_sits_at_the_same_place_in_every_diverging_chart() -> None:
    charts = [
        diverging([LikertRow("Todos de acuerdo", [9, 1, 0, 0, 0])]),
        diverging([LikertRow("Todos en desacuerdo", [0, 0, 0, 1, 9], 4)]),
        diverging([LikertRow("Mitad y mitad", [1, 2, 3, 2, 1])], group_title="Liderazgo"),
        diverging([LikertRow(t, [3, 3, 2, 1, 1], 1) for t in dgca_statements("leadership")]),
        diverging([LikertRow(f"S{i}", [0, 1, 2, 5, 9]) for i in range(12)]),  # numbered
    ]
    assert {c.figure.axes[0].get_xlim() for c in charts} == {(-1.0, 1.0)}
    zeros = [_zero_x(c) for c in charts]
    assert max(zeros) - min(zeros) < 1e-9
    ticks = [t.get_text() for t in charts[0].figure.axes[0].get_xticklabels()]
    assert ticks[0] == ticks[-1] == "100 %" and ticks[len(ticks) // 2] == "0 %"


# ---------------------------------------------------------------- 4. legends on one line


@pytest.mark.parametrize(
    "group_label",
    ["Group mean (n = 11)", "Media del grupo (n = 11)", "Promedio del grupo (n = 1 234)"],
)
def test_legend_entries_never_break(group_label: str) -> None:
    fig = profile_vs_group_figure(
        FRAME,
        ["Leadership", "Strategy"],
        [3.0, 4.0],
        [3.5, 2.5],
        own_label="You",
        group_label=group_label,
        axis_label="Score",
        fmt=fmt,
        no_data="no data",
    )
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["You", group_label]


def test_no_legend_of_any_chart_breaks_an_entry() -> None:
    figures = [
        diverging([LikertRow("A", [1, 2, 3, 2, 1])]).figure,
        steps_by_status_figure(
            FRAME,
            ["GAM Vinto"],
            ["Not started", "In progress", "Done", "Blocked", "Dropped"],
            [[1, 1, 1, 1, 1]],
            axis_label="Steps",
            keys=[
                StepStatus.NOT_STARTED,
                StepStatus.IN_PROGRESS,
                StepStatus.DONE,
                StepStatus.BLOCKED,
                StepStatus.DROPPED,
            ],
        ),
    ]
    for fig in figures:
        legend = fig.axes[0].get_legend()
        assert legend is not None
        assert all("\n" not in t.get_text() for t in legend.get_texts())


def test_only_a_legend_entry_wider_than_the_page_wraps() -> None:
    huge = "Totalmente de acuerdo con lo que dice esta afirmación, sin duda alguna, " * 2
    chart = diverging_figure(
        FRAME, [LikertRow("A", [1, 1])], [huge.strip(), "No"], na_label="N/A", pct=pct
    )
    fig = chart.figure
    legend = fig.axes[0].get_legend()
    assert legend is not None
    fig.canvas.draw()
    texts = {t.get_text().replace("\n", " "): t.get_text() for t in legend.get_texts()}
    assert texts["No"] == "No"
    assert "\n" in texts[huge.strip()]
    box = legend.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
    assert box.x0 >= 0 and box.x1 <= fig.get_figwidth() * fig.dpi


def test_wrapped_titles_keep_n_and_its_count_together() -> None:
    # Wrapped at 90 characters, this subtitle would break right after "n =".
    subtitle = "x" * 84 + " n = 11 · 29 nov 2023"
    chart = diverging_figure(
        Frame("Liderazgo", subtitle, "Taller"),
        [LikertRow("A", [1, 1, 1, 1, 1])],
        SCALE,
        na_label="N/A",
        pct=pct,
    )
    shown = chart.figure.texts[1].get_text()
    assert "n = 11" in shown
    assert not any(line.endswith("=") for line in shown.splitlines())


# ---------------------------------------------------------------- 5. months with their year


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("es", ["nov 2023", "dic 2023", "ene 2024"]), ("en", ["Nov 2023", "Dec 2023", "Jan 2024"])],
)
def test_month_labels_carry_the_full_year(
    lang: str, expected: list[str], captured: list[Figure]
) -> None:
    monthly = render_dashboard(load_i18n()(lang), captured)[1]
    labels = [t.get_text() for t in monthly.axes[0].get_xticklabels()]
    assert labels == expected
    assert all(re.fullmatch(r"\w+ \d{4}", label) for label in labels)
