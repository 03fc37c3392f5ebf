"""Report charts for organizers: pure functions from data to matplotlib Figures.

Every text arrives translated and every number is formatted by the caller, so these functions
know nothing about languages. Callers render with `to_png` off the event loop.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.charts import (
    DPI,
    LABEL_WRAP,
    OKABE_ITO,
    PLAIN,
    STATUS_COLOURS,
    STATUS_ORDER,
    WIDTH_IN,
    to_png,
)
from storage.models import StepStatus

__all__ = [
    "Distribution",
    "DivergingChart",
    "Frame",
    "LikertRow",
    "dimension_means_figure",
    "distribution_figure",
    "diverging_figure",
    "majority",
    "monthly_figure",
    "profile_vs_group_figure",
    "steps_by_status_figure",
    "to_png",
]

# matplotlib is imported where a chart is drawn, not with this module: flows build the data
# classes below on the event loop, and importing matplotlib there stalled it for half a
# second on the first report after a start (benchmarks/report.py).
if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

Fmt = Callable[[float, int], str]
Pct = Callable[[float], str]

MIN_HEIGHT_IN = 6.0
STATEMENT_WRAP = 45
# Beyond this many statements wrapped labels crowd a phone screen; the caption lists them.
MAX_LABELLED_ROWS = 8
# Every diverging chart spans -100 %…100 %. A row may lean all the way to either side, so any
# fixed scale must be this wide; a fixed one puts zero at the same place in every chart of a
# report (each is drawn alone, in a worker process, without the others' data) and keeps bar
# lengths comparable between sections, reports and workshops.
DIVERGING_LIMIT = 1.0
# Room left of the bars for row numbers; labelled charts keep it too, so that their zero line
# stays where the numbered charts of the same report have it.
NUMBER_GUTTER = 0.35
# Space a printed percentage keeps from its segment's edges, in inches.
SEGMENT_PAD = 0.05
# A legend entry longer than this many characters would run off a 9 in page at 11 pt.
LEGEND_LAST_WRAP = 80

TEXT = "#222222"
MUTED = "#555555"
GRID = "#dddddd"
NEUTRAL = "#d4d4d4"
NA_GREY = OKABE_ITO["grey"]
# ColorBrewer PuOr, from disagreement (orange) to agreement (purple); colour-blind safe. The
# near-white middle class would vanish on a white page, so neutral becomes a light grey.
_PUOR: dict[int, tuple[str, ...]] = {
    2: ("#e66101", "#5e3c99"),
    3: ("#f1a340", NEUTRAL, "#998ec3"),
    4: ("#e66101", "#fdb863", "#b2abd2", "#5e3c99"),
    5: ("#e66101", "#fdb863", NEUTRAL, "#b2abd2", "#5e3c99"),
    6: ("#b35806", "#f1a340", "#fee0b6", "#d8daeb", "#998ec3", "#542788"),
    7: ("#b35806", "#f1a340", "#fee0b6", NEUTRAL, "#d8daeb", "#998ec3", "#542788"),
}

# Vertical rhythm, in inches, shared by every chart so that a set of slides lines up.
_TITLE_TOP = 0.18
_TITLE_LINE = 0.29
_SUB_LINE = 0.21
_EXTRA_LINE = 0.23
_FOOTER_BOTTOM = 0.12
_FOOTER_LINE = 0.17
_X_TICKS = 0.42
_X_LABEL = 0.30
_SIDE = 0.27


@dataclass(frozen=True)
class Frame:
    """Hold the title, subtitle line and footer that frame every chart."""

    title: str
    subtitle: str
    footer: str


@dataclass(frozen=True)
class LikertRow:
    """Hold one statement's answer counts (most positive first), N/A count and number.

    `number` is the statement's number as the report prints it ("6. Nuestros líderes…");
    without one, rows are numbered by their place in the chart.
    """

    label: str
    counts: list[int]
    na: int = 0
    number: int | None = None


@dataclass(frozen=True)
class DivergingChart:
    """Carry a diverging figure and whether its rows are numbered instead of labelled."""

    figure: Figure
    numbered: bool


@dataclass(frozen=True)
class Distribution:
    """Hold one categorical question's answer counts in the scale's order."""

    question: str
    labels: list[str]
    counts: list[int]


# ---------------------------------------------------------------- shared layout helpers


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, MIN_HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


# textwrap breaks only at ASCII whitespace: this private-use character holds two words
# together while wrapping and becomes a space again afterwards.
_GLUE = "\ue000"


def _wrap(text: str, width: int) -> str:
    if not text:
        return text
    # "n = 11" split over two lines reads as a sentence cut short.
    glued = text.replace(" = ", f"{_GLUE}={_GLUE}")
    return textwrap.fill(glued, width).replace(_GLUE, " ")


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def _legend_text(text: str) -> str:
    # Legend does not accept parse_math, so a "$" is escaped to stay a dollar sign.
    return text.replace("$", r"\$")


@dataclass(frozen=True)
class _Header:
    title: str
    subtitle: str
    extra: str
    footer: str

    @property
    def height(self) -> float:
        h = _TITLE_TOP + _lines(self.title) * _TITLE_LINE + 0.06 + _lines(self.subtitle) * _SUB_LINE
        if self.extra:
            h += 0.12 + _lines(self.extra) * _EXTRA_LINE
        return h + 0.14

    @property
    def footer_height(self) -> float:
        return _FOOTER_BOTTOM + _lines(self.footer) * _FOOTER_LINE + 0.1


def _header(frame: Frame, extra: str = "") -> _Header:
    return _Header(
        title=_wrap(frame.title, 52),
        subtitle=_wrap(frame.subtitle, 90),
        extra=_wrap(extra, 70),
        footer=_wrap(frame.footer, 110),
    )


def _draw_header(fig: Figure, header: _Header) -> None:
    h = fig.get_figheight()
    x = 0.3 / WIDTH_IN
    y = _TITLE_TOP
    fig.text(x, 1 - y / h, header.title, fontsize=17, fontweight="bold", va="top", **PLAIN)
    y += _lines(header.title) * _TITLE_LINE + 0.06
    fig.text(x, 1 - y / h, header.subtitle, fontsize=12, color=MUTED, va="top", **PLAIN)
    y += _lines(header.subtitle) * _SUB_LINE
    if header.extra:
        y += 0.12
        fig.text(
            x,
            1 - y / h,
            header.extra,
            fontsize=13,
            fontweight="bold",
            va="top",
            gid="extra",
            **PLAIN,
        )
    fig.text(
        x, _FOOTER_BOTTOM / h, header.footer, fontsize=10, color="#666666", va="bottom", **PLAIN
    )


def _size_in(fig: Figure, artist: Artist) -> tuple[float, float]:
    box = artist.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
    return box.width / DPI, box.height / DPI


def _ytick_width(fig: Figure, ax: Axes) -> float:
    return max((_size_in(fig, t)[0] for t in ax.get_yticklabels() if t.get_text()), default=0.0)


def _place(ax: Axes, fig: Figure, *, left: float, right: float, top: float, bottom: float) -> None:
    w, h = fig.get_size_inches()
    ax.set_position((left / w, bottom / h, (w - left - right) / w, (h - top - bottom) / h))


def _row_major(count: int, ncol: int) -> list[int]:
    # Legend fills columns first; this order makes it read across in scale order instead.
    return [i for c in range(ncol) for i in range(c, count, ncol)]


def _legend(fig: Figure, ax: Axes, handles: list[Artist], labels: list[str]) -> Legend:
    # Entries are not wrapped: a line break inside one ("Group mean (n =" / "11)") reads as
    # two entries. Fewer columns make room instead.
    texts = [_legend_text(label) for label in labels]
    count = len(texts)
    legend: Legend | None = None
    for ncol in sorted({count, math.ceil(count / 2), math.ceil(count / 3), 1}, reverse=True):
        legend = _legend_in_columns(ax, handles, texts, ncol)
        if _size_in(fig, legend)[0] <= WIDTH_IN - 0.4:
            return legend
    # Only an entry wider than the page itself is wrapped: cut off at the edge would be worse.
    texts = [_legend_text(_wrap(label, LEGEND_LAST_WRAP)) for label in labels]
    return _legend_in_columns(ax, handles, texts, 1)


def _legend_in_columns(ax: Axes, handles: list[Artist], texts: list[str], ncol: int) -> Legend:
    order = _row_major(len(texts), ncol)
    return ax.legend(
        [handles[i] for i in order],
        [texts[i] for i in order],
        ncol=ncol,
        loc="upper center",
        frameon=False,
        prop={"size": 11},
        handlelength=1.3,
        handleheight=1.1,
        columnspacing=1.3,
        borderaxespad=0.0,
        borderpad=0.0,
    )


def _anchor_legend(fig: Figure, legend: Legend, top_in: float) -> None:
    legend.set_bbox_to_anchor((0.5, 1 - top_in / fig.get_figheight()), transform=fig.transFigure)


def _strip(ax: Axes, keep: tuple[str, ...] = ("bottom",)) -> None:
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(side in keep)


def _contrast_text(colour: str) -> str:
    # Pick whichever of dark or white text has the higher WCAG contrast on the segment.
    from matplotlib.colors import to_rgb

    def lum(rgb: tuple[float, float, float]) -> float:
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    bg = lum(to_rgb(colour))
    dark = lum(to_rgb(TEXT))
    on_white = 1.05 / (bg + 0.05)
    on_dark = (bg + 0.05) / (dark + 0.05)
    return "white" if on_white > on_dark else TEXT


def _height_for(rows_in: float, top: float, bottom: float) -> float:
    return max(MIN_HEIGHT_IN, top + rows_in + bottom)


# ---------------------------------------------------------------- dimension means


def dimension_means_figure(
    frame: Frame,
    labels: list[str],
    means: list[float | None],
    ns: list[int],
    *,
    axis_label: str,
    fmt: Fmt,
    no_data: str,
) -> Figure:
    """Draw group means per dimension as horizontal bars on a 1–5 axis, with n beside each."""
    rows = list(zip(labels, means, ns, strict=True))
    header = _header(frame)
    fig = _new_figure()
    ax = fig.add_axes((0.3, 0.2, 0.6, 0.6))
    positions = list(range(len(rows)))[::-1]
    present = [(p, m) for p, (_, m, _) in zip(positions, rows, strict=True) if m is not None]
    # Bars start at 1, the bottom of the scale, so their length reads as the score.
    ax.barh(
        [p for p, _ in present],
        [m - 1.0 for _, m in present],
        left=1.0,
        height=0.6,
        color=OKABE_ITO["blue"],
    )
    for pos, (_, mean, _) in zip(positions, rows, strict=True):
        if mean is None:
            ax.text(
                1.06, pos, no_data, va="center", fontsize=12, color=MUTED, style="italic", **PLAIN
            )
        else:
            ax.text(mean + 0.06, pos, fmt(mean, 1), va="center", fontsize=13, gid="value", **PLAIN)
    ticks = [f"{_wrap(label, LABEL_WRAP)}\nn = {fmt(float(n), 0)}" for label, _, n in rows]
    ax.set_yticks(positions, ticks, **PLAIN)
    ax.tick_params(axis="y", labelsize=12, length=0)
    ax.tick_params(axis="x", labelsize=12)
    ax.set_xlim(1.0, 5.6)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xticks([1, 2, 3, 4, 5])
    ax.set_xlabel(axis_label, fontsize=12, **PLAIN)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _strip(ax)

    top = header.height + 0.1
    bottom = header.footer_height + _X_TICKS + _X_LABEL
    fig.set_size_inches(WIDTH_IN, _height_for(0.72 * len(rows), top, bottom))
    left = min(max(_ytick_width(fig, ax) + 0.45, 1.2), 4.2)
    _place(ax, fig, left=left, right=_SIDE, top=top, bottom=bottom)
    _draw_header(fig, header)
    return fig


# ---------------------------------------------------------------- one profile vs the group


def profile_vs_group_figure(
    frame: Frame,
    labels: list[str],
    own: list[float | None],
    group: list[float | None],
    *,
    own_label: str,
    group_label: str,
    axis_label: str,
    fmt: Fmt,
    no_data: str,
) -> Figure:
    """Draw one participant's dimension scores beside the group means as paired bars."""
    from matplotlib.patches import Patch

    rows = list(zip(labels, own, group, strict=True))
    header = _header(frame)
    fig = _new_figure()
    ax = fig.add_axes((0.3, 0.2, 0.6, 0.6))
    positions = list(range(len(rows)))[::-1]
    bar_h = 0.36
    series = [
        (own, OKABE_ITO["blue"], bar_h / 2, "own"),
        (group, OKABE_ITO["orange"], -bar_h / 2, "group"),
    ]
    for values, colour, offset, gid in series:
        present = [(p + offset, v) for p, v in zip(positions, values, strict=True) if v is not None]
        container = ax.barh(
            [y for y, _ in present],
            [v - 1.0 for _, v in present],
            left=1.0,
            height=bar_h,
            color=colour,
            gid=gid,
        )
        for patch in container.patches:
            patch.set_gid(gid)
        for pos, value in zip(positions, values, strict=True):
            y = pos + offset
            if value is None:
                ax.text(
                    1.05, y, no_data, va="center", fontsize=11, color=MUTED, style="italic", **PLAIN
                )
            else:
                ax.text(value + 0.05, y, fmt(value, 1), va="center", fontsize=12, **PLAIN)
    ax.set_yticks(positions, [_wrap(label, LABEL_WRAP) for label in labels], **PLAIN)
    ax.tick_params(axis="y", labelsize=13, length=0)
    ax.tick_params(axis="x", labelsize=12)
    ax.set_xlim(1.0, 5.6)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xticks([1, 2, 3, 4, 5])
    ax.set_xlabel(axis_label, fontsize=12, **PLAIN)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _strip(ax)
    handles: list[Artist] = [Patch(color=OKABE_ITO["blue"]), Patch(color=OKABE_ITO["orange"])]
    legend = _legend(fig, ax, handles, [own_label, group_label])

    legend_top = header.height
    top = legend_top + _size_in(fig, legend)[1] + 0.2
    bottom = header.footer_height + _X_TICKS + _X_LABEL
    fig.set_size_inches(WIDTH_IN, _height_for(0.8 * len(rows), top, bottom))
    left = min(max(_ytick_width(fig, ax) + 0.3, 1.2), 4.2)
    _place(ax, fig, left=left, right=_SIDE, top=top, bottom=bottom)
    _anchor_legend(fig, legend, legend_top)
    _draw_header(fig, header)
    return fig


# ---------------------------------------------------------------- diverging agreement bars


def _scale_colours(count: int) -> tuple[str, ...]:
    if count not in _PUOR:
        raise ValueError(f"agreement scales need 2 to 7 options, got {count}")
    return _PUOR[count][::-1]  # scale labels come most positive first


def _segments(counts: Sequence[int]) -> list[tuple[float, float]]:
    """Return (left, width) per option, as shares of the answered, around zero."""
    k = len(counts)
    total = sum(counts)
    shares = [c / total if total else 0.0 for c in counts]
    half = k // 2
    neutral = shares[half] if k % 2 else 0.0
    out = [(0.0, 0.0)] * k
    x = neutral / 2
    # Walk outwards from zero: the mildest answer sits next to it, the strongest at the end.
    for i in reversed(range(half)):
        out[i] = (x, shares[i])
        x += shares[i]
    x = -neutral / 2
    for i in range(k - half, k):
        x -= shares[i]
        out[i] = (x, shares[i])
    if k % 2:
        out[half] = (-neutral / 2, neutral)
    return out


def _percent_ticks(lo: float, hi: float) -> list[float]:
    first = math.ceil(lo / 0.25 - 1e-9)
    last = math.floor(hi / 0.25 + 1e-9)
    return [i * 0.25 for i in range(first, last + 1)]


def _row_numbers(rows: list[LikertRow]) -> list[int | None]:
    # A lone statement (an evaluation question) needs no number to be found in the caption.
    if len(rows) == 1 and rows[0].number is None:
        return [None]
    return [row.number if row.number is not None else i for i, row in enumerate(rows, start=1)]


def _statement_label(number: int | None, text: str) -> str:
    if number is None:
        return _wrap(text, STATEMENT_WRAP)
    if not text:
        return f"{number}."
    # Glued to the first word, the number never stands alone at the end of a line.
    return _wrap(f"{number}.{_GLUE}{text}", STATEMENT_WRAP)


def diverging_figure(
    frame: Frame,
    rows: list[LikertRow],
    scale_labels: list[str],
    *,
    na_label: str,
    pct: Pct,
    group_title: str | None = None,
) -> DivergingChart:
    """Draw agreement answers as diverging stacked bars, with N/A apart on the right."""
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    k = len(scale_labels)
    colours = _scale_colours(k)
    for row in rows:
        if len(row.counts) != k:
            raise ValueError(f"{row.label!r} has {len(row.counts)} counts for {k} scale labels")
    numbered = len(rows) > MAX_LABELLED_ROWS
    numbers = _row_numbers(rows)
    header = _header(frame, group_title or "")
    fig = _new_figure()
    ax = fig.add_axes((0.1, 0.2, 0.6, 0.6))
    na_ax = fig.add_axes((0.8, 0.2, 0.1, 0.6), sharey=ax)
    # Both margins are fixed, never measured, so zero falls at the same place in every chart.
    na_w, gap = 1.05, 0.35
    left, right = 0.3 + NUMBER_GUTTER, _SIDE + na_w + gap
    inch_per_share = (WIDTH_IN - left - right) / (2 * DIVERGING_LIMIT)

    # Rows are laid out in inches (y data unit = 1 in) so text and bars keep their size.
    bar_h = 0.46 if numbered else 0.36
    wrapped = [_statement_label(n, row.label) for n, row in zip(numbers, rows, strict=True)]
    label_h = [0.0 if numbered else _lines(w) * 0.205 + 0.06 for w in wrapped]
    pitch = [lh + bar_h + 0.26 for lh in label_h]
    rows_in = sum(pitch)

    na_title = _wrap(na_label, 13)
    # Disagreement is drawn on the left, so the legend reads the same way: least to most.
    legend_handles: list[Artist] = [Patch(facecolor=c, edgecolor="none") for c in colours[::-1]]
    legend = _legend(fig, ax, legend_handles, list(scale_labels)[::-1])
    legend_top = header.height
    top = legend_top + _size_in(fig, legend)[1] + 0.2 + _lines(na_title) * 0.2 + 0.12
    bottom = header.footer_height + _X_TICKS
    height = _height_for(rows_in, top, bottom)
    fig.set_size_inches(WIDTH_IN, height)
    axes_h = height - top - bottom
    # With few rows the minimum height leaves slack: spread it between rows, thicken bars a bit.
    stretch = axes_h / rows_in if rows_in else 1.0
    bar_h = min(bar_h * stretch, 0.6)

    centres: list[float] = []
    y = axes_h
    for lh, p in zip(label_h, pitch, strict=True):
        slot = max(p * stretch, lh + bar_h)
        content = lh + bar_h
        slot_top = y - (slot - content) / 2
        centres.append(slot_top - lh - bar_h / 2)
        y -= slot
    segments = [_segments(row.counts) for row in rows]
    for i, colour in enumerate(colours):
        container = ax.barh(
            centres,
            [seg[i][1] for seg in segments],
            left=[seg[i][0] for seg in segments],
            height=bar_h,
            color=colour,
            edgecolor="white",
            linewidth=0.8,
        )
        for patch in container.patches:
            patch.set_gid(f"option-{i}")
        for centre, seg in zip(centres, segments, strict=True):
            start, width = seg[i]
            if width <= 0:
                continue
            label = ax.text(
                start + width / 2,
                centre,
                pct(width),
                ha="center",
                va="center",
                fontsize=11,
                color=_contrast_text(colour),
                gid="segment-pct",
                **PLAIN,
            )
            # Measured, not guessed from the share: a percentage that would spill over its
            # segment's edges is left out rather than overlap its neighbour's.
            if _size_in(fig, label)[0] + 2 * SEGMENT_PAD > width * inch_per_share:
                label.remove()
    # Under the bars, so the line never runs through the neutral segment's percentage.
    ax.axvline(0.0, color="#444444", linewidth=1.0, zorder=0.9)
    ax.set_xlim(-DIVERGING_LIMIT, DIVERGING_LIMIT)
    ticks = _percent_ticks(-DIVERGING_LIMIT, DIVERGING_LIMIT)
    ax.set_xticks(ticks, [pct(abs(t)) for t in ticks], **PLAIN)
    ax.tick_params(axis="x", labelsize=12)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_ylim(0.0, axes_h)
    _strip(ax)

    if numbered:
        ax.set_yticks(centres, [f"{n}." for n in numbers], **PLAIN)
        ax.tick_params(axis="y", labelsize=12, length=0)
    else:
        ax.tick_params(axis="y", left=False, labelleft=False)
        # Statements sit above their bar, from the page margin like the title, so the bars
        # can use the full width of a phone.
        from_margin = blended_transform_factory(fig.transFigure, ax.transData)
        for centre, text in zip(centres, wrapped, strict=True):
            ax.text(
                0.3 / WIDTH_IN,
                centre + bar_h / 2 + 0.05,
                text,
                transform=from_margin,
                ha="left",
                va="bottom",
                fontsize=12,
                linespacing=1.15,
                gid="row-label",
                # A white ground keeps grid lines from running through the statement.
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                zorder=3,
                **PLAIN,
            )

    na_shares = [
        row.na / (sum(row.counts) + row.na) if sum(row.counts) + row.na else 0.0 for row in rows
    ]
    na_bars = na_ax.barh(centres, na_shares, height=bar_h, color=NA_GREY)
    for patch in na_bars.patches:
        patch.set_gid("na")
    for centre, share in zip(centres, na_shares, strict=True):
        inside = share > 0.55
        na_ax.text(
            share - 0.04 if inside else share + 0.04,
            centre,
            pct(share),
            ha="right" if inside else "left",
            va="center",
            fontsize=11,
            color="white" if inside else TEXT,
            gid="na-pct",
            **PLAIN,
        )
    na_ax.set_xlim(0.0, 1.0)
    na_ax.set_xticks([])
    na_ax.tick_params(axis="y", left=False, labelleft=False)
    _strip(na_ax, keep=("left",))
    na_ax.spines["left"].set_color("#999999")
    na_ax.text(
        0.0,
        1.0,
        na_title,
        transform=na_ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=11,
        color=MUTED,
        gid="na-title",
        **PLAIN,
    )

    _place(ax, fig, left=left, right=right, top=top, bottom=bottom)
    _place(na_ax, fig, left=WIDTH_IN - _SIDE - na_w, right=_SIDE, top=top, bottom=bottom)
    _anchor_legend(fig, legend, legend_top)
    _draw_header(fig, header)
    return DivergingChart(figure=fig, numbered=numbered)


# ---------------------------------------------------------------- categorical distribution


def majority(dist: Distribution) -> tuple[str, int] | None:
    """Return the label with the most answers (first in scale order on ties), or None."""
    best: tuple[str, int] | None = None
    for label, count in zip(dist.labels, dist.counts, strict=True):
        if count > 0 and (best is None or count > best[1]):
            best = (label, count)
    return best


def distribution_figure(frame: Frame, dist: Distribution, *, pct: Pct, n_label: str) -> Figure:
    """Draw a categorical question as horizontal bars in scale order, with count and share."""
    from matplotlib.ticker import MaxNLocator

    rows = list(zip(dist.labels, dist.counts, strict=True))
    total = sum(dist.counts)
    header = _header(frame, dist.question)
    fig = _new_figure()
    ax = fig.add_axes((0.3, 0.2, 0.6, 0.6))
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, dist.counts, height=0.62, color=OKABE_ITO["blue"])
    for pos, count in zip(positions, dist.counts, strict=True):
        share = count / total if total else 0.0
        ax.text(
            count,
            pos,
            f"  {count} · {pct(share)}",
            va="center",
            fontsize=13,
            gid="value",
            **PLAIN,
        )
    ax.set_yticks(positions, [_wrap(label, LABEL_WRAP) for label in dist.labels], **PLAIN)
    ax.tick_params(axis="y", labelsize=13, length=0)
    ax.tick_params(axis="x", labelsize=12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(n_label, fontsize=12, **PLAIN)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _strip(ax)

    top = header.height + 0.1
    bottom = header.footer_height + _X_TICKS + _X_LABEL
    fig.set_size_inches(WIDTH_IN, _height_for(0.65 * len(rows), top, bottom))
    left = min(max(_ytick_width(fig, ax) + 0.3, 1.2), 4.2)
    _place(ax, fig, left=left, right=_SIDE, top=top, bottom=bottom)
    # Leave room right of the longest bar for its "23 · 61 %" label.
    width_in = WIDTH_IN - left - _SIDE
    label_in = max(_size_in(fig, t)[0] for t in ax.texts) if ax.texts else 0.0
    most = max(dist.counts, default=0)
    ax.set_xlim(0.0, max(most, 1) * width_in / max(width_in - label_in - 0.1, 1.0))
    _draw_header(fig, header)
    return fig


# ---------------------------------------------------------------- action-plan dashboards


def steps_by_status_figure(
    frame: Frame,
    institutions: list[str],
    statuses: list[str],
    counts: list[list[int]],
    *,
    axis_label: str,
    keys: Sequence[StepStatus] | None = None,
) -> Figure:
    """Draw each institution's steps as one bar stacked by status, in the status colours.

    `statuses` are the statuses' names in the reader's language and `keys` the statuses they
    name, in the same order; without keys they must name every status in `STATUS_ORDER`.
    """
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    order = tuple(StepStatus(key) for key in keys) if keys is not None else STATUS_ORDER
    if len(order) != len(statuses):
        raise ValueError(f"{len(statuses)} status names for statuses {[s.value for s in order]}")
    if len(set(order)) != len(order):
        raise ValueError(f"statuses repeat: {[s.value for s in order]}")
    # Colours follow the status itself, never its place in the list: a caller that drops or
    # reorders statuses cannot paint "blocked" green.
    colours = [STATUS_COLOURS[key] for key in order]
    rows = list(zip(institutions, counts, strict=True))
    for name, row in rows:
        if len(row) != len(statuses):
            raise ValueError(f"{name!r} has {len(row)} counts for {len(statuses)} statuses")
    header = _header(frame)
    fig = _new_figure()
    ax = fig.add_axes((0.3, 0.2, 0.6, 0.6))
    positions = list(range(len(rows)))[::-1]
    totals = [sum(row) for _, row in rows]
    most = max(totals, default=0)
    lefts = [0] * len(rows)
    for j, (key, colour) in enumerate(zip(order, colours, strict=True)):
        widths = [row[j] for _, row in rows]
        container = ax.barh(
            positions,
            widths,
            left=lefts,
            height=0.62,
            color=colour,
            edgecolor="white",
            linewidth=0.8,
        )
        for patch in container.patches:
            patch.set_gid(f"status-{key.value}")
        for pos, start, width in zip(positions, lefts, widths, strict=True):
            # Counts go inside only where the segment is wide enough to hold the digits.
            if width > 0 and width >= 0.06 * most:
                ax.text(
                    start + width / 2,
                    pos,
                    str(width),
                    ha="center",
                    va="center",
                    fontsize=11,
                    color=_contrast_text(colour),
                    gid="segment-count",
                    **PLAIN,
                )
        lefts = [a + b for a, b in zip(lefts, widths, strict=True)]
    for pos, total in zip(positions, totals, strict=True):
        ax.text(
            total,
            pos,
            f" {total}",
            va="center",
            fontsize=12,
            fontweight="bold",
            gid="total",
            **PLAIN,
        )
    ax.set_yticks(positions, [_wrap(name, LABEL_WRAP) for name in institutions], **PLAIN)
    ax.tick_params(axis="y", labelsize=12, length=0)
    ax.tick_params(axis="x", labelsize=12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.0, max(most, 1) * 1.1)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(axis_label, fontsize=12, **PLAIN)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _strip(ax)
    handles: list[Artist] = [Patch(color=c) for c in colours]
    legend = _legend(fig, ax, handles, statuses)

    legend_top = header.height
    top = legend_top + _size_in(fig, legend)[1] + 0.2
    bottom = header.footer_height + _X_TICKS + _X_LABEL
    fig.set_size_inches(WIDTH_IN, _height_for(0.6 * len(rows), top, bottom))
    left = min(max(_ytick_width(fig, ax) + 0.3, 1.2), 4.2)
    _place(ax, fig, left=left, right=_SIDE + 0.2, top=top, bottom=bottom)
    _anchor_legend(fig, legend, legend_top)
    _draw_header(fig, header)
    return fig


def monthly_figure(
    frame: Frame, months: list[str], values: list[int], *, axis_label: str
) -> Figure:
    """Draw a count per month as vertical bars with the value above each."""
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import offset_copy

    rows = list(zip(months, values, strict=True))
    header = _header(frame)
    fig = _new_figure()
    ax = fig.add_axes((0.15, 0.2, 0.8, 0.6))
    positions = list(range(len(rows)))
    ax.bar(positions, values, width=0.66, color=OKABE_ITO["blue"])
    most = max(values, default=0)
    lift = offset_copy(ax.transData, fig=fig, y=3, units="points")
    for pos, value in zip(positions, values, strict=True):
        ax.text(
            pos,
            value,
            str(value),
            ha="center",
            va="bottom",
            fontsize=12,
            gid="value",
            transform=lift,
            **PLAIN,
        )
    ax.set_xticks(positions, months, **PLAIN)
    ax.tick_params(axis="x", labelsize=12, length=0)
    ax.tick_params(axis="y", labelsize=12, length=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0.0, max(most, 1) * 1.15)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel(axis_label, fontsize=12, **PLAIN)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _strip(ax)

    left, right = 1.0, _SIDE
    slot_in = (WIDTH_IN - left - right) / max(len(rows), 1)
    label_w = max((_size_in(fig, t)[0] for t in ax.get_xticklabels() if t.get_text()), default=0.0)
    tick_h = _X_TICKS
    # Month names that would touch their neighbours are slanted instead of shrunk.
    if label_w > 0.9 * slot_in:
        for t in ax.get_xticklabels():
            t.set_rotation(45)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
        tick_h = label_w * 0.72 + 0.3
    top = header.height + 0.1
    bottom = header.footer_height + tick_h
    fig.set_size_inches(WIDTH_IN, MIN_HEIGHT_IN)
    _place(ax, fig, left=left, right=right, top=top, bottom=bottom)
    _draw_header(fig, header)
    return fig
