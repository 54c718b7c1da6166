"""The inspector's door to the store: every read the screens and widgets make goes through `InspectorData` (the
jobs of `inspector.tui.jobs` open their own handles: a run writes through one opened for appending).

Screens and widgets never touch `store.Store`; they ask this adapter for plain data (`RunInfo`, `ChunkRecord`,
`TensorPair`, `RuleRow`) from worker threads. Reads are cached (small LRU caches, guarded by a lock) so stepping back
and forth, switching tensors or views does not read Zarr again. `refresh()` re-reads the run list and adds the chunks
that runs still in progress committed since, so results written by a batch run or by a run started from the app
appear as they arrive.

No Textual import here: the tests and the benchmark use it directly as well.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Generic, Hashable, Mapping, TypeVar

import numpy as np

from inspector.tui.axes import TensorAxes, axes_for
from inspector.tui.records import (
    STATE_KINDS, ChunkRecord, RuleRow, RunInfo, fmt, parse_chunk, parse_summary, summary_verdict,
)
from inspector.tui.tensors import StoredTensor, TensorPair

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

FRAMES_OUTPUT = "encoder_output"
_NOTHING = np.empty((0,), np.float32)
"""Cached in place of a tensor a run did not save (the LRU stores no None)."""


DIGEST_CHARS = 4
"""Hex digits of the model's sha256 in a run's label (``m.onnx#3fa2``): enough to tell two exports apart."""
NOT_OPTIONS = ("save_outputs", "contract_digest", "importer", "judged_mode", "report_claims", "extra")
"""Recorded options that do not change what a backend computes (left out of run labels; the importers record
where an imported run came from this way)."""
OPTION_CHARS = 24
"""Longer option values (paths, digests) are left out of labels: the run selector shows the run's record."""


def options_text(options: Mapping[str, Any]) -> str:
    """``tf32=off io_binding=off``: a run's backend options as its label shows them (``use_x`` → ``x``; on/off for
    switches); a baseline's options are left out (the baseline is named apart)."""
    bits = []
    for key in sorted(options):
        if key in NOT_OPTIONS or key.startswith("baseline."):
            continue
        value = options[key]
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > OPTION_CHARS:
            continue
        name = key.removeprefix("use_")
        switch = isinstance(value, bool) or key.startswith("use_") and str(value).lower() in ("0", "1", "true",
                                                                                              "false")
        if switch:
            text = "on" if str(value).lower() in ("1", "true") else "off"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        bits.append(f"{name}={text}")
    return " ".join(bits)


def distinct_labels(runs: list[RunInfo]) -> dict[str, str]:
    """run_id → its legend label (`RunInfo.short`), made unique: runs that would read the same get the time they
    started (or their id's tail), so a plot legend never shows one label twice."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.short] = counts.get(run.short, 0) + 1
    labels = {}
    for run in runs:
        label = run.short
        if counts[label] > 1:
            when = run.started[11:19] if len(run.started) >= 19 else run.run_id[-6:]
            label = f"{label} @{when}"
        labels[run.run_id] = label
    return labels


def _saves_outputs(value: Any) -> bool | None:
    """Whether a run kept backend outputs, from its recorded ``save_outputs``: a bool (older runs) or ``all`` /
    ``failing`` / ``none`` (`run --batch` saves the failing chunks' by default); None when not recorded."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", "false", "0", "no", ""):
            return False
        return True  # "all", "failing" (heatmaps where a chunk fails), "true"
    return bool(value)


def _damage_text(entry: Mapping[str, Any]) -> str:
    """``stream 's' chunk 3: <problem>`` or ``run R: <problem>`` of one `Store.info` damage entry."""
    if "run" in entry:
        head = f"run {entry['run']}"
    else:
        head = f"stream {entry.get('stream', '?')!r} chunk {entry.get('chunk', '?')}"
    problem = str(entry.get("problem") or entry.get("error") or "")
    return f"{head}: {problem[:120]}" if problem else head


def _stored(folder: Path) -> StoredTensor:
    """A lazily read stored array (its metadata is read now: shape and dtype)."""
    from store.arrays import array_meta

    shape, dtype = array_meta(folder)
    return StoredTensor(folder, shape, dtype)


class _LRU(Generic[K, V]):
    """A tiny thread-safe LRU cache (workers fill it, the UI thread may read it)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get_or(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        return value if value is not None else self.put(key, make())

    def drop(self, predicate: Callable[[K], bool]) -> None:
        with self._lock:
            for key in [k for k in self._data if predicate(k)]:
                del self._data[key]

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._data

    def drop_where(self, predicate: Callable[[K, V], bool]) -> None:
        """Drop the entries whose key and value `predicate` accepts (it must not use this cache)."""
        with self._lock:
            for key in [k for k, v in self._data.items() if predicate(k, v)]:
                del self._data[key]

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._data)


def _load_contract(contract: Any) -> Any:
    """A `contracts.model.Contract` from a Contract, a path or a shipped name; None when it cannot be loaded."""
    if contract is None or contract == "":
        return None
    if not isinstance(contract, (str, Path)):
        return contract
    from contracts.load import load_contract  # the contracts package is light, but only needed here

    return load_contract(contract)


class InspectorData:
    """Read access to one store for the inspector.

    Args:
        store: An open `store.Store` (read mode is enough).
        contract: A `Contract`, a path to a contract file or a shipped contract name; when None, the contract the
            store names (its ``contract`` attribute) is tried, else the app runs without one (axis labels are
            guessed, no thresholds in plots).
        model: The ONNX model path: runs started from the app, diagnostics and bundles run it.
    """

    def __init__(self, store: Any, contract: Any = None, model: str | Path | None = None) -> None:
        self.store = store
        self.model = Path(model) if model else None
        self.contract_error = ""
        self.contract = None
        try:
            self.contract = _load_contract(contract)
        except Exception as exc:  # noqa: BLE001 — a bad --contract is reported by the command before we get here
            self.contract_error = str(exc)
        if self.contract is None and contract is None:
            name = (getattr(store, "attrs", {}) or {}).get("contract")
            if isinstance(name, str) and name:
                try:
                    self.contract = _load_contract(name)
                except Exception as exc:  # noqa: BLE001 — a store naming an unknown contract still opens
                    self.contract_error = f"the store names contract {name!r}, which could not be loaded: {exc}"
        self._lock = threading.Lock()
        self._runs: list[RunInfo] | None = None
        self._records: dict[str, Any] = {}
        self._metrics = _LRU[tuple[str, str], dict[int, ChunkRecord]](64)
        self._refs = _LRU[tuple[str, int, str], np.ndarray](24)
        self._outs = _LRU[tuple[str, str, int, str], np.ndarray](16)
        self._pairs = _LRU[tuple[str, str, int, str], TensorPair](16)
        self._metas = _LRU[tuple[str, int], Mapping[str, Any]](256)
        self._with_reference: set[str] = set()
        self._readers = _LRU[str, Any](64)
        self._chunk_names: dict[str, tuple[str, ...]] = {}

    # ---- opening ------------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, contract: Any = None, model: str | Path | None = None) -> "InspectorData":
        """Open the store at `path` read-only (raises `store.StoreError` with the store's own message)."""
        from store import Store

        return cls(Store.open(path, mode="r"), contract=contract, model=model)

    @property
    def path(self) -> str:
        return str(getattr(self.store, "path", ""))

    @property
    def name(self) -> str:
        """The store's folder name (titles show it; the full path is in `path`)."""
        return Path(self.path).name if self.path else ""

    @property
    def contract_name(self) -> str:
        return getattr(self.contract, "name", "") or ""

    # ---- streams and chunks ---------------------------------------------------------------------------------------
    def streams(self) -> list[str]:
        """The store's streams; for a store of imported runs only (no reference chunks), the runs' streams."""
        streams = list(self.store.streams())
        if streams:
            return streams
        return sorted({r.stream for r in self.runs() if r.stream})

    def has_reference(self, stream: str) -> bool:
        """Whether the store holds reference chunks of `stream` (a store of imported runs may hold none; once
        found they stay: a conversion only adds chunks)."""
        if stream in self._with_reference:
            return True
        found = bool(self.store.chunk_indices(stream))
        if found:
            self._with_reference.add(stream)
        return found

    def chunk_indices(self, stream: str) -> list[int]:
        """The stream's reference chunks; without any, the chunks its runs recorded (an imported run)."""
        indices = list(self.store.chunk_indices(stream))
        if indices:
            return indices
        found: set[int] = set()
        for run in self.runs(stream):
            found.update(self.chunk_records(run.run_id, stream))
        return sorted(found)

    def condition(self) -> list[tuple[str, str]]:
        """What is wrong with the store as a whole, as (severity, text) for the main screen's banner: a conversion
        that stopped before the end (and how to resume it), one running now, damaged chunks or runs, no reference
        chunks. Reads metadata only (`Store.info`); call it from a worker."""
        info = self.store.info()
        attrs = getattr(self.store, "attrs", {}) or {}
        out: list[tuple[str, str]] = []
        conversion = info.get("conversion") or attrs.get("conversion") or {}
        status = conversion.get("status") if isinstance(conversion, dict) else None
        source = info.get("source") or "REF.jsonl"
        chunks = info.get("total_chunks", 0)
        if info.get("converting_now"):
            out.append(("information", f"Being converted now ({info['converting_now']}): {chunks} chunks so far; "
                                       "ctrl+r (or the poll) shows the chunks as they land."))
        elif status and status != "complete":
            out.append(("warning", f"Unfinished conversion: {chunks} chunks converted, then it stopped (status "
                                   f"{status!r}); more chunks may follow in the source. Resume it with "
                                   f"`inspector convert {source} {self.path}` (the converted chunks are kept)."))
        damaged = info.get("damaged") or []
        if damaged:
            where = "; ".join(_damage_text(d) for d in damaged[:3]) + (" …" if len(damaged) > 3 else "")
            out.append(("error", f"Damaged store: {len(damaged)} unreadable chunk(s) or run(s): {where}. "
                                 f"`inspector info {self.path}` lists them; `inspector convert {source} {self.path}` "
                                 "rewrites damaged reference chunks."))
        if not list(self.store.streams()) and self.runs():
            out.append(("information", "No reference chunks in this store: it holds imported runs only, shown "
                                       "with their figures (no heatmaps). Convert the reference JSONL into it for "
                                       "tensors."))
        return out

    def output_names(self, stream: str) -> tuple[str, ...]:
        """The stream's output tensors, in the contract's order when there is one (frames first otherwise); for a
        stream without reference chunks, the tensors its runs recorded figures for."""
        names = self._chunk_names.get(stream)
        if names is None:
            indices = list(self.store.chunk_indices(stream))
            if indices:
                names = tuple(self.store.chunk(stream, indices[0]).output_names())
            else:
                found: dict[str, None] = {}
                for run in self.runs(stream):
                    for rec in self.chunk_records(run.run_id, stream).values():
                        found.update(dict.fromkeys(rec.tensors))
                names = tuple(found)
            if self.contract is not None:
                order = {n: i for i, n in enumerate(self.contract.output_names)}
                names = tuple(sorted(names, key=lambda n: (order.get(n, len(order)), n)))
            elif FRAMES_OUTPUT in names:
                names = (FRAMES_OUTPUT, *[n for n in names if n != FRAMES_OUTPUT])
            self._chunk_names[stream] = names
        return names

    def chunk_meta(self, stream: str, index: int) -> Mapping[str, Any]:
        """The chunk's metadata from the reference file (read once: a committed chunk never changes)."""
        if not self.has_reference(stream):  # a store of imported runs: no reference chunk, no metadata
            return {}
        return self._metas.get_or((stream, index), lambda: dict(self.store.chunk(stream, index).meta or {}))

    def cached_step(self, stream: str, index: int, tensor: str, run_id: str) -> tuple[TensorPair, Mapping[str, Any]] | None:
        """The pair and metadata of a chunk when both were read already (by the read-ahead): no I/O, so the UI
        thread may ask; None otherwise."""
        pair = self._pairs.get((stream, tensor, index, run_id))
        meta = self._metas.get((stream, index))
        if pair is None or meta is None:
            return None
        if run_id and (run_id, stream) not in self._metrics:
            return None
        return pair, meta

    def axes(self, tensor: str, shape: tuple[int, ...]) -> TensorAxes:
        labels = None
        if self.contract is not None:
            try:
                labels = self.contract.tensor(tensor).axes
            except KeyError:
                labels = None
        return axes_for(tensor, shape, labels)

    # ---- runs ---------------------------------------------------------------------------------------------------
    def runs(self, stream: str | None = None) -> list[RunInfo]:
        """Recorded runs (of one stream when given), oldest first."""
        with self._lock:
            if self._runs is None:
                infos = []
                for rec in self.store.runs():
                    self._records[rec.run_id] = rec
                    infos.append(self._run_info(rec))
                infos.sort(key=lambda r: (r.started, r.run_id))
                self._runs = infos
            runs = list(self._runs)
        return [r for r in runs if stream is None or r.stream == stream]

    def run_info(self, run_id: str) -> RunInfo | None:
        return next((r for r in self.runs() if r.run_id == run_id), None)

    @staticmethod
    def _run_info(rec: Any) -> RunInfo:
        info = rec.backend_info or {}
        options = rec.options or {}
        saves = options.get("save_outputs", (rec.environment or {}).get("save_outputs"))
        return RunInfo(
            run_id=rec.run_id, backend=rec.backend, mode=rec.mode, stream=rec.stream, status=rec.status,
            n_chunks=len(rec.chunks or ()), baseline=rec.baseline or "",
            precision=str(info.get("precision", "") or options.get("precision", "") or ""),
            verdict=summary_verdict(rec.summary), saves_outputs=_saves_outputs(saves),
            started=rec.started or "", model=Path(str(rec.model or "")).name,
            digest=str((rec.environment or {}).get("model_sha256") or "")[:DIGEST_CHARS],
            options=options_text(options),
        )

    def refresh(self) -> bool:
        """Re-read the run list and pick up new chunk results of runs not complete; True when anything changed.

        Runs still going are read incrementally: only chunks committed since the last look are read (a run of
        hundreds of chunks started from the app refreshes once per chunk).
        """
        with self._lock:
            before = [(r.run_id, r.status, r.verdict) for r in (self._runs or [])]
            unfinished = {r.run_id for r in (self._runs or []) if r.status != "complete"}
            self._runs = None
        after = [(r.run_id, r.status, r.verdict) for r in self.runs()]
        changed = before != after
        for run_id in unfinished:
            self._readers.drop(lambda k, run_id=run_id: k == run_id)  # its record (status, summary) moved on
            for (rid, stream) in [k for k in self._metrics.keys() if k[0] == run_id]:
                if self._read_new_chunks(run_id, stream):
                    changed = True
                    # a chunk whose result was missing may have its outputs now
                    self._pairs.drop_where(lambda k, pair, rid=rid: k[3] == rid and not pair.has_backend)
                    self._outs.drop_where(lambda k, value, rid=rid: k[0] == rid and value is _NOTHING)
        return changed

    def _read_new_chunks(self, run_id: str, stream: str) -> bool:
        """Add the chunks `run_id` committed since its metrics were cached; True when there were any."""
        cached = self._metrics.get((run_id, stream))
        if cached is None:
            return True
        reader = self.reader(run_id)
        new = sorted(set(reader.done_chunks(stream)) - set(cached))
        if not new:
            return False
        grown = dict(cached)
        for index in new:
            raw = reader.chunk_metrics(stream, index)
            if raw is not None:
                grown[int(index)] = parse_chunk(int(index), raw)
        self._metrics.put((run_id, stream), grown)
        return True

    def reader(self, run_id: str) -> Any:
        """The store's read side of a run (`store.api.RunReader`), kept while the run list does not change."""
        return self._readers.get_or(run_id, lambda: self.store.run(run_id))

    def clear_caches(self) -> None:
        """Forget every tensor read so far (the next read goes to the store again)."""
        for cache in (self._refs, self._outs, self._pairs):
            cache.drop(lambda _key: True)

    def chunk_records(self, run_id: str, stream: str) -> dict[int, ChunkRecord]:
        """Every committed chunk's record of a run (read once; `refresh()` adds what runs in progress commit)."""
        def load() -> dict[int, ChunkRecord]:
            raw = self.reader(run_id).all_metrics(stream)
            return {int(i): parse_chunk(int(i), m) for i, m in raw.items()}

        return self._metrics.get_or((run_id, stream), load)

    def chunk_record(self, run_id: str, stream: str, index: int) -> ChunkRecord:
        return self.chunk_records(run_id, stream).get(index) or parse_chunk(index, None)

    def run_rules(self, run_id: str) -> tuple[RuleRow, ...]:
        """The run's acceptance verdicts (and state/alarm verdicts) from its summary; empty while it runs."""
        self.runs()
        rec = self._records.get(run_id)
        return parse_summary(rec.summary if rec is not None else None)

    def run_record(self, run_id: str) -> Any:
        self.runs()
        return self._records.get(run_id)

    def thresholds(self, run_id: str, tensor: str, metric: str = "max_abs") -> list[tuple[str, float]]:
        """Lines to draw on the error plot: the tensor's atol and the acceptance rules' thresholds on `metric`."""
        lines: list[tuple[str, float]] = []
        if self.contract is None:
            return lines
        info = self.run_info(run_id)
        backend, precision = (info.backend, info.precision) if info else ("", "")
        # The engine's own resolver (`Contract.tolerance_for` / `threshold_for`): the line drawn is the one the run
        # was judged with (before any tightening), including the fallback to less specific tolerance sets.
        tol = self.contract.tolerance_for(tensor, backend, precision)
        if tol.atol > 0:
            lines.append(("atol", float(tol.atol)))
        mode = info.mode if info else ""
        for acc in getattr(self.contract, "acceptance", ()):
            if acc.kind != "quantile" or acc.tensor != tensor or acc.metric != metric:
                continue
            if mode in ("functional", "closed-loop") and mode not in acc.modes:
                continue
            value = self.contract.threshold_for(acc.id, backend, precision)
            if value > 0:
                lines.append((f"P{acc.q:g}", value))
        return lines

    # ---- tensors ------------------------------------------------------------------------------------------------
    def reference(self, stream: str, index: int, tensor: str) -> np.ndarray:
        return self._refs.get_or((stream, index, tensor),
                                 lambda: np.asarray(self.store.chunk(stream, index).output(tensor)))

    def backend_output(self, run_id: str, stream: str, index: int, tensor: str) -> np.ndarray | None:
        """A run's saved output `tensor` of a chunk, or None when the run did not save it (or not yet).

        Reads that one tensor when the store's run reader offers `output(stream, index, name)`; otherwise all of
        the chunk's outputs are read (`outputs()`) and the other tensors are kept for the next tensor switch.
        """
        key = (run_id, stream, index, tensor)
        cached = self._outs.get(key)
        if cached is not None:
            return None if cached is _NOTHING else cached
        reader = self.reader(run_id)
        single = getattr(reader, "output", None)
        value: np.ndarray | None
        if callable(single):
            if tensor not in reader.output_names(stream, index):
                value = None
            else:
                value = np.asarray(single(stream, index, tensor))
        else:
            outs = reader.outputs(stream, index) or {}
            for name, arr in outs.items():
                if name != tensor:
                    self._outs.put((run_id, stream, index, name), np.asarray(arr))
            value = np.asarray(outs[tensor]) if tensor in outs else None
        self._outs.put(key, value if value is not None else _NOTHING)
        return value

    def stored_reference(self, stream: str, index: int, tensor: str) -> np.ndarray | StoredTensor:
        """The reference output `tensor` of a chunk as a `StoredTensor` (read one layer at a time) when the store
        says where its array lives, else read whole (`reference`)."""
        chunk = self.store.chunk(stream, index)
        folder_of = getattr(chunk, "_array_folder", None)
        if folder_of is None or tensor not in chunk.output_names():
            return self.reference(stream, index, tensor)  # (raises the store's error for an unknown tensor)
        return _stored(folder_of("outputs", tensor))

    def stored_output(self, run_id: str, stream: str, index: int, tensor: str) -> np.ndarray | StoredTensor | None:
        """A run's saved output `tensor` of a chunk as a `StoredTensor`, None when the run did not save it (or not
        yet); read whole (`backend_output`) from a store that does not say where its arrays live."""
        reader = self.reader(run_id)
        folder_of = getattr(reader, "_outputs_folder", None)
        if folder_of is None or not callable(getattr(reader, "output_names", None)):
            return self.backend_output(run_id, stream, index, tensor)
        if tensor not in reader.output_names(stream, index):
            return None
        from store.layout import array_folder

        return _stored(array_folder(folder_of(stream, index), "outputs", tensor))

    def tensor_pair(self, stream: str, index: int, tensor: str, run_id: str = "") -> TensorPair:
        """The reference and (when saved) the run's output of one tensor of one chunk.

        A run compared against another run (its `baseline`) shows that run's saved output as the reference side
        when it has one.
        """
        key = (stream, tensor, index, run_id)
        cached = self._pairs.get(key)
        if cached is not None:
            return cached
        # (Reading the backend's output on a second thread while this one reads the reference was tried: on two
        # cores it made a cold parakeet-size step slower, 34 vs 25 ms median, as Blosc already decompresses on
        # several threads.)
        if not self.has_reference(stream):  # a store of imported runs: figures, no tensors
            return self._pairs.put(key, TensorPair(
                name=tensor, stream=stream, chunk=index, run_id=run_id, reference=np.zeros((0,), np.float32),
                backend=None, axes=self.axes(tensor, (0,)),
                note="no reference chunks in this store (imported runs only): figures, no heatmap"))
        ref = self.stored_reference(stream, index, tensor)
        backend = None
        note = ""
        worst = None
        recorded_max = None
        against_reference = True
        if run_id:
            info = self.run_info(run_id)
            out = self.stored_output(run_id, stream, index, tensor)
            if out is None:
                rec = self.chunk_record(run_id, stream, index)
                if rec.status == "missing":
                    note = f"run {info.label if info else run_id} has no result for chunk {index} yet"
                elif rec.status == "error":
                    note = f"the backend failed on chunk {index}: {rec.error}"
                elif info is not None and info.mode == "imported":
                    note = "an imported run holds figures only, no tensors: the reference is shown"
                else:
                    saved = str((self.run_record(run_id).environment or {}).get("save_outputs", "")).lower() \
                        if self.run_record(run_id) is not None else ""
                    note = ("outputs saved for failing chunks only, and this chunk passed: the reference is shown"
                            if saved == "failing" else
                            "metrics only: record the run with --save-outputs for error heatmaps")
            else:
                backend = out
                if info is not None and info.baseline and info.baseline not in ("reference", run_id):
                    # The run was judged against another backend; its outputs are not stored, so the heatmap
                    # compares with the reference and says so.
                    note = (f"judged against {info.baseline}; the heatmap compares with the reference")
                    against_reference = False
                if backend.shape != ref.shape:
                    note = f"backend shape {list(backend.shape)} differs from the reference's {list(ref.shape)}"
            fig = self.chunk_record(run_id, stream, index).tensors.get(tensor)
            # the recorded figures describe backend vs reference only when the run was judged against it
            if fig is not None and against_reference and backend is not None and backend.shape == ref.shape:
                if fig.worst_index is not None and len(fig.worst_index) == ref.ndim:
                    worst = fig.worst_index
                if fig.max_abs is not None and not fig.nonfinite:
                    recorded_max = fig.max_abs
        pair = TensorPair(name=tensor, stream=stream, chunk=index, run_id=run_id, reference=ref, backend=backend,
                          axes=self.axes(tensor, tuple(ref.shape)), note=note, worst_index=worst,
                          recorded_max=recorded_max)
        return self._pairs.put(key, pair)

    def is_cached(self, stream: str, index: int, tensor: str, run_id: str = "") -> bool:
        return (stream, tensor, index, run_id) in self._pairs

    # ---- plots --------------------------------------------------------------------------------------------------
    def series(self, run_id: str, stream: str, tensor: str, metric: str = "max_abs") -> tuple[list[int], list[float]]:
        """(chunk indices, values) of one metric of one tensor over a run, finite values only."""
        xs, ys = [], []
        for index, rec in sorted(self.chunk_records(run_id, stream).items()):
            value = rec.figure(tensor, metric)
            if value is not None and value == value and abs(value) != float("inf"):
                xs.append(index)
                ys.append(float(value))
        return xs, ys

    def trajectory(self, run_id: str, stream: str) -> Any:
        """The run's state trajectory (`inspector.state.trajectory.Trajectory`: cache length in/out and fingerprints
        per chunk, from live runs' ``extra.state`` or imported summaries' ``state``); None when it recorded none."""
        records = self.chunk_records(run_id, stream)
        if not any(rec.state is not None for rec in records.values()):
            return None
        from inspector.state.trajectory import trajectory_of

        return trajectory_of([{"chunk": i, **rec.raw} for i, rec in sorted(records.items())])

    def state_title(self, run_id: str) -> str:
        """``state · cache length per chunk · carried ✓ · trajectory ✓``: the plot's title with the run's state
        verdicts."""
        marks = {True: "✓", False: "✗", None: "–"}
        bits = ["state · cache length per chunk"]
        for row in self.run_rules(run_id):
            if row.kind in STATE_KINDS:
                bits.append(f"{row.kind.removeprefix('state_')} {marks[row.ok]}")
        return " · ".join(bits)

    def describe_run(self, run_id: str) -> str:
        info = self.run_info(run_id)
        if info is None:
            return "reference only"
        bits = [info.label]
        if info.precision:
            bits.append(info.precision)
        if info.status != "complete":
            bits.append(info.status)
        if info.baseline:
            bits.append(f"vs {info.baseline}")
        return " · ".join(bits)


__all__ = ["InspectorData", "fmt"]
