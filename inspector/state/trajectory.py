"""The state trajectory of a closed-loop run: per chunk, the cache length in and out and a fingerprint of each cache.

`TrajectoryHook` is an `inspector.engine.ChunkHook` (name ``state``). In closed loop it adds to every chunk record,
under ``extra.state``::

    {"cache_len_in": 145, "cache_len_out": 148,          # the contract's diagnostics.cache_len_input/_output
     "input_len": 57, "valid_out_len": 3,                 # the stream's length input, the frames-length output
     "fp": {"cache_last_channel":     {"norm": 12.3, "nonzero_rows": 0.57, "rows": 145, "digest": "1a2b3c4d"},
            "cache_last_channel_out": {...}, "cache_last_time": {...}, "cache_last_time_out": {...}},
     "feedback": {...}}                                    # first chunk of the run only (see `feedback_shapes`)

so the dotted names ``state.cache_len_in``, ``state.fp.cache_last_channel.norm`` … of the issue are paths into the
record. The keys ``cache_len_in``, ``cache_len_out``, ``input_len`` and ``valid_out_len`` are the ones the importer
of the seed team's streaming summaries writes (`inspector.importers.summaries.SummaryStep.state`), so a live run and
an imported summary are judged by the same code (`inspector.state.verdict`).

A fingerprint is cheap (one pass over the tensor; ~4 ms for a parakeet-size [1, 24, 256, 1024] cache) and says
whether a cache holds anything and how much: ``norm`` (L2 over the whole tensor), ``rows`` (time positions that hold
a non-zero vector, counted on the fullest batch × layer slice: for NeMo's attention cache this equals the cache
length), ``nonzero_rows`` (the same as a fraction of all batch × layer × time rows) and ``digest`` (CRC-32 of the
per-row energies: two chunks with the same digest carried the same cache). A chunk's input cache is usually the
previous chunk's output array itself; its fingerprint is then reused, not recomputed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from contracts.model import Contract, TensorSpec
from inspector.hooks import ChunkEvent, ChunkHook, RunInfo

HOOK_NAME = "state"
"""The hook's name: its per-chunk figures are stored under ``record["extra"]["state"]``."""


@dataclass(frozen=True)
class Fingerprint:
    """A cheap summary of one cache tensor.

    Attributes:
        norm: L2 norm of the whole tensor (NaN if it holds a NaN).
        rows: Time positions holding a non-zero vector, on the fullest batch × layer slice.
        nonzero_rows: Non-zero rows as a fraction of every batch × layer × time row.
        time_axis: The axis counted as time.
        digest: CRC-32 (hex) of the per-row energies.
    """

    norm: float
    rows: int
    nonzero_rows: float
    time_axis: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"norm": self.norm if math.isfinite(self.norm) else None, "rows": self.rows,
                "nonzero_rows": round(self.nonzero_rows, 6), "digest": self.digest}


def time_axis_of(spec: TensorSpec | None, array: np.ndarray, contract: Contract | None = None) -> int:
    """The time axis of a cache: the axis labelled ``time`` in the contract; else NeMo's export layout (axis 2 of the
    attention cache ``[B, L, T, D]``, the last axis of the convolution cache ``[B, L, D, T]``)."""
    if spec is not None:
        ax = spec.axis("time")
        if ax is not None and ax < array.ndim:
            return ax
    if contract is not None and spec is not None and array.ndim == 4:
        d = contract.diagnostics
        if spec.ref_name in (d.cache_time_input, d.cache_time_output):
            return 3
        return 2
    return array.ndim - 1


def fingerprint(array: np.ndarray, time_axis: int) -> Fingerprint:
    """Fingerprint one cache (any rank ≥ 2; the axes after the time axis and between layer and time are summed).

    Rows are the vectors along every axis that is neither the time axis nor one of the axes before it (batch,
    layer): for ``[B, L, T, D]`` with time axis 2 a row is ``x[b, l, t, :]``; for ``[B, L, D, T]`` with time axis 3
    it is ``x[b, l, :, t]``.
    """
    a = np.asarray(array)
    if a.ndim < 2:
        a = a.reshape(1, -1)
        time_axis = 1
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    time_axis %= a.ndim
    letters = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    keep = letters[: min(2, time_axis)] + letters[time_axis]  # (batch, layer, time): one row per position
    energy = np.einsum(f"{letters},{letters}->{keep}", a, a) if len(keep) < a.ndim else a * a
    energy = np.asarray(energy, dtype=np.float64)
    total = float(energy.sum())
    live = (energy > 0) | np.isnan(energy)
    per_slice = live.reshape(-1, live.shape[-1]).sum(axis=1) if live.ndim > 1 else live.reshape(1, -1).sum(axis=1)
    rows = int(per_slice.max()) if per_slice.size else 0
    frac = float(live.mean()) if live.size else 0.0
    digest = f"{zlib.crc32(np.ascontiguousarray(energy, dtype=np.float32).tobytes()) & 0xFFFFFFFF:08x}"
    return Fingerprint(math.sqrt(total) if total >= 0 else math.nan, rows, frac, time_axis, digest)


def scalar(array: Any) -> int | None:
    """A length tensor's value as an int (its first element for a batch); None when it is not a small integer
    tensor (e.g. a cache wrongly fed where a length belongs)."""
    if array is None:
        return None
    a = np.asarray(array)
    if a.size == 0 or a.size > 64 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        return None
    v = a.reshape(-1)[0]
    if not np.isfinite(v):
        return None
    return int(v)


@dataclass(frozen=True)
class StateNames:
    """Which tensors the state checks read, from the contract's diagnostics settings and its feedback map.

    Attributes:
        len_in, len_out: The attention-cache length input/output (empty when the contract has none).
        channel_in, time_in: The attention and convolution cache inputs (empty when absent).
        frames: The frames output movements are judged on.
        frames_len: The output holding the number of valid frames (role ``length``), if any.
        stream_len: The stream's length input (valid feature frames), if any.
        state_inputs: Every fed-back input, in feedback order.
        sources: Feedback target → source output.
    """

    len_in: str
    len_out: str
    channel_in: str
    time_in: str
    frames: str
    frames_len: str
    stream_len: str
    state_inputs: tuple[str, ...]
    sources: Mapping[str, str]

    @classmethod
    def of(cls, contract: Contract) -> "StateNames":
        d = contract.diagnostics
        ins, outs = set(contract.input_names), set(contract.output_names)
        frames = d.frames_output if d.frames_output in outs else (
            contract.frames_output.ref_name if contract.frames_output is not None else "")
        if not frames:
            frames = next((s.ref_name for s in contract.outputs if s.role != "state"), "")
        frames_len = next((s.ref_name for s in contract.outputs if s.role == "length"), "")
        stream_len = next((s.ref_name for s in contract.inputs if s.role == "stream" and s.rank == 1
                           and s.dtype.startswith("int")), "")
        return cls(
            len_in=d.cache_len_input if d.cache_len_input in ins else "",
            len_out=d.cache_len_output if d.cache_len_output in outs else "",
            channel_in=d.cache_channel_input if d.cache_channel_input in ins else "",
            time_in=d.cache_time_input if d.cache_time_input in ins else "",
            frames=frames, frames_len=frames_len, stream_len=stream_len,
            state_inputs=contract.state_inputs, sources={f.target: f.source for f in contract.feedback},
        )

    def role(self, name: str) -> str:
        """``attention``, ``conv``, ``length`` or ``state`` for a state input."""
        if name == self.channel_in:
            return "attention"
        if name == self.time_in:
            return "conv"
        if name == self.len_in:
            return "length"
        return "state"


def feedback_shapes(contract: Contract, feeds: Mapping[str, np.ndarray],
                    outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Does each fed-back output fit the input it feeds? Shapes and dtypes of one chunk, edge by edge.

    Args:
        contract: Its feedback map (with padding rules).
        feeds: What the chunk was fed (the state inputs as they should look).
        outputs: What it returned.

    Returns:
        ``{"edges": [{"source", "target", "source_shape", "source_dtype", "target_shape", "target_dtype", "ok",
        "fits": [outputs that would fit the target]}], "ok": bool}``.
    """
    edges = []
    for fb in contract.feedback:
        src, tgt = outputs.get(fb.source), feeds.get(fb.target)
        if src is None or tgt is None:
            continue
        tgt = np.asarray(tgt)
        ok = fits_input(np.asarray(src), tgt, fb.padding)
        fits = [name for name, out in outputs.items() if fits_input(np.asarray(out), tgt, fb.padding)]
        edges.append({"source": fb.source, "target": fb.target, "source_shape": list(np.shape(src)),
                      "source_dtype": str(np.asarray(src).dtype), "target_shape": list(tgt.shape),
                      "target_dtype": str(tgt.dtype), "ok": ok, "fits": fits})
    return {"edges": edges, "ok": all(e["ok"] for e in edges)}


def fits_input(out: np.ndarray, target: np.ndarray, padding: Any = None) -> bool:
    """Whether output `out`, after the target's padding rule, has `target`'s shape and dtype kind (float/int)."""
    from contracts.feedback import pad_to

    if dtype_kind(out.dtype) != dtype_kind(target.dtype):
        return False
    if padding is not None and out.ndim == target.ndim and out.ndim > 0:
        try:
            out = pad_to(out, padding)
        except Exception:  # noqa: BLE001 — a pad rule that cannot apply means it does not fit
            return False
    return tuple(out.shape) == tuple(target.shape)


def dtype_kind(dtype: Any) -> str:
    """``float``, ``int`` or numpy's kind letter."""
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.floating):
        return "float"
    if np.issubdtype(dt, np.integer):
        return "int"
    return dt.kind


class TrajectoryHook(ChunkHook):
    """Records the state trajectory of every closed-loop chunk (see the module docstring); no extra backend calls.

    Args:
        fingerprints: Also fingerprint every cache (set False to record the lengths only).
    """

    name = HOOK_NAME

    def __init__(self, fingerprints: bool = True) -> None:
        self.fingerprints = fingerprints
        self.run: RunInfo | None = None
        self.names: StateNames | None = None
        self.closed = False
        self._specs: dict[str, TensorSpec] = {}
        self._memo: dict[int, tuple[Any, Fingerprint]] = {}
        self._shapes_checked = False

    # --- ChunkHook ---------------------------------------------------------------------------------------------
    def start(self, run: RunInfo) -> None:
        self.run = run
        self.closed = run.spec.mode == "closed-loop"
        self.names = StateNames.of(run.contract)
        self._specs = {s.ref_name: s for s in (*run.contract.inputs, *run.contract.outputs)}
        self._memo = {}
        self._shapes_checked = False

    def chunk(self, event: ChunkEvent) -> Mapping[str, Any] | None:
        if not self.closed or self.names is None:
            return None
        return self.record(event)

    def replay(self, event: ChunkEvent) -> None:
        if self.closed and event.error is None and event.outputs:
            self._shapes_checked = True  # the recorded first chunk holds the check

    # --- the record --------------------------------------------------------------------------------------------
    def record(self, event: ChunkEvent) -> dict[str, Any]:
        """The ``state`` figures of one chunk."""
        n = self.names
        assert n is not None and self.run is not None
        feeds, outs = event.feeds, event.outputs
        rec: dict[str, Any] = {}
        if n.len_in:
            rec["cache_len_in"] = scalar(feeds.get(n.len_in))
        if n.len_out:
            rec["cache_len_out"] = scalar(outs.get(n.len_out)) if outs else None
        if n.stream_len:
            rec["input_len"] = scalar(feeds.get(n.stream_len))
        if n.frames_len and outs:
            rec["valid_out_len"] = scalar(outs.get(n.frames_len))
        if event.error is not None:
            rec["backend_error"] = True
        if self.fingerprints:
            fp: dict[str, Any] = {}
            memo: dict[int, tuple[Any, Fingerprint]] = {}
            for target in n.state_inputs:
                arr = feeds.get(target)
                if arr is not None and np.ndim(arr) >= 2:
                    fp[target] = self._fp(target, arr, memo).to_dict()
            if outs:
                for target in n.state_inputs:
                    src = n.sources.get(target, "")
                    arr = outs.get(src)
                    if arr is not None and np.ndim(arr) >= 2:
                        fp[src] = self._fp(src, arr, memo).to_dict()
            self._memo = memo
            rec["fp"] = fp
        if not self._shapes_checked and event.error is None and outs:
            rec["feedback"] = feedback_shapes(self.run.contract, feeds, outs)
            self._shapes_checked = True
        return rec

    def _fp(self, name: str, arr: np.ndarray, memo: dict[int, tuple[Any, Fingerprint]]) -> Fingerprint:
        key = id(arr)
        hit = self._memo.get(key) or memo.get(key)
        if hit is not None and hit[0] is arr:
            memo[key] = hit
            return hit[1]
        spec = self._specs.get(name)
        f = fingerprint(arr, time_axis_of(spec, np.asarray(arr), self.run.contract if self.run else None))
        memo[key] = (arr, f)  # keep the array alive so its id is not reused while memoised
        return f


# --- reading trajectories back from chunk records ------------------------------------------------------------------

def state_of(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``state`` figures of one chunk record: a live run's ``extra.state`` or an imported summary's ``state``."""
    extra = record.get("extra")
    if isinstance(extra, Mapping) and isinstance(extra.get(HOOK_NAME), Mapping):
        return extra[HOOK_NAME]
    st = record.get("state")
    return st if isinstance(st, Mapping) else None


@dataclass(frozen=True)
class Trajectory:
    """A run's state trajectory, one entry per chunk (None where a chunk did not say).

    Attributes:
        chunks: Chunk indices.
        cache_len_in, cache_len_out: Attention-cache length fed in and returned.
        input_len: The stream's valid input frames.
        valid_out_len: Valid output frames.
        errors: Chunks whose backend raised.
        fp: Tensor name → its fingerprints per chunk (dicts as `Fingerprint.to_dict`, or None).
    """

    chunks: tuple[int, ...]
    cache_len_in: tuple[int | None, ...]
    cache_len_out: tuple[int | None, ...]
    input_len: tuple[int | None, ...]
    valid_out_len: tuple[int | None, ...]
    errors: tuple[int, ...]
    fp: Mapping[str, tuple[Mapping[str, Any] | None, ...]]

    @property
    def has_lengths(self) -> bool:
        return any(v is not None for v in self.cache_len_out) or any(v is not None for v in self.cache_len_in)

    def fp_values(self, name: str, key: str) -> list[tuple[int, Any]]:
        """(chunk, value) for one fingerprint field of one tensor, where recorded."""
        return [(c, f.get(key)) for c, f in zip(self.chunks, self.fp.get(name, ())) if f is not None]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"chunks": list(self.chunks), "cache_len_in": list(self.cache_len_in),
                               "cache_len_out": list(self.cache_len_out), "input_len": list(self.input_len),
                               "valid_out_len": list(self.valid_out_len), "errors": list(self.errors)}
        out["fp"] = {name: {k: [None if f is None else f.get(k) for f in fps] for k in ("norm", "rows",
                                                                                       "nonzero_rows")}
                     for name, fps in self.fp.items()}
        return out


def trajectory_of(records: Sequence[Mapping[str, Any]]) -> Trajectory | None:
    """The trajectory recorded in a run's chunk records (sorted by chunk); None if no record has one."""
    recs = sorted(records, key=lambda r: r["chunk"])
    states = [state_of(r) for r in recs]
    if not any(s is not None for s in states):
        return None
    names: list[str] = []
    for s in states:
        for n in (s or {}).get("fp", {}) or {}:
            if n not in names:
                names.append(n)

    def col(key: str) -> tuple[int | None, ...]:
        return tuple(None if s is None else s.get(key) for s in states)

    errors = tuple(r["chunk"] for r, s in zip(recs, states)
                   if r.get("status") == "error" or (s is not None and s.get("backend_error")))
    fp = {n: tuple(None if s is None else (s.get("fp") or {}).get(n) for s in states) for n in names}
    return Trajectory(tuple(r["chunk"] for r in recs), col("cache_len_in"), col("cache_len_out"), col("input_len"),
                      col("valid_out_len"), errors, fp)
