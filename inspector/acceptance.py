"""Run verdicts: the contract's acceptance rules judged over every chunk of one run.

Input is the list of per-chunk records the engine writes (see `inspector.engine`, "chunk record"); output is a list
of frozen, truthy `Verdict` objects (``bool(v)`` is False only when the rule failed), one per rule:

- ``quantile``: the q-quantile (numpy's linear method) of a per-chunk metric of one tensor must be ``< threshold``
  (the seed's P95/P100 of encoder_output max-abs). A chunk whose backend raised or produced no finite number counts
  as +inf, so it can never hide;
- ``pass_rate``: the share of chunks whose tensor (or, without a tensor, the whole chunk) passed its tolerance must be
  ``>= threshold``;
- ``no_growth`` (closed loop): error must not grow with chunk index. Kendall's tau and Spearman's rho of the metric
  against the index, plus the ratio of the mean of the last quarter of chunks to the first quarter. Growth is flagged
  when the trend is significant (tau > 0, p < 0.01) *and* the late/early ratio reaches the rule's threshold (default:
  the contract's ``diagnostics.growth_min_ratio``) *and* the late error is above a noise floor (10 % of the tensor's
  atol: an error that rises from 1e-8 to 1e-7 while the tolerance is 1e-4 is a cache filling up, not a loop
  diverging). Fewer than `MIN_GROWTH_CHUNKS` chunks: "not enough chunks", not judged;
- ``invariants``: every error-severity invariant held on every chunk; plus one verdict per invariant
  (``invariant:<id>``), alarm-kind invariants as ``alarm:<id>``, and the tightening alarm (``alarm:tightening``) from
  the first chunk where a tightening condition held;
- ``state_carried``: not judged here; a chunk hook (issue 8's state probe) supplies it through
  `ChunkHook.verdicts`. Until then it is reported as "not evaluated";
- ``outputs`` (runs made by the engine, `RunContext.check_outputs`): every contract output came back on every chunk
  that ran, with the contract's dtype, the reference's shape, and finite wherever the reference is; names the tensor,
  the problem and its first chunk. This is what fails a run whose broken tensor no acceptance rule covers (a missing
  cache output, int32 lengths from an engine). Outputs the contract does not list make it a warning;
- ``backend_errors``: always present: fails when any chunk's backend raised.

Thresholds come from `contracts.rules.acceptance_threshold`, i.e. after the overrides of the tolerance set that
matches the backend and precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from contracts.model import Acceptance, Contract

MIN_GROWTH_CHUNKS = 8
"""Below this many chunks a growth trend cannot be told from noise."""

GROWTH_P_VALUE = 0.01
GROWTH_FLOOR_FRACTION = 0.1
"""Growth is only flagged when the late error exceeds this fraction of the tensor's atol."""


@dataclass(frozen=True)
class Verdict:
    """One rule judged over one run.

    Attributes:
        rule: Rule id (the contract's acceptance id, ``invariant:<id>``, ``alarm:<id>``, ``backend_errors``).
        kind: ``quantile``, ``pass_rate``, ``no_growth``, ``state_carried``, ``invariants``, ``invariant``,
            ``alarm``, ``outputs``, ``backend_errors``.
        status: ``pass``, ``fail``, ``warn`` (a warning-severity rule did not hold) or ``skip`` (not evaluated).
        value: The measured figure (quantile, pass rate, late/early ratio, number of failing chunks …).
        threshold: What it was held against.
        tensor: The tensor the rule is about, if any.
        metric: The per-chunk metric it uses, if any.
        first_failing_chunk: The first chunk that breaks the rule (or, for a quantile, exceeds the threshold).
        worst_chunk: The chunk with the worst figure.
        message: One sentence for reports.
        details: Anything else (trend statistics, per-chunk values …), JSON-ready.
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

    def __bool__(self) -> bool:
        return self.status != "fail"

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "kind": self.kind, "status": self.status, "value": _jf(self.value),
            "threshold": _jf(self.threshold), "tensor": self.tensor, "metric": self.metric,
            "first_failing_chunk": self.first_failing_chunk, "worst_chunk": self.worst_chunk,
            "message": self.message, "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Verdict":
        return cls(
            rule=d["rule"], kind=d["kind"], status=d["status"], value=_inf_if_none(d.get("value"), d),
            threshold=d.get("threshold"), tensor=d.get("tensor", ""), metric=d.get("metric", ""),
            first_failing_chunk=d.get("first_failing_chunk"), worst_chunk=d.get("worst_chunk"),
            message=d.get("message", ""), details=d.get("details", {}),
        )


def _jf(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return x


def _inf_if_none(x: Any, d: Mapping[str, Any]) -> Any:
    if isinstance(x, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(x, x)
    return x


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


def evaluate_run(records: Sequence[Mapping[str, Any]], ctx: RunContext,
                 extra_verdicts: Iterable[Verdict] = ()) -> list[Verdict]:
    """Judge one run.

    Args:
        records: Per-chunk records, any order (sorted by chunk here).
        ctx: Contract, mode, backend and precision.
        extra_verdicts: Verdicts supplied by chunk hooks (e.g. ``state_carried`` from the state probe); one whose
            rule id matches a contract acceptance rule replaces the default for that rule.

    Returns:
        Verdicts in contract order: acceptance rules, then invariants, alarms and backend errors.
    """
    from contracts.rules import acceptance_threshold

    recs = sorted(records, key=lambda r: r["chunk"])
    supplied = {v.rule: v for v in extra_verdicts}
    verdicts: list[Verdict] = []
    for acc in ctx.contract.acceptance:
        if ctx.mode not in acc.modes:
            continue
        if acc.id in supplied:
            verdicts.append(supplied.pop(acc.id))
            continue
        try:
            threshold = acceptance_threshold(ctx.contract, acc.id, ctx.backend, ctx.precision)
        except KeyError:
            threshold = acc.threshold
        verdicts.append(_judge(acc, threshold, recs, ctx))
    verdicts.extend(_invariant_verdicts(recs, ctx))
    verdicts.append(_tightening_verdict(recs))
    if ctx.check_outputs:
        verdicts.append(_outputs_verdict(recs, ctx.contract))
    verdicts.append(_backend_errors(recs))
    verdicts.extend(supplied.values())
    return [v for v in verdicts if v is not None]


def _judge(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]], ctx: RunContext) -> Verdict:
    if not recs:
        return Verdict(acc.id, acc.kind, "skip", threshold=threshold, tensor=acc.tensor, metric=acc.metric,
                       message=f"{acc.id}: no chunk was run")
    if acc.kind == "quantile":
        return _quantile(acc, threshold, recs)
    if acc.kind == "pass_rate":
        return _pass_rate(acc, threshold, recs)
    if acc.kind == "no_growth":
        return _no_growth(acc, threshold, recs, ctx)
    if acc.kind == "invariants":
        return _all_invariants(acc, recs, ctx)
    if acc.kind == "state_carried":
        return Verdict(acc.id, acc.kind, "skip", tensor=acc.tensor,
                       message=f"{acc.id}: not evaluated (needs the closed-loop state probe, which did not run: "
                               "`inspector.state.default_hooks`)")
    return Verdict(acc.id, acc.kind, "skip", message=f"{acc.id}: unknown acceptance kind {acc.kind!r}")


def _quantile(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]]) -> Verdict:
    chunks = [r["chunk"] for r in recs]
    vals = [chunk_metric(r, acc.tensor, acc.metric) for r in recs]
    value = quantile(vals, acc.q)
    worst = chunks[int(np.argmax(vals))]
    first = next((c for c, v in zip(chunks, vals) if not v < threshold), None)
    ok = value < threshold
    label = f"P{acc.q:g} of per-chunk {acc.tensor} {acc.metric}"
    msg = (f"{label} = {value:.3g} {'<' if ok else '>='} {threshold:.3g}"
           + ("" if ok else f"; first chunk over the limit: {first}, worst chunk: {worst} ({max(vals):.3g})"))
    no_figure = [c for c, v in zip(chunks, vals) if math.isinf(v)]
    if no_figure:
        msg += (f" (inf: chunk{'s' if len(no_figure) > 1 else ''} {', '.join(map(str, no_figure[:5]))}"
                f"{' …' if len(no_figure) > 5 else ''} gave no finite {acc.tensor} {acc.metric}: the backend raised, "
                "returned non-finite values or another shape there)")
    return Verdict(acc.id, "quantile", "pass" if ok else "fail", value, threshold, acc.tensor, acc.metric, first,
                   worst, msg, {"q": acc.q, "n_chunks": len(vals), "n_over": sum(1 for v in vals if not v < threshold)})


def _pass_rate(acc: Acceptance, threshold: float, recs: Sequence[Mapping[str, Any]]) -> Verdict:
    if acc.tensor and not any(acc.tensor in r.get("tensors", {}) for r in recs):
        # Nothing measured this tensor (an imported report that gives encoder_output figures only): undecidable,
        # not failed. A live run that lost the tensor fails the `outputs` rule instead.
        return Verdict(acc.id, "pass_rate", "skip", None, threshold, acc.tensor, acc.metric,
                       message=f"{acc.id}: no chunk has figures for {acc.tensor}, so its pass rate cannot be judged")
    chunks = [r["chunk"] for r in recs]
    passed = [chunk_passed(r, acc.tensor) for r in recs]
    rate = sum(passed) / len(passed)
    first = next((c for c, p in zip(chunks, passed) if not p), None)
    worst = None
    if acc.tensor:
        vals = [chunk_metric(r, acc.tensor, acc.metric or "max_abs") for r in recs]
        worst = chunks[int(np.argmax(vals))]
    ok = rate >= threshold
    what = acc.tensor or "all tensors"
    msg = (f"{sum(passed)}/{len(passed)} chunks pass ({what}): {rate:.1%} {'>=' if ok else '<'} {threshold:.1%}"
           + ("" if first is None else f"; first failing chunk: {first}"))
    return Verdict(acc.id, "pass_rate", "pass" if ok else "fail", rate, threshold, acc.tensor, acc.metric, first,
                   worst, msg, {"n_chunks": len(passed), "n_passed": sum(passed),
                                "failing_chunks": [c for c, p in zip(chunks, passed) if not p][:200]})


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
    finite = [(c, v) for c, v in zip(chunks, vals) if math.isfinite(v)]
    if len(finite) < MIN_GROWTH_CHUNKS:
        return Verdict(acc.id, "no_growth", "skip", None, min_ratio, acc.tensor, acc.metric,
                       message=f"{acc.id}: not enough chunks to judge growth ({len(finite)} with a finite "
                               f"{acc.tensor} {acc.metric}; need {MIN_GROWTH_CHUNKS})")
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
    return Verdict(acc.id, "no_growth", "fail" if grows else "pass", st["late_early_ratio"], min_ratio, acc.tensor,
                   acc.metric, first, worst_c, msg, details)


def _invariant_failures(recs: Sequence[Mapping[str, Any]], inv_id: str) -> tuple[list[int], int, str]:
    failing, evaluated, first_detail = [], 0, ""
    for r in recs:
        res = r.get("invariants", {}).get(inv_id)
        if res is None or res.get("ok") is None:
            continue
        evaluated += 1
        if res.get("ok") is False:
            if not failing:
                first_detail = res.get("detail", "")
            failing.append(r["chunk"])
    return failing, evaluated, first_detail


def _invariant_verdicts(recs: Sequence[Mapping[str, Any]], ctx: RunContext) -> list[Verdict]:
    out = []
    for inv in ctx.contract.invariants:
        if ctx.mode not in inv.modes:
            continue
        kind = "alarm" if inv.kind == "alarm" else "invariant"
        rule = f"{kind}:{inv.id}"
        failing, evaluated, detail = _invariant_failures(recs, inv.id)
        if evaluated == 0:
            out.append(Verdict(rule, kind, "skip", message=f"{inv.id}: `{inv.check}` not evaluated on any chunk",
                               details={"check": inv.check, "severity": inv.severity}))
            continue
        if not failing:
            msg = f"`{inv.check}` held on {evaluated} chunks"
            note = _rule_note(inv.check, ctx.contract)
            if note:
                msg += f"; note: {note}"
            details = {"check": inv.check, "severity": inv.severity, **({"note": note} if note else {})}
            out.append(Verdict(rule, kind, "pass", 0, 0, message=msg, details=details))
            continue
        status = "fail" if inv.severity == "error" else "warn"
        msg = (f"`{inv.check}` failed on {len(failing)} of {evaluated} chunks, first chunk {failing[0]}: {detail}")
        out.append(Verdict(rule, kind, status, len(failing), 0, tensor=_rule_tensors(inv.check),
                           first_failing_chunk=failing[0],
                           worst_chunk=failing[0], message=msg,
                           details={"check": inv.check, "severity": inv.severity, "failing_chunks": failing[:200]}))
    return out


def _rule_note(check: str, contract: Contract) -> str:
    """What a rule means when that is not what it seems (the seed's ``cache_last_channel_len_out == 0``: the
    attention cache is never carried), from `inspector.state.verdict`."""
    from inspector.state.verdict import zero_length_rule_note

    return zero_length_rule_note(check, contract)


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
    for inv in ctx.contract.invariants:
        if inv.severity != "error" or ctx.mode not in inv.modes:
            continue
        failing, _, detail = _invariant_failures(recs, inv.id)
        n_fail += len(failing)
        if failing and (first is None or failing[0] < first[0]):
            first = (failing[0], inv.id, detail)
    if first is None:
        return Verdict(acc.id, "invariants", "pass", 0, 0, message="every error-severity invariant held on every chunk")
    check = next((i.check for i in ctx.contract.invariants if i.id == first[1]), "")
    return Verdict(acc.id, "invariants", "fail", n_fail, 0, tensor=_rule_tensors(check),
                   first_failing_chunk=first[0], worst_chunk=first[0],
                   message=f"invariant {first[1]} fails first, on chunk {first[0]}: {first[2]}",
                   details={"first_invariant": first[1]})


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
    return Verdict("alarm:tightening", "alarm", "fail", len(items), 0, first_failing_chunk=chunk0, worst_chunk=chunk0,
                   message=(f"contract re-validation trigger{'s' if len(items) > 1 else ''} {each}: the contract's "
                            f"tightened tolerances apply from chunk {chunk0} on"),
                   details={"conditions": [c for c, _ in items],
                            "first_chunks": [{"condition": c, "chunk": k} for c, k in items]})


_PROBLEM_WORDS = {"missing": "missing", "dtype": "wrong dtype", "shape": "wrong shape",
                  "nonfinite": "non-finite where the reference is finite", "extra": "not in the contract"}


def _outputs_verdict(recs: Sequence[Mapping[str, Any]], contract: Contract) -> Verdict:
    """``outputs``: every contract output present on every chunk, with the contract's dtype, the reference's shape,
    and finite wherever the reference is. Catches what no acceptance rule may cover (a missing or malformed cache
    output fails its chunks but, without this rule, not the run). Extra outputs alone are a warning."""
    per: dict[tuple[str, str], list[int]] = {}
    first_detail: dict[tuple[str, str], str] = {}
    ran = [r for r in recs if r.get("status") != "error"]
    for r in ran:
        for p in r.get("output_problems") or ():
            key = (p.get("tensor", ""), p.get("what", ""))
            per.setdefault(key, []).append(r["chunk"])
            first_detail.setdefault(key, p.get("detail", ""))
    if not per:
        return Verdict("outputs", "outputs", "pass" if ran else "skip", 0, 0,
                       message=(f"every output of the contract came back on all {len(ran)} chunks with the "
                                "contract's dtype and the reference's shape, finite wherever the reference is")
                       if ran else "outputs: no chunk ran")
    order = {n: i for i, n in enumerate(contract.output_names)}
    keys = sorted(per, key=lambda k: (per[k][0], k[1] == "extra", order.get(k[0], 99)))
    bad = [k for k in keys if k[1] != "extra"]
    lead = bad[0] if bad else keys[0]
    parts = [f"{t} {_PROBLEM_WORDS.get(w, w)} on {len(per[(t, w)])} of {len(ran)} chunks (first chunk "
             f"{per[(t, w)][0]})" for t, w in ([*bad, *[k for k in keys if k[1] == "extra"]])[:6]]
    msg = "; ".join(parts) + f". First: chunk {per[lead][0]}: {first_detail[lead]}"
    failing = sorted({c for k in bad for c in per[k]})
    return Verdict("outputs", "outputs", "fail" if bad else "warn", len(failing), 0, tensor=lead[0],
                   first_failing_chunk=per[lead][0], worst_chunk=per[lead][0], message=msg,
                   details={"problems": [{"tensor": t, "what": w, "chunks": per[(t, w)][:200],
                                          "first_detail": first_detail[(t, w)]} for t, w in keys],
                            "failing_chunks": failing[:200]})


def _backend_errors(recs: Sequence[Mapping[str, Any]]) -> Verdict:
    errs = [r for r in recs if r.get("status") == "error"]
    if not errs:
        return Verdict("backend_errors", "backend_errors", "pass", 0, 0, message=f"the backend ran all {len(recs)} chunks")
    first = errs[0]
    return Verdict("backend_errors", "backend_errors", "fail", len(errs), 0, first_failing_chunk=first["chunk"],
                   worst_chunk=first["chunk"],
                   message=f"the backend raised on {len(errs)} chunks, first chunk {first['chunk']}: {first.get('error', '')}",
                   details={"failing_chunks": [r["chunk"] for r in errs][:200]})


def run_passed(verdicts: Iterable[Verdict]) -> bool:
    return all(bool(v) for v in verdicts)
