"""Attribute a failing chunk to its cause: run the ladder, read the verdict, bisect the layers of a 16-bit precision
failure. `attribute_chunk` is what `inspector attribute` runs; `attribute_run_failure` is what the run API calls for
the first failing chunk of a failing run (it never raises: a problem becomes an ``undetermined`` verdict)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from contracts.model import Contract
from inspector.attribution.bisect import DEFAULT_MAX_PROBES, BisectResult, bisect_precision
from inspector.attribution.ladder import MODES, Say, StepResult, Target, build_ladder, recorded_state, run_ladder
from inspector.attribution.upcast import Precision, load_model, precision_of, save_model, upcast
from inspector.attribution.verdict import TriageHint, Verdict, decide
from inspector.errors import InspectorError

FORMAT = "parity-attribution"
VERSION = 1


@dataclass(frozen=True)
class AttributionReport:
    """Everything `inspector attribute` found for one chunk."""

    store: str
    model: str
    contract: str
    backend: str
    options: Mapping[str, Any]
    stream: str
    chunk: int
    mode: str
    graph: Precision | None
    steps: tuple[StepResult, ...]
    verdict: Verdict
    bisection: BisectResult | None = None
    recorded_run: str = ""

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "kind": "attribution", "store": self.store,
                "model": self.model, "contract": self.contract, "backend": self.backend,
                "options": {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                            for k, v in self.options.items()},
                "stream": self.stream, "chunk": self.chunk, "mode": self.mode,
                "graph": self.graph.to_dict() if self.graph else None, "recorded_run": self.recorded_run or None,
                "reference": "every figure is against the NeMo reference in the store",
                "steps": [s.to_dict() for s in self.steps], "verdict": self.verdict.to_dict(),
                "bisection": self.bisection.to_dict() if self.bisection else None}

    def columns(self) -> list[str]:
        """Tensors shown per step: those failing as run (worst first), else the contract's outputs."""
        from inspector.attribution.verdict import headline_tensor

        first = self.steps[0] if self.steps else None
        failed = list((first.record or {}).get("failed_tensors") or []) if first else []
        head = headline_tensor(first) if first else ""
        cols = ([head] if head else []) + [t for t in failed if t != head]
        return cols[:4]

    def render(self) -> str:
        lines = [f"attribute — stream {self.stream!r}, chunk {self.chunk} ({self.mode}): {self.backend} on "
                 f"{self.model or 'NeMo'}, contract {self.contract}"]
        if self.graph is not None:
            lines.append(f"  graph: {self.graph.describe()}")
        lines.append("  every figure: max-abs error against the NeMo reference in the store")
        cols = self.columns()
        head = f"  {'step':<13} {'backend':<9} {'status':<8} " + " ".join(f"{c[:22]:>22}" for c in cols)
        lines.append(head + "  change / note")
        for r in self.steps:
            figs = " ".join(f"{_fig(r, c):>22}" for c in cols)
            why = r.step.change if r.ran else r.error
            extra = f"; invariants failing: {', '.join(r.record['failed_invariants'])}" if (
                r.record and r.record.get("failed_invariants")) else ""
            lines.append(f"  {r.step.key:<13} {r.step.backend:<9} {r.status.upper() if r.status == 'fail' else r.status:<8} "
                         f"{figs}  {why}{extra}")
            if r.ran and r.math_mode:
                lines.append(f"  {'':<13} math: {r.math_mode}; state: {r.state}"
                             + (f"; chunks failing before: {len(r.failed_before)}" if r.failed_before else ""))
        if self.bisection is not None:
            lines += ["  " + x for x in self.bisection.render()]
        for note in self.verdict.notes:
            lines.append(f"  note: {note}")
        lines.append(f"verdict: {self.verdict.short} — {self.verdict.summary}")
        if self.verdict.triage:
            lines.append(f"next: {self.verdict.triage}")
        return "\n".join(lines)


def _fig(r: StepResult, tensor: str) -> str:
    if not r.ran:
        return "—"
    v = r.max_abs(tensor)
    ok = r.tensor(tensor).get("passed")
    return ("n/a" if v is None else f"{v:.3g}") + ("" if ok is None else (" ok" if ok else " ✗"))


def _graph_precision(model: Path | None, backend: str) -> Precision | None:
    if model is None or backend.startswith("torch-") or Path(model).suffix == ".nemo":
        return None
    import onnx

    try:
        return precision_of(onnx.load(str(model), load_external_data=False))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise InspectorError(f"{model} is not a readable ONNX model ({type(exc).__name__}: {exc}).") from exc


def attribute_chunk(store: Any, contract: Contract, model: str | Path | None, backend: str, chunk: int, *,
                    stream: str | None = None, options: Mapping[str, Any] | None = None,
                    mode: str = "closed-loop", bisect: bool = True, max_probes: int = DEFAULT_MAX_PROBES,
                    work_dir: str | Path | None = None, store_path: str = "", contract_ref: str = "",
                    say: Say | None = None) -> AttributionReport:
    """Run the ladder on one chunk and attribute its failure.

    Args:
        store: The open reference store.
        contract: The contract.
        model: The ONNX export the backend runs (a .nemo or None for the torch backends).
        backend: Registry name of the backend the run used.
        chunk: The chunk to attribute.
        stream: Stream (default: the store's only one).
        options: The run's backend options.
        mode: ``closed-loop`` (the state the backend's own loop feeds the chunk) or ``functional``.
        bisect: Bisect the layers of a 16-bit precision verdict.
        max_probes: Chunk runs the bisection may spend.
        work_dir: Where upcast and probe models go (default: a temporary folder, removed afterwards).

    Raises:
        InspectorError: Bad input (unknown stream or chunk, mode, unreadable model, unknown backend).
    """
    from backends.base import backend_names
    from inspector.diagnostics.chunkdata import check_chunk, resolve_stream

    if mode not in MODES:
        raise InspectorError(f"mode {mode!r}. Note: valid choices are {', '.join(MODES)}.")
    if backend not in backend_names():
        raise InspectorError(f"unknown backend {backend!r}. Note: valid choices are {', '.join(backend_names())}.")
    stream = resolve_stream(store, stream)
    check_chunk(store, stream, chunk)
    model_path = Path(model) if model is not None else None
    if model_path is not None and not model_path.exists():
        raise InspectorError(f"model {model_path} does not exist: pass the export the run used with --model.")
    if model_path is None and not backend.startswith("torch-"):
        raise InspectorError(f"backend {backend} runs an ONNX export: pass the one the run used with --model.")
    # bad input is exit 2 before anything runs; a backend that cannot run here is a step that could not run (3)
    from inspector.preflight import check_model_matches, check_options

    check_options([backend], {backend: dict(options or {})})
    if model_path is not None:
        check_model_matches(model_path, contract, [backend])
    target = Target(store, contract, stream, chunk, mode, backend, dict(options or {}), model_path,
                    store_path or str(getattr(store, "path", "")), contract_ref or contract.name)
    graph = _graph_precision(model_path, backend)
    tmp = Path(tempfile.mkdtemp(prefix="attribute-")) if work_dir is None else Path(work_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        up_path: Path | None = None
        text = graph.describe() if graph is not None else ""
        if graph is not None and not graph.is_fp32:
            if say is not None:
                say(f"upcasting the model to FP32 ({text})")
            up_model, rep = upcast(load_model(model_path))
            up_path = save_model(up_model, tmp / "upcast-fp32.onnx")
            text = rep.describe()
        steps = build_ladder(target, up_path, graph.label if graph else "", text,
                             None if graph is None else graph.is_fp32)
        rec = recorded_state(target) if mode == "closed-loop" else None
        results = run_ladder(target, steps, rec, say)
        hint = TriageHint(target.store_path, str(model_path or ""), target.contract_ref, chunk,
                          stream if len(list(store.streams())) > 1 else "")
        verdict = decide(results, hint)
        bis = None
        if bisect and verdict.kind == "precision" and _sixteen_bit(verdict.switch):
            fp32_model = up_path or model_path
            if fp32_model is not None:
                reduced = "bfloat16" if graph is not None and graph.label == "bfloat16 math" else "float16"
                bis = bisect_precision(target, fp32_model, (backend, results[0].precision or "fp32"), tmp / "probes",
                                       reduced=reduced, max_probes=max_probes, say=say)
        if (verdict.kind == "pass" and rec is not None and rec.record is not None
                and not rec.record.get("passed")):
            verdict = replace(verdict, notes=(*verdict.notes, (
                f"the recorded run {rec.run_id} failed this chunk, but it passes when re-run"
                + (" on the state that run fed it" if rec.state is not None else "")
                + ": nondeterminism in the backend, or the run's state differed")))
        return AttributionReport(target.store_path, str(model_path or ""), target.contract_ref, backend,
                                 dict(options or {}), stream, chunk, mode, graph, tuple(results), verdict, bis,
                                 rec.run_id if rec and rec.state is not None else "")
    finally:
        if work_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _sixteen_bit(switch: str) -> bool:
    return "float16" in switch or "FP16" in switch


def first_failing_chunk(records: Sequence[Mapping[str, Any]]) -> int | None:
    """The first chunk record that did not pass (None when all passed)."""
    for r in records:
        if not r.get("passed"):
            return int(r["chunk"])
    return None


def attribute_run_failure(store: Any, contract: Contract, model: str | Path | None, *, backend: str,
                          options: Mapping[str, Any], mode: str, stream: str,
                          records: Sequence[Mapping[str, Any]], store_path: str = "", contract_ref: str = "",
                          bisect: bool = False, say: Say | None = None) -> dict[str, Any] | None:
    """Attribute the first failing chunk of a finished run, for the run API and its reports.

    Returns None when every chunk passed; otherwise the report's dict plus ``chunk``, with ``verdict.short`` (e.g.
    ``precision: TF32``) for one-line reports. Never raises for a chunk it cannot attribute: that is an
    ``undetermined`` verdict saying why (an imported run, a mode the ladder does not re-run, a missing model …).
    """
    chunk = first_failing_chunk(records)
    if chunk is None:
        return None
    if mode not in MODES:
        v = Verdict("undetermined", summary=f"runs of mode {mode!r} cannot be re-run (only {', '.join(MODES)})")
        return {"chunk": chunk, "stream": stream, "backend": backend, "verdict": v.to_dict(), "steps": []}
    try:
        report = attribute_chunk(store, contract, model, backend, chunk, stream=stream, options=options, mode=mode,
                                 bisect=bisect, store_path=store_path, contract_ref=contract_ref, say=say)
    except InspectorError as exc:
        v = Verdict("undetermined", summary=f"could not attribute chunk {chunk}: {exc}")
        return {"chunk": chunk, "stream": stream, "backend": backend, "verdict": v.to_dict(), "steps": []}
    return report.to_dict()


def annotate_report(doc: dict[str, Any], store: Any, contract: Contract, model: str | Path | None, *,
                    store_path: str = "", contract_ref: str = "", say: Say | None = None) -> dict[str, Any]:
    """Add ``attribution`` (see `attribute_run_failure`) and ``attribution_short`` (``FAIL — precision: TF32``) to
    every failing run of a batch report document (``doc["runs"]``, as `inspector.reports.json_report.build_report`
    writes them): what `run --batch --attribute` puts into the JSON, JUnit and Markdown reports. Runs compared
    against a baseline backend, and runs that could not be made, get an ``undetermined`` attribution saying why.
    Returns `doc` (changed in place)."""
    for run in doc.get("runs") or []:
        failing = run.get("status") == "error" or any(v.get("status") == "fail" for v in run.get("verdicts") or [])
        if run.get("passed") or not failing:  # passing or undetermined runs have no failure to attribute
            continue
        base = {"chunk": None, "stream": run.get("stream"), "backend": run.get("backend"), "steps": []}
        if run.get("status") == "error" or not run.get("run_id"):
            v = Verdict("undetermined", summary="the run could not be made, so there is no failing chunk to re-run")
            run["attribution"] = {**base, "verdict": v.to_dict()}
        elif run.get("baseline") not in (None, "", "reference"):
            v = Verdict("undetermined", summary="the run compared against a baseline backend; attribution re-runs "
                                                "chunks against the NeMo reference only")
            run["attribution"] = {**base, "verdict": v.to_dict()}
        else:
            metrics = store.run(run["run_id"]).all_metrics(run["stream"])
            records = [metrics[i] for i in sorted(metrics)]
            got = attribute_run_failure(store, contract, model, backend=run["backend"],
                                        options=run.get("options") or {}, mode=run["mode"], stream=run["stream"],
                                        records=records, store_path=store_path, contract_ref=contract_ref, say=say)
            if got is None:  # every chunk passed: a run-level rule failed (growth, pass rate …)
                v = Verdict("undetermined", summary="every chunk passes; the run failed a run-level rule, which "
                                                    "attribution (per chunk) does not re-run")
                got = {**base, "verdict": v.to_dict()}
            run["attribution"] = got
        run["attribution_short"] = f"FAIL — {run['attribution']['verdict']['short']}"
    return doc


__all__ = ["AttributionReport", "annotate_report", "attribute_chunk", "attribute_run_failure", "first_failing_chunk"]
