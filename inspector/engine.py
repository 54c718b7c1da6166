"""The parity engine: run one backend over a stream's chunks, compare every chunk, judge the run, record it.

Modes:
    ``functional``: every chunk is fed the reference's inputs, caches included: each chunk is tested in isolation.
    ``closed-loop``: stream inputs (audio, length) come from the reference; state inputs come from the backend's own
    previous outputs through the contract's feedback map (`Backend.step`); the first chunk of the range starts from
    the reference's inputs of that chunk.

Against what: the reference outputs in the store, or (``baseline=``) another backend run side by side on the very
same feeds (the seed compared TensorRT against ORT this way).

Layouts: reference tensors are mapped into the model's layout with each TensorSpec's ``ref_perm``; comparison,
invariants and hooks see model layout; outputs saved into the store go back to the reference layout.

Per chunk, off the inference thread (a writer thread overlaps metrics and store writes with the next chunk's
inference; a reader thread prefetches the next reference chunk): `inspector.metrics.compare_tensor` per output at
the tolerance that applies (`Contract.tolerance_for`, switched to the contract's tightened tolerances from the
chunk where a tightening condition first holds), every invariant evaluated with ``prev``, and one *chunk record*
committed atomically into the store's run (`RunWriter.write_chunk`):

    {"stream", "chunk", "status": "ok" | "failed" | "error", "passed": bool, "error": str | None,
     "inference_ms", "tightened": bool, "tightening_fired": [conditions] (first chunk only),
     "tensors": {ref_name: TensorMetrics.to_dict()}, "invariants": {id: {"ok", "detail", "severity", "kind"}},
     "failed_tensors": [...], "failed_invariants": [...], "note": str, "extra": {hook name: {...}},
     "output_problems": [{"tensor", "what": "missing" | "dtype" | "shape" | "nonfinite" | "extra", "detail"}]
     (only when there are any; judged over the run as the ``outputs`` verdict)}

A backend that raises, or returns NaN, fails that chunk (``status`` ``error`` / ``failed``, with the exception text)
and the run goes on; in closed loop the state is then restarted from the reference's next chunk (noted).

Where the figures are computed: on the backend's GPU by the torch kernel when the backend runs on one (the
reference uploaded by the reader threads ahead of time; `inspector.judge_torch`, ``$INSPECTOR_JUDGE``), else by
numpy on the CPU; the run records which (``judge``). Every run also records each chunk's ``input_shapes`` (and
``rebuilt`` when a backend reports ``last_rebuilt``), its ``latency_ms`` (`inspector.latency`: steady percentiles,
warm-up chunks, outliers and the shape-change note, which joins the run's notes) and ``memory`` (peak RSS and device
memory, `inspector.resources.PeakMemory`) in its summary.

Runs are resumable: a run of the same backend, mode, stream, chunks, options and baseline that is still
``running`` or ``interrupted`` in the store is continued when its content identity (`inspector.identity`: the
contract's content, the model file's sha256, the options, the tool's version) still holds; its committed chunks are
kept, the closed-loop state (and ``prev`` for the invariants) is rebuilt by replaying the finished chunks without
re-recording them. When only the contract's acceptance rules changed, the recorded chunks are kept and the run is
re-judged; when anything its chunk records depend on changed, a new run is made. The run's notes and its record's
``environment["reuse"]`` say which.

Saved outputs (``RunSpec.save_outputs``): ``failing`` (the chunks that did not pass), ``all`` or ``none``; the run's
summary says how many chunks' outputs were saved and what they take on disk.

Extension point: `ChunkHook` objects see every chunk on the inference thread (backend, feeds, outputs, state) and
return extra figures for the record (issue 8's state trajectory, issue 5's diagnostics) and verdicts for the run.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from backends.base import Backend, BackendInfo
from contracts.model import Contract
from inspector.acceptance import RunContext, Verdict, evaluate_run, hook_verdicts, run_outcome, run_passed
from inspector.errors import InspectorError
from inspector.hooks import ChunkEvent, ChunkHook, RunInfo, RunSpec
from inspector.metrics import compare_tensor, shape_failure

MODES = ("functional", "closed-loop")

ProgressFn = Callable[[int, int, Mapping[str, Any]], None]
"""progress(done, total, record): called once per committed chunk (from the writer thread)."""


# --- what a run is: `RunResult`, `RunSpec`, `RunInfo`, and the hook types (`inspector.hooks`) ---------------------

@dataclass(frozen=True)
class RunResult:
    """A finished (or interrupted) run: every chunk record and the verdicts.

    ``bool(result)`` is whether every verdict passed.
    """

    run_id: str
    spec: RunSpec
    backend_info: BackendInfo
    baseline_info: BackendInfo | None
    records: tuple[Mapping[str, Any], ...]
    verdicts: tuple[Verdict, ...]
    status: str
    started: str
    finished: str
    reference: Mapping[str, Any]
    environment: Mapping[str, Any]
    resumed_chunks: int = 0
    notes: tuple[str, ...] = ()
    wall_s: float = 0.0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    """Per-chunk milliseconds per stage (see `Timings`) for the chunks run now (not resumed ones)."""
    saved_outputs: Mapping[str, Any] = field(default_factory=dict)
    """``{"mode", "chunks", "bytes"}``: whose outputs were stored and their size on disk."""
    latency_ms: Mapping[str, Any] = field(default_factory=dict)
    """`inspector.latency.summarize` of the chunks' inference times: steady p50/p95/p99/max, warm-up, outliers."""
    memory: Mapping[str, Any] = field(default_factory=dict)
    """`inspector.resources.PeakMemory.to_dict`: peak host RSS and device memory while the run ran."""
    judge: Mapping[str, Any] = field(default_factory=dict)
    """Where the per-chunk figures were computed: ``{"place": sentence, "device": torch device or "numpy"}``."""

    @property
    def passed(self) -> bool:
        return self.status == "complete" and run_passed(self.verdicts)

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` or ``undetermined`` (`inspector.acceptance.run_outcome`)."""
        return run_outcome(self.verdicts) if self.status == "complete" else "undetermined"

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failing_verdicts(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v]


# --- reference chunks ------------------------------------------------------------------------------------------------

def to_model_layout(contract: Contract, name: str, array: np.ndarray) -> np.ndarray:
    """A reference-layout tensor in the model's layout (``ref_perm`` of its TensorSpec), C-contiguous."""
    try:
        spec = contract.tensor(name)
    except KeyError:
        return array
    if spec.ref_perm is not None:
        array = np.transpose(array, spec.ref_perm)
    return np.ascontiguousarray(array)


def to_ref_layout(contract: Contract, name: str, array: np.ndarray) -> np.ndarray:
    """The inverse of `to_model_layout`."""
    try:
        spec = contract.tensor(name)
    except KeyError:
        return array
    if spec.ref_perm is not None:
        array = np.transpose(array, np.argsort(spec.ref_perm))
    return np.ascontiguousarray(array)


@dataclass
class RefChunk:
    """One reference chunk in model layout: the contract's inputs and outputs.

    In closed loop the reference's state inputs are only needed where the loop (re)starts, so they may be left
    unread; `input_or_load` reads one on demand.
    """

    index: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    meta: Mapping[str, Any]
    view: Any = None
    contract: Contract | None = None
    device_outputs: dict[str, Any] = field(default_factory=dict)
    """The outputs already on the judge's device (`inspector.judge_torch`), uploaded by the reader thread."""

    def input_or_load(self, name: str) -> np.ndarray:
        if name not in self.inputs:
            self.inputs[name] = to_model_layout(self.contract, name, self.view.input(name))
        return self.inputs[name]


def load_chunk(store: Any, contract: Contract, stream: str, index: int,
               skip_inputs: Iterable[str] = ()) -> RefChunk:
    """Read one reference chunk from the store into model layout.

    Args:
        skip_inputs: Inputs not to read now (closed loop: the state inputs after the first chunk).

    Raises:
        InspectorError: The chunk lacks an input the contract requires.
    """
    view = store.chunk(stream, index)
    have_in = set(view.input_names())
    missing = [n for n in contract.input_names if n not in have_in]
    if missing:
        raise InspectorError(
            f"Store {store.path}: stream {stream!r} chunk {index} has no input tensor(s) {missing}; the contract "
            f"{contract.name} needs {list(contract.input_names)} and the chunk holds {sorted(have_in)}. Check that "
            "the store was converted from the reference made for this contract.")
    skip = set(skip_inputs)
    inputs = {n: to_model_layout(contract, n, view.input(n)) for n in contract.input_names if n not in skip}
    have_out = set(view.output_names())
    outputs = {n: to_model_layout(contract, n, view.output(n)) for n in contract.output_names if n in have_out}
    return RefChunk(index, inputs, outputs, dict(view.meta or {}), view, contract)


class _Prefetch:
    """Reads reference chunks ahead of the inference loop (Zarr reads + decompression, and for the GPU judge the
    upload to its device), handed over in order.

    `workers` threads read `depth` chunks ahead at once: at parakeet size one read (35.8 ms on the H200's host) took
    longer than an ORT CUDA step (~28 ms), so a single reader would pace the run; decompression releases the GIL.
    """

    def __init__(self, store: Any, contract: Contract, stream: str, chunks: Sequence[int], depth: int = 2,
                 timings: Timings | None = None, skip_state_after_first: bool = False, device: str | None = None,
                 workers: int | None = None):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._skip = tuple(contract.state_inputs) if skip_state_after_first else ()
        self._device = device
        self.timings = timings or Timings()
        self._args = (store, contract, stream)
        self._todo = iter(list(enumerate(chunks)))
        self._depth = max(1, depth)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers if workers is not None else read_workers()),
                                        thread_name_prefix="parity-prefetch")
        self._pending: Any = deque()
        self._failed = False
        for _ in range(self._depth):
            self._submit()

    def _submit(self) -> None:
        nxt = next(self._todo, None)
        if nxt is not None:
            self._pending.append(self._pool.submit(self._read, *nxt))

    def _read(self, pos: int, index: int) -> RefChunk:
        store, contract, stream = self._args
        t0 = time.perf_counter()
        item = load_chunk(store, contract, stream, index, self._skip if pos else ())
        self.timings.add("read", time.perf_counter() - t0)
        if self._device is not None:  # the GPU judge's reference goes up here, never on the inference thread
            from inspector.judge_torch import upload

            t0 = time.perf_counter()
            item.device_outputs = upload(item.outputs, self._device)
            self.timings.add("upload", time.perf_counter() - t0)
        return item

    def __iter__(self) -> Iterator[RefChunk]:
        return self

    def __next__(self) -> RefChunk:
        if self._failed or not self._pending:
            raise StopIteration
        t0 = time.perf_counter()
        fut = self._pending.popleft()
        try:
            item = fut.result()
        except BaseException:
            self._failed = True  # re-raised to the consumer, as a failed read of this chunk
            raise
        finally:
            self.timings.add("wait_read", time.perf_counter() - t0)
        self._submit()
        return item

    def close(self) -> None:
        for fut in self._pending:
            fut.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def read_workers() -> int:
    """Reader threads per run: a quarter of the cores, 1 to 4 (on 2 cores one reader, leaving a core to inference
    and the writer)."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


class Timings:
    """Seconds spent per stage of a run (each stage on its own thread), so a slow run says where time went.

    ``read`` (reader threads: store → model layout; summed over the threads, so it can exceed the wall time per
    chunk), ``upload`` (reader threads: the reference onto the GPU judge's device), ``backend`` / ``baseline`` / ``hooks`` and the waits
    ``wait_read`` (inference thread idle for lack of a reference chunk) and ``wait_write`` (inference thread blocked
    because the writer is behind) on the inference thread, ``judge`` / ``write`` on the writer thread.
    """

    def __init__(self) -> None:
        self._t: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._t[stage] = self._t.get(stage, 0.0) + seconds

    def to_dict(self, n: int = 1) -> dict[str, float]:
        """Milliseconds per chunk for `n` chunks."""
        return {k: round(v / max(1, n) * 1e3, 3) for k, v in sorted(self._t.items())}


# --- the per-chunk judge (writer thread) ------------------------------------------------------------------------------

@dataclass
class ChunkJob:
    """One chunk as `ChunkJudge.judge` takes it: what the backend was fed and returned, and what was expected."""

    index: int
    feeds: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    expected: Mapping[str, np.ndarray]
    error: str | None
    inference_s: float | None
    extra: dict[str, Any]
    note: str = ""
    shapes: str = ""
    """The feeds' shape signature (`inspector.latency.shape_signature`): warm-up chunks and shape-change notes."""
    rebuilt: bool = False
    expected_device: Mapping[str, Any] | None = None
    """`expected` already on the judge's device (the reader uploaded it), when the judge runs there."""


class ChunkJudge:
    """Turns one chunk's tensors into its record: metrics at the applicable tolerance, invariants, tightening.

    Holds the run's per-chunk state (``prev`` for the invariants, whether tightening has fired), so chunks must be
    judged in order.
    """

    def __init__(self, contract: Contract, mode: str, backend: str, precision: str, stream: str,
                 device: str | None = None):
        from contracts.rules import compile_rule

        self.device = device
        """Where the figures are computed: None (numpy on the CPU) or a torch device (`inspector.judge_torch`)."""

        self.contract = contract
        self.mode = mode
        self.backend = backend
        self.precision = precision
        self.stream = stream
        self.prev: dict[str, np.ndarray] | None = None
        self.tightened = False
        self._fired: set[str] = set()
        self._rules = [(inv, compile_rule(inv.check)) for inv in contract.invariants if mode in inv.modes]
        frames = contract.frames_output
        self._frame_axis = {frames.ref_name: frames.frame_axis} if frames is not None else {}
        self._dtypes = {s.ref_name: _np_dtype(s.dtype) for s in contract.outputs}
        self._outputs = set(contract.output_names)
        self._exact: set[str] = set()
        """Outputs compared exactly because the contract gives them no tolerance (nor a ``*`` default)."""

    def tolerances(self) -> dict[str, tuple[float, float]]:
        from contracts.model import EXACT_TOLERANCE

        out = {}
        self._exact = set()
        for spec in self.contract.outputs:
            tol = self.contract.tolerance_for(spec.ref_name, self.backend, self.precision, self.tightened)
            out[spec.ref_name] = (tol.atol, tol.rtol)
            if tol is EXACT_TOLERANCE:
                self._exact.add(spec.ref_name)
        return out

    def env(self, index: int, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return {**feeds, **outputs, "chunk": index, "prev": self.prev}

    def judge(self, job: ChunkJob) -> dict[str, Any]:
        from contracts.rules import tightening_triggered

        env = self.env(job.index, job.feeds, job.outputs)
        record: dict[str, Any] = {"stream": self.stream, "chunk": job.index}
        # Every trigger is watched on every chunk (not only until the first fires), so each is reported with the
        # chunk where it first holds; the record lists the triggers that hold for the first time on this chunk.
        fired = [c for c in tightening_triggered(self.contract, env) if c not in self._fired]
        if fired:
            self._fired.update(fired)
            record["tightening_fired"] = fired
        self.tightened = self.tightened or bool(fired)
        record["tightened"] = self.tightened
        tensors: dict[str, Any] = {}
        failed_tensors: list[str] = []
        undetermined_tensors: list[str] = []
        problems: list[dict[str, Any]] = []
        if job.error is None:
            tols = self.tolerances()
            # (large tensors are compared block-parallel inside `compare_tensor`)
            for spec in self.contract.outputs:
                name = spec.ref_name
                atol, rtol = tols[name]
                try:
                    m = self._compare(name, job.outputs.get(name), job.expected.get(name), atol, rtol,
                                      (job.expected_device or {}).get(name))
                except Exception as exc:  # noqa: BLE001 — fail-closed: a metric that raises leaves no figure
                    m = _metric_raised(name, job.outputs.get(name), job.expected.get(name), atol, rtol, exc)
                m = self._check_interface(m, job.outputs.get(name), job.expected.get(name), problems)
                tensors[name] = m.to_dict()
                if not m.determined:  # an empty tensor: no figure, so the chunk cannot pass on it
                    undetermined_tensors.append(name)
                elif not m.passed:
                    failed_tensors.append(name)
            for name in job.outputs:
                if name not in self._outputs:
                    problems.append({"tensor": name, "what": "extra",
                                     "detail": f"the backend returned an output {name!r} the contract does not list "
                                               "(ignored)"})
        invariants: dict[str, Any] = {}
        failed_inv: list[str] = []
        for inv, rule in self._rules:
            res = _evaluate(rule, env)
            invariants[inv.id] = {"ok": res.ok, "detail": res.detail, "severity": inv.severity, "kind": inv.kind,
                                  **({"undecided": True} if res.undecided else {})}
            if res.ok is False and inv.severity == "error":
                failed_inv.append(inv.id)
        if job.error is not None:
            status = "error"
        elif failed_tensors or failed_inv:
            status = "failed"
        elif undetermined_tensors:
            status = "undetermined"
        else:
            status = "ok"
        record.update({
            "status": status, "passed": status == "ok", "error": job.error,
            "inference_ms": None if job.inference_s is None else round(job.inference_s * 1e3, 4),
            "input_shapes": job.shapes, "tensors": tensors, "invariants": invariants, "failed_tensors": failed_tensors,
            "failed_invariants": failed_inv,
        })
        if undetermined_tensors:
            record["undetermined_tensors"] = undetermined_tensors
        if problems:
            record["output_problems"] = problems
        if job.note:
            record["note"] = job.note
        if job.rebuilt:
            record["rebuilt"] = True
        if job.extra:
            record["extra"] = job.extra
        # prev for the next chunk: this chunk's tensors (a failed chunk leaves only its feeds)
        self.prev = {**job.feeds, **job.outputs}
        return record

    def _compare(self, name: str, out: np.ndarray | None, exp: np.ndarray | None, atol: float,
                 rtol: float, exp_device: Any = None) -> Any:
        if out is None:
            return shape_failure(name, None, exp, f"{name}: the backend returned no such output", atol, rtol)
        if exp is None:
            return shape_failure(name, out, None, f"{name}: nothing to compare with (absent from the "
                                                  "reference/baseline)", atol, rtol)
        if self.device is not None:  # the torch kernel (registered in `compare`) on the judge's device
            from inspector.judge_torch import stream_for, to_device

            with stream_for(self.device):  # copies on the judge's own stream: the inference stream never waits
                out_d = to_device(out, self.device)
                exp_d = exp_device if exp_device is not None else to_device(exp, self.device)
                if out_d is not None and exp_d is not None:
                    return compare_tensor(name, out_d, exp_d, atol, rtol, self._frame_axis.get(name))
        return compare_tensor(name, out, exp, atol, rtol, self._frame_axis.get(name))

    def _check_interface(self, m: Any, out: np.ndarray | None, exp: np.ndarray | None,
                         problems: list[dict[str, Any]]) -> Any:
        """What the figures alone do not say: a missing output, a dtype other than the contract's, a shape other than
        the reference's, non-finite values where the reference is finite; and an exact comparison the contract did
        not ask for. Adds to `problems` (the chunk's ``output_problems``) and returns the (possibly failed) metrics."""
        import dataclasses

        name = m.name
        if out is None:
            problems.append({"tensor": name, "what": "missing", "detail": m.message})
            return m
        want = self._dtypes.get(name)
        got = np.asarray(out).dtype
        if want is not None and got != want:
            text = (f"{name}: dtype {got} where the contract says {want} (the export or the engine changed the "
                    "output type; a consumer of the contract's interface would read it wrongly)")
            problems.append({"tensor": name, "what": "dtype", "detail": text, "dtype": str(got),
                             "expected": str(want)})
            # A wrong dtype is decided (a fail) even on an empty tensor, which has no figure otherwise.
            m = dataclasses.replace(m, passed=False, determined=True,
                                    message="; ".join(x for x in (text, m.message) if x))
        if exp is not None and tuple(np.shape(out)) != tuple(np.shape(exp)):
            problems.append({"tensor": name, "what": "shape", "detail": m.message or
                             f"{name}: shape {list(np.shape(out))} differs from {list(np.shape(exp))}"})
        elif m.nonfinite_mismatch:
            problems.append({"tensor": name, "what": "nonfinite", "detail": m.message,
                             "count": int(m.nonfinite_mismatch)})
        if not m.passed and name in self._exact and np.asarray(out).dtype.kind in "fc":
            m = dataclasses.replace(m, message=m.message + f" (compared exactly: the contract gives {name} no "
                                                           "tolerance and has no '*' default)")
        return m

    def close(self) -> None:
        """Nothing to release today; kept so callers can treat the judge as a resource."""

    def replay(self, index: int, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
               record: Mapping[str, Any] | None) -> None:
        """Advance the per-chunk state over an already-recorded chunk (resume)."""
        if record is not None and record.get("tightened"):
            self.tightened = True
        if record is not None:
            self._fired.update(record.get("tightening_fired") or ())
        self.prev = {**feeds, **outputs}


class _Writer:
    """The writer thread: judges each chunk and commits its record (and outputs) to the store, in order."""

    def __init__(self, judge: ChunkJudge, writer: Any, contract: Contract, stream: str, save_outputs: bool,
                 progress: ProgressFn | None, total: int, done_before: int, timings: Timings | None = None):
        self.judge = judge
        self.writer = writer
        self.contract = contract
        self.stream = stream
        from inspector.identity import save_mode

        self.save_outputs = save_mode(save_outputs)
        self.progress = progress
        self.total = total
        self.done = done_before
        self.records: list[dict[str, Any]] = []
        self.timings = timings or Timings()
        self.error: BaseException | None = None
        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._work, name="parity-writer", daemon=True)
        self._thread.start()

    def put(self, job: ChunkJob) -> None:
        t0 = time.perf_counter()
        try:
            self._put(job)
        finally:
            self.timings.add("wait_write", time.perf_counter() - t0)

    def _put(self, job: ChunkJob) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self._q.put(job, timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise RuntimeError("the parity writer thread stopped") from self.error

    def _work(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            if self.error is not None:
                continue  # drain
            try:
                t0 = time.perf_counter()
                record = self.judge.judge(job)
                t1 = time.perf_counter()
                self.timings.add("judge", t1 - t0)
                outputs = None
                if job.outputs and (self.save_outputs == "all"
                                    or (self.save_outputs == "failing" and not record["passed"])):
                    # canonical dtypes: ORT returns int64 as numpy's LongLong type, which Zarr does not map
                    outputs = {k: _canonical(to_ref_layout(self.contract, k, v)) for k, v in job.outputs.items()}
                self.writer.write_chunk(self.stream, job.index, _jsonable(record), outputs)
                self.timings.add("write", time.perf_counter() - t1)
                self.records.append(record)
                self.done += 1
                if self.progress is not None:
                    self.progress(self.done, self.total, record)
            except BaseException as exc:  # noqa: BLE001 — re-raised on the inference thread
                exc.add_note(f"while judging/writing stream {self.stream!r} chunk {job.index}")
                self.error = exc

    def close(self) -> None:
        """Wait for every queued chunk to be committed; re-raise a writer failure."""
        self._q.put(None)
        self._thread.join()
        self.judge.close()
        if self.error is not None:
            raise self.error


def _metric_raised(name: str, out: Any, exp: Any, atol: float, rtol: float, exc: Exception) -> Any:
    """The figures of a comparison that raised: none (undetermined, never a pass), with the exception."""
    from inspector.metrics import no_figure

    text = _exc_text(exc)
    return no_figure(name, np.asarray(out if out is not None else []), np.asarray(exp if exp is not None else []),
                     f"{name}: the comparison raised {text}; no figure", atol, rtol)


def _evaluate(rule: Any, env: Mapping[str, Any]) -> Any:
    """`Rule.evaluate`, fail-closed: an unexpected exception makes the rule undecided on this chunk, with it."""
    from contracts.rules import RuleResult

    try:
        return rule.evaluate(env)
    except Exception as exc:  # noqa: BLE001 — the exception becomes the chunk's result, never a silent pass
        return RuleResult(None, f"{rule.text}: not decided: evaluating it raised {_exc_text(exc)}", {},
                          undecided=True)


def _np_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a contract dtype name; None where numpy has none (bfloat16: not checked)."""
    try:
        return np.dtype(name)
    except TypeError:
        return None


def _canonical(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    want = np.dtype(a.dtype.str)
    return a if a.dtype.char == want.char else a.view(want)


def _jsonable(x: Any) -> Any:
    """Records hold numpy scalars in places (rule values, hook extras): make them plain JSON values."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


# --- environment -----------------------------------------------------------------------------------------------------

def environment() -> dict[str, Any]:
    """Where a run ran: host, Python, library versions and the environment variables that change numerics."""
    from inspector import __version__

    env: dict[str, Any] = {
        "inspector": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "machine": platform.machine(), "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
    }
    try:
        from backends.gpu import cpu_name, gpu_name

        env["cpu"] = cpu_name()
        env["gpu"] = gpu_name()
    except Exception:  # noqa: BLE001
        pass
    for mod in ("onnxruntime", "torch", "tensorrt", "nemo"):
        m = sys.modules.get(mod)
        if m is not None:
            env[mod] = getattr(m, "__version__", "")
    env["env"] = {k: os.environ[k] for k in ("NVIDIA_TF32_OVERRIDE", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
                                             "ORT_CUDA_USE_TF32") if k in os.environ}
    return env


def reference_info(store: Any) -> dict[str, Any]:
    """What produced the store's reference, with its math mode (precision, TF32), from the store header."""
    attrs = dict(getattr(store, "attrs", {}) or {})
    header = dict(attrs.get("header") or {})
    enc = dict(header.get("encoder") or {})
    math_mode = header.get("math_mode") or ""
    if not math_mode and enc:
        parts = [str(enc.get("precision", "")) or "fp32"]
        if "tf32" in enc:
            parts.append(f"tf32={'on' if enc['tf32'] else 'off'}")
        if enc.get("device"):
            parts.append(str(enc["device"]))
        math_mode = ", ".join(parts)
    return {
        "math_mode": math_mode or "unknown (the store's header does not say)",
        "producer": header.get("producer", ""), "model": header.get("model", ""),
        "preset": header.get("preset", ""), "seed": header.get("seed"), "versions": header.get("versions", {}),
        "source": attrs.get("source", {}), "first_chunk": header.get("first_chunk", ""),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(backend: str, mode: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{backend}-{mode}-{uuid.uuid4().hex[:6]}"


# --- the engine ------------------------------------------------------------------------------------------------------

class ParityEngine:
    """Runs backends over a store's chunks and records the results in it.

    Args:
        store: An open store (`store.Store.open(path, "a")`).
        contract: The contract.
        model: The model path recorded with runs (and hashed).
        hooks: Extra per-chunk recorders.
    """

    def __init__(self, store: Any, contract: Contract, model: str | os.PathLike | None = None,
                 hooks: Sequence[ChunkHook] = ()):
        self.store = store
        self.contract = contract
        self.model = str(model) if model is not None else ""
        self.hooks = list(hooks)
        self._sha: str | None = None

    @property
    def model_sha256(self) -> str:
        if self._sha is None:
            from backends.modelfile import model_sha256

            self._sha = model_sha256(self.model) if self.model and os.path.exists(self.model) else ""
        return self._sha

    # --- selecting chunks --------------------------------------------------------------------------------------------
    def resolve_stream(self, stream: str | None) -> str:
        streams = list(self.store.streams())
        if not streams:
            raise InspectorError(f"Store {self.store.path} holds no complete chunk: convert a reference into it first.")
        if stream is None:
            return streams[0]
        if stream not in streams:
            raise InspectorError(f"Store {self.store.path} has no stream {stream!r}. Note: valid choices are "
                                 f"{', '.join(streams[:20])}{' …' if len(streams) > 20 else ''}.")
        return stream

    def resolve_chunks(self, stream: str, chunks: str | Sequence[int] | range | None) -> tuple[int, ...]:
        """`chunks` as ``"A:B"`` (B exclusive, either side optional), ``"K"``, a sequence, or None for all.

        Every chunk asked for must be in the store: a range that runs past the stream's end, or over chunks the
        store lacks (an unfinished conversion), is an error rather than a quietly shorter run (a CI gate that tests
        fewer chunks than it says is a vacuous pass; a closed loop over a gap would feed the wrong state).

        Raises:
            InspectorError: Malformed `chunks`, or chunks the stream does not have.
        """
        have = list(self.store.chunk_indices(stream))
        span = f"{have[0]}..{have[-1]}" if have else "none"
        where = f"Store {self.store.path}, stream {stream!r}"
        if not have:
            raise InspectorError(f"{where} has no complete chunk: convert (or resume converting) its reference first.")
        if chunks is None or chunks == "" or chunks == ":":
            want = list(range(have[0], have[-1] + 1))
        elif isinstance(chunks, str):
            try:
                if ":" in chunks:
                    a, b = chunks.split(":", 1)
                    lo = int(a) if a.strip() else have[0]
                    hi = int(b) if b.strip() else have[-1] + 1
                    want = list(range(lo, hi))
                else:
                    want = [int(chunks)]
            except ValueError:
                raise InspectorError(f"--chunks {chunks!r}: expected A:B (B exclusive), A:, :B or K, with integers "
                                     f"(the stream has chunks {span}).") from None
            if not want:
                raise InspectorError(f"--chunks {chunks!r} selects no chunk (B is exclusive and must be greater than "
                                     f"A; the stream has chunks {span}).")
        else:
            want = sorted(set(int(i) for i in chunks))
        have_set = set(have)
        missing = [i for i in want if i not in have_set]
        if missing:
            label = f"--chunks {chunks!r}" if chunks not in (None, "", ":") else "the stream's chunk range"
            raise InspectorError(
                f"{where}: {label} asks for {len(missing)} chunk(s) the store does not have "
                f"({_index_ranges(missing)}); it has chunks {_index_ranges(have)}. Pick a range inside it"
                + (", or finish the conversion (`inspector convert` resumes)." if any(have[0] < i < have[-1]
                                                                                     for i in missing) else "."))
        return tuple(want)

    # --- running -----------------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, backend: Backend, baseline: Backend | None = None,
            progress: ProgressFn | None = None, log: Callable[[str], None] | None = None) -> RunResult:
        """Run one backend × mode (backends already active) and record it.

        Args:
            spec: What to run.
            backend: The active backend.
            baseline: The active baseline backend (``spec.baseline``), or None to compare against the reference.
            progress: Called after each committed chunk.
            log: Where to say what happens (resume, replay, notes).

        Returns:
            The run's records and verdicts.
        """
        from store.api import RunRecord

        if spec.mode not in MODES:
            raise InspectorError(f"mode {spec.mode!r}. Note: valid choices are {', '.join(MODES)}.")
        say = log or (lambda _m: None)
        info = backend.info()
        from inspector.judge_torch import judge_device, on_gpu

        judge_dev, judge_place = judge_device(spec.backend, info.provider)  # a bad $INSPECTOR_JUDGE: before any record
        base_info = baseline.info() if baseline is not None else None
        reference = reference_info(self.store)
        env = environment()
        env["model_sha256"] = self.model_sha256
        options = {k: v for k, v in spec.options.items()}

        writer, resumed_from, reuse_note = self._open_run(spec, info, base_info, env, reference, options, RunRecord)
        run_id = writer.record.run_id
        if reuse_note:
            say(reuse_note)
        done = set(writer.done_chunks(spec.stream)) if resumed_from else set()
        # Closed loop (and the invariants' prev) need the chunks before the first missing one: replay them.
        todo = [i for i in spec.chunks if i not in done]
        first_todo_pos = spec.chunks.index(todo[0]) if todo else len(spec.chunks)
        replay = list(spec.chunks[:first_todo_pos])
        todo = list(spec.chunks[first_todo_pos:])  # a gap after the first missing chunk is redone too
        if resumed_from:
            say(f"resuming run {run_id}: {len(replay)} chunks already recorded, {len(todo)} to go")

        run_info = RunInfo(run_id, spec, self.contract, info, base_info, reference, self.model, self.model_sha256)
        for hook in self.hooks:
            hook.start(run_info)

        from inspector.resources import PeakMemory

        judge = ChunkJudge(self.contract, spec.mode, spec.backend, info.precision, spec.stream, device=judge_dev)
        started = time.perf_counter()
        timings = Timings()
        memory = PeakMemory(device=on_gpu(spec.backend, info.provider))  # NVML only where a GPU computes
        memory.__enter__()
        wr = _Writer(judge, writer, self.contract, spec.stream, spec.save_outputs, progress, len(spec.chunks),
                     len(replay), timings)
        # Four chunks ahead: reading (and the GPU judge's upload) never stalls inference on a slow chunk.
        prefetch = _Prefetch(self.store, self.contract, spec.stream, replay + todo, depth=4, timings=timings,
                             skip_state_after_first=spec.mode == "closed-loop",
                             device=judge_dev if spec.baseline is None else None)
        try:
            loop = _Loop(spec, backend, baseline, self.hooks)
            old_records = writer.all_metrics(spec.stream) if replay else {}
            if replay and spec.mode == "closed-loop":
                say(f"replaying {len(replay)} chunks to rebuild the closed-loop state")
            for ref in _take(prefetch, len(replay)):
                run_it = spec.mode == "closed-loop" or ref.index == replay[-1]
                feeds, outputs, expected, error = loop.step(ref, run_backend=run_it)
                judge.replay(ref.index, feeds, outputs, old_records.get(ref.index))
                loop.replay_hooks(ref, feeds, outputs, expected, error)
            loop.timings = timings
            for ref in _take(prefetch, len(todo)):
                feeds, outputs, expected, error = loop.step(ref)
                t0 = time.perf_counter()
                extra = loop.run_hooks(ref, feeds, outputs, expected, error)
                timings.add("hooks", time.perf_counter() - t0)
                wr.put(ChunkJob(ref.index, feeds, outputs, expected, error, loop.last_time, extra, loop.note,
                            loop.last_shapes, loop.last_rebuilt,
                            ref.device_outputs if expected is ref.outputs else None))
                loop.note = ""
        except BaseException as exc:
            # Keep everything finished: the writer commits what is queued, the run is marked for resumption.
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            memory.__exit__(None, None, None)
            prefetch.close()
            try:
                wr.close()
            except BaseException:  # noqa: BLE001 — the original exception is the one to report
                pass
            writer.update(status=status, finished=_now())
            raise
        prefetch.close()
        try:
            wr.close()
        except BaseException:
            memory.__exit__(None, None, None)
            writer.update(status="failed", finished=_now())
            raise
        memory.__exit__(None, None, None)
        status = "complete"
        notes = list(getattr(backend, "notes", []) or []) + ([reuse_note] if reuse_note else [])
        saved = _saved_outputs(writer, spec.stream, spec.save_outputs)
        if saved["chunks"]:
            say(f"{spec.backend} {spec.mode} {spec.stream}: saved the outputs of {saved['chunks']} chunk(s) "
                f"({saved['mode']}), {saved['bytes'] / 1e6:.2f} MB on disk")
        all_records = {int(k): v for k, v in writer.all_metrics(spec.stream).items()}
        for r in wr.records:
            all_records[r["chunk"]] = r
        records = [all_records[i] for i in spec.chunks if i in all_records]
        info = backend.info()  # notes gathered while running (e.g. host padding) are in it now
        latency = run_latency(records, spec.backend, info)
        notes += list(latency.get("notes") or [])
        mem = memory.to_dict()
        mem["chunks_measured"] = len(todo)  # a resumed run's memory covers only the chunks run now
        atols = judge_atols(self.contract, spec.backend, info.precision)
        ctx = RunContext(self.contract, spec.mode, spec.backend, info.precision, atols, check_outputs=True)
        # Fail-closed: a hook that raised (on a chunk or while judging) makes its rules undetermined.
        extra_verdicts = hook_verdicts(self.hooks, records, run_info) + backend_check_verdicts(info)
        verdicts = evaluate_run(records, ctx, extra_verdicts)
        finished = _now()
        result = RunResult(
            run_id=run_id, spec=spec, backend_info=info, baseline_info=base_info, records=tuple(records),
            verdicts=tuple(verdicts), status=status, started=writer.record.started, finished=finished,
            reference=reference, environment=env, resumed_chunks=len(replay), notes=tuple(notes),
            wall_s=time.perf_counter() - started, timings_ms=timings.to_dict(len(todo)), saved_outputs=saved,
            latency_ms=latency, memory=mem, judge={"place": judge_place, "device": judge_dev or "numpy"},
        )
        writer.update(backend_info=info.to_dict())
        writer.finish("complete", summary=_jsonable(run_summary(result)))
        return result

    def _open_run(self, spec: RunSpec, info: BackendInfo, base_info: BackendInfo | None, env: dict[str, Any],
                  reference: dict[str, Any], options: dict[str, Any], RunRecord: Any) -> tuple[Any, bool, str]:
        """Continue (or re-judge) a recorded run of the same identity, or create a new run.

        Returns (writer, whether it continues a recorded run, a sentence saying what was reused or why not).
        """
        from inspector.identity import RunIdentity, compare, save_mode

        baseline = spec.baseline or ""
        mode = save_mode(spec.save_outputs)
        identity = RunIdentity.of(self.contract, self.model_sha256,
                                  {**_jsonable(options), **{f"baseline.{k}": v for k, v in
                                                            _jsonable(dict(spec.baseline_options)).items()}})
        note = ""
        if spec.resume:
            wanted = ("running", "interrupted", "complete") if spec.reuse_complete else ("running", "interrupted")
            # newest first: the run a user would expect to be continued
            for rec in sorted(self.store.runs(), key=lambda r: r.started or "", reverse=True):
                if not (rec.backend == spec.backend and rec.mode == spec.mode and rec.stream == spec.stream
                        and list(rec.chunks) == list(spec.chunks) and rec.status in wanted
                        and rec.baseline == baseline and _same(rec.options, options)
                        and _recorded_save_mode(rec.environment) == mode):
                    continue
                how, why = compare(rec.environment.get("identity"), identity)
                if how == "stale":
                    note = note or (f"run {rec.run_id} ({rec.status}) of the same backend, mode, stream and chunks "
                                    f"is not reused: {why}; running again")
                    continue
                w = self.store.resume_run(rec.run_id)
                done = len(w.done_chunks(spec.stream))
                note = ""  # an older stale run is not worth a word when this one is continued
                if how == "rejudge":
                    note = (f"re-judged run {rec.run_id} from its {done} recorded chunk(s) with the edited contract: "
                            f"{why}")
                    history = list(rec.environment.get("reuse") or [])
                    history.append({"how": "rejudged", "why": why, "when": _now(),
                                    "from": dict(rec.environment.get("identity") or {})})
                    w.update(environment=_jsonable({**rec.environment, "identity": identity.to_dict(),
                                                    "reuse": history}), contract=self.contract.name)
                w.update(status="running")
                return w, True, note
        # save_outputs stays a bool (whether any outputs are kept: what readers of older runs know); the mode is beside it
        env = {**env, "save_outputs": mode != "none", "save_outputs_mode": mode, "reference": reference,
               "baseline_info": base_info.to_dict() if base_info else None, "identity": identity.to_dict()}
        if note:
            env["reuse"] = [{"how": "ran again", "why": note, "when": _now()}]
        record = RunRecord(
            run_id=new_run_id(spec.backend, spec.mode), backend=spec.backend, mode=spec.mode, stream=spec.stream,
            chunks=list(spec.chunks), backend_info=info.to_dict(), options=_jsonable(options),
            environment=_jsonable(env), contract=self.contract.name, model=self.model, baseline=baseline,
            status="running", started=_now(),
        )
        return self.store.create_run(record), False, note


def _recorded_save_mode(environment: Mapping[str, Any]) -> str:
    """The save mode a run was recorded with (runs of older versions stored a bool)."""
    from inspector.identity import save_mode

    try:
        return save_mode(environment.get("save_outputs_mode") or environment.get("save_outputs"))
    except ValueError:
        return ""


def _saved_outputs(writer: Any, stream: str, mode: bool | str) -> dict[str, Any]:
    """``{"mode", "chunks", "bytes"}``: how many of the run's chunks have saved outputs, and their size on disk."""
    from inspector.identity import save_mode

    measure = getattr(writer, "saved_outputs_size", None)
    chunks, size = measure(stream) if measure is not None else (0, 0)
    return {"mode": save_mode(mode), "chunks": chunks, "bytes": size}


def _index_ranges(indices: Sequence[int], limit: int = 6) -> str:
    """[0, 1, 2, 5, 7, 8] → ``0..2, 5, 7..8``."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = [f"{a}..{b}" if b > a else str(a) for a, b in runs[:limit]]
    return ", ".join(text) + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return {k: str(v) for k, v in dict(a).items()} == {k: str(v) for k, v in dict(b).items()}


def _take(it: Iterator[RefChunk], n: int) -> Iterator[RefChunk]:
    for _ in range(n):
        yield next(it)


def backend_check_verdicts(info: BackendInfo) -> list[Verdict]:
    """A backend's checks of itself (``info.extra["checks"]``: name → ``{"status", "message"}``, e.g. TensorRT's
    "the engine computes in the precision asked for") as required verdicts ``backend:<name>``: one the backend could
    not decide is undetermined, never a silent pass."""
    out = []
    for name, check in dict(info.extra.get("checks") or {}).items():
        status = str(check.get("status", "undetermined"))
        out.append(Verdict(f"backend:{name}", "backend_check", status if status in ("pass", "fail") else
                           "undetermined", message=f"{info.name}: {check.get('message', '')}"))
    return out


def judge_atols(contract: Contract, backend: str, precision: str) -> dict[str, float]:
    """Each output's atol before any tightening (`Contract.tolerance_for`, the one resolver)."""
    return {s.ref_name: contract.tolerance_for(s.ref_name, backend, precision).atol for s in contract.outputs}


class _Loop:
    """The inference side of a run: feeds per mode, the backend call, the baseline, errors, closed-loop state."""

    def __init__(self, spec: RunSpec, backend: Backend, baseline: Backend | None, hooks: Sequence[ChunkHook]):
        self.spec = spec
        self.backend = backend
        self.baseline = baseline
        self.hooks = hooks
        self.contract = backend.contract
        self.state: Any = None
        self.last_time: float | None = None
        self.last_shapes = ""
        self.last_rebuilt = False
        self.note = ""
        self.timings = Timings()
        stream_in = {s.ref_name for s in self.contract.inputs if s.ref_name not in self.contract.state_inputs}
        self._stream_inputs = stream_in

    def step(self, ref: RefChunk, run_backend: bool = True) -> tuple[dict, dict, dict, str | None]:
        """Run the backend on one chunk; returns (feeds, outputs, expected, error text).

        `run_backend=False` (replaying a functional run on resume) only returns the feeds.
        """
        closed = self.spec.mode == "closed-loop"
        if not run_backend:
            return dict(ref.inputs), {}, {}, None
        outputs: dict[str, np.ndarray] = {}
        error: str | None = None
        self.last_time = None
        if closed:
            stream_feeds = {k: ref.input_or_load(k) for k in self._stream_inputs}
            init = None
            if self.state is None:
                init = {k: ref.input_or_load(k) for k in self.contract.state_inputs}
            feeds = {**(init or self.backend.state_arrays(self.state)), **stream_feeds}
            t0 = time.perf_counter()
            try:
                outputs, self.state = self.backend.step(stream_feeds, self.state, init)
                self.last_time = self.backend.inference_time
            except Exception as exc:  # noqa: BLE001 — a failing chunk is a result, not a crash
                error = _exc_text(exc)
                self.state = None  # restart the loop from the reference's next chunk
                self.note = "backend raised; closed-loop state restarts from the reference's next chunk"
        else:
            feeds = dict(ref.inputs)
            t0 = time.perf_counter()
            try:
                outputs = self.backend.run(feeds)
                self.last_time = self.backend.inference_time
            except Exception as exc:  # noqa: BLE001
                error = _exc_text(exc)
        self.timings.add("backend", time.perf_counter() - t0)
        from inspector.latency import shape_signature

        self.last_shapes = shape_signature(feeds)
        # A backend that may rebuild its engine per call says so with ``last_rebuilt`` (none does today).
        self.last_rebuilt = bool(getattr(self.backend, "last_rebuilt", False))
        expected = ref.outputs
        if self.baseline is not None:
            t0 = time.perf_counter()
            try:
                expected = self.baseline.run(feeds)
            except Exception as exc:  # noqa: BLE001
                error = error or f"baseline {self.baseline.name} raised: {_exc_text(exc)}"
                expected = {}
            self.timings.add("baseline", time.perf_counter() - t0)
        return feeds, outputs, expected, error

    def replay_hooks(self, ref: RefChunk, feeds: dict, outputs: dict, expected: dict, error: str | None) -> None:
        if not self.hooks:
            return
        ev = ChunkEvent(self.spec.stream, ref.index, self.spec.mode, feeds, outputs, expected,
                        self.state if self.spec.mode == "closed-loop" else None, self.backend, error)
        for hook in self.hooks:
            hook.replay(ev)

    def run_hooks(self, ref: RefChunk, feeds: dict, outputs: dict, expected: dict, error: str | None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if not self.hooks:
            return extra
        ev = ChunkEvent(self.spec.stream, ref.index, self.spec.mode, feeds, outputs, expected,
                        self.state if self.spec.mode == "closed-loop" else None, self.backend, error)
        for hook in self.hooks:
            try:
                got = hook.chunk(ev)
            except Exception as exc:  # noqa: BLE001 — a broken recorder must not lose the chunk
                got = {"error": _exc_text(exc)}
            if got:
                extra[hook.name] = _jsonable(dict(got))
        return extra


def _exc_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    if len(text) > 2000:
        text = text[:2000] + " …"
    return text


# --- summaries -------------------------------------------------------------------------------------------------------

def run_summary(result: RunResult) -> dict[str, Any]:
    """The run's summary as stored in its record and used by reports."""
    recs = result.records
    failed = [r["chunk"] for r in recs if not r.get("passed")]
    return {
        "passed": result.passed, "outcome": result.outcome, "status": result.status, "n_chunks": len(recs),
        "n_passed": len(recs) - len(failed), "failed_chunks": failed[:500],
        "first_failing_chunk": failed[0] if failed else None,
        "verdicts": [v.to_dict() for v in result.verdicts],
        "baseline": result.spec.baseline or "reference",
        "notes": list(result.notes), "resumed_chunks": result.resumed_chunks, "wall_s": round(result.wall_s, 3),
        "mean_inference_ms": _mean([r.get("inference_ms") for r in recs]),
        "timings_ms_per_chunk": dict(result.timings_ms),
        "saved_outputs": dict(result.saved_outputs),
        "latency_ms": dict(result.latency_ms), "memory": dict(result.memory), "judge": dict(result.judge),
    }


def run_latency(records: Sequence[Mapping[str, Any]], backend: str, info: BackendInfo) -> dict[str, Any]:
    """The run's ``latency_ms`` document from its chunk records (`inspector.latency.summarize`), with the options
    in force (ort-cuda's cuDNN search as recorded, defaults included) so causes and notes can name them."""
    from inspector.latency import Step, summarize

    options = dict(info.options)
    search = str(info.extra.get("cudnn_conv_algo_search") or "").split(" ")[0]
    if search and "cudnn_conv_algo_search" not in options:
        options["cudnn_conv_algo_search"] = search
    steps = [Step(int(r["chunk"]), r.get("inference_ms"), str(r.get("input_shapes") or ""), bool(r.get("rebuilt")))
             for r in records]
    return summarize(steps, backend=backend, options=options)


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


__all__ = [
    "ChunkEvent", "ChunkHook", "ChunkJudge", "ParityEngine", "RefChunk", "RunInfo", "RunResult", "RunSpec",
    "environment", "load_chunk", "reference_info", "run_summary", "to_model_layout", "to_ref_layout",
]
