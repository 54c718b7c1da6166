"""What the inspector's job keys do, without Textual: diagnostics on the current chunk, its reproduction bundle, and
backend runs recorded into the store.

Each job is a plain function that the main screen calls inside a ``@work(thread=True)`` worker. It reports through a
`JobContext` (progress text, done/total) and asks it whether the user cancelled; it returns a frozen result or raises
an error whose message is shown as it is (the package's errors already say what to do). Everything heavy
(onnxruntime, the engine, the diagnostics) is imported here, inside the functions, so opening the app stays fast.

The jobs open their own store handles: runs write through a handle opened for appending (the app's own handle stays
read-only), diagnostics read through a fresh read-only one, so a job never shares a handle with the UI's readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from inspector.errors import InspectorError

MODES = ("functional", "closed-loop")
ONNX_BACKENDS = ("ort-cpu", "ort-cuda", "trt-fp32", "trt-fp16")
"""Backends that run the ONNX graph itself: the only ones triage can tap node by node."""
DEFAULT_BACKEND = "ort-cpu"


class JobCancelled(KeyboardInterrupt):
    """Raised inside a job when the user cancelled it (c) or the app is closing.

    A `KeyboardInterrupt`, because that is what makes the parity engine mark a run ``interrupted`` (resumable: the
    next run of the same configuration continues it) rather than ``failed``.
    """


@dataclass
class JobContext:
    """How a job talks to the screen while it runs.

    Attributes:
        say: Show a line of progress text.
        step: Show ``done`` of ``total`` (and a line of text).
        cancelled: Whether the user cancelled the job (or the app is closing).
    """

    say: Callable[[str], None] = lambda _text: None
    step: Callable[[int, int, str], None] = lambda _done, _total, _text: None
    cancelled: Callable[[], bool] = lambda: False

    def check(self) -> None:
        """Stop here if the job was cancelled."""
        if self.cancelled():
            raise JobCancelled()

    def progress(self, text: str) -> None:
        """A diagnostic's progress callback: stop when cancelled, else show the text."""
        self.check()
        self.say(text)


# ---- what a job needs ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackendChoice:
    """A registry backend and whether it can run here (`backends.base.availability`), for the run and triage
    dialogs."""

    name: str
    available: bool
    reason: str = ""
    install: str = ""

    @property
    def why(self) -> str:
        """Why it cannot run, and what to install, in one line."""
        if self.available:
            return ""
        return self.reason + (f" (to use it: {self.install})" if self.install else "")


def backend_choices() -> list[BackendChoice]:
    """Every registered backend with its availability on this machine (imports runtimes: ~1.5 s for torch-cuda)."""
    from backends.base import availability, backend_names

    out = []
    for name in backend_names():
        try:
            avail = availability(name)
            out.append(BackendChoice(name, bool(avail), avail.reason, avail.install))
        except Exception as exc:  # noqa: BLE001 — a broken optional install is "unavailable", with its error
            out.append(BackendChoice(name, False, f"{type(exc).__name__}: {exc}"))
    return out


def store_argument(data: Any) -> str:
    return data.path or "STORE"


def need_contract(data: Any, what: str) -> str | None:
    """None when the contract is there, else exactly what to pass to get it."""
    if data.contract is not None:
        return None
    why = f" ({data.contract_error})" if data.contract_error else " (the store names none)"
    return (f"The {what} needs the export's contract{why}: reopen with `inspector tui {store_argument(data)} "
            "--contract PATH|NAME`, e.g. --contract demo_streaming for the demo, or the .contract.json of your export.")


def need_model(data: Any, what: str) -> str | None:
    """None when the app was given a model, else exactly what to pass."""
    if data.model is not None:
        return None
    return (f"The {what} runs the ONNX model: reopen with `inspector tui {store_argument(data)} --model PATH.onnx` "
            "(the export the store's reference was made for; `inspector export` writes one).")


def requirement(data: Any, what: str, *, model: bool = True) -> str | None:
    """The first thing missing for a job (contract, then model), in words; None when nothing is."""
    return need_contract(data, what) or (need_model(data, what) if model else None)


def chunks_of(spec: str, indices: Sequence[int], current: int | None) -> tuple[int, ...]:
    """The chunks a run covers: ``"current"``, ``"all"``, or ``"A:B"`` (B exclusive, either side optional) / ``"K"``,
    as `inspector run --chunks` reads them.

    Raises:
        InspectorError: The text is not a range, or selects no chunk of the stream.
    """
    have = list(indices)
    span = f"{have[0]}..{have[-1]}" if have else "none"
    text = spec.strip()
    if not have:
        raise InspectorError("the stream has no chunks to run.")
    if text == "current":
        if current is None:
            raise InspectorError("no current chunk: choose one in the list first.")
        return (current,)
    if text in ("all", "", ":"):
        return tuple(have)
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            lo = int(a) if a.strip() else have[0]
            hi = int(b) if b.strip() else have[-1] + 1
            want = list(range(lo, hi))
        else:
            want = [int(text)]
    except ValueError:
        raise InspectorError(f"{text!r} is not a chunk range: write A:B (B exclusive), A:, :B or K.") from None
    if not want:
        raise InspectorError(f"{text!r} selects no chunk (B is exclusive and must be greater than A; the stream has "
                             f"chunks {span}).")
    # as `inspector run --chunks`: a range over chunks the store lacks is an error, not a quietly shorter run
    missing = sorted(set(want) - set(have))
    if missing:
        raise InspectorError(f"{text!r} asks for chunk(s) the stream does not have (first: {missing[0]}); it has "
                             f"chunks {span}.")
    return tuple(want)


# ---- runs ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRequest:
    """A run asked for in the run dialog.

    Attributes:
        backend, mode: What to run.
        stream: The stream on screen; `chunks` are its chunks (what the progress counts first).
        label: The chunks and streams in words.
        streams: The streams to run (empty: `stream` alone).
        chunk_range: ``A:B`` / ``K`` applied in every stream, or ``""``: `chunks` in one stream, every chunk in
            several.
        options: The backend's options (``{"use_tf32": 0}``).
    """

    backend: str
    mode: str
    stream: str
    chunks: tuple[int, ...]
    label: str = ""
    streams: tuple[str, ...] = ()
    chunk_range: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


def backend_options(text: str, backend: str) -> dict[str, Any]:
    """``"use_tf32=0 intra_op_num_threads=2"`` → that backend's options, checked as `inspector run --backend-opt`.

    Raises:
        InspectorError: A word that is not KEY=VALUE, or an option the backend does not take.
    """
    from inspector.preflight import check_options, parse_backend_options

    items = [w for w in text.replace(",", " ").split() if w]
    opts = parse_backend_options(items, [backend])
    check_options([backend], opts)
    return opts[backend]


@dataclass(frozen=True)
class RunOutcome:
    """What a run from the app ended with (over every stream it covered).

    Attributes:
        outcome: ``pass``, ``fail``, ``undetermined`` or ``error`` (as `inspector.api` judges a batch).
        streams: How many streams were run.
        error: Why a stream's run could not be made.
    """

    run_id: str
    backend: str
    mode: str
    status: str
    passed: bool | None
    n_chunks: int
    n_passed: int
    failing_rules: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    outcome: str = ""
    streams: int = 1
    error: str = ""
    undetermined_rules: tuple[str, ...] = ()

    def text(self) -> str:
        head = f"{self.backend} {self.mode}: {self.n_passed}/{self.n_chunks} chunks pass"
        if self.streams > 1:
            head += f" over {self.streams} streams"
        if self.error:
            return f"ERROR — {head}; a run could not be made: {self.error}"
        if self.status != "complete":
            return f"{head}; run {self.status} (start it again to continue where it stopped)"
        verdict = (self.outcome or ("pass" if self.passed else "fail")).upper()
        tail = f"; failing: {', '.join(self.failing_rules)}" if self.failing_rules else ""
        tail += f"; undetermined: {', '.join(self.undetermined_rules)}" if self.undetermined_rules else ""
        return f"{verdict} — {head}{tail}"


def run_backend(data: Any, request: RunRequest, ctx: JobContext, *,
                started: Callable[[str], None] = lambda _run_id: None,
                chunk_done: Callable[[int, int, Mapping[str, Any]], None] = lambda _d, _t, _r: None) -> RunOutcome:
    """Run `request` through the run API (`inspector.api`), as `inspector run --batch` does, and record it (outputs
    saved): one run per stream asked for.

    Closed-loop runs get the state hooks, so their trajectory and the ``state_*`` verdicts are recorded. Each
    committed chunk calls `chunk_done(done, total, record)` (from the engine's writer thread); `started(run_id)` is
    called as each stream's run opens. Cancelling stops after the chunk being written: the run is left
    ``interrupted`` and the next identical run resumes it.

    Raises:
        InspectorError: No contract, no model for an ONNX backend, bad options, or the backend cannot run here (what
            to install).
    """
    from inspector.api import batch_status, plan_batch, run_units_local
    from inspector.engine import ChunkHook

    what = f"run of {request.backend}"
    missing = need_contract(data, what)
    if missing is None and not request.backend.startswith("torch-"):
        missing = need_model(data, what)
    if missing:
        raise InspectorError(missing)
    if request.mode not in MODES:
        raise InspectorError(f"mode {request.mode!r}: expected one of {', '.join(MODES)}.")
    streams = tuple(request.streams) or (request.stream,)
    chunks: Any = request.chunk_range or None
    if len(streams) == 1 and not request.chunk_range:
        chunks = list(request.chunks) or None
    # the checks `inspector run --batch` makes before any chunk runs, and its units
    plan = plan_batch(store=data.path, model=data.model, contract=data.contract, backends=[request.backend],
                      modes=[request.mode], streams=streams, chunks=chunks, save_outputs="all",
                      backend_options={request.backend: dict(request.options)}, log=ctx.say)
    ctx.check()

    class RunIdHook(ChunkHook):
        """Tells the screen the run's id as soon as the engine opened the run (before its first chunk)."""

        name = "tui-run-id"

        def start(self, run: Any) -> None:
            started(run.run_id)

    def progress(done: int, total: int, record: Mapping[str, Any]) -> None:
        chunk_done(done, total, record)
        ctx.check()  # after the chunk is committed: a cancelled run keeps it

    ctx.say(f"starting {request.backend} ({request.mode}) on {request.label or 'the chunks asked for'}")
    outcomes = run_units_local(plan.units, plan.job, progress=lambda _label: progress, log=ctx.say,
                               hook_factory=lambda _b, _m: [RunIdHook()])
    summaries = [o.summary or {} for o in outcomes]
    rules = lambda status: tuple(dict.fromkeys(  # noqa: E731
        v["rule"] for s in summaries for v in s.get("verdicts", []) if v.get("status") == status))
    errors = [o.error for o in outcomes if o.status == "error"]
    verdict = batch_status([o.status for o in outcomes] + ["undetermined"] * len(plan.empty_streams))
    return RunOutcome(
        run_id=next((o.run_id for o in reversed(outcomes) if o.run_id), ""), backend=request.backend,
        mode=request.mode, status="complete" if not errors else "error", passed=verdict == "pass",
        n_chunks=sum(o.chunks_checked for o in outcomes), n_passed=sum(int(s.get("n_passed") or 0) for s in summaries),
        failing_rules=rules("fail"), notes=tuple(n for s in summaries for n in s.get("notes", []))[:10],
        outcome=verdict, streams=len(outcomes), error="; ".join(errors)[:500], undetermined_rules=rules("undetermined"))


# ---- diagnostics ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Diagnosis:
    """A finished diagnostic: what ran on which chunk, the report object, and notes on how it was run."""

    kind: str  # cache-time | triage | bundle
    stream: str
    chunk: int
    backend: str
    report: Any
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def full_text(self) -> str:
        """The whole report as plain text (the diagnostics' own `render()`)."""
        if self.kind == "bundle":
            return bundle_summary(self.report, self.extra)
        text = self.report.render()
        if self.notes:
            text += "\n" + "\n".join(f"note: {n}" for n in self.notes)
        return text


def _run_backend_name(data: Any, run_id: str) -> tuple[str, dict[str, Any]]:
    """The backend the selected run used (and its options) when it is one of ours, else ort-cpu."""
    from backends.base import backend_names

    info = data.run_info(run_id) if run_id else None
    if info is not None and info.backend in backend_names():
        record = data.run_record(run_id)
        options = dict(getattr(record, "options", None) or {})
        return info.backend, options
    return DEFAULT_BACKEND, {}


def _open_read(data: Any) -> Any:
    from store import Store

    return Store.open(data.path, mode="r")


def _recorded_outputs(data: Any, store: Any, run_id: str, stream: str, chunk: int) -> dict[str, Any] | None:
    """The selected run's saved outputs of the chunk in model layout, or None."""
    if not run_id:
        return None
    from inspector.diagnostics.chunkdata import to_model_layout

    outs = store.run(run_id).outputs(stream, chunk)
    if not outs:
        return None
    return {k: to_model_layout(data.contract, k, v) for k, v in outs.items()}


def diagnose_cache_time(data: Any, stream: str, chunk: int, run_id: str, ctx: JobContext) -> Diagnosis:
    """The `cache_last_time` checks (`inspector.diagnostics.cache_time`) on one chunk.

    The backend is the selected run's (with its options) when it is a registry backend, else ort-cpu. When that
    backend cannot run here, or the app has no model, but the selected run saved the chunk's outputs, the recorded
    outputs are diagnosed (checks 1-2) and the note says what checks 3-4 need.

    Raises:
        InspectorError: What is missing (contract, model), or what the diagnostic itself reports.
    """
    from backends.base import availability
    from inspector.diagnostics.cache_time import diagnose_cache_time as diagnose
    from inspector.diagnostics.session import active_backend

    what = "cache_last_time diagnostic"
    missing = need_contract(data, what)
    if missing:
        raise InspectorError(missing)
    name, options = _run_backend_name(data, run_id)
    store = _open_read(data)
    avail = availability(name, options)
    runnable = bool(avail) and (data.model is not None or name.startswith("torch-"))
    if runnable:
        with active_backend(name, data.model, data.contract, options, store) as backend:
            ctx.check()
            report = diagnose(store, data.contract, backend, chunk, stream=stream, progress=ctx.progress)
        return Diagnosis("cache-time", stream, chunk, name, report)
    ctx.say(f"reading the recorded outputs of chunk {chunk}")
    recorded = _recorded_outputs(data, store, run_id, stream, chunk)
    why = (need_model(data, what) if avail else
           f"{name} cannot run here: {avail.reason}" + (f" (to use it: {avail.install})" if avail.install else ""))
    if recorded is None:
        raise InspectorError(why or f"{name} cannot run here.")
    report = diagnose(store, data.contract, None, chunk, stream=stream, backend_outputs=recorded,
                      progress=ctx.progress)
    note = f"checks (3) activity and (4) propagation need a backend to run. {why}"
    info = data.run_info(run_id)
    label = f"{info.backend if info else name} outputs recorded by the run"
    return Diagnosis("cache-time", stream, chunk, label, report, notes=(note,))


@dataclass(frozen=True)
class TriageRequest:
    """A triage asked for in the triage dialog (registry names; the baseline model defaults to the model)."""

    backend: str
    baseline: str
    baseline_model: str


def triage(data: Any, stream: str, chunk: int, request: TriageRequest, ctx: JobContext) -> Diagnosis:
    """First diverging node (`inspector.diagnostics.triage.triage_chunk`) between the backend on the app's model and
    the baseline on the baseline model, on one chunk's reference inputs.

    Raises:
        InspectorError: What is missing, an unknown baseline model file, or what triage itself reports.
    """
    from inspector.diagnostics.triage import triage_chunk

    what = "first-diverging-node triage"
    missing = requirement(data, what)
    if missing:
        raise InspectorError(missing)
    baseline_model = Path(request.baseline_model).expanduser() if request.baseline_model else data.model
    if not baseline_model.is_file():
        raise InspectorError(f"baseline model {baseline_model}: no such file. Give the path of the ONNX export to "
                             "compare against (a known-good export, or the same model on another runtime).")
    store = _open_read(data)
    report = triage_chunk(store, data.contract, chunk, data.model, stream=stream, backend=request.backend,
                          baseline=request.baseline, baseline_model=baseline_model, progress=ctx.progress)
    return Diagnosis("triage", stream, chunk, request.backend, report)


def default_bundle_dir(data: Any, stream: str, chunk: int) -> Path:
    """``<store's folder>/bundles/<store>-<stream>-chunk<K>``: next to the store, never inside it."""
    base = Path(data.path) if data.path else Path.cwd() / "store"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stream)
    return base.parent / "bundles" / f"{base.stem}-{safe}-chunk{chunk:04d}"


def export_bundle(data: Any, stream: str, chunk: int, run_id: str, out_dir: str | Path, overwrite: bool,
                  ctx: JobContext) -> Diagnosis:
    """The chunk's reproduction bundle (`inspector.diagnostics.bundle.export_chunk`).

    With a model and a runnable backend (the selected run's, else ort-cpu) the backend's outputs are included;
    without a model the bundle holds the reference side only, and a note says so.
    """
    from backends.base import availability
    from inspector.diagnostics.bundle import export_chunk
    from inspector.diagnostics.session import active_backend

    store = _open_read(data)
    name, options = _run_backend_name(data, run_id)
    notes: list[str] = []
    out = Path(out_dir).expanduser()
    if data.contract is not None and data.model is not None and availability(name, options):
        with active_backend(name, data.model, data.contract, options, store) as backend:
            ctx.progress(f"running chunk {chunk} through {name} and writing {out}")
            path = export_chunk(store, chunk, out, stream=stream, contract=data.contract, backend=backend,
                                model=data.model, overwrite=overwrite)
    else:
        if data.contract is None:
            notes.append("no contract: tensors keep their reference names and layout, no backend outputs")
        elif data.model is None:
            notes.append("no --model: the bundle holds the reference side only (no backend_outputs.npz)")
        else:
            notes.append(f"{name} cannot run here: reference side only")
        ctx.progress(f"writing {out}")
        path = export_chunk(store, chunk, out, stream=stream, contract=data.contract, model=data.model,
                            overwrite=overwrite)
    import json

    meta = json.loads((path / "meta.json").read_text())
    return Diagnosis("bundle", stream, chunk, meta.get("backend") or "", path, notes=tuple(notes),
                     extra={"files": meta.get("files", []), "commands": meta.get("commands", {})})


def bundle_summary(path: Path, extra: Mapping[str, Any]) -> str:
    lines = [f"reproduction bundle written to {path}", "files: " + ", ".join(extra.get("files", []))]
    for label, command in (extra.get("commands") or {}).items():
        lines.append(f"{label}: {command}")
    return "\n".join(lines)


__all__ = [
    "BackendChoice", "Diagnosis", "JobCancelled", "JobContext", "RunOutcome", "RunRequest", "TriageRequest",
    "backend_choices", "backend_options", "chunks_of", "default_bundle_dir", "diagnose_cache_time", "export_bundle", "need_contract",
    "need_model", "requirement", "run_backend", "triage",
]
