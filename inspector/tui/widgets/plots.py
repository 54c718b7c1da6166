"""Error versus chunk index (plotext): the selected run's figure for the selected tensor, other runs faded, the
contract's thresholds as horizontal lines, the current chunk as a vertical line.

plotext rebuilds the whole plot on every render, which is fine for a line plot of a few hundred points but not on
every key press: the screen moves the chunk marker through `mark_chunk`, which it calls debounced.
"""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

from inspector.tui.records import fmt

RUN_COLOUR = "cyan"
OTHER_COLOURS = ("gray", "blue", "green", "magenta")
THRESHOLD_COLOURS = {"atol": "yellow"}


class ErrorPlot(PlotextPlot):
    """Per-chunk error of one tensor over a run, on a log scale."""

    DEFAULT_CSS = """
    ErrorPlot {
        height: 12;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.xs: list[int] = []
        self.ys: list[float] = []
        self.title = ""
        self.label = ""
        self.thresholds: list[tuple[str, float]] = []
        self.other: dict[str, tuple[list[int], list[float]]] = {}
        self.current: int | None = None

    def set_series(self, title: str, xs: list[int], ys: list[float], thresholds: list[tuple[str, float]],
                   other: dict[str, tuple[list[int], list[float]]] | None = None, current: int | None = None,
                   label: str = "") -> None:
        """Replace the plotted data and redraw."""
        self.title, self.xs, self.ys, self.label = title, list(xs), list(ys), label
        self.thresholds = list(thresholds)
        self.other = dict(other or {})
        self.current = current
        self._replot()

    def mark_chunk(self, index: int | None) -> None:
        """Move the current-chunk marker (a full replot: call it debounced)."""
        if index != self.current:
            self.current = index
            self._replot()

    def _replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        values = [y for y in self.ys if y > 0] + [v for _, v in self.thresholds if v > 0]
        for _, ys in self.other.values():
            values += [y for y in ys if y > 0]
        floor = min(values) / 10 if values else 1e-12
        plt.title(self.title)
        plt.xlabel("chunk")
        if values:
            plt.yscale("log")
        for n, (label, (xs, ys)) in enumerate(self.other.items()):
            if xs:
                plt.plot(xs, [max(y, floor) for y in ys], color=OTHER_COLOURS[n % len(OTHER_COLOURS)], label=label,
                         marker="dot")
        if self.xs:
            plt.plot(self.xs, [max(y, floor) for y in self.ys], color=RUN_COLOUR, marker="braille",
                     label=self.label or None)
        xs_all = self.xs + [x for xs, _ in self.other.values() for x in xs]
        if xs_all:
            lo, hi = min(xs_all), max(xs_all)
            step = max(1, -(-(hi - lo) // 8))
            plt.xticks(list(range(lo, hi + 1, step)))
        for label, value in self.thresholds:
            if value > 0 and math.isfinite(value):
                plt.hline(value, THRESHOLD_COLOURS.get(label, "red"))
        if self.current is not None:
            plt.vline(self.current, "white")
        if not self.xs and not self.other:
            plt.title(self.title + " — no figures recorded")
        self.refresh()

    def threshold_text(self) -> str:
        return "  ".join(f"{label} {fmt(value)}" for label, value in self.thresholds)
