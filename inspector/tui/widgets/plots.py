"""Error versus chunk index (plotext): the selected run's figure for the selected tensor, other runs faded, the
contract's thresholds as horizontal lines, the current chunk as a vertical line. ``p`` turns it into the run's state
trajectory: the attention cache's length fed in and returned per chunk, and how many of its rows fed in hold data
(the fingerprint), so a cache that never grows, or grows without data, shows at a glance. ``p`` once more: the run's
step latency, each chunk's inference ms, warm-up chunks (the first at each input shape) and outliers marked apart
and the steady median as a line (`inspector.latency.latency_series`).

plotext rebuilds the whole plot on every render, which is fine for a line plot of a few hundred points but not on
every key press: the screen moves the chunk marker through `mark_chunk`, which it calls debounced.
"""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from inspector.tui.records import fmt
from inspector.tui.widgets.guard import Guarded
from inspector.tui.widgets.legend import tick_label

RUN_COLOUR = "cyan"
OTHER_COLOURS = ("gray", "blue", "green", "magenta")
THRESHOLD_COLOURS = {"atol": "yellow"}
STATE_CACHE = "cache_last_channel"
"""The cache whose fingerprint rows the state plot draws (the attention cache fed in: its rows are its length)."""


def log_values(values: list[float], floor: float) -> list[float]:
    """log10 of each value, zeros and negatives drawn at `floor` (a tenth of the smallest positive value)."""
    return [math.log10(v if v > 0 and math.isfinite(v) else floor) for v in values]


def decade_ticks(lo: float, hi: float, most: int = 6) -> list[int]:
    """Integer decades (log10 values) spanning [lo, hi], thinned to at most `most` ticks."""
    first, last = math.floor(lo), math.ceil(hi)
    if first == last:
        first, last = first - 1, last + 1
    step = max(1, -(-(last - first) // (most - 1)))
    return list(range(first, last + 1, step))


class ErrorPlot(Guarded, PlotextPlot):
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
        self.kind = "error"
        """What is drawn: ``error`` (per-chunk max-abs), ``state`` (the state trajectory) or ``latency``."""
        self.latency: Any = None
        """The run's `inspector.latency.LatencySeries` (None: no run selected)."""
        self.latency_title = ""
        self.trajectory: Any = None
        """The run's `inspector.state.trajectory.Trajectory` (None: the run recorded none)."""
        self.state_title = ""

    def set_series(self, title: str, xs: list[int], ys: list[float], thresholds: list[tuple[str, float]],
                   other: dict[str, tuple[list[int], list[float]]] | None = None, current: int | None = None,
                   label: str = "") -> None:
        """Replace the plotted data and redraw."""
        self.title, self.xs, self.ys, self.label = title, list(xs), list(ys), label
        self.thresholds = list(thresholds)
        self.other = dict(other or {})
        self.current = current
        self._replot()

    def set_state(self, title: str, trajectory: Any) -> None:
        """Replace the state trajectory (drawn when `kind` is ``state``)."""
        self.state_title, self.trajectory = title, trajectory
        if self.kind == "state":
            self._replot()

    def set_latency(self, title: str, series: Any) -> None:
        """Replace the latency series (drawn when `kind` is ``latency``)."""
        self.latency_title, self.latency = title, series
        if self.kind == "latency":
            self._replot()

    def show_kind(self, kind: str) -> None:
        """Draw ``error``, ``state`` or ``latency``."""
        if kind != self.kind:
            self.kind = kind
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
        if self.kind == "state":
            self._plot_state()
            self.refresh()
            return
        if self.kind == "latency":
            self._plot_latency()
            self.refresh()
            return
        # Logs are taken here, once, and plotted on a linear axis with decade labels: plotext's own log scale
        # takes the log of its data again on every build (every render, so every resize), which fails on the
        # already logged, negative values ("math domain error").
        values = [y for y in self.ys if y > 0] + [v for _, v in self.thresholds if v > 0]
        for _, ys in self.other.values():
            values += [y for y in ys if y > 0]
        values = [v for v in values if math.isfinite(v)]
        floor = min(values) / 10 if values else 1e-12
        plt.title(self.title)
        plt.xlabel("chunk")
        logs: list[float] = []
        for n, (label, (xs, ys)) in enumerate(self.other.items()):
            if xs:
                lys = log_values(ys, floor)
                logs += lys
                plt.plot(xs, lys, color=OTHER_COLOURS[n % len(OTHER_COLOURS)], label=label, marker="dot")
        if self.xs:
            lys = log_values(self.ys, floor)
            logs += lys
            plt.plot(self.xs, lys, color=RUN_COLOUR, marker="braille", label=self.label or None)
        xs_all = self.xs + [x for xs, _ in self.other.values() for x in xs]
        if xs_all:
            lo, hi = min(xs_all), max(xs_all)
            step = max(1, -(-(hi - lo) // 8))
            plt.xticks(list(range(lo, hi + 1, step)))
        lines = [(label, math.log10(value)) for label, value in self.thresholds if value > 0 and math.isfinite(value)]
        logs += [v for _, v in lines]
        if logs:
            ticks = decade_ticks(min(logs), max(logs))
            plt.yticks(ticks, [tick_label(10.0 ** t) for t in ticks])
        for label, value in lines:
            plt.hline(value, THRESHOLD_COLOURS.get(label, "red"))
        if self.current is not None:
            plt.vline(self.current, "white")
        if not self.xs and not self.other:
            plt.title(self.title + " — no figures recorded")
        self.refresh()

    def _plot_state(self) -> None:
        plt = self.plt
        traj = self.trajectory
        plt.xlabel("chunk")
        if traj is None or not traj.has_lengths:
            plt.title(self.state_title or "no state trajectory: closed-loop runs record one (R runs one)")
            return
        plt.title(self.state_title)
        chunks = list(traj.chunks)

        def known(values: Any) -> tuple[list[int], list[float]]:
            pairs = [(c, v) for c, v in zip(chunks, values) if v is not None]
            return [c for c, _ in pairs], [float(v) for _, v in pairs]

        for label, values, colour, marker in (("len in", traj.cache_len_in, "gray", "dot"),
                                              ("len out", traj.cache_len_out, RUN_COLOUR, "braille")):
            xs, ys = known(values)
            if xs:
                plt.plot(xs, ys, color=colour, marker=marker, label=label)
        rows = [(c, float(f["rows"])) for c, f in zip(chunks, traj.fp.get(STATE_CACHE, ()))
                if f is not None and f.get("rows") is not None]
        if rows:
            plt.plot([c for c, _ in rows], [v for _, v in rows], color="magenta", marker="dot",
                     label=f"{STATE_CACHE} rows fed")
        if chunks:
            lo, hi = min(chunks), max(chunks)
            step = max(1, -(-(hi - lo) // 8))
            plt.xticks(list(range(lo, hi + 1, step)))
        for chunk in traj.errors:
            plt.vline(chunk, "red")
        if self.current is not None:
            plt.vline(self.current, "white")

    def _plot_latency(self) -> None:
        plt = self.plt
        series = self.latency
        plt.xlabel("chunk")
        if series is None or not series.chunks:
            plt.title(self.latency_title or "no step times: the run recorded no inference time")
            return
        plt.title(self.latency_title)
        # Linear ms (no log axis: nothing to re-log on a resize); warm-up and outlier chunks as their own marks so
        # a seconds-long cuDNN search at a new shape does not read as the steady step.
        steady = [(c, v) for c, v in zip(series.chunks, series.ms) if c not in series.warmup]
        plain = [(c, v) for c, v in steady if c not in series.outliers]
        if plain:
            plt.plot([c for c, _ in plain], [v for _, v in plain], color=RUN_COLOUR, marker="braille",
                     label="steady ms")
        for label, chunks, colour in (("warm-up", series.warmup, "yellow"), ("outlier", series.outliers, "red")):
            pts = [(c, v) for c, v in zip(series.chunks, series.ms) if c in chunks]
            if pts:
                plt.scatter([c for c, _ in pts], [v for _, v in pts], color=colour, marker="x", label=label)
        lo, hi = min(series.chunks), max(series.chunks)
        step = max(1, -(-(hi - lo) // 8))
        plt.xticks(list(range(lo, hi + 1, step)))
        if series.median is not None and math.isfinite(series.median):
            plt.hline(series.median, "gray")
        if self.current is not None:
            plt.vline(self.current, "white")

    def threshold_text(self) -> str:
        return "  ".join(f"{label} {fmt(value)}" for label, value in self.thresholds)
