"""The chart of /stats: joins and code activations per day, drawn as a PNG.

matplotlib draws it (its Agg renderer: a PNG without a display or system libraries, from wheels
for every platform, and the most used and maintained plotting library in Python). It is imported
by the first chart, not at start-up: with numpy under it, it costs 2-4 s of CPU and ~40 MB that a
bot without operators never pays. With operators, the program draws a small chart in a worker
thread right after it starts (`warm_up`), so that an operator's first /stats does not wait for
the import. Drawing takes ~0.3 s of CPU, so the front end runs it in a worker thread too; each
chart is its own `Figure` (no pyplot, no global state), which is safe there.
"""

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from db.results import Day

log = logging.getLogger(__name__)

JOINED_COLOUR = "#2a7fd4"
ACTIVATED_COLOUR = "#f28e2b"
TICK_EVERY = 5  # days between the labels under the chart (the last day is always labelled)


@dataclass(frozen=True, slots=True)
class ChartTexts:
    """The words of the chart in the reader's language, and how it writes numbers."""

    title: str
    joined: str
    activated: str
    day_axis: str
    people_axis: str
    day_labels: Sequence[str]  # one per day
    number: Callable[[int], str]


def days_chart(days: Sequence[Day], texts: ChartTexts) -> bytes:
    """Joins and activations per day as side-by-side bars, 1200x675 px: legible on a phone."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(8, 4.5), dpi=150, layout="constrained")
    axes = figure.add_subplot()
    positions = range(len(days))
    width = 0.42
    axes.bar(
        [x - width / 2 for x in positions],
        [day.joined for day in days],
        width,
        label=texts.joined,
        color=JOINED_COLOUR,
    )
    axes.bar(
        [x + width / 2 for x in positions],
        [day.activated for day in days],
        width,
        label=texts.activated,
        color=ACTIVATED_COLOUR,
    )
    ticks = sorted({*range(len(days) - 1, -1, -TICK_EVERY)})
    axes.set_xticks(ticks, [texts.day_labels[tick] for tick in ticks])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: texts.number(int(value))))
    axes.set_xlim(-0.7, len(days) - 0.3)
    axes.set_xlabel(texts.day_axis, fontsize=12)
    axes.set_ylabel(texts.people_axis, fontsize=12)
    axes.set_title(texts.title, fontsize=14, pad=30)
    axes.tick_params(labelsize=11)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=11, frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=2)
    image = io.BytesIO()
    figure.savefig(image, format="png")
    return image.getvalue()


def warm_up() -> None:
    """Import matplotlib and draw once (fonts, caches), in a worker thread; a failure is logged:
    the first real chart then tries again."""
    try:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(2, 1), dpi=50)
        axes = figure.add_subplot()
        axes.bar([0, 1], [1, 2])
        axes.set_title("Ёё")  # the Cyrillic glyphs of the default font
        figure.savefig(io.BytesIO(), format="png")
    except Exception:
        log.exception("charts not warmed up")
