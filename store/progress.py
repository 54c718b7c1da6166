"""Progress of a long conversion: a rich bar with MB/s and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n < 10e9 else f"{n / 1e9:,.2f} GB"


class Progress:
    """Counts bytes and lines done out of a known total.

    Args:
        total: Bytes to do (the file's size).
        done: Bytes already done before this run (a resumed conversion); not counted in the speed.
        label: What is being done, e.g. ``"convert ref.jsonl"``.
        stream: Where to report; a TTY gets a live bar, anything else a line every `interval` seconds.
        interval: Seconds between plain log lines.
        enabled: False to stay silent.
    """

    def __init__(self, total: int, done: int = 0, label: str = "convert", stream: TextIO | None = None,
                 interval: float = 5.0, enabled: bool = True) -> None:
        self.total = max(1, total)
        self.done = done
        self.start_done = done
        self.lines = 0
        self.label = label
        self.out = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.t0 = time.monotonic()
        self._last_log = self.t0
        self._rich: Any = None
        self._task: Any = None
        if enabled and getattr(self.out, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import (
                BarColumn, DownloadColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=Console(file=self.out), transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task(label, total=self.total, completed=done)

    @property
    def rate(self) -> float:
        """Bytes per second done in this run."""
        return (self.done - self.start_done) / max(1e-9, time.monotonic() - self.t0)

    def advance(self, nbytes: int, lines: int = 1) -> None:
        self.done += nbytes
        self.lines += lines
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)
        elif self.enabled and time.monotonic() - self._last_log >= self.interval:
            self._last_log = time.monotonic()
            self.log_line()

    def log_line(self) -> None:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta != float("inf") else "?"
        print(f"{self.label}: {self.lines} lines, {_mb(self.done)} of {_mb(self.total)} "
              f"({100 * self.done / self.total:.0f}%), {rate / 1e6:.0f} MB/s, ETA {eta_text}", file=self.out,
              flush=True)

    def note(self, text: str) -> None:
        """A message that does not break the bar."""
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.console.print(text)
        else:
            print(text, file=self.out, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


ProgressFactory = Callable[..., Progress]
