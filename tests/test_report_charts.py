"""Report charts: the data behind each figure against hand-computed values, and its structure."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from bot.charts import OKABE_ITO, STATUS_COLOURS, to_png
from bot.report_charts import (
    Distribution,
    DivergingChart,
    Frame,
    LikertRow,
    dimension_means_figure,
    distribution_figure,
    diverging_figure,
    majority,
    monthly_figure,
    profile_vs_group_figure,
    steps_by_status_figure,
)
from storage.models import StepStatus

FRAME = Frame(title="Resultados DGCA", subtitle="n = 38 · 28 nov 2023", footer="Taller AMB")
SCALE = [
    "Totalmente de acuerdo",
    "De acuerdo",
    "Ni de acuerdo ni en desacuerdo",
    "En desacuerdo",
    "Totalmente en desacuerdo",
]
SHORT_SCALE = ["TA", "A", "N", "D", "TD"]
DIMENSIONS = [
    "Liderazgo",
    "Estrategia",
    "Gobernanza",
    "Marco legal y regulatorio",
    "Tecnología",
    "Desarrollo profesional y fuerza laboral",
]
STATEMENT = (
    "Nuestros líderes políticos apoyan las inversiones en prioridades de gobierno digital "
    "para nuestro Municipio/Agencia."
)
# Unbalanced math that matplotlib cannot parse: drawing it raises unless "$" stays literal.
DOLLAR = r"US$ \nope$ 5"


def fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def pct(share: float) -> str:
    return f"{round(share * 100)} %"


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def bars(ax: Axes, gid: str | None = None) -> list[Rectangle]:
    return [
        p for p in ax.patches if isinstance(p, Rectangle) and (gid is None or p.get_gid() == gid)
    ]


def texts(ax: Axes, gid: str) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def fig_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.texts]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def ticks(labels: list[Text]) -> list[str]:
    return [t.get_text() for t in labels]


# ---------------------------------------------------------------- builders used by several tests


def means_fig(labels: list[str] = DIMENSIONS) -> Figure:
    return dimension_means_figure(
        FRAME,
        labels,
        [3.8, 3.1, None, 2.5, 4.0, 5.0],
        [38, 36, 0, 35, 38, 12],
        axis_label="Media",
        fmt=fmt,
        no_data="sin datos",
    )


def profile_fig(own_label: str = "Usted", labels: list[str] = DIMENSIONS) -> Figure:
    return profile_vs_group_figure(
        FRAME,
        labels,
        [4.3, 1.5, None, 3.0, 5.0, 2.0],
        [3.8, 3.1, 2.9, 2.4, None, 3.3],
        own_label=own_label,
        group_label="Grupo",
        axis_label="Puntaje",
        fmt=fmt,
        no_data="sin datos",
    )


def diverging(
    rows: list[LikertRow], scale: list[str] = SHORT_SCALE, group_title: str | None = None
) -> DivergingChart:
    return diverging_figure(
        FRAME, rows, scale, na_label="No sabe / No aplica", pct=pct, group_title=group_title
    )


LIKELY = Distribution(
    question="¿Qué posibilidades hay de que utilice los conocimientos adquiridos en este taller "
    "en su trabajo?",
    labels=[
        "Muy probable",
        "Probable",
        "Ni probable ni improbable",
        "Improbable",
        "Muy improbable",
    ],
    counts=[23, 12, 3, 0, 0],
)


def distribution_fig(dist: Distribution = LIKELY) -> Figure:
    return distribution_figure(FRAME, dist, pct=pct, n_label="Respuestas")


STATUSES = ["Hecho", "En curso", "Sin empezar", "Bloqueado"]
STATUS_KEYS = [
    StepStatus.DONE,
    StepStatus.IN_PROGRESS,
    StepStatus.NOT_STARTED,
    StepStatus.BLOCKED,
]
STEP_COUNTS = [[5, 2, 1, 0], [3, 3, 0, 1], [0, 1, 2, 2]]


def steps_fig(statuses: list[str] = STATUSES) -> Figure:
    return steps_by_status_figure(
        FRAME,
        ["GAM Cochabamba", "GAM Sacaba", "GAM Vinto"],
        statuses,
        STEP_COUNTS,
        axis_label="Pasos",
        keys=STATUS_KEYS,
    )


def monthly_fig(months: list[str] | None = None) -> Figure:
    return monthly_figure(
        FRAME, months or ["ene", "feb", "mar", "abr"], [3, 8, 0, 5], axis_label="Pasos completados"
    )


def all_figures() -> list[Figure]:
    return [
        means_fig(),
        profile_fig(),
        diverging([LikertRow("A", [2, 3, 1, 1, 0], 1)], SCALE).figure,
        diverging([LikertRow(f"S{i}", [1, 2, 3, 2, 1], 1) for i in range(10)]).figure,
        distribution_fig(),
        steps_fig(),
        monthly_fig(),
    ]


# ---------------------------------------------------------------- frame, size, fonts


@pytest.mark.parametrize("index", range(7))
def test_every_figure_is_framed_phone_sized_and_readable(index: int) -> None:
    fig = all_figures()[index]
    found = fig_texts(fig)
    assert found[0] == "Resultados DGCA"
    assert found[1] == "n = 38 · 28 nov 2023"
    assert found[-1] == "Taller AMB"
    width, height = png_size(to_png(fig))
    assert width == 1080
    assert height >= 720
    sizes = [float(t.get_fontsize()) for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert min(sizes) >= 10
    assert float(fig.texts[0].get_fontsize()) >= 16


def test_rendering_is_deterministic() -> None:
    assert to_png(means_fig()) == to_png(means_fig())
    rows = [LikertRow(STATEMENT, [2, 3, 1, 1, 0], 1)]
    assert to_png(diverging(rows).figure) == to_png(diverging(rows).figure)


# ---------------------------------------------------------------- dimension means


def test_dimension_means_bars_start_at_one_and_skip_missing() -> None:
    fig = means_fig()
    ax = fig.axes[0]
    drawn = bars(ax)
    assert len(drawn) == 5  # Gobernanza has no mean, so no bar
    assert [round(b.get_width(), 6) for b in drawn] == [2.8, 2.1, 1.5, 3.0, 4.0]
    assert all(b.get_x() == 1.0 for b in drawn)
    # Top to bottom in the given order.
    centres = [b.get_y() + b.get_height() / 2 for b in drawn]
    assert centres == sorted(centres, reverse=True)
    assert texts(ax, "value") == ["3,8", "3,1", "2,5", "4,0", "5,0"]
    assert "sin datos" in [t.get_text() for t in ax.texts]
    labels = ticks(ax.get_yticklabels())
    assert labels[0] == "Liderazgo\nn = 38"
    assert labels[2] == "Gobernanza\nn = 0"
    assert labels[5] == "Desarrollo profesional y\nfuerza laboral\nn = 12"
    assert ax.get_xlim() == (1.0, 5.6)
    assert ax.get_xlabel() == "Media"


def test_dimension_means_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        dimension_means_figure(
            FRAME, ["A", "B"], [3.0], [1, 2], axis_label="x", fmt=fmt, no_data="-"
        )


# ---------------------------------------------------------------- profile vs group


def test_profile_vs_group_pairs_own_and_group_bars() -> None:
    fig = profile_fig()
    ax = fig.axes[0]
    own, group = bars(ax, "own"), bars(ax, "group")
    assert [round(b.get_width(), 6) for b in own] == [3.3, 0.5, 2.0, 4.0, 1.0]
    assert [round(b.get_width(), 6) for b in group] == [2.8, 2.1, 1.9, 1.4, 2.3]
    assert {to_hex(b.get_facecolor()) for b in own} == {OKABE_ITO["blue"].lower()}
    assert {to_hex(b.get_facecolor()) for b in group} == {OKABE_ITO["orange"].lower()}
    # The own bar sits just above the group bar of the same dimension.
    assert own[0].get_y() > group[0].get_y()
    assert own[0].get_y() == pytest.approx(group[0].get_y() + group[0].get_height())
    assert legend_texts(ax) == ["Usted", "Grupo"]
    assert [t.get_text() for t in ax.texts].count("sin datos") == 2
    assert ticks(ax.get_yticklabels())[0] == "Liderazgo"


# ---------------------------------------------------------------- diverging bars


def option_bars(chart: DivergingChart, option: int) -> list[Rectangle]:
    return bars(chart.figure.axes[0], f"option-{option}")


def test_diverging_geometry_matches_hand_computed_shares() -> None:
    chart = diverging([LikertRow("A", [2, 3, 1, 1, 0], 2)])
    # Answered = 7; agreement (2 + 3) / 7 right of zero, neutral 1/7 split half and half.
    neutral = option_bars(chart, 2)[0]
    assert neutral.get_x() == pytest.approx(-1 / 14)
    assert neutral.get_width() == pytest.approx(1 / 7)
    agree = option_bars(chart, 1)[0]
    assert (agree.get_x(), agree.get_width()) == pytest.approx((1 / 14, 3 / 7))
    strongly = option_bars(chart, 0)[0]
    assert (strongly.get_x(), strongly.get_width()) == pytest.approx((1 / 14 + 3 / 7, 2 / 7))
    assert strongly.get_x() + strongly.get_width() == pytest.approx(5 / 7 + 1 / 14)
    disagree = option_bars(chart, 3)[0]
    assert (disagree.get_x(), disagree.get_width()) == pytest.approx((-3 / 14, 1 / 7))
    assert option_bars(chart, 4)[0].get_width() == 0.0
    assert len(bars(chart.figure.axes[0])) == 5


def test_diverging_even_scale_has_no_neutral() -> None:
    chart = diverging([LikertRow("A", [1, 1, 1, 1])], ["TA", "A", "D", "TD"])
    ax = chart.figure.axes[0]
    got = [(round(b.get_x(), 6), round(b.get_width(), 6)) for b in bars(ax)]
    assert got == [(0.25, 0.25), (0.0, 0.25), (-0.25, 0.25), (-0.5, 0.25)]


def test_diverging_prints_percentages_only_in_segments_that_hold_them() -> None:
    rows = [
        LikertRow("A", [10, 15, 8, 2, 1]),  # 28, 42, 22, 6 and 3 %
        LikertRow("B", [0, 60, 0, 0, 40]),
        LikertRow("C", [0, 0, 0, 0, 0], 3),  # nothing answered, nothing printed
    ]
    chart = diverging(rows)
    fig, ax = chart.figure, chart.figure.axes[0]
    # On the fixed -100 %…100 % axis (3.34 in per 100 %) a share of 0.22 is 0.73 in wide,
    # room for "22 %"; 0.06 (0.19 in) is too narrow for the 0.3 in that "6 %" takes.
    assert texts(ax, "segment-pct") == ["28 %", "42 %", "60 %", "22 %", "40 %"]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in (t for t in ax.texts if t.get_gid() == "segment-pct"):
        x = text.get_position()[0]
        segment = next(b for b in bars(ax) if b.get_x() < x < b.get_x() + b.get_width())
        inside = segment.get_window_extent(renderer)
        drawn = text.get_window_extent(renderer)
        assert inside.x0 < drawn.x0 and drawn.x1 < inside.x1


def test_diverging_na_is_drawn_apart_as_share_of_all_responses() -> None:
    rows = [
        LikertRow("A", [2, 3, 1, 1, 0], 3),
        LikertRow("B", [5, 5, 0, 0, 0]),
        LikertRow("C", [0, 0, 0, 0, 0], 4),
    ]
    chart = diverging(rows)
    main, na_ax = chart.figure.axes
    na = bars(na_ax, "na")
    assert [b.get_width() for b in na] == pytest.approx([3 / 10, 0.0, 1.0])
    assert texts(na_ax, "na-pct") == ["30 %", "0 %", "100 %"]
    assert texts(na_ax, "na-title") == [textwrap.fill("No sabe / No aplica", 13)]
    assert {to_hex(b.get_facecolor()) for b in na} == {OKABE_ITO["grey"].lower()}
    # N/A never enters the scale's segments: they sum to 1 on each answered row.
    for row in range(2):
        assert sum(bars(main, f"option-{i}")[row].get_width() for i in range(5)) == pytest.approx(
            1.0
        )
    # Bars of the same row line up across the two axes.
    assert na[0].get_y() == pytest.approx(bars(main, "option-0")[0].get_y())
    assert na_ax.get_position().x0 > main.get_position().x1


def test_diverging_legend_reads_like_the_bars_and_colours_are_stable() -> None:
    # Disagreement is on the left of the bars, so the legend runs from it to agreement.
    chart = diverging([LikertRow("A", [1, 2, 3, 2, 1])])
    assert legend_texts(chart.figure.axes[0]) == SHORT_SCALE[::-1]
    long = diverging([LikertRow("A", [1, 2, 3, 2, 1])], SCALE)
    # Too wide for one line, the long labels take two rows that still read in scale order.
    legend = long.figure.axes[0].get_legend()
    assert legend is not None
    long.figure.canvas.draw()  # the legend lays out its entries when drawn
    renderer = long.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    placed = [(t.get_window_extent(renderer), t.get_text()) for t in legend.get_texts()]
    reading = sorted(placed, key=lambda p: (-round(p[0].y0), p[0].x0))
    assert [text for _, text in reading] == SCALE[::-1]
    assert len({round(box.y0) for box, _ in placed}) == 2

    def colours(c: DivergingChart) -> list[str]:
        return [to_hex(option_bars(c, i)[0].get_facecolor()) for i in range(5)]

    assert (
        colours(chart) == colours(long) == ["#5e3c99", "#b2abd2", "#d4d4d4", "#fdb863", "#e66101"]
    )


def test_diverging_wraps_numbered_statements_at_45_characters_up_to_8_rows() -> None:
    rows = [LikertRow(STATEMENT, [1, 2, 3, 2, 1])] + [
        LikertRow(f"Afirmación {i}", [1, 1, 1, 1, 1]) for i in range(7)
    ]
    chart = diverging(rows)
    assert chart.numbered is False
    ax = chart.figure.axes[0]
    labels = texts(ax, "row-label")
    assert labels[0] == textwrap.fill(f"1. {STATEMENT}", 45)
    assert labels[0].count("\n") == 2
    assert all(len(line) <= 45 for line in labels[0].splitlines())
    assert labels[1:] == [f"{i + 2}. Afirmación {i}" for i in range(7)]
    # Each statement sits above its own bar, top to bottom in the given order.
    label_y = [t.get_position()[1] for t in ax.texts if t.get_gid() == "row-label"]
    bar_top = [b.get_y() + b.get_height() for b in option_bars(chart, 0)]
    assert all(y > top for y, top in zip(label_y, bar_top, strict=True))
    assert label_y == sorted(label_y, reverse=True)


def test_diverging_numbers_rows_beyond_8() -> None:
    rows = [LikertRow(f"{STATEMENT} {i}", [1, 2, 3, 2, 1]) for i in range(9)]
    chart = diverging(rows)
    assert chart.numbered is True
    ax = chart.figure.axes[0]
    assert ticks(ax.get_yticklabels()) == [f"{i}." for i in range(1, 10)]
    assert texts(ax, "row-label") == []
    assert STATEMENT not in " ".join(t.get_text() for t in chart.figure.findobj(Text))


def test_diverging_height_grows_with_rows_but_width_stays() -> None:
    one = diverging([LikertRow("A", [1, 1, 1, 1, 1])]).figure
    twelve = diverging([LikertRow(f"A{i}", [1, 1, 1, 1, 1]) for i in range(12)]).figure
    assert tuple(one.get_size_inches()) == (9.0, 6.0)
    width, height = twelve.get_size_inches()
    assert width == 9.0
    assert height >= 12 * 0.7
    assert png_size(to_png(twelve))[0] == 1080


def test_diverging_group_title_and_bad_counts() -> None:
    chart = diverging([LikertRow("A", [1, 1, 1, 1, 1])], group_title="Liderazgo")
    assert fig_texts(chart.figure)[:3] == ["Resultados DGCA", "n = 38 · 28 nov 2023", "Liderazgo"]
    with pytest.raises(ValueError):
        diverging([LikertRow("A", [1, 1, 1])])


# ---------------------------------------------------------------- distributions


def test_distribution_keeps_scale_order_with_counts_and_shares() -> None:
    fig = distribution_fig()
    ax = fig.axes[0]
    drawn = bars(ax)
    assert [b.get_width() for b in drawn] == [23, 12, 3, 0, 0]
    centres = [b.get_y() + b.get_height() / 2 for b in drawn]
    assert centres == sorted(centres, reverse=True)  # first option at the top
    assert ticks(ax.get_yticklabels()) == LIKELY.labels
    assert [t.strip() for t in texts(ax, "value")] == [
        "23 · 61 %",
        "12 · 32 %",
        "3 · 8 %",
        "0 · 0 %",
        "0 · 0 %",
    ]
    assert textwrap.fill(LIKELY.question, 70) in fig_texts(fig)
    assert ax.get_xlabel() == "Respuestas"
    # The longest bar leaves room for its label inside the axes.
    assert ax.get_xlim()[1] > 23


def test_distribution_with_no_answers_draws_zero_bars() -> None:
    fig = distribution_fig(Distribution("P", ["Sí", "No"], [0, 0]))
    assert [b.get_width() for b in bars(fig.axes[0])] == [0, 0]
    assert [t.strip() for t in texts(fig.axes[0], "value")] == ["0 · 0 %", "0 · 0 %"]


def test_majority_picks_most_answers_first_on_ties() -> None:
    assert majority(LIKELY) == ("Muy probable", 23)
    assert majority(Distribution("P", ["Muy bueno", "Bueno", "Malo"], [4, 9, 9])) == ("Bueno", 9)
    assert majority(Distribution("P", ["Muy bueno", "Bueno"], [5, 5])) == ("Muy bueno", 5)
    assert majority(Distribution("P", ["Muy bueno", "Bueno"], [0, 0])) is None
    assert majority(Distribution("P", [], [])) is None


# ---------------------------------------------------------------- action-plan dashboards


def test_steps_by_status_stacks_in_status_order() -> None:
    fig = steps_fig()
    ax = fig.axes[0]
    running = [0, 0, 0]
    for j, key in enumerate(STATUS_KEYS):
        segs = bars(ax, f"status-{key.value}")
        assert [b.get_width() for b in segs] == [row[j] for row in STEP_COUNTS]
        assert [b.get_x() for b in segs] == running
        assert {to_hex(b.get_facecolor()) for b in segs} == {STATUS_COLOURS[key].lower()}
        running = [r + row[j] for r, row in zip(running, STEP_COUNTS, strict=True)]
    assert texts(ax, "total") == [" 8", " 7", " 5"]
    assert legend_texts(ax) == STATUSES
    assert ticks(ax.get_yticklabels()) == ["GAM Cochabamba", "GAM Sacaba", "GAM Vinto"]
    assert ax.get_xlabel() == "Pasos"


def test_monthly_bars_follow_the_months() -> None:
    fig = monthly_fig()
    ax = fig.axes[0]
    assert [b.get_height() for b in bars(ax)] == [3, 8, 0, 5]
    assert ticks(ax.get_xticklabels()) == ["ene", "feb", "mar", "abr"]
    assert texts(ax, "value") == ["3", "8", "0", "5"]
    assert ax.get_ylabel() == "Pasos completados"
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels())


def test_monthly_slants_crowded_month_names() -> None:
    months = [f"{m} 2024" for m in ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago"]] * 2
    fig = monthly_figure(FRAME, months, list(range(16)), axis_label="Pasos")
    assert all(t.get_rotation() == 45 for t in fig.axes[0].get_xticklabels())
    assert png_size(to_png(fig))[0] == 1080


# ---------------------------------------------------------------- user text stays literal


Builder = Callable[[], Figure]


@pytest.mark.parametrize(
    "build",
    [
        lambda: dimension_means_figure(
            Frame(DOLLAR, DOLLAR, DOLLAR),
            [DOLLAR],
            [3.0],
            [4],
            axis_label=DOLLAR,
            fmt=fmt,
            no_data=DOLLAR,
        ),
        lambda: profile_fig(own_label=DOLLAR, labels=[DOLLAR] * 6),
        lambda: (
            diverging_figure(
                Frame(DOLLAR, DOLLAR, DOLLAR),
                [LikertRow(DOLLAR, [1, 1, 1, 1, 1], 1)],
                [DOLLAR] * 5,
                na_label=DOLLAR,
                pct=pct,
                group_title=DOLLAR,
            ).figure
        ),
        lambda: (
            diverging_figure(
                FRAME,
                [LikertRow(DOLLAR, [1, 1, 1, 1, 1])] * 9,
                SHORT_SCALE,
                na_label=DOLLAR,
                pct=pct,
            ).figure
        ),
        lambda: distribution_figure(
            Frame(DOLLAR, DOLLAR, DOLLAR),
            Distribution(DOLLAR, [DOLLAR, "B"], [1, 2]),
            pct=pct,
            n_label=DOLLAR,
        ),
        lambda: steps_by_status_figure(
            Frame(DOLLAR, DOLLAR, DOLLAR),
            [DOLLAR],
            [DOLLAR, "B"],
            [[1, 2]],
            axis_label=DOLLAR,
            keys=[StepStatus.DONE, StepStatus.BLOCKED],
        ),
        lambda: monthly_figure(Frame(DOLLAR, DOLLAR, DOLLAR), [DOLLAR], [1], axis_label=DOLLAR),
    ],
)
def test_dollar_signs_render_as_plain_text(build: Builder) -> None:
    assert png_size(to_png(build()))[0] == 1080


def test_legend_escapes_dollar_signs_only_in_legend_text() -> None:
    fig = profile_fig(own_label="Usted (US$ 5 y $ 10)")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["Usted (US\\$ 5 y \\$ 10)", "Grupo"]
    # Elsewhere the text is passed through untouched, with math parsing switched off.
    fig2 = means_fig(labels=[DOLLAR, *DIMENSIONS[1:]])
    assert ticks(fig2.axes[0].get_yticklabels())[0] == f"{DOLLAR}\nn = 38"
    assert png_size(to_png(fig))[0] == 1080
