"""The diagnostics panel: progress and results of the jobs run on the current chunk (`inspector.tui.jobs`).

- ``d``: the `cache_last_time` checks: the three verdict codes (nature of the error, whether the cache input is
  active, whether its error propagates) each with the check's sentence and numbers, then the verdict in words;
- ``i``: first-diverging-node triage: the first node whose error clearly rises above its inputs', and the ten worst
  nodes as a table;
- ``b``: the reproduction bundle: where it was written, its files and the command that re-runs it.

The text is prepared by the `*_text` functions below (plain Rich `Text`, testable without an app); the panel only
shows it, scrolls it, and keeps the last result for the full-report modal (``o``).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ProgressBar, Static

from inspector.tui.records import fmt
from inspector.tui.widgets.guard import Guarded

IDLE_HINT = ("d  cache_last_time checks on this chunk\n"
             "i  first diverging node (triage)\n"
             "b  export the chunk's reproduction bundle\n"
             "o  the last result's full report")

NATURE_WORDS = {
    "none": "no significant error", "padding-artefact": "padding-side artefact", "padding-junk": "padding junk",
    "edge-error": "error at the cache's edge", "real-error": "real error",
}
EFFECT_WORDS = {
    "propagating": "propagating", "non-propagating": "non-propagating",
    "nothing-to-propagate": "nothing to propagate", "unknown": "propagation unknown", "skipped": "not checked",
}
GOOD, BAD, DOUBT, QUIET = "green", "bold red", "yellow", "dim"


def _wrap(text: str, width: int, indent: str = "  ", limit: int = 8) -> str:
    lines = textwrap.wrap(text, max(width - len(indent), 12))
    if len(lines) > limit:
        lines = lines[:limit - 1] + [lines[limit - 1][: max(width - len(indent) - 1, 1)] + "…"]
    return "\n".join(indent + line for line in lines)


def _code_style(kind: str, code: str, nature: str) -> str:
    if kind == "nature":
        return GOOD if code == "none" else (BAD if code == "real-error" else DOUBT)
    if kind == "activity":
        return {"active": GOOD, "inactive": BAD}.get(code, QUIET)
    # effect: harmless when there is nothing significant to carry
    if code in ("non-propagating", "nothing-to-propagate") or (code == "propagating" and nature == "none"):
        return GOOD
    return BAD if code == "propagating" else QUIET


def cache_time_verdict(report: Any) -> tuple[str, bool | None]:
    """A headline for the `cache_last_time` report and whether it is good news (None: undecided)."""
    nature = report.verdict.get("nature", "")
    effect = report.verdict.get("effect", "")
    words = f"{NATURE_WORDS.get(nature, nature)} · {EFFECT_WORDS.get(effect, effect)}"
    if nature == "none" or effect in ("non-propagating", "nothing-to-propagate"):
        return (words + (" (harmless)" if effect == "propagating" else "")), True
    if effect == "propagating":
        return words, False
    return words, None


def cache_time_text(report: Any, width: int, notes: tuple[str, ...] = ()) -> Text:
    """The `cache_last_time` report (`CacheTimeReport`) for a narrow panel: the numbers, then one row per verdict
    code with its check's sentence, then the verdict in words."""
    width = max(width, 30)
    out = Text()
    tol = report.tolerance or {}
    out.append(f"{report.output} [{','.join(str(s) for s in report.shape)}]\n", style="bold")
    out.append(f"  max|err| {fmt(float(report.max_abs))}")
    if tol.get("atol") is not None:
        passed = tol.get("passed")
        out.append(f" / atol {fmt(float(tol['atol']))} ")
        out.append("✓" if passed else "✗", style=GOOD if passed else BAD)
        if tol.get("tightened"):
            out.append(" tightened", style=DOUBT)
    out.append(f"\n  cache len in {report.cache_len_in} → out {report.cache_len_out}"
               f" (reference {report.cache_len_out_reference})\n")
    nature = report.verdict.get("nature", "")
    checks = [
        ("nature", "(1) where · (2) significance",
         [report.distribution.text, report.significance.text]),
        ("activity", f"(3) is {report.input} used",
         [report.activity.text] if report.activity is not None else ["skipped: needs a backend"]),
        ("effect", "(4) does it reach later chunks",
         [report.propagation.text] if report.propagation is not None else ["skipped: needs a backend"]),
    ]
    for kind, question, sentences in checks:
        code = report.verdict.get(kind, "?")
        out.append(f"{kind:<9}", style="bold")
        out.append(code, style=_code_style(kind, code, nature))
        out.append(f"  {question}\n", style=QUIET)
        for sentence in dict.fromkeys(sentences):  # (1) and (2) often say the same ("no error to place")
            out.append(_wrap(sentence, width) + "\n")
    out.append("verdict ", style="bold")
    headline, ok = cache_time_verdict(report)
    out.append(headline + "\n", style={True: GOOD, False: BAD, None: DOUBT}[ok])
    out.append(_wrap(report.summary, width) + "\n")
    for note in notes:  # how it was run (e.g. what to pass for the skipped checks): it matters, in full
        out.append(_wrap(f"note: {note}", width, limit=12) + "\n", style=DOUBT)
    for note in report.notes:
        out.append(_wrap(f"note: {note}", width, limit=6) + "\n", style=QUIET)
    return out


def _short(name: str, room: int) -> str:
    return name if len(name) <= room else "…" + name[-max(room - 1, 1):]


def triage_text(report: Any, width: int) -> Text:
    """The triage report (`TriageReport`) for a narrow panel: the first diverging node, the ten worst nodes as a
    table (index, op, output error, its inputs' error, name), differing weights, the verdict."""
    width = max(width, 30)
    out = Text()
    out.append(f"{report.backend} vs {report.baseline}", style="bold")
    same = report.model == report.baseline_model
    out.append(" (same model)\n" if same else f"\n  baseline model {_short(str(report.baseline_model), width - 17)}\n",
               style=QUIET)
    out.append(f"  {report.nodes} nodes, {report.compared} tensors compared\n", style=QUIET)
    out.append("first diverging node\n", style="bold")
    first = report.first
    if first is None:
        out.append("  none", style=GOOD)
        out.append(f" (rule: rel-L2 > {report.factor:g}× inputs and > {report.floor:g})\n", style=QUIET)
    else:
        out.append(f"  #{first.index} {first.op_type}\n", style=BAD)
        out.append(f"  {_short(first.name, width - 2)}\n")
        out.append(f"  output err {_err(first.error)}, inputs {_err(first.input_error)}"
                   f" (×{_err(first.amplification)})\n")
        if first.weights:
            out.append(_wrap("weights differ: " + ", ".join(first.weights), width, limit=3) + "\n", style=DOUBT)
    if report.worst:
        out.append("worst nodes", style="bold")
        out.append("  (rel-L2 error; name below)\n", style=QUIET)
        out.append(f"  {'#':>5} {'op':<14} {'error':>9} {'inputs':>9}\n", style="underline")
        for node in report.worst[:10]:
            style = BAD if node.diverges else ""
            out.append(f"  {node.index:>5} {node.op_type[:14]:<14} {_err(node.error):>9} {_err(node.input_error):>9}"
                       "\n", style=style)
            out.append(f"        {_short(node.name, width - 8)}\n", style=QUIET)
    if report.weight_diffs:
        out.append(f"{len(report.weight_diffs)} weight(s) differ between the models, e.g. "
                   f"{report.weight_diffs[0].name}\n", style=DOUBT)
    out.append("verdict ", style="bold")
    out.append(_wrap(report.summary, width).lstrip() + "\n", style=BAD if first is not None else GOOD)
    for note in report.notes[:3]:
        out.append(_wrap(f"note: {note}", width, limit=4) + "\n", style=QUIET)
    return out


def _err(x: float | None) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return fmt(float(x))


def bundle_text(diagnosis: Any, width: int) -> Text:
    """Where the bundle went, its files, and the command that re-runs the chunk."""
    width = max(width, 30)
    out = Text()
    out.append("written to\n", style="bold")
    out.append(_wrap(str(diagnosis.report), width, limit=4) + "\n")
    files = diagnosis.extra.get("files", [])
    out.append(_wrap("files: " + ", ".join(files), width, limit=5) + "\n", style=QUIET)
    commands = diagnosis.extra.get("commands") or {}
    if commands.get("polygraphy_compare"):
        out.append("re-run and compare with\n", style="bold")
        out.append(_wrap(commands["polygraphy_compare"], width, limit=6) + "\n")
    for note in diagnosis.notes:
        out.append(_wrap(f"note: {note}", width, limit=4) + "\n", style=DOUBT)
    return out


def result_text(diagnosis: Any, width: int) -> tuple[str, bool | None, Text]:
    """(verdict line, good news?, body) of any finished job."""
    if diagnosis.kind == "cache-time":
        headline, ok = cache_time_verdict(diagnosis.report)
        return headline, ok, cache_time_text(diagnosis.report, width, diagnosis.notes)
    if diagnosis.kind == "triage":
        first = diagnosis.report.first
        if first is None:
            return "no node diverges", True, triage_text(diagnosis.report, width)
        return f"first diverging: #{first.index} {first.op_type}", False, triage_text(diagnosis.report, width)
    return "bundle written", True, bundle_text(diagnosis, width)


class DiagnosticsPanel(Guarded, Vertical):
    """Title line, a progress bar while a job runs, and the last result (scrolls when long)."""

    DEFAULT_CSS = """
    DiagnosticsPanel {
        height: auto;
        max-height: 60%;
        border-top: solid $primary-background;
    }
    DiagnosticsPanel > #diag-title {
        height: 1;
    }
    DiagnosticsPanel > #diag-verdict {
        height: auto;
    }
    DiagnosticsPanel > ProgressBar {
        display: none;
        height: 1;
    }
    DiagnosticsPanel.-running > ProgressBar {
        display: block;
    }
    DiagnosticsPanel > VerticalScroll {
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.last: Any = None
        """The last finished job's `inspector.tui.jobs.Diagnosis` (None before, or after a failure)."""
        self.verdict: str = ""
        """The verdict line now shown (tests read it)."""
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("diagnostics", style="bold underline"), id="diag-title")
        yield Static(id="diag-verdict")
        yield ProgressBar(total=None, show_eta=False, id="diag-progress")
        with VerticalScroll(id="diag-scroll"):
            yield Static(Text(IDLE_HINT, style=QUIET), id="diag-body")

    @property
    def body_width(self) -> int:
        width = self.query_one("#diag-scroll").scrollable_content_region.width
        return max(width - 1, 30) if width else 44

    def _title(self, text: str) -> None:
        self.query_one("#diag-title", Static).update(Text(text, style="bold underline", no_wrap=True,
                                                          overflow="ellipsis"))

    def _verdict(self, text: str, style: str) -> None:
        self.verdict = text
        self.query_one("#diag-verdict", Static).update(Text(text, style=style))

    def start(self, title: str) -> None:
        """A job started: its title, an indeterminate bar, no result."""
        self._shown = None
        self.add_class("-running")
        self._title(f"{title} …")
        self._verdict("", "")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one("#diag-body", Static).update(Text("starting …", style=QUIET))

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        if text:
            self.query_one("#diag-body", Static).update(Text(text, style=QUIET))

    def show_result(self, title: str, diagnosis: Any) -> None:
        """A finished job: verdict line and body (the title names what actually ran, e.g. recorded outputs)."""
        self.remove_class("-running")
        self.last = diagnosis
        if diagnosis.kind == "cache-time":
            title = f"cache_last_time · chunk {diagnosis.chunk} · {diagnosis.backend}"
        self._shown = (title, diagnosis)
        self._draw()

    def show_error(self, title: str, message: str, cancelled: bool = False) -> None:
        """A job that could not run (the message says what to pass or install) or was cancelled."""
        self.remove_class("-running")
        self._shown = None
        self._title(title)
        if cancelled:
            self._verdict("cancelled", DOUBT)
            self.query_one("#diag-body", Static).update(Text(message or "stopped on request", style=QUIET))
        else:
            self._verdict("could not run", BAD)
            self.query_one("#diag-body", Static).update(Text(message))

    def _draw(self) -> None:
        if self._shown is None:
            return
        title, diagnosis = self._shown
        self._title(title)
        verdict, ok, body = result_text(diagnosis, self.body_width)
        self._verdict(verdict, {True: GOOD, False: BAD, None: DOUBT}[ok])
        self.query_one("#diag-body", Static).update(body)
        self.query_one("#diag-scroll", VerticalScroll).scroll_home(animate=False)

    def on_resize(self, event: events.Resize) -> None:
        self._draw()
