"""The ladder: one chunk re-run under stricter and stricter math, each step one change, each judged by the contract.

Steps, in order (a step that does not apply is kept in the report as *skipped*, with why):

1. ``as-run``: the backend with the options the run used.
2. ``switches-off``: the backend's reduced-precision switch off: ORT CUDA ``use_tf32=0``; ``trt-fp16`` rebuilt as
   ``trt-fp32`` (TensorRT FP32 with the TF32 builder flag cleared). ``ort-cpu``, ``trt-fp32`` and the torch backends
   (which always run FP32 with TF32 off) have no switch left to turn off.
3. ``upcast``: the same backend on the model upcast to FP32 (`inspector.attribution.upcast`); a graph that is
   already FP32 skips this step and says so.
4. ``strict-cpu``: that model on ``ort-cpu``, the strict FP32 reference runtime.

Every figure is against the NeMo reference in the store (the chunk's reference outputs). The chunk is judged exactly
as `inspector run` judges it (`inspector.engine.ChunkJudge`: the contract's tolerance for that backend and precision,
tightening, invariants), so a step "passes" when the run would have passed that chunk.

Closed loop: each step feeds the chunk the state *its own math* produced, by running the loop from the stream's first
chunk (a stricter step fed the reduced-precision run's state would inherit that state's error and make precision
look like a bug). The as-run step takes its state from the recorded run when the store holds one for this backend,
options and model with the previous chunk's outputs saved, and rebuilds it otherwise; the report says which.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from contracts.model import Contract
from inspector.errors import InspectorError

MODES = ("closed-loop", "functional")
STRICT_BACKEND = "ort-cpu"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One rung of the ladder.

    Attributes:
        key: ``as-run``, ``switches-off``, ``upcast``, ``strict-cpu`` (or ``probe`` in the bisection).
        backend: Registry name the step runs on.
        options: Backend options.
        model: The model it runs (None for torch backends that build NeMo themselves).
        change: The one change against the step before, in words (``use_tf32=0``).
        switch: What the change removes, for the verdict (``TF32``, ``float16 math``).
        strict: Whether this step computes in strict FP32 (no TF32, no 16-bit math).
        skip: Why the step does not apply ("" when it runs).
        judge_as: (backend, precision) whose tolerances judge the step, when not its own (bisection probes).
    """

    key: str
    backend: str
    options: Mapping[str, Any]
    model: Path | None
    change: str = ""
    switch: str = ""
    strict: bool = False
    skip: str = ""
    judge_as: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "backend": self.backend, "options": {k: _plain(v) for k, v in self.options.items()},
                "model": str(self.model) if self.model else None, "change": self.change, "switch": self.switch,
                "strict": self.strict, "skip": self.skip}


@dataclass(frozen=True)
class StepResult:
    """A step's outcome on the chunk.

    Attributes:
        status: ``pass``, ``fail``, ``skipped``, ``error`` (could not run: `error` says why) or ``undetermined`` (ran,
            but the chunk gave no figure to judge: `error` says why).
        record: The chunk record, as `inspector run` writes it (None unless it ran).
        math_mode, precision: What the backend reported (`BackendInfo`).
        state: Where the chunk's state inputs came from.
        failed_before: Chunks before the target (closed loop) that this step's math failed.
        seconds: Wall time of the step.
    """

    step: Step
    status: str
    record: Mapping[str, Any] | None = None
    math_mode: str = ""
    precision: str = ""
    error: str = ""
    state: str = ""
    failed_before: tuple[int, ...] = ()
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.status in ("pass", "fail")

    def tensor(self, name: str) -> Mapping[str, Any]:
        return ((self.record or {}).get("tensors") or {}).get(name) or {}

    def max_abs(self, name: str) -> float | None:
        v = self.tensor(name).get("max_abs")
        return None if v is None else float(v)

    def excess(self, name: str) -> float | None:
        """max-abs over the tensor's atol: above 1 fails (for rtol 0); None when unknown."""
        t = self.tensor(name)
        if t.get("max_abs") is None or not t.get("atol"):
            return None
        return float(t["max_abs"]) / float(t["atol"])

    def failures(self) -> list[str]:
        rec = self.record or {}
        return list(rec.get("failed_tensors") or []) + [f"invariant {i}" for i in rec.get("failed_invariants") or []]

    def to_dict(self) -> dict[str, Any]:
        rec = self.record or {}
        return {**self.step.to_dict(), "status": self.status, "error": self.error, "math_mode": self.math_mode,
                "precision": self.precision, "state": self.state, "failed_before": list(self.failed_before),
                "seconds": round(self.seconds, 3), "failed_tensors": list(rec.get("failed_tensors") or []),
                "failed_invariants": list(rec.get("failed_invariants") or []),
                "tensors": {n: {k: t.get(k) for k in ("max_abs", "rel_l2", "cosine", "atol", "rtol", "n_fail",
                                                       "passed")}
                            for n, t in (rec.get("tensors") or {}).items()}}


@dataclass(frozen=True)
class Target:
    """The chunk under attribution and the run it failed in."""

    store: Any
    contract: Contract
    stream: str
    chunk: int
    mode: str
    backend: str
    options: Mapping[str, Any]
    model: Path | None
    store_path: str = ""
    contract_ref: str = ""


def _plain(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


# --- the steps -------------------------------------------------------------------------------------------------------

def switch_step(backend: str, options: Mapping[str, Any], model: Path | None) -> Step:
    """The backend's reduced-precision switch turned off (or why there is none)."""
    from backends.onnxrt import parse_option

    opts = {k: parse_option(v) for k, v in options.items()}
    if backend == "ort-cuda":
        if os.environ.get("NVIDIA_TF32_OVERRIDE") == "0":
            return Step("switches-off", backend, opts, model, skip="TF32 is already off (NVIDIA_TF32_OVERRIDE=0)",
                        strict=True)
        if str(opts.get("use_tf32", "1")) == "0":
            return Step("switches-off", backend, opts, model, skip="TF32 is already off (use_tf32=0)", strict=True)
        return Step("switches-off", backend, {**opts, "use_tf32": 0}, model, change="use_tf32=0 (TF32 off)",
                    switch="TF32", strict=True)
    if backend == "trt-fp16":
        strict = {k: v for k, v in opts.items() if k not in ("precision", "fp16_mode")}
        return Step("switches-off", "trt-fp32", strict, model, switch="FP16 (TensorRT)", strict=True,
                    change="TensorRT FP32 engine with the TF32 builder flag cleared, instead of FP16")
    if backend == "trt-fp32":
        return Step("switches-off", backend, opts, model, strict=True,
                    skip="trt-fp32 already builds with the TF32 builder flag cleared (strict FP32)")
    if backend.startswith("torch-"):
        return Step("switches-off", backend, opts, model, strict=True,
                    skip="the NeMo backend always runs FP32 with TF32 off (matmul and cuDNN)")
    return Step("switches-off", backend, opts, model, strict=True,
                skip=f"{backend} computes in FP32 and has no reduced-precision switch")


def build_ladder(target: Target, upcast_model: Path | None, precision_label: str, precision_text: str,
                 graph_is_fp32: bool | None) -> list[Step]:
    """The steps for `target` (see the module docstring).

    Args:
        upcast_model: The FP32 copy of the model (None when the graph is already FP32 or there is no ONNX graph).
        precision_label: ``float16 math`` … (the graph's 16-bit content), for the upcast step's switch.
        precision_text: What the upcast changed / why it is skipped.
        graph_is_fp32: Whether the ONNX graph holds no 16-bit floats; None when there is no ONNX graph (torch).
    """
    from backends.onnxrt import parse_option

    opts = {k: parse_option(v) for k, v in target.options.items()}
    as_run_strict = (graph_is_fp32 is not False and target.backend in ("ort-cpu", "trt-fp32")
                     or target.backend.startswith("torch-"))
    steps = [Step("as-run", target.backend, opts, target.model, change="the run's own settings",
                  strict=as_run_strict)]
    sw = switch_step(target.backend, opts, target.model)
    steps.append(replace(sw, strict=sw.strict and graph_is_fp32 is not False))
    last_ran = sw if not sw.skip else steps[0]
    if graph_is_fp32 is None:
        steps.append(Step("upcast", last_ran.backend, last_ran.options, None, strict=True,
                          skip="no ONNX graph to upcast (the torch backends run NeMo's module)"))
        steps.append(Step("strict-cpu", STRICT_BACKEND, {}, None, strict=True,
                          skip="no ONNX graph for ort-cpu (pass the export with --model to compare)"))
        return steps
    if graph_is_fp32 or upcast_model is None:
        steps.append(Step("upcast", last_ran.backend, last_ran.options, target.model, strict=True,
                          skip=precision_text))
        strict_model = target.model
    else:
        up = Step("upcast", last_ran.backend, last_ran.options, upcast_model, strict=True,
                  change=f"the model upcast to FP32 ({precision_text})", switch=precision_label)
        steps.append(up)
        last_ran = up
        strict_model = upcast_model
    if last_ran.backend == STRICT_BACKEND:
        steps.append(Step("strict-cpu", STRICT_BACKEND, last_ran.options, strict_model, strict=True,
                          skip="the step before already runs strict FP32 on ort-cpu"))
    else:
        steps.append(Step("strict-cpu", STRICT_BACKEND, {}, strict_model, strict=True,
                          change="the same model on ort-cpu (strict FP32 reference runtime)",
                          switch=f"{target.backend} kernels"))
    return steps


# --- running one step ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedState:
    """The state a recorded run fed the chunk: its saved outputs of the chunk before, through the feedback map."""

    run_id: str
    state: dict[str, np.ndarray] | None
    record: Mapping[str, Any] | None
    prev_record: Mapping[str, Any] | None


def recorded_state(target: Target) -> RecordedState | None:
    """The newest recorded run of the target's backend, mode, stream, options and model that holds the chunk; with
    the state it fed the chunk when it saved the previous chunk's outputs (closed loop), else state None."""
    from backends.modelfile import model_sha256
    from contracts.feedback import next_state
    from inspector.engine import to_model_layout

    sha = model_sha256(target.model) if target.model is not None and Path(target.model).exists() else ""
    want = {k: str(v) for k, v in target.options.items()}
    best = None
    for rec in target.store.runs():
        if (rec.backend != target.backend or rec.mode != target.mode or rec.stream != target.stream
                or target.chunk not in list(rec.chunks)):
            continue
        if sha and rec.environment.get("model_sha256", sha) != sha:
            continue
        if {k: str(v) for k, v in dict(rec.options).items()} != want:
            continue
        if best is None or str(rec.started) > str(best.started):
            best = rec
    if best is None:
        return None
    run = target.store.run(best.run_id)
    record = run.chunk_metrics(target.stream, target.chunk)
    prev_index = target.chunk - 1
    if target.mode != "closed-loop" or prev_index not in list(best.chunks):
        return RecordedState(best.run_id, None, record, None)
    prev_record = run.chunk_metrics(target.stream, prev_index)
    outputs = run.outputs(target.stream, prev_index)
    if not outputs or prev_record is None or prev_record.get("status") == "error":
        return RecordedState(best.run_id, None, record, prev_record)
    model_layout = {k: to_model_layout(target.contract, k, np.asarray(v)) for k, v in outputs.items()}
    state = next_state(target.contract, model_layout)
    if set(state) != set(target.contract.state_inputs):
        return RecordedState(best.run_id, None, record, prev_record)
    return RecordedState(best.run_id, state, record, prev_record)


def first_chunk(target: Target) -> int:
    """Where the closed loop starts: the stream's first chunk (every chunk up to the target must be present).

    Raises:
        InspectorError: The stream lacks a chunk between its first and the target.
    """
    have = list(target.store.chunk_indices(target.stream))
    start = have[0] if have else target.chunk
    missing = sorted(set(range(start, target.chunk + 1)) - set(have))
    if missing:
        raise InspectorError(f"stream {target.stream!r} lacks chunk(s) {missing[:8]} before chunk {target.chunk}: "
                             "the closed loop cannot be rebuilt up to it; finish converting the reference "
                             "(`inspector convert` resumes) or use --mode functional.")
    return start


def run_step(target: Target, step: Step, recorded: RecordedState | None = None, say: Say | None = None) -> StepResult:
    """Run `step` on the target chunk and judge it; a step that cannot run returns status ``error`` with why."""
    if step.skip:
        return StepResult(step, "skipped", error=step.skip)
    from backends.base import BackendError
    from inspector.diagnostics.session import active_backend

    t0 = time.perf_counter()
    try:
        with active_backend(step.backend, step.model, target.contract, dict(step.options), target.store) as be:
            info = be.info()
            record, state_from, failed_before = _judge_chunk(target, step, be, info.precision, recorded, say)
            info = be.info()
    except (InspectorError, BackendError) as exc:
        return StepResult(step, "error", error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 — a runtime failing to load the model is a step that could not run
        return StepResult(step, "error", error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
    if record.get("status") == "error":
        return StepResult(step, "error", record, info.math_mode, info.precision,
                          error=f"the backend raised on chunk {target.chunk}: {record.get('error')}",
                          state=state_from, failed_before=failed_before, seconds=time.perf_counter() - t0)
    status, why = step_status(record, target.chunk)
    return StepResult(step, status, record, info.math_mode, info.precision, error=why,
                      state=state_from, failed_before=failed_before, seconds=time.perf_counter() - t0)


def step_status(record: Mapping[str, Any], chunk: int) -> tuple[str, str]:
    """A judged chunk record's step status and, for ``undetermined``, why.

    A chunk whose tensors gave no figure (an empty output) neither passes nor fails: counting it as a failing step
    would let the ladder call a bug on no evidence, so it is ``undetermined`` and says which tensors had no figure.
    """
    if record.get("passed"):
        return "pass", ""
    if record.get("status") == "undetermined":
        names = ", ".join(record.get("undetermined_tensors") or []) or "an output"
        return "undetermined", f"chunk {chunk} could not be judged: {names} gave no figure (empty)"
    return "fail", ""


def _judge_chunk(target: Target, step: Step, backend: Any, precision: str, recorded: RecordedState | None,
                 say: Say | None) -> tuple[dict[str, Any], str, tuple[int, ...]]:
    """Run the chunk (closed loop: from the first chunk, or from the recorded state) and judge every chunk run."""
    from inspector.engine import ChunkJudge, ChunkJob, load_chunk

    judge_backend, judge_precision = step.judge_as or (step.backend, precision)
    judge = ChunkJudge(target.contract, target.mode, judge_backend, judge_precision, target.stream)
    contract = target.contract
    state_names = set(contract.state_inputs)
    stream_names = [n for n in contract.input_names if n not in state_names]

    def one(index: int, state: Any, init: Mapping[str, np.ndarray] | None) -> tuple[dict, Any]:
        ref = load_chunk(target.store, contract, target.stream, index,
                         skip_inputs=state_names if init is None and target.mode == "closed-loop" else ())
        error = None
        outputs: dict[str, np.ndarray] = {}
        t = time.perf_counter()
        if target.mode == "functional":
            feeds = dict(ref.inputs)
            try:
                outputs = backend.run(feeds)
            except Exception as exc:  # noqa: BLE001 — a chunk that raises is a result
                error = f"{type(exc).__name__}: {exc}"
            new_state = None
        else:
            stream_feeds = {k: ref.input_or_load(k) for k in stream_names}
            start = init if state is None else None
            if state is None and start is None:
                start = {k: ref.input_or_load(k) for k in contract.state_inputs}
            feeds = {**(start or backend.state_arrays(state)), **stream_feeds}
            try:
                outputs, new_state = backend.step(stream_feeds, state, start)
            except Exception as exc:  # noqa: BLE001 — the loop restarts from the reference, as the engine's does
                error = f"{type(exc).__name__}: {exc}"
                new_state = None
        job = ChunkJob(index, feeds, outputs, ref.outputs, error, time.perf_counter() - t, {})
        return judge.judge(job), new_state

    if target.mode == "functional":
        record, _ = one(target.chunk, None, None)
        return record, "the reference's inputs of this chunk (functional)", ()
    if recorded is not None and recorded.state is not None and step.key == "as-run":
        if recorded.prev_record is not None and recorded.prev_record.get("tightened"):
            judge.tightened = True
        record, _ = one(target.chunk, None, recorded.state)
        return record, (f"recorded run {recorded.run_id}: its saved outputs of chunk {target.chunk - 1} through the "
                        "feedback map"), ()
    start = first_chunk(target)
    state = None
    failed: list[int] = []
    record: dict[str, Any] = {}
    for index in range(start, target.chunk + 1):
        record, state = one(index, state, None)
        if index < target.chunk and not record.get("passed"):
            failed.append(index)
        if say is not None and index < target.chunk and (index - start) % 10 == 9:
            say(f"{step.key}: chunk {index}/{target.chunk}")
    source = (f"rebuilt: closed loop from chunk {start} with this step's math" if target.chunk > start
              else "the reference's state of the stream's first chunk")
    return record, source, tuple(failed)


def run_ladder(target: Target, steps: Sequence[Step], recorded: RecordedState | None = None,
               say: Say | None = None) -> list[StepResult]:
    """Every step in order; the as-run step uses the recorded run's state when `recorded` holds one."""
    results = []
    for step in steps:
        if say is not None and not step.skip:
            say(f"step {step.key}: {step.backend}" + (f" ({step.change})" if step.change else ""))
        results.append(run_step(target, step, recorded, say))
    return results


__all__ = ["MODES", "RecordedState", "Step", "StepResult", "Target", "build_ladder", "first_chunk",
           "recorded_state", "run_ladder", "run_step", "switch_step"]
