"""What the inspector shows about runs and chunks, parsed from the store's metrics JSON and run summaries.

Pure data, no store, no Textual: `inspector/tui/data.py` reads the JSON and hands it here. The engine
(`inspector/engine.py`, `inspector/metrics.py`, `inspector/acceptance.py`) decides the layout; the parsers accept
the keys it writes and a few spellings around them, and treat every key as optional, so a run written by an older
or newer engine (or imported from another tool) still shows whatever it has.
"""

from __future__ import annotations

from inspector.values import as_number

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

STATUS_MARKS = {"pass": "✓", "fail": "✗", "error": "!", "warn": "~", "unknown": "?", "missing": "·"}
"""One character per chunk status, as the chunk list shows it. ``unknown``: the run recorded the chunk but could not
decide it (an imported report that lists no figure for it: ``passed: null``); never shown as a pass."""

UNKNOWN_STATUSES = ("undetermined", "unknown", "undecided")
"""Chunk ``status`` values (as importers write them) that mean "recorded, not decided"."""


@dataclass(frozen=True)
class RunInfo:
    """One recorded run, as the selectors and the chunk list name it."""

    run_id: str
    backend: str
    mode: str
    stream: str
    status: str
    n_chunks: int
    baseline: str = ""
    precision: str = ""
    verdict: bool | None = None
    saves_outputs: bool | None = None
    started: str = ""
    model: str = ""
    """The model's file name (``m.onnx``; "" when the run names none)."""
    digest: str = ""
    """The first hex digits of the model file's sha256 ("" when not recorded)."""
    options: str = ""
    """The backend options that change what it computes, e.g. ``tf32=off io_binding=off``."""

    @property
    def what(self) -> str:
        """Options and model, e.g. ``tf32=off m.onnx#3fa2`` ("" when the run records neither)."""
        model = f"{self.model}#{self.digest}" if self.digest else self.model
        return " ".join(bit for bit in (self.options, model) if bit)

    @property
    def label(self) -> str:
        """e.g. ``ort-cpu closed-loop tf32=off m.onnx#3fa2``."""
        return " ".join(bit for bit in (f"{self.backend} {self.mode}", self.what) if bit)

    @property
    def short(self) -> str:
        """A legend entry, e.g. ``ort-cuda·CL tf32=off m.onnx#3fa2``."""
        mode = {"functional": "F", "closed-loop": "CL", "imported": "imp"}.get(self.mode, self.mode[:3])
        return " ".join(bit for bit in (f"{self.backend}·{mode}", self.what) if bit)


@dataclass(frozen=True)
class TensorFigures:
    """The recorded comparison figures of one tensor in one chunk (a subset of `inspector.metrics.TensorMetrics`)."""

    name: str
    passed: bool | None
    max_abs: float | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None
    max_rel: float | None = None
    rel_l2: float | None = None
    cosine: float | None = None
    atol: float | None = None
    rtol: float | None = None
    n_fail: int | None = None
    size: int | None = None
    nonfinite: int = 0
    worst_index: tuple[int, ...] | None = None
    diverging_frames: int | None = None
    n_frames: int | None = None
    message: str = ""
    bound: tuple[float | None, float | None] | None = None
    """Imported runs: what the source file says of max-abs when it gives no figure, ``(lo, hi)`` (None: unbounded)."""
    source: str = ""
    """Imported runs: where the figure (or its bound) comes from, in words."""

    def bound_text(self) -> str:
        """``≤ 1.00e-03``, ``≥ 2.13e-03``, ``2e-4..1e-3`` or ``unknown`` for a figure that is only bounded."""
        lo, hi = self.bound or (None, None)
        lo = None if lo is None or lo <= 0 else lo
        if lo is None and hi is None:
            return "unknown"
        if lo is None:
            return f"≤ {fmt(hi)}"
        if hi is None:
            return f"≥ {fmt(lo)}"
        return f"{fmt(lo)}..{fmt(hi)}"


@dataclass(frozen=True)
class RuleRow:
    """One rule and its outcome: an invariant or tolerance for a chunk, an acceptance rule for a run.

    `ok` is None when the rule was skipped (e.g. a `prev.` rule on the first chunk) or not judged.
    """

    id: str
    kind: str
    ok: bool | None
    detail: str = ""
    value: str = ""
    threshold: str = ""
    severity: str = "error"
    explain: bool = False
    """Show `detail` under the row even when the rule holds (state verdicts, undecided figures: the words are the
    result); failures always show it."""
    outcome: str = ""
    """A run verdict's outcome (`inspector.acceptance`): ``pass``, ``fail``, ``undetermined`` or ``info`` (older
    stores' ``skip``/``warn`` read as undetermined/info); "" for per-chunk rows. Only ``pass`` is shown green."""


@dataclass(frozen=True)
class CacheFingerprint:
    """`inspector.state.trajectory.Fingerprint` of one cache tensor as a chunk record stores it."""

    name: str
    norm: float | None
    rows: int | None
    nonzero_rows: float | None
    digest: str = ""


@dataclass(frozen=True)
class ChunkState:
    """What a closed-loop run recorded about the state it carried through one chunk (issue 8's trajectory hook writes
    it under ``extra.state``; imported streaming summaries at the top level under ``state``).

    Attributes:
        cache_len_in, cache_len_out: Attention-cache length fed in and returned.
        input_len: The stream's valid input frames.
        valid_out_len: Valid output frames.
        fingerprints: One per cache tensor, inputs first (empty for imported summaries).
        feedback_ok: Whether every fed-back output fit its input (recorded on a run's first chunk only).
        backend_error: The backend raised on this chunk (the lengths are then the reference's).
    """

    cache_len_in: int | None = None
    cache_len_out: int | None = None
    input_len: int | None = None
    valid_out_len: int | None = None
    fingerprints: tuple[CacheFingerprint, ...] = ()
    feedback_ok: bool | None = None
    backend_error: bool = False


@dataclass(frozen=True)
class ChunkRecord:
    """Everything a run recorded for one chunk.

    `status` is ``pass``, ``fail``, ``error`` (the backend raised), ``warn`` (a warning-severity rule failed),
    ``unknown`` (recorded but undecided, as imported reports leave chunks they give no figure for) or ``missing``
    (no record yet).
    """

    index: int
    status: str
    tensors: Mapping[str, TensorFigures] = field(default_factory=dict)
    rules: tuple[RuleRow, ...] = ()
    error: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    state: ChunkState | None = None

    def figure(self, tensor: str, metric: str = "max_abs") -> float | None:
        fig = self.tensors.get(tensor)
        if fig is None:
            return None
        value = getattr(fig, metric, None)
        return value if isinstance(value, (int, float)) else None

    def worst_ratio(self) -> float | None:
        """The chunk's worst max-abs relative to its tensor's atol (> 1 fails), over all tensors with an atol."""
        ratios = [f.max_abs / f.atol for f in self.tensors.values()
                  if f.max_abs is not None and f.atol and math.isfinite(f.max_abs)]
        return max(ratios) if ratios else None


MISSING = ChunkRecord(index=-1, status="missing")

STATE_KINDS = ("state_carried", "state_trajectory", "state_feedback")
"""Verdict kinds of issue 8 (`inspector.state.verdict.state_verdicts`), shown in words in the run section."""


# ---- parsing helpers ----------------------------------------------------------------------------------------------

_num = as_number


def _int(value: Any) -> int | None:
    v = _num(value)
    return None if v is None or not math.isfinite(v) else int(v)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        if low in ("pass", "passed", "ok", "true", "yes"):
            return True
        if low in ("fail", "failed", "false", "no", "error"):
            return False
    return None


def _first(d: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in d and d[key] is not None:
            return d[key]
    return default


def fmt(value: Any) -> str:
    """A number for a narrow column: 3 significant digits, exponent when small or large."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        if value == 0.0:
            return "0"
        if 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def _items(container: Any, name_key: str = "name") -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(name, dict) pairs from either ``{name: {...}}`` or ``[{name_key: name, ...}]``."""
    if isinstance(container, Mapping):
        for name, value in container.items():
            if isinstance(value, Mapping):
                yield str(name), value
            else:
                yield str(name), {"value": value}
    elif isinstance(container, (list, tuple)):
        for i, value in enumerate(container):
            if isinstance(value, Mapping):
                yield str(_first(value, name_key, "id", "name", "rule", "tensor", default=f"#{i}")), value


def _bound(value: Any) -> tuple[float | None, float | None] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = _num(value[0]), _num(value[1])
    hi = None if hi is not None and math.isinf(hi) else hi
    return lo, hi


def parse_tensor(name: str, d: Mapping[str, Any]) -> TensorFigures:
    passed = _bool(_first(d, "passed", "ok", "pass"))
    nonfinite = sum(_int(d.get(k)) or 0 for k in ("nonfinite_mismatch",)) or (_int(d.get("nonfinite_out")) or 0)
    worst = d.get("worst_index")
    bound = _bound(d.get("max_abs_bound"))
    return TensorFigures(
        name=str(d.get("name", name)), passed=passed,
        max_abs=_num(d.get("max_abs")), mean_abs=_num(d.get("mean_abs")), p99_abs=_num(d.get("p99_abs")),
        max_rel=_num(d.get("max_rel")), rel_l2=_num(d.get("rel_l2")), cosine=_num(d.get("cosine")),
        atol=_num(d.get("atol")), rtol=_num(d.get("rtol")), n_fail=_int(d.get("n_fail")), size=_int(d.get("size")),
        nonfinite=nonfinite,
        worst_index=tuple(int(i) for i in worst) if isinstance(worst, (list, tuple)) else None,
        diverging_frames=_int(d.get("diverging_frames")), n_frames=_int(d.get("n_frames")),
        message=str(d.get("message") or ""), bound=bound, source=str(d.get("source") or ""),
    )


def parse_state(d: Mapping[str, Any] | None) -> ChunkState | None:
    """A chunk's ``state`` figures (see `ChunkState`); None when the record has none."""
    if not isinstance(d, Mapping):
        return None
    prints = []
    fps = d.get("fp")
    if isinstance(fps, Mapping):
        for name, fp in fps.items():
            if isinstance(fp, Mapping):
                prints.append(CacheFingerprint(str(name), _num(fp.get("norm")), _int(fp.get("rows")),
                                               _num(fp.get("nonzero_rows")), str(fp.get("digest") or "")))
    # inputs first, each followed by its output (cache_last_channel, cache_last_channel_out, …)
    prints.sort(key=lambda f: (f.name.removesuffix("_out"), f.name.endswith("_out")))
    feedback = d.get("feedback")
    return ChunkState(
        cache_len_in=_int(d.get("cache_len_in")), cache_len_out=_int(d.get("cache_len_out")),
        input_len=_int(d.get("input_len")), valid_out_len=_int(d.get("valid_out_len")), fingerprints=tuple(prints),
        feedback_ok=_bool(feedback.get("ok")) if isinstance(feedback, Mapping) else None,
        backend_error=bool(d.get("backend_error")),
    )


def state_of(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``state`` dict of one chunk record: a live run's ``extra.state`` or an imported summary's ``state``
    (the same lookup as `inspector.state.trajectory.state_of`, without importing the engine)."""
    extra = raw.get("extra")
    if isinstance(extra, Mapping) and isinstance(extra.get("state"), Mapping):
        return extra["state"]
    st = raw.get("state")
    return st if isinstance(st, Mapping) else None


_STATUS_OK = {"pass": True, "passed": True, "ok": True, "fail": False, "failed": False, "warn": False,
              "warning": False, "error": False}
_OUTCOMES = {"pass": "pass", "fail": "fail", "undetermined": "undetermined", "info": "info", "skip": "undetermined",
             "warn": "info"}


def parse_rule(rule_id: str, d: Mapping[str, Any], kind: str) -> RuleRow:
    """One rule outcome: an engine invariant ``{"ok", "detail", "severity", "kind"}`` or an acceptance verdict
    ``{"rule", "kind", "status": pass|fail|warn|skip, "value", "threshold", "message", …}``."""
    status = str(d.get("status", "")).lower()
    ok = _bool(_first(d, "ok", "passed", "pass"))
    if ok is None:
        ok = _STATUS_OK.get(status)
    value = _first(d, "value", "observed", "actual")
    if value is None and isinstance(d.get("values"), Mapping) and d["values"]:
        value = ", ".join(f"{k}={fmt(v)}" for k, v in list(d["values"].items())[:3])
    threshold = _first(d, "threshold", "limit", "expected")
    severity = str(d.get("severity") or ("warning" if status in ("warn", "warning") else "error"))
    detail = str(_first(d, "detail", "message", "description", "check", default=""))
    first_bad = d.get("first_failing_chunk")
    if ok is False and isinstance(first_bad, int) and "chunk" not in detail:
        detail = (detail + " " if detail else "") + f"(first failing chunk {first_bad})"
    kind = str(d.get("kind", kind))
    return RuleRow(
        id=str(_first(d, "id", "rule", "name", default=rule_id)),
        kind=kind, ok=ok, detail=detail,
        value=value if isinstance(value, str) else fmt(value),
        threshold=threshold if isinstance(threshold, str) else fmt(threshold),
        severity=severity,
        # the state verdicts are sentences (is the cache carried, how the length moves, is the feedback wired
        # right), and a skipped rule says why: their words are the result
        explain=kind in STATE_KINDS or (status in ("skip", "undetermined", "info", "warn") and bool(detail)),
        outcome=_OUTCOMES.get(status, "") if "rule" in d else "",
    )


def parse_chunk(index: int, raw: Mapping[str, Any] | None) -> ChunkRecord:
    """A run's metrics JSON for one chunk → `ChunkRecord` (status ``missing`` when there is none)."""
    if raw is None:
        return ChunkRecord(index=index, status="missing")
    tensors_raw = _first(raw, "tensors", "outputs", "metrics", "compare", default={})
    tensors = {name: parse_tensor(name, d) for name, d in _items(tensors_raw)
               if any(k in d for k in ("max_abs", "passed", "ok", "message"))}
    rules: list[RuleRow] = []
    # (a record's "state" holds the trajectory figures, not rules: see `parse_state`)
    for key, kind in (("invariants", "invariant"), ("alarms", "alarm"), ("rules", "invariant"),
                      ("checks", "invariant")):
        rules += [parse_rule(rid, d, kind) for rid, d in _items(raw.get(key), "id")]
    for fig in tensors.values():
        if fig.atol is None and fig.passed is None:
            continue
        threshold = fmt(fig.atol) + (f"+{fmt(fig.rtol)}·|ref|" if fig.rtol else "")
        undecided = fig.passed is None and fig.max_abs is None
        rules.append(RuleRow(
            id=fig.name, kind="tolerance", ok=fig.passed,
            detail=fig.message or (f"not decided: {fig.source}" if undecided and fig.source else ""),
            value=fig.bound_text() if undecided else fmt(fig.max_abs), threshold=threshold, explain=undecided))
    if raw.get("tightened"):
        fired = raw.get("tightening_fired") or []
        rules.append(RuleRow(
            id="tightened tolerances", kind="alarm", ok=None, severity="warning",
            detail=("from this chunk: " + ", ".join(str(f) for f in fired)) if fired else
            "the contract's tightened tolerances apply (a re-validation condition held earlier)"))
    error = str(_first(raw, "error", "exception", default="") or "")
    status = str(raw.get("status", "")).lower()
    if status in ("passed", "ok"):
        status = "pass"
    elif status in ("failed",):
        status = "fail"
    elif status in UNKNOWN_STATUSES:
        status = "unknown"
    if status not in ("pass", "fail", "error", "warn", "unknown"):
        verdict = _bool(_first(raw, "passed", "ok"))
        if error:
            status = "error"
        elif verdict is not None:
            status = "pass" if verdict else "fail"
        elif any(r.ok is False and r.severity == "error" for r in rules) or any(
                f.passed is False for f in tensors.values()):
            status = "fail"
        elif any(r.ok is False for r in rules):
            status = "warn"
        elif any(f.passed is None for f in tensors.values()) or not (
                tensors or any(r.ok is not None for r in rules)):
            status = "unknown"  # undecided, or nothing was judged: never shown as a pass
        else:
            status = "pass"
    return ChunkRecord(index=index, status=status, tensors=tensors, rules=tuple(rules), error=error, raw=raw,
                       state=parse_state(state_of(raw)))


def parse_summary(summary: Mapping[str, Any] | None) -> tuple[RuleRow, ...]:
    """A run's `RunRecord.summary` → its acceptance verdicts (and any state/alarm verdicts) as rule rows."""
    if not summary:
        return ()
    rows: list[RuleRow] = []
    for key, kind in (("acceptance", "acceptance"), ("verdicts", "acceptance"), ("rules", "acceptance"),
                      ("state", "state"), ("alarms", "alarm"), ("invariants", "invariant")):
        value = summary.get(key)
        if isinstance(value, Mapping) and any(k in value for k in ("ok", "passed", "verdict")):
            rows.append(parse_rule(key, value, kind))
        else:
            rows += [parse_rule(rid, d, kind) for rid, d in _items(value, "id")]
    return tuple(rows)


def summary_verdict(summary: Mapping[str, Any] | None) -> bool | None:
    """The run's overall verdict when its summary states one (or all its acceptance rows do)."""
    if not summary:
        return None
    if str(summary.get("outcome") or "") in ("undetermined", "not judged"):
        return None  # nothing failed, but not everything required was decided: never shown as a pass
    verdict = _bool(_first(summary, "passed", "ok", "verdict"))
    if verdict is not None:
        return verdict
    rows = [r for r in parse_summary(summary) if r.ok is not None]
    return all(r.ok for r in rows) if rows else None
