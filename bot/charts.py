"""Charts drawn with matplotlib's object API into PNG bytes (run them off the event loop)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from storage.models import StepStatus

# matplotlib is imported on the first drawing, not with this module: the data classes and
# constants here are used on the event loop, where that import stalled it for half a second.
if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe–Ito, safe for colour-blind readers; one palette for every chart of the product.
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
# A step's status keeps one colour in every chart, so a slide reads like the ✅/⛔ of the texts:
# done green, in progress blue, blocked red (Okabe–Ito vermillion), not started and dropped
# grey. The two greys differ in lightness, not hue, so no kind of colour-blindness merges them
# or mistakes them for a colour. Charts stack statuses in this order.
STATUS_COLOURS: dict[StepStatus, str] = {
    StepStatus.DONE: OKABE_ITO["green"],
    StepStatus.IN_PROGRESS: OKABE_ITO["blue"],
    StepStatus.NOT_STARTED: "#CCCCCC",
    StepStatus.BLOCKED: OKABE_ITO["vermillion"],
    StepStatus.DROPPED: "#4D4D4D",
}
STATUS_ORDER: tuple[StepStatus, ...] = tuple(STATUS_COLOURS)
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 6.0, 120
LABEL_WRAP = 28
# Names and statements come from people and content files: a "$" must stay a dollar sign,
# never start matplotlib's math mode.
PLAIN: dict[str, Any] = {"parse_math": False}


@dataclass(frozen=True)
class ProfileChart:
    """Everything a dimension-profile chart shows, already in the reader's language."""

    title: str
    subtitle: str
    footer: str
    labels: list[str]
    scores: list[float | None]
    value_labels: list[str]
    axis_label: str


def build_profile_figure(chart: ProfileChart) -> Figure:
    """Draw dimension scores on a 1–5 axis as horizontal bars, top to bottom."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.30, 0.14, 0.62, 0.70))
    count = len(chart.labels)
    positions = list(range(count))[::-1]
    values = [s if s is not None else 0.0 for s in chart.scores]
    # Bars start at 1, the bottom of the scale, so their length reads as the score.
    bars = ax.barh(
        positions,
        [max(v - 1.0, 0.0) for v in values],
        left=1.0,
        height=0.62,
        color=[OKABE_ITO["blue"] if s is not None else OKABE_ITO["grey"] for s in chart.scores],
    )
    for bar, score, text in zip(bars, chart.scores, chart.value_labels, strict=True):
        x = (score if score is not None else 1.0) + 0.06
        ax.text(x, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=14, **PLAIN)
    ax.set_yticks(positions, [textwrap.fill(label, LABEL_WRAP) for label in chart.labels], **PLAIN)
    ax.tick_params(axis="y", labelsize=13, length=0)
    ax.tick_params(axis="x", labelsize=12)
    ax.set_xlim(1.0, 5.6)
    ax.set_xticks([1, 2, 3, 4, 5])
    ax.set_xlabel(chart.axis_label, fontsize=12, **PLAIN)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.text(0.03, 0.95, chart.title, fontsize=17, fontweight="bold", va="top", **PLAIN)
    fig.text(0.03, 0.895, chart.subtitle, fontsize=12, color="#444444", va="top", **PLAIN)
    fig.text(0.03, 0.025, chart.footer, fontsize=10, color="#666666", va="bottom", **PLAIN)
    return fig


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_profile(chart: ProfileChart) -> bytes:
    """Draw a profile chart and return it as PNG bytes."""
    return to_png(build_profile_figure(chart))
