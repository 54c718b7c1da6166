"""The conversion panel: a progress bar with MB/s, chunks and ETA while a reference JSONL converts; the converter's
one-paragraph error when it stops at a bad line; what was left out with --skip-invalid."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from inspector.tui.conversion import ConvertStatus

SKIPPED_SHOWN = 5
BAR_WIDTH = 40


def _size(n: float) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 10e9 else f"{n / 1e6:,.1f} MB"


def _eta(seconds: float | None) -> str:
    return "ETA ?" if seconds is None else "ETA " + time.strftime("%H:%M:%S", time.gmtime(seconds)).removeprefix("00:")


def bar(fraction: float, width: int = BAR_WIDTH) -> Text:
    """A plain text progress bar (Rich's ProgressBar ends without a line break, so text after it is lost)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return Text.assemble(("━" * filled, "bold cyan"), ("━" * (width - filled), "dim"))


def render_status(status: ConvertStatus) -> RenderableType:
    """What the panel shows for `status` (also what the tests read)."""
    name, store = status.source.name, status.store.name
    if status.running:
        line = bar(status.fraction)
        line.append(f" {status.fraction:.0%} · {_size(status.done)} of {_size(status.total)} · "
                    f"{status.rate / 1e6:,.0f} MB/s · {status.chunks} chunks · {_eta(status.eta)}")
        hint = Text("q stops: converted chunks are kept, and opening the file again resumes", style="dim")
        return Group(Text.assemble(("Converting ", "bold"), f"{name} → {store}"), line, hint)
    if status.state in ("stopped", "refused", "failed"):
        kept = (f"The {status.chunks} chunks converted before it are kept and can be browsed." if status.chunks
                else "No chunk was converted.")
        return Group(Text(status.error), Text(kept, style="bold"))
    if status.state == "cancelled":
        return Text(f"Conversion of {name} stopped: {status.chunks} chunks kept in {store}; opening {name} again "
                    f"resumes it.")
    done = "already converted" if status.state == "up-to-date" else f"converted in {status.seconds:.1f} s"
    lines = [Text(f"{store}: {status.chunks} chunks from {name}, {done}.")]
    if status.skipped:
        lines.append(Text(f"{len(status.skipped)} line(s) left out (--skip-invalid); also listed in the store's "
                          f"'skipped' attribute:", style="bold"))
        for s in status.skipped[:SKIPPED_SHOWN]:
            where = ", ".join(f"{k} {s[k]!r}" for k in ("stream", "chunk", "tensor") if s.get(k) is not None)
            lines.append(Text(f"  line {s.get('line')}{f' ({where})' if where else ''}: {s.get('problem')}"))
        if len(status.skipped) > SKIPPED_SHOWN:
            lines.append(Text(f"  … and {len(status.skipped) - SKIPPED_SHOWN} more"))
    if status.warnings:
        lines.append(Text(f"{len(status.warnings)} warning(s), chunks kept: "
                          + "; ".join(f"line {w.get('line')}: {w.get('problem')}" for w in status.warnings[:3])))
    return Group(*lines)


class ConvertProgress(Static):
    """Shows one `ConvertStatus`; the app calls `show` with each update."""

    DEFAULT_CSS = """
    ConvertProgress {
        height: auto;
        max-height: 14;
        border: round $accent;
        padding: 0 1;
    }
    ConvertProgress.-error {
        border: round $error;
    }
    ConvertProgress.-done {
        border: round $success;
    }
    """

    TITLES = {"starting": "conversion", "converting": "conversion", "complete": "conversion complete",
              "up-to-date": "store up to date", "stopped": "conversion stopped at a bad line",
              "refused": "conversion refused", "failed": "conversion failed", "cancelled": "conversion stopped"}

    def __init__(self, status: ConvertStatus | None = None, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.status: ConvertStatus | None = None
        if status is not None:
            self.show(status)

    def show(self, status: ConvertStatus) -> None:
        self.status = status
        self.border_title = self.TITLES.get(status.state, status.state)
        self.set_class(status.state in ("stopped", "refused", "failed"), "-error")
        self.set_class(status.state in ("complete", "up-to-date"), "-done")
        self.update(render_status(status))


__all__ = ["ConvertProgress", "render_status"]
