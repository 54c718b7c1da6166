"""Run verdicts: the contract's acceptance rules judged over every chunk of one run.

Input is the list of per-chunk records the engine writes (see `inspector.engine`, "chunk record"); output is a list
of frozen `Verdict` objects, one per rule. A verdict has one of four outcomes, and only one of them is green:

- ``pass``: the rule was decided and holds;
- ``fail``: the rule was decided and does not hold;
- ``undetermined``: the rule could not be decided: no chunk ran, the tensor never appeared or was empty, too few
  chunks for a trend, a probe, hook or metric raised, an imported report lacks the figures. Never a pass;
- ``info``: a rule the contract marks ``informational`` (a pass rate reported with threshold 0, a warning-severity
  invariant): shown with its figure, never as a pass, and it does not gate the run.

A verdict is *required* unless the contract marks its rule informational (a warning/info-severity invariant is
informational by its severity); ``outputs``, ``backend_errors`` and, in closed loop, ``state_carried`` are always
required. A run passes only if every required verdict passes (`run_outcome`): any required ``fail`` makes it fail,
else any required ``undetermined`` makes it undetermined (exit 3), unless the user accepted that verdict explicitly
(`accept_undetermined`, ``--allow-undetermined RULE``; the verdict then records the flag in ``accepted_by``).

The rules:

- ``quantile``: the q-quantile (numpy's linear method) of a per-chunk metric of one tensor must be ``< threshold``
  (the seed's P95/P100 of encoder_output max-abs). A chunk whose backend raised or produced no finite number counts
  as +inf, so it can never hide; a chunk whose tensor is empty has no figure (undetermined unless the rule fails on
  the other chunks);
- ``pass_rate``: the share of chunks whose tensor (or, without a tensor, the whole chunk) passed its tolerance must be
  ``>= threshold``; threshold 0 is a reported figure (``info``);
- ``no_growth`` (closed loop): error must not grow with chunk index. Kendall's tau and Spearman's rho of the metric
  against the index, plus the ratio of the mean of the last quarter of chunks to the first quarter. Growth is flagged
  when the trend is significant (tau > 0, p < 0.01) *and* the late/early ratio reaches the rule's threshold (default:
  the contract's ``diagnostics.growth_min_ratio``) *and* the late error is above a noise floor (10 % of the tensor's
  atol: an error that rises from 1e-8 to 1e-7 while the tolerance is 1e-4 is a cache filling up, not a loop
  diverging). Fewer than `MIN_GROWTH_CHUNKS` chunks with a finite figure: undetermined;
- ``invariants``: every error-severity invariant held on every chunk; plus one verdict per invariant
  (``invariant:<id>``), alarm-kind invariants as ``alarm:<id>``, and the tightening alarm (``alarm:tightening``) from
  the first chunk where a tightening condition held. An invariant evaluated on no chunk, or that met an empty tensor
  (``undecided`` in the chunk record), is undetermined;
- ``state_carried``: judged by the closed-loop state hooks (`inspector.state`), which supply it through
  `ChunkHook.verdicts`. In closed loop it is always required: without the hooks' verdict it is undetermined;
- ``outputs`` (runs made by the engine, `RunContext.check_outputs`): every contract output came back on every chunk
  that ran, with the contract's dtype, the reference's shape, and finite wherever the reference is; names the tensor,
  the problem and its first chunk. Outputs the contract does not list are named in its message (they break nothing);
- ``backend_errors``: always present: fails when any chunk's backend raised; undetermined when no chunk ran;
- ``hook:<name>``: a chunk hook that raised (on a chunk or while judging): undetermined, with the exception; the
  verdicts that hook did give are undetermined too unless they fail (`hook_verdicts`).

Thresholds come from `contracts.rules.acceptance_threshold`, i.e. after the overrides of the tolerance set that
matches the backend and precision.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping, Sequence

import numpy as np

from contracts.model import Acceptance, Contract

PASS, FAIL, UNDETERMINED, INFO = "pass", "fail", "undetermined", "info"
STATUSES = (PASS, FAIL, UNDETERMINED, INFO)
"""The four outcomes of a rule (and, without ``info``, of a run)."""

EXIT_CODES = {PASS: 0, FAIL: 1, UNDETERMINED: 3}
"""Process exit code per run/batch outcome (2 is bad input, raised before anything is judged)."""

ALLOW_FLAG = "--allow-undetermined"
ALL = "all"

_LEGACY = {"skip": UNDETERMINED, "warn": INFO, "error": UNDETERMINED}
"""Statuses older stores recorded: ``skip`` (not evaluated) and ``warn`` (a non-required rule did not hold)."""

MIN_GROWTH_CHUNKS = 8
"""Below this many chunks a growth trend cannot be told from noise."""

GROWTH_P_VALUE = 0.01
GROWTH_FLOOR_FRACTION = 0.1
"""Growth is only flagged when the late error exceeds this fraction of the tensor's atol."""


@dataclass(frozen=True)
class Verdict:
    """One rule judged over one run.

    Attributes:
        rule: Rule id (the contract's acceptance id, ``invariant:<id>``, ``alarm:<id>``, ``backend_errors`` …).
        kind: ``quantile``, ``pass_rate``, ``no_growth``, ``state_carried``, ``invariants``, ``invariant``,
            ``alarm``, ``outputs``, ``backend_errors``, ``state_trajectory``, ``state_feedback``, ``hook``.
        status: ``pass``, ``fail``, ``undetermined`` or ``info`` (see the module docstring).
        value: The measured figure (quantile, pass rate, late/early ratio, number of failing chunks …).
        threshold: What it was held against.
        tensor: The tensor the rule is about, if any.
        metric: The per-chunk metric it uses, if any.
        first_failing_chunk: The first chunk that breaks the rule (or, for a quantile, exceeds the threshold).
        worst_chunk: The chunk with the worst figure.
        message: One sentence for reports (for ``undetermined``: why it could not be decided).
        details: Anything else (trend statistics, per-chunk values …), JSON-ready.
        required: Whether the run's outcome depends on it (False for informational rules).
        accepted_by: For an undetermined verdict the user accepted: the flag that did it
            (``--allow-undetermined state_carried``); "" otherwise.

    ``bool(verdict)`` is False when the verdict keeps the run from passing: a required ``fail``, or a required
    ``undetermined`` nobody accepted.
    """

    rule: str
    kind: str
    status: str
    value: float | None = None
    threshold: float | None = None
    tensor: str = ""
    metric: str = ""
    first_failing_chunk: int | None = None
    worst_chunk: int | None = None
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    required: bool = True
    accepted_by: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict {self.rule!r}: status {self.status!r} is not one of {', '.join(STATUSES)}")

    def __bool__(self) -> bool:
        return not self.blocks

    @property
    def blocks(self) -> bool:
        """Whether this verdict keeps the run from passing."""
        if not self.required:
            return False
        return self.status == FAIL or (self.status == UNDETERMINED and not self.accepted_by)

    @property
    def passed(self) -> bool:
        """Decided and held (an ``info`` or accepted ``undetermined`` verdict is not a pass)."""
        return self.status == PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "kind": self.kind, "status": self.status, "required": self.required,
            "accepted_by": self.accepted_by or None, "value": _jf(self.value),
            "threshold": _jf(self.threshold), "tensor": self.tensor, "metric": self.metric,
            "first_failing_chunk": self.first_failing_chunk, "worst_chunk": self.worst_chunk,
            "message": self.message, "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Verdict":
        status = str(d["status"])
        status = _LEGACY.get(status, status)
        required = bool(d.get("required", True)) and not (d.get("status") == "warn")
        return cls(
            rule=d["rule"], kind=d["kind"], status=status, value=_inf_if_none(d.get("value"), d),
            threshold=d.get("threshold"), tensor=d.get("tensor", ""), metric=d.get("metric", ""),
            first_failing_chunk=d.get("first_failing_chunk"), worst_chunk=d.get("worst_chunk"),
            message=d.get("message", ""), details=d.get("details", {}), required=required,
            accepted_by=d.get("accepted_by") or "",
        )


def _jf(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return x


def _inf_if_none(x: Any, d: Mapping[str, Any]) -> Any:
    if isinstance(x, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(x, x)
    return x


def undetermined(rule: str, kind: str, message: str, **kw: Any) -> Verdict:
    """A verdict that could not be decided, with the reason in `message`."""
    return Verdict(rule, kind, UNDETERMINED, message=message, **kw)


# --- a run's outcome -------------------------------------------------------------------------------------------------

def run_outcome(verdicts: Iterable[Verdict]) -> str:
    """``fail`` if a required verdict fails, else ``undetermined`` if a required one is undetermined and was not
    accepted, else ``pass``. No verdict at all is ``undetermined``: nothing was judged."""
    vs = list(verdicts)
    if not vs:
        return UNDETERMINED
    if any(v.required and v.status == FAIL for v in vs):
        return FAIL
    if any(v.blocks for v in vs):
        return UNDETERMINED
    return PASS


def combine_outcomes(outcomes: Iterable[str]) -> str:
    """The outcome of several runs: any ``fail`` fails, else any ``undetermined``; no run at all is undetermined."""
    outs = list(outcomes)
    if not outs:
        return UNDETERMINED
    if FAIL in outs:
        return FAIL
    if any(o != PASS for o in outs):
        return UNDETERMINED
    return PASS


def run_passed(verdicts: Iterable[Verdict]) -> bool:
    return run_outcome(verdicts) == PASS


def accept_undetermined(verdicts: Iterable[Verdict], allow: Collection[str]) -> list[Verdict]:
    """Mark the required undetermined verdicts the user accepted (`allow`: rule ids, or ``all``) with the flag that
    accepted them; everything else is returned unchanged."""
    allow = set(allow)
    out = []
    for v in verdicts:
        if v.status == UNDETERMINED and v.required and not v.accepted_by and (ALL in allow or v.rule in allow):
            token = ALL if ALL in allow and v.rule not in allow else v.rule
            v = dataclasses.replace(v, accepted_by=f"{ALLOW_FLAG} {token}")
        out.append(v)
    return out


def rule_ids(contract: Contract, mode: str | None = None) -> list[str]:
    """Every rule id a run judged by `contract` can report (for checking ``--allow-undetermined`` arguments)."""
    ids = [a.id for a in contract.acceptance if mode is None or mode in a.modes]
    for inv in contract.invariants:
        if mode is None or mode in inv.modes:
            ids.append(f"{'alarm' if inv.kind == 'alarm' else 'invariant'}:{inv.id}")
    ids += ["outputs", "backend_errors", "alarm:tightening", "state_carried", "state_trajectory", "state_feedback"]
    return list(dict.fromkeys(ids))


def check_allow_undetermined(allow: Sequence[str], contract: Contract | None) -> list[str]:
    """Validate ``--allow-undetermined`` arguments; returns them without repeats.

    Raises:
        ValueError: An argument names no rule the contract can report (with a suggestion); ``hook:<name>`` ids are
            accepted as they are.
    """
    out = list(dict.fromkeys(a.strip() for a in allow if a.strip()))
    if contract is None:
        return out
    known = rule_ids(contract)
    bad = [a for a in out if a != ALL and a not in known and not a.startswith("hook:")]
    if bad:
        hints = []
        for a in bad:
            close = difflib.get_close_matches(a, known, n=1, cutoff=0.6)
            hints.append(f"{a!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"{ALLOW_FLAG} {', '.join(hints)}: no such rule in contract {contract.name}. Rules: "
                         f"{', '.join(known)}; or 'all'.")
    return out


# --- per-chunk values ------------------------------------------------------------------------------------------------

def chunk_metric(record: Mapping[str, Any], tensor: str, metric: str) -> float:
    """One chunk's figure for a rule; +inf when the chunk failed to run or the figure is not finite/absent."""
    if record.get("status") == "error":
        return math.inf
    t = record.get("tensors", {}).get(tensor)
    if t is None:
        return math.inf
    value = t.get(metric)
    if value is None:
        return math.inf
    value = float(value)
    if math.isnan(value):
        return math.inf
    if metric == "cosine" or metric == "min_frame_cosine":
        return 1.0 - value  # so that larger is worse for every metric a quantile rule can use
    return value


def chunk_passed(record: Mapping[str, Any], tensor: str = "") -> bool:
    if record.get("status") == "error":
        return False
    if not tensor:
        return bool(record.get("passed"))
    t = record.get("tensors", {}).get(tensor)
    return bool(t and t.get("passed"))


def chunk_empty(record: Mapping[str, Any], tensor: str = "") -> bool:
    """Whether the chunk's `tensor` has no figure: compared over zero elements (`inspector.metrics` says
    ``determined: false``; older records only ``size: 0``). Without a tensor: the chunk's status is undetermined."""
    if not tensor:
        return record.get("status") == UNDETERMINED
    t = (record.get("tensors") or {}).get(tensor)
    if not t:
        return False
    if "determined" in t:
        return t["determined"] is False
    return t.get("size") == 0


def quantile(values: Sequence[float], q: float) -> float:
    """numpy's linear-interpolation quantile (q in 0..100) that keeps +inf instead of turning it into nan."""
    s = sorted(values)
    if not s:
        return math.nan
    pos = (len(s) - 1) * q / 100.0
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    frac = pos - lo
    if frac == 0 or s[lo] == s[hi]:
        return s[lo]
    if math.isinf(s[hi]):
        return math.inf
    return s[lo] + (s[hi] - s[lo]) * frac


# --- the rules -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunContext:
    """What the verdicts need beyond the chunk records."""

    contract: Contract
    mode: str
    backend: str
    precision: str = "fp32"
    atol_of: Mapping[str, float] = field(default_factory=dict)
    """Tensor → the atol that applied (before tightening); used for the growth noise floor."""
    check_outputs: bool = False
    """Add the ``outputs`` verdict from the records' ``output_problems`` (runs made by the engine; imported reports
    carry no such field, so for them it would pass vacuously)."""
    require_state: bool = True
    """Closed loop: a missing ``state_carried`` verdict is added as undetermined (False for imported reports, whose
    importer decides what the file can show)."""


def evaluate_run(records: Sequence[Mapping[str, Any]], ctx: RunContext,
                 extra_verdicts: Iterable[Verdict] = ()) -> list[Verdict]:
    """Judge one run.

    Args:
        records: Per-chunk records, any order (sorted by chunk here).
        ctx: Contract, mode, backend and precision.
        extra_verdicts: Verdicts supplied by chunk hooks (e.g. ``state_carried`` from the state probe, `hook_verdicts`
            for hooks that raised); one whose rule id matches a contract acceptance rule replaces the default for
            that rule.

    Returns:
        Verdicts in contract order: acceptance rules, then invariants, alarms, outputs, backend errors and the other
        supplied verdicts.
    """
    from contracts.rules import acceptance_threshold

    recs = sorted(records, key=lambda r: r["chunk"])
    supplied = {v.rule: v for v in extra_verdicts}
    hook_errors = [v for v in supplied.values() if v.kind == "hook" and v.status == UNDETERMINED]
    verdicts: list[Verdict] = []
    for acc in ctx.contract.acceptance:
        if ctx.mode not in acc.modes:
            continue
        if acc.id in supplied and supplied[acc.id].kind == acc.kind:
            # Only a verdict of the rule's own kind stands for it (the loader reserves the tool's ids; this keeps a
            # contract built in code from having its quantile rule judged by, say, the state trajectory).
            v = supplied.pop(acc.id)
        else:
            threshold = acceptance_threshold(ctx.contract, acc.id, ctx.backend, ctx.precision)
            v = _judge(acc, threshold, recs, ctx, hook_errors)
        verdicts.append(_requirement(acc, v))
    verdicts.extend(_invariant_verdicts(recs, ctx))
    verdicts.append(_tightening_verdict(recs))
    if ctx.check_outputs:
        verdicts.append(_outputs_verdict(recs, ctx.contract))
    verdicts.append(_backend_errors(recs))
    rest = list(supplied.values())
    if ctx.mode == "closed-loop" and ctx.require_state and not any(
            v is not None and v.kind == "state_carried" for v in [*verdicts, *rest]):
        # The contract names no state_carried rule and no hook judged it: a closed loop is never judged without it.
        verdicts.append(_state_not_judged("state_carried", hook_errors))
    for v in rest:
        verdicts.append(dataclasses.replace(v, required=True) if v.kind == "state_carried" else v)
    return [v for v in verdicts if v is not None]


def _requirement(acc: Acceptance, v: Verdict) -> Verdict:
    """Apply the contract's ``informational`` flag: an informational rule's decided figure is ``info`` and it does
    not gate the run; ``state_carried`` is always required."""
    if acc.kind == "state_carried":
        return v if v.required else dataclasses.replace(v, required=True)
    informational = getattr(acc, "informational", False) or (acc.kind == "pass_rate" and v.threshold == 0)
    if not informational:
        return v
    if v.status in (PASS, FAIL):
        note = "reported, not required (informational)"
        if acc.kind == "pass_rate" and v.threshold == 0:
            note = "reported, not required (threshold 0: informational)"
        v = dataclasses.replace(v, status=INFO, message=f"{v.message} [{note}]",
                                details={**dict(v.details), "measured_status": v.status})
    return dataclasses.replace(v, required=False)


def _state_not_judged(rule: str, hook_errors: Sequence[Verdict]) -> Verdict:
    why = "; ".join(v.message for v in hook_errors)
    return undetermined(rule, "state_carried", (
        f"{rule}: not decided: no state verdict was given, so this closed loop cannot show that it carries state "
        + (f"(a hook raised: {why})" if why else
           "(the closed-loop state hooks of `inspector.state` did not run with the engine)")))


def _judge(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]], ctx: RunContext,
           hook_errors: Sequence[Verdict] = ()) -> Verdict:
    if not recs:
        return Verdict(acc.id, acc.kind, UNDETERMINED, threshold=threshold, tensor=acc.tensor, metric=acc.metric,
                       message=f"{acc.id}: not decided: no chunk was run")
    if acc.kind == "quantile":
        return _quantile(acc, threshold, recs)
    if acc.kind == "pass_rate":
        return _pass_rate(acc, threshold, recs)
    if acc.kind == "no_growth":
        return _no_growth(acc, threshold, recs, ctx)
    if acc.kind == "invariants":
        return _all_invariants(acc, recs, ctx)
    if acc.kind == "state_carried":
        return _state_not_judged(acc.id, hook_errors)
    # `contracts.load` rejects unknown kinds; a contract built in code can still hold one: never a pass.
    return undetermined(acc.id, str(acc.kind), f"{acc.id}: unknown acceptance kind {acc.kind!r}: not decided")


def _never_measured(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]]) -> Verdict | None:
    """Undetermined when no chunk has figures for the rule's tensor (and none raised, which would count as +inf)."""
    if not acc.tensor:
        return None
    if any(acc.tensor in (r.get("tensors") or {}) or r.get("status") == "error" for r in recs):
        return None
    return Verdict(acc.id, acc.kind, UNDETERMINED, None, threshold, acc.tensor, acc.metric,
                   message=f"{acc.id}: not decided: no chunk has figures for {acc.tensor} (the tensor never "
                           "appeared in this run)")


def _empty_note(empty: Sequence[int], tensor: str, recs: Sequence[Mapping[str, Any]] = ()) -> str:
    """Why chunks have no figure: the tensor was empty, or its comparison raised (the engine keeps the exception in
    the tensor's message)."""
    where = f"chunk{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty[:5]))}{' …' if len(empty) > 5 else ''}"
    first = next((r for r in recs if r.get("chunk") == empty[0]), {})
    message = str(((first.get("tensors") or {}).get(tensor) or {}).get("message") or "")
    if "raised" in message:
        return f"{tensor} has no figure on {where} ({message})"
    return f"{tensor} was empty on {where}, so its figure there says nothing"


def _quantile(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]]) -> Verdict:
    never = _never_measured(acc, threshold, recs)
    if never is not None:
        return never
    chunks = [r["chunk"] for r in recs]
    empty = [r["chunk"] for r in recs if chunk_empty(r, acc.tensor)]
    # An empty chunk's figure is unknown: judge with it at its best (0) and at its worst (+inf).
    vals = [0.0 if c in empty else chunk_metric(r, acc.tensor, acc.metric) for c, r in zip(chunks, recs)]
    worst_vals = [math.inf if c in empty else v for c, v in zip(chunks, vals)]
    value = quantile(vals, acc.q)
    ok = value < threshold
    label = f"P{acc.q:g} of per-chunk {acc.tensor} {acc.metric}"
    details = {"q": acc.q, "n_chunks": len(vals), "n_over": sum(1 for v in vals if not v < threshold)}
    if ok and empty and not quantile(worst_vals, acc.q) < threshold:
        return Verdict(acc.id, "quantile", UNDETERMINED, None, threshold, acc.tensor, acc.metric,
                       message=f"{acc.id}: not decided: {label} is {value:.3g} over the chunks with figures, but "
                               f"{_empty_note(empty, acc.tensor, recs)}", details={**details, "empty_chunks": empty[:200]})
    worst = chunks[int(np.argmax(vals))]
    first = next((c for c, v in zip(chunks, vals) if not v < threshold), None)
    msg = (f"{label} = {value:.3g} {'<' if ok else '>='} {threshold:.3g}"
           + ("" if ok else f"; first chunk over the limit: {first}, worst chunk: {worst} ({max(vals):.3g})"))
    no_figure = [c for c, v in zip(chunks, vals) if math.isinf(v)]
    if no_figure:
        msg += (f" (inf: chunk{'s' if len(no_figure) > 1 else ''} {', '.join(map(str, no_figure[:5]))}"
                f"{' …' if len(no_figure) > 5 else ''} gave no finite {acc.tensor} {acc.metric}: the backend raised, "
                "returned non-finite values or another shape there)")
    return Verdict(acc.id, "quantile", PASS if ok else FAIL, value, threshold, acc.tensor, acc.metric, first,
                   worst, msg, details)


def _within_atol(record: Mapping[str, Any], tensor: str, atol: float) -> bool:
    """A chunk's `tensor` within `atol`: its max-abs at most atol, and nothing the figure does not show (a NaN/Inf
    where the reference is finite, a missing output, a wrong dtype or shape) wrong with it."""
    if record.get("status") == "error":
        return False
    t = (record.get("tensors") or {}).get(tensor) or {}
    if t.get("nonfinite_mismatch"):
        return False
    if any(p.get("tensor") == tensor and p.get("what") in ("missing", "dtype", "shape", "nonfinite")
           for p in record.get("output_problems") or []):
        return False
    return chunk_metric(record, tensor, "max_abs") <= atol


def _pass_rate(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]]) -> Verdict:
    never = _never_measured(acc, threshold, recs)
    if never is not None:
        # Nothing measured this tensor (an imported report that gives encoder_output figures only): undecidable,
        # not failed. A live run that lost the tensor fails the `outputs` rule too.
        return never
    chunks = [r["chunk"] for r in recs]
    if acc.atol is not None and acc.tensor:
        # The rule's own tolerance ("judge each chunk at this atol"), not the tolerance set's the chunk was judged at.
        passed = [_within_atol(r, acc.tensor, acc.atol) for r in recs]
    else:
        passed = [chunk_passed(r, acc.tensor) for r in recs]
    empty = [r["chunk"] for r in recs if chunk_empty(r, acc.tensor)]
    # A chunk with no figure counts as failing in `rate_lo` and passing in `rate`: the rule is decided only when
    # both agree.
    passed = [p or c in empty for c, p in zip(chunks, passed)]
    n_known_pass = sum(p for c, p in zip(chunks, passed) if c not in empty)
    rate = sum(passed) / len(passed)
    first = next((c for c, p in zip(chunks, passed) if not p), None)
    worst = None
    if acc.tensor:
        vals = [chunk_metric(r, acc.tensor, acc.metric or "max_abs") for r in recs]
        worst = chunks[int(np.argmax(vals))]
    ok = rate >= threshold
    what = acc.tensor or "all tensors"
    details = {"n_chunks": len(passed), "n_passed": sum(passed),
               "failing_chunks": [c for c, p in zip(chunks, passed) if not p][:200]}
    if empty and (n_known_pass / len(passed) >= threshold) != ok:
        return Verdict(acc.id, "pass_rate", UNDETERMINED, None, threshold, acc.tensor, acc.metric,
                       message=f"{acc.id}: not decided: the pass rate lies between {n_known_pass / len(passed):.1%} "
                               f"and {rate:.1%} against {threshold:.1%}, because "
                               f"{_empty_note(empty, acc.tensor or 'a tensor', recs)}",
                       details={**details, "empty_chunks": empty[:200]})
    msg = (f"{sum(passed)}/{len(passed)} chunks pass ({what}): {rate:.1%} {'>=' if ok else '<'} {threshold:.1%}"
           + ("" if first is None else f"; first failing chunk: {first}")
           + (f" ({_empty_note(empty, acc.tensor or 'a tensor', recs)}: counted as passing, the outcome is the same "
              "either way)" if empty else ""))
    return Verdict(acc.id, "pass_rate", PASS if ok else FAIL, rate, threshold, acc.tensor, acc.metric, first,
                   worst, msg, details)


def growth_statistics(values: Sequence[float]) -> dict[str, float]:
    """Kendall's tau (+ p), Spearman's rho (+ p) of values against their index, and the late/early mean ratio."""
    from scipy import stats

    x = np.arange(len(values), dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if np.all(y == y[0]):
        tau = rho = 0.0
        p_tau = p_rho = 1.0
    else:
        kt = stats.kendalltau(x, y)
        sr = stats.spearmanr(x, y)
        tau, p_tau = float(kt.statistic), float(kt.pvalue)
        rho, p_rho = float(sr.statistic), float(sr.pvalue)
    q = max(2, len(y) // 4)
    early, late = float(np.mean(y[:q])), float(np.mean(y[-q:]))
    ratio = late / early if early > 0 else (math.inf if late > 0 else 1.0)
    return {"kendall_tau": tau, "kendall_p": p_tau, "spearman_rho": rho, "spearman_p": p_rho,
            "early_mean": early, "late_mean": late, "late_early_ratio": ratio}


def _no_growth(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]], ctx: RunContext) -> Verdict:
    min_ratio = threshold if threshold and threshold > 0 else ctx.contract.diagnostics.growth_min_ratio
    chunks = [r["chunk"] for r in recs]
    vals = [chunk_metric(r, acc.tensor, acc.metric) for r in recs]
    finite = [(c, v) for c, v, r in zip(chunks, vals, recs) if math.isfinite(v) and not chunk_empty(r, acc.tensor)]
    if len(finite) < MIN_GROWTH_CHUNKS:
        return Verdict(acc.id, "no_growth", UNDETERMINED, None, min_ratio, acc.tensor, acc.metric,
                       message=f"{acc.id}: not decided: not enough chunks to judge growth ({len(finite)} with a "
                               f"finite {acc.tensor} {acc.metric}; need {MIN_GROWTH_CHUNKS})")
    st = growth_statistics([v for _, v in finite])
    floor = GROWTH_FLOOR_FRACTION * ctx.atol_of.get(acc.tensor, 0.0)
    trend = st["kendall_tau"] > 0 and st["kendall_p"] < GROWTH_P_VALUE
    grows = trend and st["late_early_ratio"] >= min_ratio and st["late_mean"] > floor
    worst_c, worst_v = max(finite, key=lambda cv: cv[1])
    first = None
    if grows:  # the first chunk where the error leaves the early level for good
        early = st["early_mean"]
        for i, (c, v) in enumerate(finite):
            if all(w > early * min_ratio for _, w in finite[i:]):
                first = c
                break
    msg = (f"{acc.tensor} {acc.metric} over {len(finite)} chunks: Kendall tau {st['kendall_tau']:+.2f} "
           f"(p={st['kendall_p']:.2g}), late/early {st['late_early_ratio']:.3g}")
    if grows:
        msg += f" >= {min_ratio:g}: error grows with chunk index"
        msg += (f" (it stays above {min_ratio:g}x the early level from chunk {first} on)" if first is not None
                else " (a significant rising trend)")
    elif trend and st["late_mean"] <= floor:
        msg += f": rising but below the noise floor ({floor:.3g}); not growth"
    elif trend:
        msg += f" < {min_ratio:g}: a slight rising trend, not growth"
    elif st["late_early_ratio"] >= min_ratio:
        msg += (": no growth (no monotonic trend: the late error is higher but does not rise steadily, e.g. a step "
                "or a few bad chunks; the quantile rules judge those)")
    else:
        msg += ": no growth"
    details = {**st, "n_chunks": len(finite), "noise_floor": floor, "min_ratio": min_ratio}
    return Verdict(acc.id, "no_growth", FAIL if grows else PASS, st["late_early_ratio"], min_ratio, acc.tensor,
                   acc.metric, first, worst_c, msg, details)


@dataclass(frozen=True)
class _InvariantTally:
    failing: list[int]
    evaluated: int
    undecided: list[int]
    first_detail: str
    undecided_detail: str


def _invariant_tally(recs: Sequence[Mapping[str, Any]], inv_id: str) -> _InvariantTally:
    failing, undecided, evaluated, first_detail, undecided_detail = [], [], 0, "", ""
    for r in recs:
        res = (r.get("invariants") or {}).get(inv_id)
        if res is None:
            continue
        if res.get("undecided"):
            # The rule met an empty tensor (or another value it cannot judge): not "does not apply".
            if not undecided:
                undecided_detail = res.get("detail", "")
            undecided.append(r["chunk"])
            continue
        if res.get("ok") is None:
            continue
        evaluated += 1
        if res.get("ok") is False:
            if not failing:
                first_detail = res.get("detail", "")
            failing.append(r["chunk"])
    return _InvariantTally(failing, evaluated, undecided, first_detail, undecided_detail)


def _invariant_verdicts(recs: Sequence[Mapping[str, Any]], ctx: RunContext) -> list[Verdict]:
    """One verdict per invariant. Required when its severity is ``error``; a ``warning``/``info`` invariant is
    informational: held → pass, did not hold → ``info`` with the chunks (not required either way)."""
    out = []
    for inv in ctx.contract.invariants:
        if ctx.mode not in inv.modes:
            continue
        kind = "alarm" if inv.kind == "alarm" else "invariant"
        rule = f"{kind}:{inv.id}"
        required = inv.severity == "error"
        t = _invariant_tally(recs, inv.id)
        base = {"check": inv.check, "severity": inv.severity}
        if t.failing:
            status = FAIL if required else INFO
            msg = (f"`{inv.check}` failed on {len(t.failing)} of {t.evaluated} chunks, first chunk {t.failing[0]}: "
                   f"{t.first_detail}")
            if not required:
                msg += f" [{inv.severity} severity: reported, not required]"
            out.append(Verdict(rule, kind, status, len(t.failing), 0, tensor=_rule_tensors(inv.check),
                               first_failing_chunk=t.failing[0], worst_chunk=t.failing[0], message=msg,
                               details={**base, "failing_chunks": t.failing[:200]}, required=required))
            continue
        if t.undecided:
            out.append(undetermined(rule, kind, (
                f"{inv.id}: not decided: `{inv.check}` could not be judged on {len(t.undecided)} chunk(s), first "
                f"chunk {t.undecided[0]}: {t.undecided_detail}"),
                details={**base, "undecided_chunks": t.undecided[:200]}, required=required,
                tensor=_rule_tensors(inv.check)))
            continue
        if t.evaluated == 0:
            out.append(undetermined(rule, kind, f"{inv.id}: not decided: `{inv.check}` was not evaluated on any "
                                                f"chunk (a tensor it reads never appeared)", details=base,
                                    required=required))
            continue
        msg = f"`{inv.check}` held on {t.evaluated} chunks"
        note = _rule_note(inv.check, ctx.contract)
        if note:
            msg += f"; note: {note}"
        details = {**base, **({"note": note} if note else {})}
        out.append(Verdict(rule, kind, PASS, 0, 0, message=msg, details=details, required=required))
    return out


def _rule_note(check: str, contract: Contract) -> str:
    """What a rule means when that is not what it seems (the seed's ``cache_last_channel_len_out == 0``: the
    attention cache is never carried)."""
    return zero_length_rule_note(check, contract)


_ZERO_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*==\s*0\s*$")


def zero_length_rule_note(check: str, contract: Contract) -> str:
    """For a rule that pins the attention-cache length to 0 (the seed contract's ``cache_last_channel_len_out == 0``):
    the sentence that says what it means; ``""`` for any other rule."""
    m = _ZERO_RULE.match(check or "")
    d = contract.diagnostics
    if not m or m.group(1) not in (d.cache_len_input, d.cache_len_output):
        return ""
    return (f"`{check.strip()}` means the attention cache is never carried: {d.cache_channel_input} holds nothing "
            "valid on any chunk, so a closed loop that passes under this rule tests no attention state")


def _rule_tensors(check: str) -> str:
    """The tensors a rule reads, comma-separated (for reports that name the failing tensor)."""
    from contracts.rules import compile_rule

    try:
        return ", ".join(compile_rule(check).names)
    except Exception:  # noqa: BLE001 — a report never fails on a label
        return ""


def _all_invariants(acc: Acceptance, recs: Sequence[Mapping[str, Any]], ctx: RunContext) -> Verdict:
    first: tuple[int, str, str] | None = None
    n_fail = 0
    not_decided: list[str] = []
    for inv in ctx.contract.invariants:
        if inv.severity != "error" or ctx.mode not in inv.modes:
            continue
        t = _invariant_tally(recs, inv.id)
        n_fail += len(t.failing)
        if t.failing and (first is None or t.failing[0] < first[0]):
            first = (t.failing[0], inv.id, t.first_detail)
        if not t.failing and (t.undecided or t.evaluated == 0):
            not_decided.append(inv.id)
    if first is None and not_decided:
        return undetermined(acc.id, "invariants", (
            f"{acc.id}: not decided: {len(not_decided)} error-severity invariant(s) could not be judged "
            f"({', '.join(not_decided[:8])}{' …' if len(not_decided) > 8 else ''}; see their own verdicts)"),
            details={"not_decided": not_decided})
    if first is None:
        return Verdict(acc.id, "invariants", PASS, 0, 0, message="every error-severity invariant held on every chunk")
    check = next((i.check for i in ctx.contract.invariants if i.id == first[1]), "")
    return Verdict(acc.id, "invariants", FAIL, n_fail, 0, tensor=_rule_tensors(check),
                   first_failing_chunk=first[0], worst_chunk=first[0],
                   message=f"invariant {first[1]} fails first, on chunk {first[0]}: {first[2]}",
                   details={"first_invariant": first[1], "not_decided": not_decided})


def _tightening_verdict(recs: Sequence[Mapping[str, Any]]) -> Verdict | None:
    """``alarm:tightening``: the contract's re-validation triggers that held, each with the chunk where it first
    held (a record's ``tightening_fired`` lists the triggers holding for the first time on that chunk)."""
    first: dict[str, int] = {}
    for r in recs:
        for cond in r.get("tightening_fired") or ():
            first.setdefault(cond, r["chunk"])
    if not first:
        return None
    items = sorted(first.items(), key=lambda kv: kv[1])
    chunk0 = items[0][1]
    each = "; ".join(f"`{c}` first held on chunk {k}" for c, k in items)
    return Verdict("alarm:tightening", "alarm", FAIL, len(items), 0, first_failing_chunk=chunk0, worst_chunk=chunk0,
                   message=(f"contract re-validation trigger{'s' if len(items) > 1 else ''} {each}: the contract's "
                            f"tightened tolerances apply from chunk {chunk0} on"),
                   details={"conditions": [c for c, _ in items],
                            "first_chunks": [{"condition": c, "chunk": k} for c, k in items]})


_PROBLEM_WORDS = {"missing": "missing", "dtype": "wrong dtype", "shape": "wrong shape",
                  "nonfinite": "non-finite where the reference is finite", "extra": "not in the contract"}


def _outputs_verdict(recs: Sequence[Mapping[str, Any]], contract: Contract) -> Verdict:
    """``outputs``: every contract output present on every chunk, with the contract's dtype, the reference's shape,
    and finite wherever the reference is. Catches what no acceptance rule may cover (a missing or malformed cache
    output fails its chunks but, without this rule, not the run). Outputs the contract does not list break none of
    that: they are named in the message of a passing verdict. No chunk ran: undetermined."""
    per: dict[tuple[str, str], list[int]] = {}
    first_detail: dict[tuple[str, str], str] = {}
    ran = [r for r in recs if r.get("status") != "error"]
    if not ran:
        return undetermined("outputs", "outputs", "outputs: not decided: no chunk ran" + (
            f" (the backend raised on all {len(recs)})" if recs else ""))
    for r in ran:
        for p in r.get("output_problems") or ():
            key = (p.get("tensor", ""), p.get("what", ""))
            per.setdefault(key, []).append(r["chunk"])
            first_detail.setdefault(key, p.get("detail", ""))
    good = (f"every output of the contract came back on all {len(ran)} chunks with the contract's dtype and the "
            "reference's shape, finite wherever the reference is")
    if not per:
        return Verdict("outputs", "outputs", PASS, 0, 0, message=good)
    order = {n: i for i, n in enumerate(contract.output_names)}
    keys = sorted(per, key=lambda k: (per[k][0], k[1] == "extra", order.get(k[0], 99)))
    bad = [k for k in keys if k[1] != "extra"]
    extra = [k for k in keys if k[1] == "extra"]
    problems = {"problems": [{"tensor": t, "what": w, "chunks": per[(t, w)][:200], "first_detail": first_detail[(t, w)]}
                             for t, w in keys]}
    if not bad:
        names = ", ".join(sorted({t for t, _ in extra}))
        return Verdict("outputs", "outputs", PASS, 0, 0, message=f"{good}; note: the backend also returned {names}, "
                       "which the contract does not list (ignored)", details=problems)
    lead = bad[0]
    parts = [f"{t} {_PROBLEM_WORDS.get(w, w)} on {len(per[(t, w)])} of {len(ran)} chunks (first chunk "
             f"{per[(t, w)][0]})" for t, w in [*bad, *extra][:6]]
    msg = "; ".join(parts) + f". First: chunk {per[lead][0]}: {first_detail[lead]}"
    failing = sorted({c for k in bad for c in per[k]})
    return Verdict("outputs", "outputs", FAIL, len(failing), 0, tensor=lead[0],
                   first_failing_chunk=per[lead][0], worst_chunk=per[lead][0], message=msg,
                   details={**problems, "failing_chunks": failing[:200]})


def _backend_errors(recs: Sequence[Mapping[str, Any]]) -> Verdict:
    if not recs:
        return undetermined("backend_errors", "backend_errors", "backend_errors: not decided: no chunk was run (a run "
                                                                "over zero chunks shows nothing)")
    errs = [r for r in recs if r.get("status") == "error"]
    if not errs:
        return Verdict("backend_errors", "backend_errors", PASS, 0, 0,
                       message=f"the backend ran all {len(recs)} chunks")
    first = errs[0]
    return Verdict("backend_errors", "backend_errors", FAIL, len(errs), 0, first_failing_chunk=first["chunk"],
                   worst_chunk=first["chunk"],
                   message=f"the backend raised on {len(errs)} chunks, first chunk {first['chunk']}: {first.get('error', '')}",
                   details={"failing_chunks": [r["chunk"] for r in errs][:200]})


# --- hooks -----------------------------------------------------------------------------------------------------------

def hook_verdicts(hooks: Sequence[Any], records: Sequence[Mapping[str, Any]], run: Any) -> list[Verdict]:
    """The verdicts of a run's chunk hooks (`inspector.engine.ChunkHook`), fail-closed.

    A hook that raised on a chunk (the engine keeps ``{"error": "Type: message"}`` under ``extra[hook.name]`` of
    that chunk's record) or while judging gives a required ``hook:<name>`` verdict, undetermined, with the
    exception; the verdicts it did give are then undetermined too unless they fail (a failure shown on partial
    figures is still a failure). A hook's own rules that it never gave (``state_carried``) are added as undetermined
    by `evaluate_run`.
    """
    out: list[Verdict] = []
    for hook in hooks:
        name = getattr(hook, "name", type(hook).__name__)
        errors = [(r["chunk"], str(((r.get("extra") or {}).get(name) or {}).get("error")))
                  for r in records if isinstance(((r.get("extra") or {}).get(name) or {}).get("error"), str)]
        try:
            given = list(hook.verdicts(records, run) or ())
        except Exception as exc:  # noqa: BLE001 — fail-closed: the exception becomes an undetermined verdict
            out.append(undetermined(f"hook:{name}", "hook", (
                f"hook:{name}: not decided: the {name} hook raised while judging the run: {type(exc).__name__}: "
                f"{exc}"), details={"exception": type(exc).__name__, "error": str(exc)}))
            continue
        if errors:
            where = ", ".join(str(c) for c, _ in errors[:8]) + (" …" if len(errors) > 8 else "")
            why = (f"the {name} hook raised on {len(errors)} chunk(s) ({where}); first, on chunk {errors[0][0]}: "
                   f"{errors[0][1]}")
            out.append(undetermined(f"hook:{name}", "hook", f"hook:{name}: not decided: {why}",
                                    first_failing_chunk=errors[0][0],
                                    details={"chunks": [c for c, _ in errors][:200], "error": errors[0][1]}))
            given = [v if v.status == FAIL else dataclasses.replace(
                v, status=UNDETERMINED, message=f"{v.rule}: not decided: {why}; judged without those chunks it "
                                                f"would read: {v.message}",
                details={**dict(v.details), "measured_status": v.status}) for v in given]
        out.extend(given)
    return out
