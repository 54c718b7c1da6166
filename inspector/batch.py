"""`inspector run --batch` as a function: every backend × mode over a store, judged, recorded, reported.

`run_batch` is what the CLI and `inspector demo` call. It checks every backend's availability first (an unavailable
backend is an `InspectorError`, exit 2, naming what to install, before any chunk runs), then runs each backend in
each mode through `inspector.engine.ParityEngine`, writes the JSON/JUnit/Markdown reports asked for, and returns a
`BatchResult` (``bool(result)`` = everything passed). It never raises `CheckFailed` itself; the CLI does.

Models per backend: ONNX backends (``ort-*``, ``trt-*``) run `model`. The torch backends run NeMo itself: given a
``.nemo`` model they load it; given an ONNX model they rebuild the encoder the store's reference was made with (the
header's ``nemo_path``, or ``preset`` and ``seed``), unless ``preset``/``seed``/``nemo_path`` options say otherwise.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from inspector.engine import MODES, ChunkHook, ParityEngine, RunResult, RunSpec
from inspector.errors import InspectorError

HookFactory = Callable[[str, str], Sequence[ChunkHook]]
"""hook_factory(backend, mode) → fresh hooks for that run (hooks keep per-run state)."""

Log = Callable[[str], None]


@dataclass(frozen=True)
class BatchResult:
    """Every run of a batch and the report document built from them."""

    runs: tuple[RunResult, ...]
    report: Mapping[str, Any]
    written: Mapping[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.runs) and all(r.passed for r in self.runs)

    def __bool__(self) -> bool:
        return self.passed

    def failure_summary(self) -> str:
        """One paragraph naming, per failing run, its failing rules with chunk and tensor (for CheckFailed)."""
        parts = []
        for run in self.report.get("runs", []):
            # The state rules name a cause (cache never carried, swapped feedback), the others its symptoms.
            fails = sorted(run.get("failures_by_rule", []), key=lambda f: not f["rule"].startswith("state_"))
            if not fails and run.get("passed"):
                continue
            items = []
            for f in fails[:4]:
                where = "" if f.get("chunk") is None else f" (chunk {f['chunk']}"
                where += "" if not f.get("tensor") else (f", {f['tensor']}" if where else f" ({f['tensor']}")
                where += ")" if where else ""
                items.append(f"{f['rule']}{where}")
            more = f" and {len(fails) - 4} more" if len(fails) > 4 else ""
            parts.append(f"{run['backend']} {run['mode']}: {', '.join(items) or run.get('status')}{more}")
        return "Parity failed: " + "; ".join(parts) + "."


def parse_backend_options(items: Sequence[str], backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["use_tf32=0", "ort-cuda:io_binding=0"]`` → per-backend option dicts (a bare ``K=V`` applies to all).

    Raises:
        InspectorError: An item is not ``[BACKEND:]KEY=VALUE`` or names a backend not in the batch.
    """
    from backends.base import accepts_option
    from backends.onnxrt import parse_option

    out: dict[str, dict[str, Any]] = {b: {} for b in backends}
    for item in items:
        target: str | None = None
        body = item
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            target, body = head, rest
        key, eq, value = body.partition("=")
        if not eq or not key.strip():
            raise InspectorError(f"--backend-opt {item!r}: expected KEY=VALUE or BACKEND:KEY=VALUE "
                                 "(e.g. use_tf32=0 or ort-cuda:use_tf32=0).")
        if target is not None and target not in out:
            raise InspectorError(f"--backend-opt {item!r} names backend {target!r}, which is not in this batch "
                                 f"({', '.join(backends)}).")
        key = key.strip()
        if target:
            out[target][key] = parse_option(value.strip())
            continue
        # A bare KEY=VALUE goes to every backend of the batch it means something to (use_tf32=0 is for ort-cuda,
        # not ort-cpu); a key none of them knows is reported by `check_options`.
        takers = [b for b in backends if _accepts(accepts_option, b, key)] or list(backends)
        for b in takers:
            out[b][key] = parse_option(value.strip())
    return out


def _accepts(accepts_option: Callable[[str, str], bool], backend: str, key: str) -> bool:
    try:
        return accepts_option(backend, key)
    except Exception:  # noqa: BLE001 — an unknown backend name is reported elsewhere
        return True


def check_options(names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one `InspectorError` listing every bad option of every backend, before anything runs."""
    from backends.base import option_problems

    problems = []
    for name in dict.fromkeys(names):
        try:
            found = option_problems(name, options.get(name))
        except Exception:  # noqa: BLE001 — a backend module that fails to import: availability says why
            found = []
        problems += [f"{name}: {p}" for p in found]
    if problems:
        raise InspectorError("Bad --backend-opt, nothing was run: " + "; ".join(problems)
                             + ". Options are [BACKEND:]KEY=VALUE; see `inspector backends` for what runs here.")


def check_model_matches(model: Path, contract: Any, backends: Sequence[str]) -> list[str]:
    """Check the ONNX export against the contract before any chunk runs (names, dtypes, ranks, fixed sizes).

    Returns the warnings (extra outputs …) as sentences.

    Raises:
        InspectorError: The file is not an ONNX model, or differs from the contract in a way that makes the run
            meaningless (a missing or renamed tensor, another dtype or rank, a fixed size that differs).
    """
    if not any(b.startswith(("ort-", "trt-")) for b in backends) or model.suffix == ".nemo":
        return []
    from contracts.check import ModelFileError, check_model

    try:
        diffs = check_model(model, contract)
    except ModelFileError as exc:
        raise InspectorError(f"--model: {exc}") from None
    errors = [d for d in diffs if d.severity == "error"]
    if errors:
        items = [f"{d.io} {d.tensor!r}: {d.message}" + (f" ({d.hint})" if d.hint else "") for d in errors[:8]]
        more = f"; and {len(errors) - 8} more" if len(errors) > 8 else ""
        raise InspectorError(
            f"The model {model} does not match the contract {contract.name} ({len(errors)} difference"
            f"{'s' if len(errors) != 1 else ''}), nothing was run: " + "; ".join(items) + more
            + f". Fix the export or the contract; `inspector contract check {model} -c "
            f"{contract.source or contract.name}` shows them all.")
    return [f"{d.io} {d.tensor!r}: {d.message}" for d in diffs if d.severity == "warning"]


def check_available(names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one `InspectorError` listing every backend that cannot run here and what to install for it."""
    from backends.base import BackendError, availability

    problems = []
    for name in dict.fromkeys(names):
        try:
            avail = availability(name, options.get(name))
        except BackendError as exc:
            raise InspectorError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 — a broken optional install is "unavailable", with its error
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not avail:
            problems.append(f"{name}: {avail.reason}" + (f" (to use it: {avail.install})" if avail.install else ""))
    if problems:
        raise InspectorError("Backend(s) not available on this machine, nothing was run: " + "; ".join(problems)
                             + ". Run `inspector backends` to see what can run here.")


def model_for(backend: str, model: str | Path, header: Mapping[str, Any], options: dict[str, Any]) -> str | Path | None:
    """The model a backend runs (see the module docstring); may add ``preset``/``seed`` to `options`."""
    if not backend.startswith("torch-"):
        return model
    if str(model).endswith(".nemo"):
        return model
    if not any(k in options for k in ("preset", "nemo_path")):
        if header.get("nemo_path"):
            options["nemo_path"] = header["nemo_path"]
        elif header.get("preset"):
            options["preset"] = header["preset"]
            if header.get("seed") is not None and "seed" not in options:
                options["seed"] = header["seed"]
        else:
            raise InspectorError(
                f"Backend {backend} runs NeMo itself, but the store's header says neither which preset nor which "
                ".nemo made the reference; pass --model PATH.nemo or --backend-opt preset=NAME --backend-opt seed=S.")
    return None


class _Progress:
    """A rich progress bar on a terminal, otherwise one log line per ~10 % of the chunks."""

    def __init__(self, log: Log, tty: bool):
        self.log = log
        self.tty = tty
        self._bar = None
        self._task = None

    def start(self, label: str, total: int) -> Callable[[int, int, Mapping[str, Any]], None]:
        self._label, self._total, self._t0, self._failed = label, total, time.perf_counter(), 0
        self._step = max(1, total // 10)
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failing"), TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, failed=0)
        return self.update

    def update(self, done: int, total: int, record: Mapping[str, Any]) -> None:
        if not record.get("passed"):
            self._failed += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=done, failed=self._failed)
        elif done % self._step == 0 or done == total:
            rate = (time.perf_counter() - self._t0) / max(1, done)
            self.log(f"{self._label}: chunk {done}/{total}, {self._failed} failing, {rate * 1e3:.0f} ms/chunk")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def run_batch(*, store: str | Path, model: str | Path, contract: Any, backends: Sequence[str],
              modes: Sequence[str] = ("functional",), stream: str | None = None,
              chunks: str | Sequence[int] | None = None, baseline: str | None = None, save_outputs: bool = False,
              backend_options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
              report: str | Path | None = None, junit: str | Path | None = None, markdown: str | Path | None = None,
              hook_factory: HookFactory | str | None = "default", progress: bool | None = None,
              log: Log | None = None,
              resume: bool = True, reuse_complete: bool = False) -> BatchResult:
    """Run backends against a store and judge the contract.

    Args:
        store: The store directory (opened for writing: runs are recorded in it).
        model: The ONNX export (torch backends: see the module docstring).
        contract: A `Contract`, a contract path, or a shipped contract's bare name (``demo_streaming``).
        backends: Registry names, e.g. ``["ort-cpu", "ort-cuda"]``.
        modes: Any of ``functional``, ``closed-loop`` (``"both"`` is accepted as shorthand).
        stream: The stream to run (default: the store's first).
        chunks: ``"A:B"`` (B exclusive), ``"K"``, a list of indices, or None for all.
        baseline: Compare against this backend's outputs on the same feeds instead of the reference.
        save_outputs: Also store every output tensor of every chunk.
        backend_options: Per-backend options ``{"ort-cuda": {"use_tf32": 0}}``, or CLI items
            ``["use_tf32=0", "ort-cuda:io_binding=0"]``.
        report, junit, markdown: Report paths to write (any may be None).
        hook_factory: Builds extra per-chunk recorders for each (backend, mode). ``"default"``: the closed-loop
            state hooks of `inspector.state.default_hooks` (trajectory, state probe, ``state_carried`` verdict)
            when that package is installed; None: no hooks.
        progress: Progress bar (True), log lines (False), or decide by whether stderr is a terminal (None).
        log: Where messages go (default: stderr).
        resume: Continue an interrupted run of the same configuration instead of starting afresh.
        reuse_complete: Re-judge a complete run of the same configuration from its records instead of running again.

    Returns:
        The runs and the report document.

    Raises:
        InspectorError: Bad usage or input (unknown backend/mode/stream/chunks, unavailable backend …).
    """
    from backends.base import backend_names, make_backend
    from contracts.load import load_contract
    from inspector.reports.json_report import build_report, write_json
    from store import Store

    say: Log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if hook_factory == "default":
        hook_factory = _default_hooks()
    modes = _modes(modes)
    if not backends:
        raise InspectorError("no backend given: pass --backend NAME (see `inspector backends`).")
    unknown = [b for b in [*backends, *([baseline] if baseline else [])] if b not in backend_names()]
    if unknown:
        raise InspectorError(f"unknown backend(s) {', '.join(unknown)}. Note: valid choices are "
                             f"{', '.join(backend_names())}.")
    model = Path(model)
    if not model.exists():
        raise InspectorError(f"--model {model}: no such file. Pass the ONNX export (`inspector export` writes one).")
    c = contract if hasattr(contract, "outputs") else load_contract(contract)
    names = list(dict.fromkeys(backends))
    all_names = names + ([baseline] if baseline and baseline not in names else [])
    if backend_options is None:
        opts: dict[str, dict[str, Any]] = {b: {} for b in all_names}
    elif isinstance(backend_options, Mapping):
        opts = {b: dict(backend_options.get(b, {})) for b in all_names}
    else:
        opts = parse_backend_options(list(backend_options), all_names)
    check_options(all_names, opts)
    check_available(all_names, opts)
    for warning in check_model_matches(model, c, all_names):
        say(f"note: {warning}")
    if baseline and baseline in names:
        say(f"note: {baseline} is both a backend and the baseline: on the same model and feeds that run can only "
            "show nondeterminism; the store's reference is what catches a faulty export")

    st = Store.open(store, "a")
    header = dict(st.attrs.get("header") or {})
    models = {b: model_for(b, model, header, opts[b]) for b in all_names}
    engine = ParityEngine(st, c, model)
    the_stream = engine.resolve_stream(stream)
    the_chunks = engine.resolve_chunks(the_stream, chunks)
    streams = list(st.streams())
    if stream is None and len(streams) > 1:
        say(f"note: the store holds {len(streams)} streams; running the first, {the_stream!r} (pass --stream NAME for "
            f"another: {', '.join(streams[:10])}{' …' if len(streams) > 10 else ''})")
    tty = sys.stderr.isatty() if progress is None else bool(progress)
    prog = _Progress(say, tty)

    results: list[RunResult] = []
    base = None
    try:
        if baseline:
            base = make_backend(baseline, models[baseline], c, opts[baseline])
            base.activate()
            say(f"baseline {baseline}: {base.info().math_mode}")
        for name in names:
            with make_backend(name, models[name], c, opts[name]) as be:
                info = be.info()
                say(f"{name}: {info.runtime} {info.version} {info.provider} on {info.device}, {info.precision}, "
                    f"{info.math_mode}")
                for mode in modes:
                    engine.hooks = list(hook_factory(name, mode)) if hook_factory else []
                    spec = RunSpec(name, mode, the_stream, the_chunks, options=_plain(opts[name]), baseline=baseline,
                                   baseline_options=_plain(opts[baseline]) if baseline else {},
                                   save_outputs=save_outputs, resume=resume,
                                   reuse_complete=reuse_complete)
                    update = prog.start(f"{name} {mode}", len(the_chunks))
                    try:
                        res = engine.run(spec, be, base, progress=update, log=say)
                    finally:
                        prog.stop()
                    results.append(res)
                    failing = [v.rule for v in res.verdicts if not v]
                    say(f"{name} {mode}: {'PASS' if res.passed else 'FAIL'} ({sum(1 for r in res.records if r.get('passed'))}"
                        f"/{len(res.records)} chunks pass{'; failing: ' + ', '.join(failing) if failing else ''})")
    finally:
        if base is not None:
            base.deactivate()

    doc = build_report(results, contract=c, model=model, model_sha256=engine.model_sha256, store=st.path)
    written: dict[str, Path] = {}
    if report:
        written["report"] = write_json(doc, report)
    if junit:
        from inspector.reports.junit import write_junit

        written["junit"] = write_junit(doc, junit)
    if markdown:
        from inspector.reports.markdown import write_markdown

        written["markdown"] = write_markdown(doc, markdown)
    return BatchResult(tuple(results), doc, written)


def _default_hooks() -> HookFactory | None:
    try:
        from inspector.state import default_hooks
    except ImportError:
        return None
    return default_hooks


def _modes(modes: Sequence[str] | str) -> list[str]:
    items = [modes] if isinstance(modes, str) else list(modes)
    out: list[str] = []
    for m in items:
        for x in (MODES if m == "both" else (m,)):
            if x not in MODES:
                raise InspectorError(f"--mode {m!r}. Note: valid choices are functional, closed-loop, both.")
            if x not in out:
                out.append(x)
    return out


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in options.items()}
