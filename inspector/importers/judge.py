"""Judge an imported parity report with the contract, through the same `inspector.acceptance` code as live runs.

A live run knows every chunk's max-abs; an imported ORT report knows it only for failing chunks. Each chunk's
figure is therefore an interval (`reports.Bound`), and the run is judged twice with the very same
`acceptance.evaluate_run`: once with every unknown at its most favourable value (max-abs at the interval's low end,
pass-or-fail unknowns passing) and once at its least favourable (high end, unknowns failing). Quantiles and pass
rates are monotone in each chunk's figure, so the two verdicts bracket the truth:

- both pass → pass; both fail → fail (the data prove it);
- they differ → "undetermined": the report does not hold enough to decide; the verdict says between which values.
  Bounds stay bounds: the stored per-chunk records keep ``max_abs: null`` with ``max_abs_bound``, never a number the
  report did not give.

Rules a report cannot speak to are ``undetermined`` (never a pass): growth without every chunk's figure, the
contract's invariants (a report holds no tensor values), and, in closed loop, ``state_carried`` (a parity report
holds no cache lengths and no probe: `STATE_NOT_SHOWN` says to run ``inspector run --mode closed-loop`` on the
export). A run passes only if every required rule passes; see `inspector.acceptance`.

Growth over chunks (a rank trend) is not monotone in the figures, so it is judged only when every chunk's figure is
known (the TensorRT schema's ``chunk_stats``); otherwise it is reported as not computable, with the reason. Note
that a P95 taken over the failing chunks alone would *over*-state the run's P95 (it drops the smallest values); the
interval method includes every chunk and is exact whenever the quantile falls among the chunks with numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from contracts.model import Contract, Tolerance
from inspector.importers.reports import FRAMES, ImportedChunk, ParsedReport

UNDETERMINED = "undetermined"

STATE_NOT_SHOWN = (
    "{rule}: not decided: this closed-loop report holds no cache lengths and no state probe, so it cannot show that "
    "state was carried between chunks (the seed team's closed loop 'passed' with the attention cache never carried). "
    "Run `inspector run --batch --mode closed-loop --model EXPORT.onnx --store STORE --contract CONTRACT --backend "
    "BACKEND` on the export instead: it probes whether each cache is used")


@dataclass(frozen=True)
class RuleOutcome:
    """One acceptance rule judged on an imported run.

    Attributes:
        rule: Rule id (the contract's acceptance id, ``backend_errors`` …).
        outcome: ``pass``, ``fail``, ``undetermined`` (the report's data bracket the threshold, or cannot speak to
            the rule) or ``info`` (an informational rule's figure).
        message: One sentence, with the figures (and their bounds when undetermined).
        verdict: The `acceptance.Verdict` as a dict, as stored for live runs (same status as `outcome`).
        lower, upper: The smallest and largest value the rule's figure can take given the report's data (equal
            when exact; None where the rule has no figure).
    """

    rule: str
    outcome: str
    message: str
    verdict: Mapping[str, Any]
    lower: float | None = None
    upper: float | None = None

    @property
    def required(self) -> bool:
        return bool(self.verdict.get("required", True))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome, "required": self.required, "message": self.message,
                "lower": _jf(self.lower), "upper": _jf(self.upper), "verdict": dict(self.verdict)}


@dataclass(frozen=True)
class ImportJudgement:
    """Every verdict of an imported run, and the figures behind them.

    Attributes:
        outcome: ``pass`` (every required rule passes), ``fail`` (a required rule fails), ``undetermined`` (none
            fails, some required rule cannot be decided from the report) or ``not judged`` (no contract).
        rules: Per rule.
        figures: P95/P100 of encoder_output max-abs (bounds), pass rates, counts: what the data say with no contract.
        records: The per-chunk records as stored in the run (unknown figures are None, with a ``max_abs_bound``).
        judged_mode: The mode the contract's rules were selected for.
        tolerance: The contract tolerance applied to encoder_output.
    """

    outcome: str
    rules: tuple[RuleOutcome, ...]
    figures: Mapping[str, Any]
    records: tuple[Mapping[str, Any], ...]
    judged_mode: str
    tolerance: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "judged_mode": self.judged_mode, "tolerance": dict(self.tolerance),
                "rules": [r.to_dict() for r in self.rules], "figures": dict(self.figures)}


def _jf(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return x


# --- per-chunk records ---------------------------------------------------------------------------------------------

def _report_tolerance(report: ParsedReport, tensor: str) -> Tolerance | None:
    """The tolerance the report itself judged `tensor` with (its ``cache_atol`` for cache outputs)."""
    if report.atol is None:
        return None
    atol = report.cache_atol if tensor.startswith("cache_") and report.cache_atol is not None else report.atol
    return Tolerance(atol=atol, rtol=report.rtol or 0.0)


def _passes(lo: float, hi: float, exact_failed_report: bool | None, ours: Tolerance | None,
            theirs: Tolerance | None) -> bool | None:
    """Whether a tensor passes our tolerance, given its max-abs interval and the report's own pass/fail.

    True/False when the data decide it, None when they do not.
    """
    if ours is None:
        return None if exact_failed_report is None else not exact_failed_report
    if hi <= ours.atol:
        return True  # even the worst element is within atol, whatever rtol adds
    if lo > ours.atol and ours.rtol == 0:
        return False
    if theirs is not None and exact_failed_report is not None and \
            theirs.atol == ours.atol and theirs.rtol == ours.rtol:
        return not exact_failed_report  # same tolerance: their verdict is ours
    if exact_failed_report is False and theirs is not None and theirs.atol <= ours.atol and theirs.rtol <= ours.rtol:
        return True  # passed a stricter check
    return None


def chunk_records(report: ParsedReport, stream: str, tolerances: Mapping[str, Tolerance | None],
                  outputs: Sequence[str]) -> list[dict[str, Any]]:
    """Per-chunk records in the engine's layout (see `inspector.acceptance`), for the store.

    Unknown figures are None (never invented): ``max_abs`` is None with ``max_abs_bound: [lo, hi|null]`` where
    the report gives no number, and ``passed`` is None where the report cannot tell whether our tolerance holds.

    Args:
        report: The parsed report.
        stream: The stream name the run is recorded under.
        tolerances: Our tolerance per output (from the contract), None where there is none.
        outputs: The tensors to record for every chunk: those the report speaks about (encoder_output and every
            tensor named in a failure).
    """
    records = []
    for chunk in report.chunks:
        records.append(_record(report, chunk, stream, tolerances, outputs))
    return records


def _record(report: ParsedReport, chunk: ImportedChunk, stream: str, tolerances: Mapping[str, Tolerance | None],
            outputs: Sequence[str]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "chunk": chunk.index, "stream": stream,
        "imported": {"report_status": chunk.status, "errors": [e.to_dict() for e in chunk.errors],
                     "unparsed": list(chunk.unparsed)},
    }
    if chunk.status == "raised":
        return {**base, "status": "error", "error": chunk.raised, "passed": False, "tensors": {}, "invariants": {},
                "failed_tensors": [], "failed_invariants": [], "inference_ms": None, "tightened": False}
    tensors: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys([*outputs, *(e.tensor for e in chunk.errors)]))
    for name in names:
        theirs = _report_tolerance(report, name)
        ours = tolerances.get(name)
        err = chunk.error_for(name)
        entry: dict[str, Any] = {"name": name}
        if name == FRAMES and chunk.frames_max_abs is not None:
            b = chunk.frames_max_abs
            failed_report = (not chunk.frames_passed) if chunk.frames_passed is not None else None
            entry.update(max_abs=b.lo if b.exact else None, mean_abs=chunk.frames_mean_abs,
                         max_rel=err.max_rel if err else None, max_abs_bound=b.to_json(), source=b.why)
            lo, hi = b.lo, b.hi
        elif err is not None:
            lo = err.max_abs if err.max_abs is not None else (theirs.atol if theirs else 0.0)
            hi = err.max_abs if err.max_abs is not None else math.inf
            failed_report = True
            entry.update(max_abs=err.max_abs, mean_abs=err.mean_abs, max_rel=err.max_rel,
                         max_abs_bound=[lo, None if math.isinf(hi) else hi],
                         source="failure string" if err.max_abs is not None else "failed; no max_abs given")
        else:
            # Not listed: passed at the report's tolerance for this tensor (if the report states one).
            failed_report = False
            lo = 0.0
            hi = theirs.atol if theirs is not None and theirs.rtol == 0 else math.inf
            entry.update(max_abs=None, mean_abs=None, max_rel=None,
                         max_abs_bound=[lo, None if math.isinf(hi) else hi],
                         source="not listed among failures: passed at the report's tolerance")
        entry["passed"] = _passes(lo, hi, failed_report, ours, theirs)
        entry["passed_report"] = not failed_report
        if ours is not None:
            entry.update(atol=ours.atol, rtol=ours.rtol)
        entry["_lo"], entry["_hi"] = lo, hi
        tensors[name] = entry
    verdicts = [t["passed"] for t in tensors.values()]
    passed = False if False in verdicts else (None if None in verdicts else True)
    status = "ok" if passed else ("failed" if passed is False else UNDETERMINED)
    return {**base, "status": status, "passed": passed, "tensors": tensors, "invariants": {},
            "failed_tensors": [n for n, t in tensors.items() if t["passed"] is False], "failed_invariants": [],
            "error": None, "inference_ms": None, "tightened": False}


def stored_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records without the private interval keys, as written to the store."""
    out = []
    for rec in records:
        tensors = {n: {k: v for k, v in t.items() if not k.startswith("_")} for n, t in rec.get("tensors", {}).items()}
        out.append({**rec, "tensors": tensors})
    return out


def _bracket(records: Sequence[Mapping[str, Any]], favourable: bool) -> list[dict[str, Any]]:
    """Records with every unknown resolved at one end: favourable (low max-abs, unknowns pass) or not."""
    out = []
    for rec in records:
        tensors = {}
        for name, t in rec.get("tensors", {}).items():
            value = t["_lo"] if favourable else t["_hi"]
            passed = t["passed"] if t["passed"] is not None else favourable
            tensors[name] = {**{k: v for k, v in t.items() if not k.startswith("_")}, "max_abs": value,
                             "passed": passed}
        passed = rec["passed"] if rec["passed"] is not None else favourable
        out.append({**rec, "tensors": tensors, "passed": passed})
    return out


# --- the verdicts --------------------------------------------------------------------------------------------------

def judge(report: ParsedReport, records: Sequence[Mapping[str, Any]], contract: Contract | None,
          mode: str) -> ImportJudgement:
    """Judge an imported report: figures always, the contract's acceptance rules when a contract is given.

    Args:
        report: The parsed report.
        records: From `chunk_records` (with the private interval keys).
        contract: The contract, or None (then only figures, outcome ``not judged``).
        mode: ``functional`` or ``closed-loop``: which of the contract's rules apply.
    """
    from inspector.acceptance import RunContext, evaluate_run, growth_statistics, quantile

    good, bad = _bracket(records, True), _bracket(records, False)
    figures = _figures(report, good, bad, quantile, growth_statistics)
    if contract is None:
        return ImportJudgement("not judged", (), figures, tuple(stored_records(records)), mode)
    atol_of = {}
    for name in contract.output_names:
        t = next((r["tensors"][name] for r in records if name in r.get("tensors", {}) and "atol" in r["tensors"][name]),
                 None)
        if t is not None:
            atol_of[name] = t["atol"]
    ctx = RunContext(contract=contract, mode=mode, backend=report.backend, precision=report.precision,
                     atol_of=atol_of)
    v_good = {v.rule: v for v in evaluate_run(good, ctx)}
    v_bad = {v.rule: v for v in evaluate_run(bad, ctx)}
    all_known = report.all_frames_known
    outcomes: list[RuleOutcome] = []
    for rule, g in v_good.items():
        b = v_bad.get(rule, g)
        outcomes.append(_combine(rule, g, b, all_known, report))
    fails = any(o.outcome == "fail" and o.required for o in outcomes)
    undecided = any(o.outcome == UNDETERMINED and o.required for o in outcomes)
    outcome = "fail" if fails else (UNDETERMINED if undecided else "pass")
    if not report.chunks and outcome == "pass":
        outcome = UNDETERMINED  # a report of no chunks shows nothing: it must not read as a pass
        msg = ("chunks_present: not decided: the report holds no chunks (total_chunks 0, nothing failed, nothing "
               "raised): there is nothing to judge")
        outcomes.append(RuleOutcome("chunks_present", UNDETERMINED, msg, {
            "rule": "chunks_present", "kind": "chunks_present", "status": UNDETERMINED, "required": True,
            "message": msg, "value": None, "threshold": None, "details": {}}))
    frames_tol = atol_of.get(FRAMES)
    tol = {"tensor": FRAMES, "atol": frames_tol,
           "rtol": next((r["tensors"][FRAMES].get("rtol") for r in records if FRAMES in r.get("tensors", {})), None)}
    return ImportJudgement(outcome, tuple(outcomes), figures, tuple(stored_records(records)), mode, tol)


def _combine(rule: str, g: Any, b: Any, all_known: bool, report: ParsedReport) -> RuleOutcome:
    gd, bd = g.to_dict(), b.to_dict()
    if g.kind == "state_carried":
        msg = STATE_NOT_SHOWN.format(rule=rule)
        if report.zero_feed_cache:
            msg += ("; moreover the report says zero_feed_cache: the caches fed were zeros, so no state was carried "
                    "at all")
        return RuleOutcome(rule, UNDETERMINED, msg, {**gd, "status": UNDETERMINED, "value": None, "message": msg,
                                                     "required": True})
    if g.kind == "no_growth" and not all_known:
        n_unknown = sum(1 for c in report.chunks if c.frames_max_abs is not None and not c.frames_max_abs.exact)
        msg = (f"{rule}: not computable from this report: {n_unknown} of {len(report.chunks)} chunks have no "
               f"encoder_output max-abs (the ORT schema gives numbers for failing chunks only), and a trend over the "
               f"failing chunks alone would be biased")
        verdict = {**gd, "status": UNDETERMINED, "message": msg, "value": None, "details": {"not_computable": True}}
        return RuleOutcome(rule, UNDETERMINED, msg, verdict)
    if g.kind in ("invariants", "invariant", "alarm") and g.status != "fail":
        msg = (f"{rule}: not decided: a parity report holds no tensor values, so the contract's invariants cannot be "
               f"evaluated on its chunks")
        return RuleOutcome(rule, UNDETERMINED, msg, {**gd, "status": UNDETERMINED, "value": None, "message": msg})
    if g.status == b.status:
        exact = g.value == b.value or g.kind not in ("quantile", "pass_rate")
        # The proof is the reading that is hardest on the verdict: a fail that holds even at the favourable end,
        # a pass that holds even at the unfavourable end.
        proof = gd if g.status == "fail" else bd
        message = proof["message"]
        if not exact:
            lo, hi = sorted((g.value, b.value))
            message += (f" (the report's data put the figure between {_fmt(lo)} and {_fmt(hi)}; "
                        f"{'even the favourable end fails' if g.status == 'fail' else 'even the unfavourable end passes'})")
        verdict = {**proof, "message": message}
        if not exact:
            verdict["details"] = {**verdict.get("details", {}), "bounds": [_jf(g.value), _jf(b.value)]}
        ends = [v for v in (_num(g.value), _num(b.value)) if v is not None]
        return RuleOutcome(rule, g.status, message, verdict, min(ends) if ends else None,
                           max(ends) if ends else None)
    # The favourable and unfavourable readings disagree: the report cannot decide this rule.
    lo, hi = sorted((g.value, b.value))
    q = g.details.get("q")
    what = "pass rate" if g.kind == "pass_rate" else (f"P{q:g}" if g.kind == "quantile" and q is not None
                                                       else g.kind)
    if g.kind == "pass_rate":
        why = (f"chunks not listed among failures passed at the report's own tolerance (atol {_fmt(report.atol)}, "
               f"rtol {_fmt(report.rtol)}) and carry no number, so whether they meet the contract's is unknown")
    elif not report.all_frames_known:
        why = "chunks not listed among failures carry no number, only that they passed at the report's tolerance"
    else:
        why = "the report does not decide the tolerance of some chunks"
    message = (f"{rule}: undetermined from this report: the {what} lies between {_fmt(lo)} and {_fmt(hi)} "
               f"against {_fmt(g.threshold)}, because {why}")
    verdict = {**gd, "status": UNDETERMINED, "value": None, "message": message,
               "details": {**gd.get("details", {}), "undetermined": True, "bounds": [_jf(lo), _jf(hi)]}}
    return RuleOutcome(rule, UNDETERMINED, message, verdict, _num(lo), _num(hi))


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _fmt(x: Any) -> str:
    if x is None:
        return "?"
    if isinstance(x, float) and math.isinf(x):
        return "unbounded" if x > 0 else "-inf"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _figures(report: ParsedReport, good: Sequence[Mapping[str, Any]], bad: Sequence[Mapping[str, Any]],
             quantile: Any, growth_statistics: Any) -> dict[str, Any]:
    """What the report's numbers say with no contract: quantiles (with bounds), pass rates, growth statistics."""
    ran = [c for c in report.chunks if c.status != "raised"]
    raised = [c for c in report.chunks if c.status == "raised"]

    def series(recs: Sequence[Mapping[str, Any]]) -> list[float]:
        out = []
        for r in recs:
            t = r.get("tensors", {}).get(FRAMES)
            out.append(math.inf if r.get("status") == "error" or t is None else float(t["max_abs"]))
        return out

    lo_s, hi_s = series(good), series(bad)
    fig: dict[str, Any] = {"chunks": len(report.chunks), "chunks_ran": len(ran), "chunks_raised": len(raised)}
    n_report_pass = sum(1 for c in ran if c.status == "passed")
    fig["report_pass_rate"] = {"claimed_percent": report.claims.get("pass_rate"),
                               "passed": n_report_pass, "of_ran": len(ran),
                               "percent_of_ran": round(100.0 * n_report_pass / len(ran), 3) if ran else None,
                               "percent_of_all": round(100.0 * n_report_pass / len(report.chunks), 3)
                               if report.chunks else None,
                               "note": "the report's pass_rate leaves out chunks that raised; percent_of_all counts "
                                       "them as failed, as live runs do"}
    for q in (50.0, 95.0, 100.0):
        lo, hi = quantile(lo_s, q), quantile(hi_s, q)
        fig[f"{FRAMES}_max_abs_p{q:g}"] = {"lower": _jf(lo), "upper": _jf(hi), "exact": lo == hi}
    known = [c for c in ran if c.frames_max_abs is not None and c.frames_max_abs.exact]
    fig[f"{FRAMES}_max_abs_known_chunks"] = len(known)
    if known:
        fig[f"{FRAMES}_max_abs_known_range"] = [min(c.frames_max_abs.lo for c in known),
                                                max(c.frames_max_abs.lo for c in known)]
    if report.all_frames_known and len(ran) >= 3:
        vals = [c.frames_max_abs.lo for c in ran]
        fig["growth"] = {k: _jf(v) for k, v in growth_statistics(vals).items()}
    else:
        # Where failures fall is still informative: failing chunks per quarter of the run.
        idx = [c.index for c in report.chunks]
        if idx:
            n = len(idx)
            quarters = [0, 0, 0, 0]
            for pos, c in enumerate(report.chunks):
                if c.status != "passed":
                    quarters[min(3, pos * 4 // n)] += 1
            fig["failures_per_quarter"] = quarters
    return fig
