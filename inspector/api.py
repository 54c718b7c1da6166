"""The one run path: what `inspector run --batch`, `inspector demo` and the app's `R` job all call.

`run_batch` checks everything first (backend names and options, availability, the model against the contract,
streams and chunks: an `InspectorError`, exit 2, before any chunk runs), cuts the batch into units (`inspector.units`:
backend configuration × mode × stream, every stream of the store unless `streams` narrows it), runs them (`_execute`:
in process, or through `inspector.executors` when another executor is asked for), then builds the report from the
runs the store recorded, so a report is the same whoever ran the units. `run_unit` runs one unit: it opens the store,
builds the backend, runs the parity engine with the state hooks, records the run and returns a `UnitOutcome`; it is
a plain module-level function, so executors can call it in other processes.

Outcomes: a run is ``pass`` (every required rule passed), ``fail`` (a rule failed), ``undetermined`` (nothing failed
but a required rule could not be decided, or no chunk was checked) or ``error`` (the unit could not run: its error is
in the report). The batch is ``fail`` if any run failed or errored, else ``undetermined`` if any run was (or nothing
ran at all), else ``pass``: exit 0, 1 or 3.

Saved outputs: by default the outputs of failing chunks (so the app can always show where a failing chunk is wrong);
``all`` or ``none`` on request. The disk they take is logged and reported (``saved_outputs``).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from inspector.engine import ChunkHook, ParityEngine, ProgressFn, RunResult, RunSpec, run_summary
from inspector.errors import InspectorError
from inspector.identity import save_mode
from inspector.preflight import (
    check_available, check_backend_names, check_model_matches, check_options, model_for, parse_backend_options,
    parse_modes, plain_options,
)
from inspector.units import BatchJob, Unit, UnitOutcome

Log = Callable[[str], None]

HookFactory = Callable[[str, str], Sequence[ChunkHook]]
"""hook_factory(backend, mode) → fresh hooks for that run (hooks keep per-run state)."""

STATUSES = ("pass", "fail", "undetermined", "error")


# --- outcomes --------------------------------------------------------------------------------------------------------

def run_status(result: RunResult) -> str:
    """``pass``, ``fail`` or ``undetermined`` for one finished run (a run over zero chunks is never a pass)."""
    if not result.records:
        return "undetermined"
    if result.status != "complete":
        return "fail"
    if result.passed:
        return "pass"
    if any(getattr(v, "status", "") == "fail" for v in result.verdicts):
        return "fail"
    return "undetermined"


def batch_status(statuses: Sequence[str]) -> str:
    """The batch's verdict from its runs' (`STATUSES`); nothing run at all is undetermined."""
    if not statuses:
        return "undetermined"
    if any(s in ("fail", "error") for s in statuses):
        return "fail"
    if any(s != "pass" for s in statuses):
        return "undetermined"
    return "pass"


EXIT_CODES = {"pass": 0, "fail": 1, "undetermined": 3}


@dataclass(frozen=True)
class BatchResult:
    """Every run of a batch, each unit's outcome and the report document built from the store's records."""

    runs: tuple[RunResult, ...]
    report: Mapping[str, Any]
    written: Mapping[str, Path] = field(default_factory=dict)
    outcomes: tuple[UnitOutcome, ...] = ()

    @property
    def status(self) -> str:
        return str(self.report.get("status") or batch_status([o.status for o in self.outcomes]))

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def __bool__(self) -> bool:
        return self.passed

    def coverage_text(self) -> str:
        """``8 run(s) over 4 stream(s), 400 chunk checks`` (and the streams that had nothing to check)."""
        cov = self.report.get("coverage") or {}
        text = (f"{len(self.report.get('runs', []))} run(s) over {cov.get('n_streams', 0)} stream(s), "
                f"{cov.get('n_chunks', 0)} chunk(s) checked")
        empty = cov.get("empty_streams") or []
        if empty:
            text += f"; {len(empty)} stream(s) with no chunk to check: {', '.join(empty[:5])}"
        return text

    def failure_summary(self) -> str:
        """One paragraph naming, per run that did not pass, its failing (or undecided) rules with chunk and tensor."""
        parts = []
        for run in self.report.get("runs", []):
            outcome = run.get("outcome", "pass")
            if outcome == "pass":
                continue
            if outcome == "error":
                parts.append(f"{_where(run)}: could not run ({run.get('error', '')})")
                continue
            wanted = "fail" if outcome == "fail" else "undetermined"
            # The state rules name a cause (cache never carried, swapped feedback), the others its symptoms.
            items = sorted((v for v in run.get("verdicts", []) if v.get("status") == wanted),
                           key=lambda v: not str(v.get("rule", "")).startswith("state_"))
            texts = []
            for v in items[:4]:
                bits = [f"chunk {v['first_failing_chunk']}"] if v.get("first_failing_chunk") is not None else []
                bits += [v["tensor"]] if v.get("tensor") else []
                texts.append(f"{v['rule']}{' (' + ', '.join(bits) + ')' if bits else ''}"
                             + (f": {v['message']}" if wanted == "undetermined" and v.get("message") else ""))
            if not run.get("total_chunks"):
                texts.insert(0, "no chunk was checked")
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            parts.append(f"{_where(run)}: {', '.join(texts) or outcome}{more}")
        head = {"fail": "Parity failed", "undetermined": "Parity undetermined (nothing failed, but not everything "
                "required was decided)"}.get(self.status, "Parity")
        empty = (self.report.get("coverage") or {}).get("empty_streams") or []
        if empty:
            parts.append(f"stream(s) {', '.join(empty[:5])} hold no complete chunk, so nothing was checked there "
                         "(convert, or resume converting, their reference)")
        if not parts:
            parts.append(f"nothing was checked ({self.coverage_text()}): the store holds no complete chunk in the "
                         "streams selected; convert, or resume converting, its reference first")
        return f"{head}: " + "; ".join(parts) + "."


def _where(run: Mapping[str, Any]) -> str:
    return f"{run.get('backend')} {run.get('mode')} {run.get('stream')}"


# --- one unit ----------------------------------------------------------------------------------------------------------

class _Sessions:
    """Active backends kept open across the units of one process (a backend session costs far more than a run)."""

    def __init__(self, log: Log | None = None) -> None:
        self._open: dict[str, Any] = {}
        self._log = log or (lambda _m: None)

    def get(self, name: str, options: Mapping[str, Any], job: BatchJob, contract: Any, header: Mapping[str, Any]) -> Any:
        from backends.base import make_backend

        opts = dict(options)
        model = model_for(name, job.model, header, opts)
        key = json.dumps([name, str(model), plain_options(opts)], sort_keys=True, default=str)
        if key not in self._open:
            backend = make_backend(name, model, contract, opts)
            backend.activate()
            self._open[key] = backend
            info = backend.info()
            self._log(f"{name}: {info.runtime} {info.version} {info.provider} on {info.device}, {info.precision}, "
                      f"{info.math_mode}")
        return self._open[key]

    def close(self) -> None:
        for backend in self._open.values():
            backend.deactivate()
        self._open.clear()

    def __enter__(self) -> "_Sessions":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


def _state_hooks() -> Any:
    """`inspector.state.default_hooks`: the closed loop's state checks are part of every run, never optional."""
    try:
        from inspector.state import default_hooks
    except ImportError as exc:  # re-raised as the user's error: without it no closed loop can be judged
        raise InspectorError(f"the state checks (inspector.state) cannot be imported ({type(exc).__name__}: {exc}); "
                             "every closed-loop run needs them to decide state_carried, so nothing was run. "
                             "Reinstall parity-inspector (`pip install -e .` in its checkout).") from exc
    return default_hooks


def run_unit(job: BatchJob, unit: Unit, *, progress: ProgressFn | None = None, log: Log | None = None,
             extra_hooks: Sequence[ChunkHook] = (), worker: Mapping[str, Any] | None = None) -> UnitOutcome:
    """Run one unit and record it in the store (resuming a recorded run of the same identity).

    Args:
        job: What the batch's units share (store, model, contract, baseline, save mode).
        unit: Backend configuration, mode, stream and chunks (empty: every chunk of the stream).
        progress: Called after each committed chunk with (done, total, record).
        log: Where to say what happens (backend, resume, re-judge, saved outputs).
        extra_hooks: More per-chunk hooks besides the state hooks (e.g. the app's run-id notice).
        worker: Where it runs (host, pid, GPUs), recorded in the run's ``environment["worker"]``; default: this
            host and process.

    Returns:
        The outcome: ``status`` ``pass``/``fail``/``undetermined``, or ``error`` with the exception when the unit
        could not run (a backend that cannot load the model, out of memory …): the other units still run.

    Raises:
        InspectorError: Bad input (an unknown stream, chunks the store lacks …): no unit of the batch would fare
            better.
        KeyboardInterrupt: Interrupted; the run is left ``interrupted`` in the store and resumes next time.
    """
    with _Sessions(log) as sessions:
        return _run_unit(job, unit, sessions, progress, log, extra_hooks, worker)


def _run_unit(job: BatchJob, unit: Unit, sessions: _Sessions, progress: ProgressFn | None, log: Log | None,
              extra_hooks: Sequence[ChunkHook], worker: Mapping[str, Any] | None = None) -> UnitOutcome:
    from contracts.load import load_contract
    from store import Store

    default_hooks = _state_hooks()
    say = log or (lambda _m: None)
    host = socket.gethostname()
    contract = job.contract_object if job.contract_object is not None else load_contract(job.contract)
    st = Store.open(job.store, "a")
    header = dict((st.attrs or {}).get("header") or {})
    hooks = [*default_hooks(unit.backend, unit.mode), *extra_hooks]
    engine = ParityEngine(st, contract, job.model or None, hooks=hooks)
    stream = engine.resolve_stream(unit.stream)
    chunks = tuple(unit.chunks) if unit.chunks else engine.resolve_chunks(stream, None)
    began = _iso_now()
    try:
        backend = sessions.get(unit.backend, unit.options, job, contract, header)
        base = (sessions.get(job.baseline, job.baseline_options, job, contract, header) if job.baseline else None)
        spec = RunSpec(unit.backend, unit.mode, stream, chunks, options=dict(unit.options),
                       baseline=job.baseline or None, baseline_options=dict(job.baseline_options),
                       save_outputs=job.save_outputs, resume=job.resume, reuse_complete=job.reuse_complete)
        result = engine.run(spec, backend, base, progress=progress, log=say)
    except InspectorError:
        raise
    except Exception as exc:  # noqa: BLE001 — the unit ends with its error in the report; the batch says fail
        text = f"{type(exc).__name__}: {exc}"
        say(f"{unit.label}: could not run: {text}")
        return UnitOutcome(unit, _failed_run_id(st, unit, began), "error", 0, text[:4000], host)
    from store.runs import annotate_run

    annotate_run(st, result.run_id, worker={"host": host, "pid": os.getpid(), **dict(worker or {}),
                                            "device": str(result.backend_info.device)})
    summary = json.loads(json.dumps(run_summary(result), default=str))
    return UnitOutcome(unit, result.run_id, run_status(result), len(result.records), "", host,
                       str(result.backend_info.device), summary)


def _iso_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _failed_run_id(st: Any, unit: Unit, began: str) -> str:
    """The run this failed unit left in the store (status ``failed``), if the engine got as far as opening one."""
    runs = [r for r in st.runs() if r.backend == unit.backend and r.mode == unit.mode and r.stream == unit.stream
            and r.status == "failed" and (r.finished or "") >= began]
    return max(runs, key=lambda r: r.started or "").run_id if runs else ""


# --- executing units --------------------------------------------------------------------------------------------------

def _execute(units: Sequence[Unit], job: BatchJob, *, executor: str = "local", workers: int = 1,
             gpus_per_worker: float = 0.0, progress: "_Progress | None" = None, log: Log | None = None,
             hook_factory: HookFactory | None = None) -> list[UnitOutcome]:
    """Run the units: in this process (``local``), or through `inspector.executors` (e.g. ``ray``).

    This is the one place an executor plugs in; whatever runs the units, each one is `run_unit` and records its run
    in the store, so the report built afterwards is the same. `hook_factory` (extra hooks, in-process only) is for
    callers that watch chunks as they run (tests, the app).
    """
    say = log or (lambda _m: None)
    if executor != "local":
        if hook_factory is not None:
            raise InspectorError("extra chunk hooks run in this process only: use executor 'local' with them.")
        from inspector.executors import execute

        return list(execute(units, job, executor, workers, gpus_per_worker,
                            progress.event if progress is not None else None, run_unit=run_unit, log=say))
    return run_units_local(units, job, progress=progress.unit if progress is not None else None,
                           after=progress.stop if progress is not None else None, log=say, hook_factory=hook_factory)


def run_units_local(units: Sequence[Unit], job: BatchJob, *, progress: Callable[[str], ProgressFn | None] | None = None,
                    after: Callable[[], None] | None = None, log: Log | None = None,
                    hook_factory: HookFactory | None = None) -> list[UnitOutcome]:
    """Run units one after another in this process, backend sessions shared between them.

    Args:
        progress: progress(label) → the chunk-progress callback of the unit about to run (or None).
        after: Called after each unit (e.g. to close its progress bar).
        log: Where to say what happens; one line per unit's outcome.
        hook_factory: Extra per-chunk hooks for each (backend, mode).
    """
    say = log or (lambda _m: None)
    outcomes = []
    with _Sessions(say) as sessions:
        for n, unit in enumerate(units, 1):
            update = progress(f"[{n}/{len(units)}] {unit.label}") if progress is not None else None
            try:
                extra = list(hook_factory(unit.backend, unit.mode)) if hook_factory is not None else []
                outcome = _run_unit(job, unit, sessions, update, say, extra)
            finally:
                if after is not None:
                    after()
            say(_outcome_line(outcome))
            outcomes.append(outcome)
    return outcomes


def _outcome_line(o: UnitOutcome) -> str:
    if o.status == "error":
        return f"{o.unit.label}: ERROR ({o.error})"
    s = o.summary or {}
    failing = [v["rule"] for v in s.get("verdicts", []) if v.get("status") == "fail"]
    undecided = [v["rule"] for v in s.get("verdicts", []) if v.get("status") == "undetermined"]
    tail = ("; failing: " + ", ".join(failing)) if failing else ""
    tail += ("; undetermined: " + ", ".join(undecided)) if undecided else ""
    return (f"{o.unit.label}: {o.status.upper()} ({s.get('n_passed', 0)}/{s.get('n_chunks', 0)} chunks pass"
            f"{tail})")


class _Progress:
    """A rich progress bar per unit on a terminal, otherwise one log line per ~10 % of a unit's chunks."""

    def __init__(self, log: Log, tty: bool):
        self.log = log
        self.tty = tty
        self._bar: Any = None
        self._task: Any = None

    def unit(self, label: str) -> ProgressFn:
        """The progress callback of one unit (its chunk count is learnt from the first call)."""
        self._label, self._t0, self._failed, self._started = label, time.perf_counter(), 0, False
        return self.update

    def _start(self, total: int) -> None:
        self._started, self._step = True, max(1, total // 10)
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failing"), TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=total, failed=0)

    def update(self, done: int, total: int, record: Mapping[str, Any]) -> None:
        if not self._started:
            self._start(total)
        if not record.get("passed"):
            self._failed += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=done, failed=self._failed)
        elif done % self._step == 0 or done == total:
            rate = (time.perf_counter() - self._t0) / max(1, done)
            self.log(f"{self._label}: chunk {done}/{total}, {self._failed} failing, {rate * 1e3:.0f} ms/chunk")

    def event(self, ev: Mapping[str, Any]) -> None:
        """For executors (`inspector.executors.Progress`): workers started, chunks of each unit (about every 10 %),
        units finished, as log lines."""
        kind = ev.get("event")
        if kind == "chunk":
            done, total = int(ev.get("done") or 0), int(ev.get("total") or 0)
            if total and (done == total or done % max(1, total // 10) == 0):
                self.log(f"{ev.get('unit')}: chunk {done}/{total} ({ev.get('host', '')} pid {ev.get('pid', '')})")
        elif kind == "unit":
            self.log(f"{ev.get('unit')}: {str(ev.get('status', '')).upper()} on {ev.get('host', '')}"
                     + (f" ({ev['error']})" if ev.get("error") else ""))
        elif kind == "workers":
            workers = ev.get("workers") or []
            self.log(f"{len(workers)} worker(s): " + ", ".join(f"{w.get('host')} pid {w.get('pid')}"
                                                              for w in workers[:8]))
        else:
            self.log(" ".join(f"{k}={v}" for k, v in ev.items()))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# --- the batch ---------------------------------------------------------------------------------------------------------

def plan_units(st: Any, engine: ParityEngine, backends: Sequence[str], options: Mapping[str, Mapping[str, Any]],
               modes: Sequence[str], streams: Sequence[str] | None,
               chunks: str | Sequence[int] | None) -> tuple[list[Unit], list[str]]:
    """Units in the order they run (backend × mode × stream) and the selected streams that hold no chunk.

    Raises:
        InspectorError: A stream the store does not have; chunks a stream lacks.
    """
    have = list(st.streams())
    if streams:
        unknown = [s for s in streams if s not in have]
        if unknown:
            what = f"stream {unknown[0]!r}" if len(unknown) == 1 else f"streams {', '.join(map(repr, unknown))}"
            raise InspectorError(f"Store {st.path} has no {what} (--stream). Note: valid "
                                 f"choices are {', '.join(have[:20])}{' …' if len(have) > 20 else ''}.")
        chosen = list(dict.fromkeys(streams))
    else:
        chosen = have
    empty = [s for s in chosen if not st.chunk_indices(s)]
    per_stream: dict[str, tuple[int, ...]] = {}
    for s in chosen:
        if s in empty:
            continue
        # every chunk: left empty in the unit (its label stays short); a range: resolved (and checked) here
        per_stream[s] = () if chunks in (None, "", ":") else engine.resolve_chunks(s, chunks)
        if chunks in (None, "", ":"):
            engine.resolve_chunks(s, None)  # a gap in the stream is an error now, not after other units ran
    units = [Unit(b, plain_options(options[b]), m, s, per_stream[s])
             for b in backends for m in modes for s in chosen if s not in empty]
    return units, empty


@dataclass(frozen=True)
class BatchPlan:
    """A batch that passed every check, cut into units, ready to run."""

    job: BatchJob
    units: tuple[Unit, ...]
    empty_streams: tuple[str, ...]
    contract: Any
    model: Path
    model_sha256: str
    store: Any


def plan_batch(*, store: str | Path, model: str | Path | None, contract: Any, backends: Sequence[str],
               modes: Sequence[str] = ("functional",), streams: Sequence[str] | str | None = None,
               chunks: str | Sequence[int] | None = None, baseline: str | None = None,
               save_outputs: bool | str = "failing",
               backend_options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
               resume: bool = True, reuse_complete: bool = False, attribute: bool = False,
               log: Log | None = None) -> BatchPlan:
    """Every check made before a batch runs, and its units (arguments as `run_batch`'s).

    `model` may be None when every backend runs NeMo itself (``torch-*``: the store's header says which encoder).

    Raises:
        InspectorError: Bad usage or input, naming what to change; nothing has run.
    """
    from contracts.load import load_contract
    from store import Store

    say: Log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    mode_list = parse_modes(modes)
    try:
        saving = save_mode(save_outputs)
    except ValueError as exc:
        raise InspectorError(str(exc)) from None
    if not backends:
        raise InspectorError("no backend given: pass --backend NAME (see `inspector backends`).")
    check_backend_names([*backends, *([baseline] if baseline else [])])
    names = list(dict.fromkeys(backends))
    all_names = names + ([baseline] if baseline and baseline not in names else [])
    if model is None or str(model) == "":
        onnx = [b for b in all_names if not b.startswith("torch-")]
        if onnx:
            raise InspectorError(f"{', '.join(onnx)} run(s) the ONNX export: pass --model PATH.onnx "
                                 "(`inspector export` writes one).")
        model_path = Path("")
    else:
        model_path = Path(model)
        if not model_path.exists():
            raise InspectorError(f"--model {model_path}: no such file. Pass the ONNX export (`inspector export` "
                                 "writes one).")
    c = contract if hasattr(contract, "outputs") else load_contract(contract)
    contract_ref, contract_object = _contract_ref(contract, c)
    if backend_options is None:
        opts: dict[str, dict[str, Any]] = {b: {} for b in all_names}
    elif isinstance(backend_options, Mapping):
        opts = {b: dict(backend_options.get(b, {})) for b in all_names}
    else:
        opts = parse_backend_options(list(backend_options), all_names)
    check_options(all_names, opts)
    check_available(all_names, opts)
    if str(model_path):
        for warning in check_model_matches(model_path, c, all_names):
            say(f"note: {warning}")
    if baseline and baseline in names:
        say(f"note: {baseline} is both a backend and the baseline: on the same model and feeds that run can only "
            "show nondeterminism; the store's reference is what catches a faulty export")

    st = Store.open(store, "a")
    header = dict(st.attrs.get("header") or {})
    for b in all_names:
        model_for(b, model_path, header, opts[b])  # torch backends: the preset/seed of the reference, or why not
    engine = ParityEngine(st, c, model_path if str(model_path) else None)
    wanted = [streams] if isinstance(streams, str) else list(streams or [])
    units, empty = plan_units(st, engine, names, opts, mode_list, wanted or None, chunks)
    job = BatchJob(store=str(Path(st.path).resolve()), model=str(model_path.resolve()) if str(model_path) else "",
                   contract=contract_ref, contract_object=contract_object, save_outputs=saving, baseline=baseline or "",
                   baseline_options=plain_options(opts[baseline]) if baseline else {}, resume=resume,
                   reuse_complete=reuse_complete, attribute=attribute)
    return BatchPlan(job, tuple(units), tuple(empty), c, model_path, engine.model_sha256, st)


def run_batch(*, store: str | Path, model: str | Path, contract: Any, backends: Sequence[str],
              modes: Sequence[str] = ("functional",), streams: Sequence[str] | str | None = None,
              stream: str | None = None, chunks: str | Sequence[int] | None = None, baseline: str | None = None,
              save_outputs: bool | str = "failing",
              backend_options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
              report: str | Path | None = None, junit: str | Path | None = None, markdown: str | Path | None = None,
              progress: bool | None = None, log: Log | None = None, resume: bool = True,
              reuse_complete: bool = False, executor: str = "local", workers: int = 1,
              gpus_per_worker: float = 0.0, hook_factory: HookFactory | None = None, attribute: bool = False,
              allow_undetermined: Sequence[str] = ()) -> BatchResult:
    """Run backends against a store and judge the contract: every backend × mode × stream.

    Args:
        store: The store directory (opened for writing: runs are recorded in it).
        model: The ONNX export (torch backends: see `inspector.preflight.model_for`).
        contract: A `Contract` (its ``source`` file is used), a contract path, or a shipped contract's bare name.
        backends: Registry names, e.g. ``["ort-cpu", "ort-cuda"]``.
        modes: Any of ``functional``, ``closed-loop`` (``"both"`` is accepted as shorthand).
        streams: The streams to run (default: every stream of the store). `stream` is one of them, for old callers.
        chunks: ``"A:B"`` (B exclusive), ``"K"``, a list of indices, or None for all; applies to every stream.
        baseline: Compare against this backend's outputs on the same feeds instead of the reference.
        save_outputs: ``"failing"`` (default), ``"all"`` (or True) or ``"none"`` (or False).
        backend_options: Per-backend options ``{"ort-cuda": {"use_tf32": 0}}``, or CLI items
            ``["use_tf32=0", "ort-cuda:io_binding=0"]``.
        report, junit, markdown: Report paths to write (any may be None).
        progress: Progress bar (True), log lines (False), or decide by whether stderr is a terminal (None).
        log: Where messages go (default: stderr).
        resume: Continue an interrupted run of the same identity instead of starting afresh.
        reuse_complete: Re-judge a complete run of the same identity from its records instead of running again.
        executor, workers, gpus_per_worker: Where units run (``local``: this process, one after another).
        hook_factory: Extra per-chunk hooks for each (backend, mode), besides the state hooks every closed-loop run
            has (`inspector.state.default_hooks`, never optional). In-process executor only.
        attribute: Attribute the first failing chunk of each failing run (precision or bug) into the reports.
        allow_undetermined: Rules accepted when undetermined (``all`` for every rule); the reports record it.

    Returns:
        The runs, the units' outcomes and the report document (``status`` pass / fail / undetermined).

    Raises:
        InspectorError: Bad usage or input (unknown backend/mode/stream/chunks, unavailable backend …), before
            anything runs.
    """
    default_hooks = _state_hooks()

    say: Log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    wanted = [streams] if isinstance(streams, str) else list(streams or [])
    wanted += [stream] if stream and stream not in wanted else []
    plan = plan_batch(store=store, model=model, contract=contract, backends=backends, modes=modes,
                      streams=wanted or None, chunks=chunks, baseline=baseline, save_outputs=save_outputs,
                      backend_options=backend_options, resume=resume, reuse_complete=reuse_complete,
                      attribute=attribute, log=say)
    units, empty = plan.units, plan.empty_streams
    allow = _allow_list(allow_undetermined, plan.contract)  # a misspelt rule is bad input, before anything runs
    n_backends = len({(u.backend, json.dumps(dict(u.options), sort_keys=True, default=str)) for u in units})
    n_modes = len({u.mode for u in units})
    say(f"checking {len({u.stream for u in units})} stream(s) × {n_backends} backend(s) × {n_modes} mode(s): "
        f"{len(units)} run(s)" + (f"; {len(empty)} stream(s) hold no chunk: {', '.join(empty[:5])}" if empty else ""))
    if not units:
        say("nothing to check: the store holds no complete chunk in the streams selected (convert, or resume "
            "converting, its reference first)")
    if hook_factory is default_hooks:
        hook_factory = None  # what every run has already (older callers passed it explicitly)
    tty = sys.stderr.isatty() if progress is None else bool(progress)
    outcomes = _execute(units, plan.job, executor=executor, workers=workers, gpus_per_worker=gpus_per_worker,
                        progress=_Progress(say, tty), log=say, hook_factory=hook_factory)

    results, doc = build_batch_report(plan.store, plan.contract, plan.model, plan.model_sha256, outcomes, empty,
                                      plan.job.save_outputs, allow=allow)
    saved = doc["saved_outputs"]
    if plan.job.save_outputs != "none":
        say(f"saved outputs ({plan.job.save_outputs}): {saved['chunks']} chunk(s), {saved['bytes'] / 1e6:.2f} MB on "
            f"disk in {Path(plan.store.path) / 'runs'}")
    if attribute:
        from inspector.attribution.attribute import annotate_report

        annotate_report(doc, plan.store, plan.contract, str(plan.model) or None, store_path=plan.job.store,
                        contract_ref=plan.job.contract, say=say)
    written = write_reports(doc, report=report, junit=junit, markdown=markdown)
    return BatchResult(tuple(results), doc, written, tuple(outcomes))


def _allow_list(allow: Sequence[str], contract: Any) -> list[str]:
    """``--allow-undetermined`` arguments checked against the contract's rules (a typo is bad input, exit 2)."""
    from inspector.acceptance import check_allow_undetermined

    try:
        return check_allow_undetermined(allow, contract)
    except ValueError as exc:
        raise InspectorError(f"{exc} Nothing was run.") from None


def _contract_ref(given: Any, contract: Any) -> tuple[str, Any]:
    """How units get the contract: (its file, or a shipped contract's name; the `Contract` object itself when it
    differs from any file, e.g. one edited in memory, else None). Units load a file themselves; an object travels
    with the job (it pickles)."""
    if isinstance(given, (str, Path)):
        path = Path(given)
        return (str(path.resolve()) if path.exists() else str(given)), None
    from contracts.errors import ContractError
    from contracts.load import load_contract
    from inspector.identity import contract_digest

    source = getattr(contract, "source", "")
    if source and Path(source).exists():
        try:
            same = contract_digest(load_contract(source)) == contract_digest(contract)
        except ContractError:  # the file no longer loads: the object given is what this batch judges with
            same = False
        if same:
            return str(Path(source).resolve()), None
    return str(source or contract.name), contract


def load_run_result(st: Any, run_id: str, baseline_options: Mapping[str, Any] | None = None) -> RunResult:
    """A recorded run as the engine returned it: records and verdicts read back from the store."""
    from backends.base import BackendInfo
    from inspector.acceptance import Verdict

    run = st.run(run_id)
    rec = run.record
    summary = dict(rec.summary or {})
    env = dict(rec.environment or {})
    by_chunk = run.all_metrics(rec.stream)
    records = tuple(by_chunk[i] for i in rec.chunks if i in by_chunk)

    def info(d: Mapping[str, Any] | None) -> BackendInfo | None:
        if not d:
            return None
        known = set(BackendInfo.__dataclass_fields__)
        return BackendInfo(**{k: v for k, v in d.items() if k in known})

    spec = RunSpec(rec.backend, rec.mode, rec.stream, tuple(rec.chunks), options=dict(rec.options),
                   baseline=rec.baseline or None, baseline_options=dict(baseline_options or {}),
                   save_outputs=env.get("save_outputs_mode") or bool(env.get("save_outputs")))
    return RunResult(
        run_id=rec.run_id, spec=spec, backend_info=info(rec.backend_info) or info({"name": rec.backend, "runtime": "",
                                                                                    "version": "", "device": ""}),
        baseline_info=info(env.get("baseline_info")), records=records,
        verdicts=tuple(Verdict.from_dict(v) for v in summary.get("verdicts", [])), status=rec.status,
        started=rec.started, finished=rec.finished, reference=dict(env.get("reference") or {}),
        environment={k: v for k, v in env.items() if k not in ("reference", "baseline_info")},
        resumed_chunks=int(summary.get("resumed_chunks") or 0), notes=tuple(summary.get("notes") or ()),
        wall_s=float(summary.get("wall_s") or 0.0), timings_ms=dict(summary.get("timings_ms_per_chunk") or {}),
        saved_outputs=dict(summary.get("saved_outputs") or {}),
        latency_ms=dict(summary.get("latency_ms") or {}), memory=dict(summary.get("memory") or {}),
        judge=dict(summary.get("judge") or {}),
    )


def build_batch_report(st: Any, contract: Any, model: Path, model_sha256: str, outcomes: Sequence[UnitOutcome],
                       empty_streams: Sequence[str], saving: str,
                       allow: Sequence[str] = ()) -> tuple[list[RunResult], dict[str, Any]]:
    """The report document of a batch, from the runs its units recorded in the store (and the units that errored).
    `allow`: the ``--allow-undetermined`` rules; the runs are judged again with them accepted."""
    import dataclasses

    from inspector.acceptance import accept_undetermined
    from inspector.reports.json_report import build_report

    results: list[RunResult] = []
    docs_for: list[int] = []
    for n, o in enumerate(outcomes):
        if o.status != "error" and o.run_id:
            res = load_run_result(st, o.run_id)
            if allow:
                res = dataclasses.replace(res, verdicts=tuple(accept_undetermined(res.verdicts, allow)))
                outcomes = [*outcomes[:n], dataclasses.replace(o, status=run_status(res)), *outcomes[n + 1:]]
            results.append(res)
            docs_for.append(n)
    doc = build_report(results, contract=contract, model=model, model_sha256=model_sha256, store=st.path,
                       allow_undetermined=allow)
    run_docs = list(doc["runs"])
    by_outcome = dict(zip(docs_for, run_docs))
    ordered = []
    for n, o in enumerate(outcomes):
        if n in by_outcome:
            run_doc = by_outcome[n]
            run_doc["outcome"] = o.status
            run_doc["saved_outputs"] = dict(results[docs_for.index(n)].saved_outputs)
            run_doc["host"] = o.host
        else:
            run_doc = {"run_id": o.run_id, "backend": o.unit.backend, "mode": o.unit.mode, "stream": o.unit.stream,
                       "options": dict(o.unit.options), "outcome": "error", "passed": False, "status": "error",
                       "error": o.error, "host": o.host, "total_chunks": 0, "passed_chunks": 0,
                       # as a failing verdict too, so every renderer (JUnit, Markdown, the app) shows it
                       "verdicts": [{"rule": "unit_error", "kind": "error", "status": "fail", "value": None,
                                     "threshold": None, "tensor": "", "metric": "", "first_failing_chunk": None,
                                     "worst_chunk": None, "message": f"the run could not be made: {o.error}",
                                     "details": {}}],
                       "failures_by_rule": [{"backend": o.unit.backend, "mode": o.unit.mode, "rule": "unit_error",
                                             "kind": "error", "chunk": None, "tensor": "", "message": o.error}]}
            doc.setdefault("failures", []).extend(run_doc["failures_by_rule"])
        ordered.append(run_doc)
    doc["runs"] = ordered
    # a selected stream with no chunk to check was not checked: never a pass
    status = batch_status([o.status for o in outcomes] + ["undetermined"] * len(empty_streams))
    doc["status"] = status
    doc["outcome"] = status
    doc["passed"] = status == "pass"
    doc["exit_code"] = EXIT_CODES[status]
    streams = sorted({o.unit.stream for o in outcomes})
    doc["coverage"] = {
        "n_streams": len(streams), "streams": streams[:1000],
        "n_chunks": sum(int(r.get("total_chunks") or 0) for r in ordered),
        "per_stream": {s: sum(int(r.get("total_chunks") or 0) for r in ordered if r.get("stream") == s)
                       for s in streams[:1000]},
        "empty_streams": list(empty_streams),
    }
    doc["saved_outputs"] = {
        "mode": saving, "chunks": sum(int(r.saved_outputs.get("chunks") or 0) for r in results),
        "bytes": sum(int(r.saved_outputs.get("bytes") or 0) for r in results),
    }
    return results, doc


def write_reports(doc: Mapping[str, Any], *, report: str | Path | None = None, junit: str | Path | None = None,
                  markdown: str | Path | None = None) -> dict[str, Path]:
    """Write the JSON / JUnit / Markdown reports asked for; returns what was written where."""
    from inspector.reports.json_report import write_json

    written: dict[str, Path] = {}
    if report:
        written["report"] = write_json(doc, report)
    if junit:
        from inspector.reports.junit import write_junit

        written["junit"] = write_junit(doc, junit)
    if markdown:
        from inspector.reports.markdown import write_markdown

        written["markdown"] = write_markdown(doc, markdown)
    return written


__all__ = [
    "BatchJob", "BatchPlan", "BatchResult", "EXIT_CODES", "Unit", "UnitOutcome", "batch_status", "build_batch_report",
    "check_available", "check_model_matches", "check_options", "load_run_result", "model_for",
    "parse_backend_options", "plan_batch", "plan_units", "run_batch", "run_status", "run_unit", "run_units_local",
    "write_reports",
]
