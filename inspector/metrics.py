"""The comparison kernel: every per-tensor figure of one tensor against its reference, computed in one place.

The engine (per chunk and output), the triage (per graph tensor), the perturbation checks (an output against its
unperturbed self) and the cache diagnostics all take their figures from here, so a figure means the same wherever
it is shown. The kernel is a pure function of (reference, candidate, settings):

    figures = compare(reference, candidate, CompareSettings(atol=1e-4, rtol=0.0, frame_axis=2), name="enc")

and returns a frozen, truthy `TensorMetrics` (``bool(m)`` is ``m.passed``), in the spirit of Polygraphy's
``OutputCompareResult``:

- ``max_abs``, ``mean_abs``, ``p99_abs``: of ``|out - ref|`` over the positions where both are finite;
- ``rel_l2``: ``||out - ref||_2 / ||ref||_2``; ``max_rel``: ``max |out - ref| / (|ref| + eps)``;
- ``cosine``: cosine similarity of the two tensors as flat vectors;
- ``worst_index``: where ``|out - ref|`` is largest, unravelled in the tensor's (model-layout) shape;
- ``nonfinite_ref`` / ``nonfinite_out``: NaN/Inf counts of each side, ``nonfinite_mismatch``: positions where the
  two sides disagree about being finite (or hold different non-finite values). A NaN that the reference also has at
  the same place is not an error of the backend; any other non-finite value fails the tensor;
- ``n_fail``: elements outside ``atol + rtol * |ref|``; ``passed``: no such element, no non-finite mismatch and the
  same shape;
- for the frames output (``frame_axis`` given): ``frame_cosine`` per output frame, ``min_frame_cosine`` and
  ``diverging_frames`` (frames holding at least one element outside the tolerance).

Three outcomes: a pass, a fail (with a message), or *no figure* (``determined`` False: an empty tensor has no
element to judge). "No figure" is never a pass: ``passed`` is False and callers report the tensor as undetermined.
A shape mismatch is a failed comparison with a message, never an exception.

Other array types (a torch tensor on a GPU) plug in behind the same function with `register_kernel`; numpy is the
default implementation. Cost of the numpy one: the figures come from one sweep over cache-sized blocks (large
tensors; on a thread pool on machines with >= 4 cores) or from whole-array passes (small ones), in float32 with
exact cross-block sums; a parakeet-size cache, 6.3 M values, takes ~25 ms on one core.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

DEFAULT_EPS = 1e-6
"""Added to ``|ref|`` before the relative difference, so zeros in the reference do not divide by zero."""

_BLOCK = 1 << 16
"""Arrays up to this size are summed in float64; larger ones with numpy's pairwise float32 summation."""


@dataclass(frozen=True)
class CompareSettings:
    """What a comparison is judged against (the figures themselves do not depend on it, except `n_fail`/`passed`).

    Attributes:
        atol: Absolute tolerance; None = no tolerance known (the tensor then passes unless shapes or finiteness
            disagree; its figures are still reported).
        rtol: Relative tolerance (0 when None).
        frame_axis: For the frames output: the axis that indexes frames (per-frame cosine, diverging frames).
        eps: Added to ``|ref|`` in ``max_rel``.
    """

    atol: float | None = None
    rtol: float | None = None
    frame_axis: int | None = None
    eps: float = DEFAULT_EPS


@dataclass(frozen=True)
class TensorMetrics:
    """How one backend tensor compares with its reference in one chunk."""

    name: str
    passed: bool
    shape: tuple[int, ...]
    ref_shape: tuple[int, ...]
    atol: float | None
    rtol: float | None
    max_abs: float = 0.0
    mean_abs: float = 0.0
    p99_abs: float = 0.0
    rel_l2: float = 0.0
    max_rel: float = 0.0
    cosine: float = 1.0
    worst_index: tuple[int, ...] | None = None
    worst_ref: float | None = None
    worst_out: float | None = None
    n_fail: int = 0
    size: int = 0
    nonfinite_ref: int = 0
    nonfinite_out: int = 0
    nonfinite_mismatch: int = 0
    frame_cosine: tuple[float, ...] | None = None
    min_frame_cosine: float | None = None
    diverging_frames: int | None = None
    n_frames: int | None = None
    message: str = ""
    determined: bool = True
    """False when there is no figure to judge (an empty tensor): then `passed` is False and the tensor's outcome is
    undetermined, never a pass."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def outcome(self) -> str:
        """``"pass"``, ``"fail"`` or ``"undetermined"`` (no figure)."""
        if not self.determined:
            return "undetermined"
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists, non-finite floats become None (strict JSON has no NaN)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = [_json_float(v) for v in value]
            elif isinstance(value, float):
                out[key] = _json_float(value)
        if not out["extra"]:
            del out["extra"]
        return out


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def shape_failure(name: str, out: np.ndarray | None, ref: np.ndarray | None, message: str,
                  atol: float | None = None, rtol: float | None = None) -> TensorMetrics:
    """A failed comparison that carries only a message (missing tensor, wrong shape)."""
    nan = float("nan")
    return TensorMetrics(
        name=name, passed=False, shape=tuple(out.shape) if out is not None else (),
        ref_shape=tuple(ref.shape) if ref is not None else (), atol=atol, rtol=rtol, max_abs=nan, mean_abs=nan,
        p99_abs=nan, rel_l2=nan, max_rel=nan, cosine=nan, message=message,
    )


def no_figure(name: str, out: np.ndarray, ref: np.ndarray, message: str, atol: float | None = None,
              rtol: float | None = None) -> TensorMetrics:
    """A comparison that cannot be decided (an empty tensor): not passed, not failed — undetermined."""
    nan = float("nan")
    return TensorMetrics(
        name=name, passed=False, determined=False, shape=tuple(np.shape(out)), ref_shape=tuple(np.shape(ref)),
        atol=atol, rtol=rtol, max_abs=nan, mean_abs=nan, p99_abs=nan, rel_l2=nan, max_rel=nan, cosine=nan,
        message=message,
    )


# --- the kernel ------------------------------------------------------------------------------------------------
Kernel = Callable[[Any, Any, CompareSettings, str], TensorMetrics]
_KERNELS: list[tuple[Callable[[Any, Any], bool], Kernel]] = []


def register_kernel(accepts: Callable[[Any, Any], bool], kernel: Kernel) -> Callable[[], None]:
    """Put another implementation behind `compare` (e.g. torch on the GPU): `kernel(reference, candidate, settings,
    name)` is used for every pair that `accepts(reference, candidate)`; it must return the same figures as the numpy
    kernel (same `TensorMetrics`, same outcome rules). The latest registration is tried first.

    Returns:
        A function that removes this registration again.
    """
    entry = (accepts, kernel)
    _KERNELS.insert(0, entry)
    return lambda: _KERNELS.remove(entry) if entry in _KERNELS else None


def compare(reference: Any, candidate: Any, settings: CompareSettings = CompareSettings(),
            name: str = "") -> TensorMetrics:
    """Every figure of `candidate` against `reference`.

    Args:
        reference: The reference tensor (model layout).
        candidate: The tensor under test, same layout.
        settings: Tolerances and the frame axis.
        name: Reference name of the tensor (for messages).

    Returns:
        The figures; ``bool(result)`` says whether the tensor passed, ``result.determined`` whether there was any
        figure to judge.
    """
    for accepts, kernel in _KERNELS:
        if accepts(reference, candidate):
            return kernel(reference, candidate, settings, name)
    with np.errstate(all="ignore"):  # NaN/Inf are data here, counted and reported, not warnings
        return _compare(name, np.asarray(candidate), np.asarray(reference), settings.atol, settings.rtol,
                        settings.frame_axis, settings.eps)


def compare_tensor(name: str, out: np.ndarray, ref: np.ndarray, atol: float | None = None,
                   rtol: float | None = None, frame_axis: int | None = None, eps: float = DEFAULT_EPS) -> TensorMetrics:
    """`compare` with the engine's argument order: one backend tensor `out` against its reference `ref`."""
    return compare(ref, out, CompareSettings(atol, rtol, frame_axis, eps), name)


def error_map(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``|out - ref|`` element-wise in float64, with the kernel's non-finite rule: a non-finite value that the
    reference shares at the same place is no error (0), any other is an infinite one.

    Raises:
        ValueError: The shapes differ.
    """
    o = np.asarray(out, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if o.shape != r.shape:
        raise ValueError(f"shapes differ: {list(o.shape)} vs reference {list(r.shape)}")
    with np.errstate(all="ignore"):
        d = np.abs(o - r)
        bad = ~np.isfinite(d)
        if bad.any():
            same = (o == r) | (np.isnan(o) & np.isnan(r))
            d = np.where(bad & same, 0.0, np.where(bad, np.inf, d))
    return d


def _compare(name: str, out: np.ndarray, ref: np.ndarray, atol: float | None, rtol: float | None,
             frame_axis: int | None, eps: float) -> TensorMetrics:
    if out.shape != ref.shape:
        return shape_failure(
            name, out, ref, f"{name}: shape {list(out.shape)} differs from the reference's {list(ref.shape)}",
            atol, rtol)
    if out.size == 0:
        return no_figure(name, out, ref, f"{name}: empty tensor (shape {list(out.shape)}): no element to compare, "
                                         "so no figure to judge", atol, rtol)
    if out.dtype.kind not in "fiub" or ref.dtype.kind not in "fiub":
        if out.dtype.kind == ref.dtype.kind and np.array_equal(out, ref):
            # Strings, objects: only equality means anything; equal values have the figures of identical tensors.
            zero = (0,) * out.ndim
            return TensorMetrics(name=name, passed=True, shape=tuple(out.shape), ref_shape=tuple(ref.shape),
                                 atol=atol, rtol=rtol, worst_index=zero, size=int(out.size))
        return shape_failure(name, out, ref, f"{name}: cannot compare dtypes {out.dtype} and {ref.dtype}"
                             + (" (values differ)" if out.dtype.kind == ref.dtype.kind else ""), atol, rtol)
    # Integers (lengths) and float16/bfloat16 compare in float64/float32; float32 stays float32 (no copy).
    work = np.float64 if (out.dtype.kind in "iub" or ref.dtype.kind in "iub" or out.dtype == np.float64
                          or ref.dtype == np.float64) else np.float32
    o = np.ascontiguousarray(out, dtype=work).reshape(-1)
    r = np.ascontiguousarray(ref, dtype=work).reshape(-1)
    n = o.size
    rt = 0.0 if rtol is None else float(rtol)

    if n >= IDENTICAL_MIN and o.dtype == r.dtype and _identical(o, r):
        # Bit-identical (the seed's cache_last_channel_out, a backend against itself): every figure is known
        # without computing it; one cheap pass proves the values finite (else the general path counts them).
        return finish_metrics(name, out, ref, atol, rtol, rt, frame_axis, n, 0, 0, 0, None,
                              Figures(0, 0.0, 0.0, 0.0, 0.0, 1.0, 0, 0.0))
    fig = _figures(o, r, atol, rt, eps, stop_at_nonfinite=True)
    if fig is not None:  # every element finite: the common case costs no finiteness pass
        return finish_metrics(name, out, ref, atol, rtol, rt, frame_axis, n, 0, 0, 0, None, fig)

    # Some value is not finite: count exactly, and take the figures where both sides are finite.
    fo, fr = np.isfinite(o), np.isfinite(r)
    nonfinite_out, nonfinite_ref = int(n - fo.sum()), int(n - fr.sum())
    both_nonfinite = ~fo & ~fr
    same_nonfinite = both_nonfinite & ((o == r) | (np.isnan(o) & np.isnan(r)))
    mismatch = int(((fo != fr) | (both_nonfinite & ~same_nonfinite)).sum())
    finite_mask = fo & fr
    o, r = o[finite_mask], r[finite_mask]
    if o.size == 0:
        nan = float("nan")
        return TensorMetrics(
            name=name, passed=mismatch == 0, shape=tuple(out.shape), ref_shape=tuple(ref.shape), atol=atol,
            rtol=rtol, max_abs=nan, mean_abs=nan, p99_abs=nan, rel_l2=nan, max_rel=nan, cosine=nan, size=n,
            nonfinite_ref=nonfinite_ref, nonfinite_out=nonfinite_out, nonfinite_mismatch=mismatch,
            message="" if mismatch == 0 else f"{name}: {mismatch} non-finite values where the reference has "
            f"others (backend {nonfinite_out}, reference {nonfinite_ref} non-finite); nothing finite to compare",
        )
    fig = _figures(o, r, atol, rt, eps, stop_at_nonfinite=False)
    return finish_metrics(name, out, ref, atol, rtol, rt, frame_axis, n, nonfinite_out, nonfinite_ref, mismatch,
                          finite_mask, fig)


@dataclass(frozen=True)
class Figures:
    """The figures of a flat pair of arrays (positions in the flat arrays the kernel was given)."""

    worst_flat: int
    max_abs: float
    mean_abs: float
    p99: float
    rel_l2: float
    cosine: float
    n_fail: int
    max_rel: float


def _figures(o: np.ndarray, r: np.ndarray, atol: float | None, rt: float, eps: float, *,
             stop_at_nonfinite: bool) -> Figures | None:
    """Every figure of two flat arrays, by one algorithm: partial figures per part, then `_combine`.

    Small arrays (< `BLOCKED_MIN`) are one part computed by whole-array passes; larger ones are swept in cache-sized
    blocks (`_sweep`), serially or, on machines with metric threads, one contiguous range per pool thread. Sums are
    added across parts exactly (`math.fsum`); the maximum, worst index, failing count, max-rel and P99 are exact
    whichever way the parts were cut.

    Returns:
        The figures, or None if `stop_at_nonfinite` and some ``|o - r|`` is not finite (the caller then counts the
        non-finite values and calls again on the finite positions only).
    """
    n = o.size
    if n < BLOCKED_MIN:
        part = _whole(o, r, atol, rt, eps, stop_at_nonfinite)
        return None if part is None else _combine([part], [0], n, o, r)
    k = min(n - 1, math.ceil(0.99 * (n - 1)))
    need = n - k  # elements at or above the P99 (numpy's method="higher")
    sample = np.abs(o[::61] - r[::61])
    j = int(0.98 * (sample.size - 1))
    guess = float(np.partition(sample, j)[j])
    pool = _block_pool() if n >= PARALLEL_MIN else None
    if pool is None:
        edges = [0, n]
        parts = [_sweep(o, r, atol, rt, eps, guess, stop_at_nonfinite)]
    else:
        edges = [int(x) for x in np.linspace(0, n, pool._max_workers + 1).astype(np.int64)]
        futs = [pool.submit(_sweep, o[a:b], r[a:b], atol, rt, eps, guess, stop_at_nonfinite)
                for a, b in zip(edges[:-1], edges[1:])]
        parts = [f.result() for f in futs]
    if any(p is None for p in parts):
        return None
    return _combine(parts, edges[:-1], n, o, r, need=need, guess=guess)


def _whole(o: np.ndarray, r: np.ndarray, atol: float | None, rt: float, eps: float,
           stop_at_nonfinite: bool) -> dict[str, Any] | None:
    """The partial figures of a small array, by whole-array passes (float64 sums up to `_BLOCK` elements)."""
    n = o.size
    scratch = _scratch(o.dtype, n)
    d = np.subtract(o, r, out=scratch[0])
    np.abs(d, out=d)
    am = int(d.argmax())
    mx = float(d[am])
    if stop_at_nonfinite and not math.isfinite(mx):
        return None
    part = {"argmax": am, "max": mx, "sum": float(d.sum(dtype=np.float64 if n <= _BLOCK else None)),
            "dd": _sumsq(d, scratch[1]), "rr": _sumsq(r, scratch[1]), "oo": _sumsq(o, scratch[1]),
            "p99": _p99(d)}
    t = np.abs(r, out=scratch[1])
    part["n_fail"] = _n_fail(d, t, mx, atol, rt, scratch[2])
    t += eps
    part["max_rel"] = float(np.divide(d, t, out=t).max())
    return part


def _sweep(o: np.ndarray, r: np.ndarray, atol: float | None, rt: float, eps: float, guess: float,
           stop_at_nonfinite: bool) -> dict[str, Any] | None:
    """The partial figures of one contiguous range, swept in cache-sized blocks: o and r are read from memory once
    and the passes per figure run on data already in the CPU cache (whole-array passes each streamed 25 MB from
    memory). Per block: numpy's pairwise sum and einsum's sum of products (no squares written; ~1e-7 relative on
    64 K values); blocks are added exactly. ``tails`` keeps the values above the sampled P99 `guess` (or, when the
    guess is 0, the non-zero ones) for the exact order statistic in `_combine`."""
    n = o.size
    zero_guess = guess == 0.0  # then keep only d > 0: the zeros need no sorting, only counting
    bs = _CACHE_BLOCK
    work = _block_scratch(o.dtype, bs)
    best_v, best_i = -1.0, 0
    sums: list[float] = []
    dd: list[float] = []
    rr: list[float] = []
    oo: list[float] = []
    n_fail = 0
    max_rel = 0.0
    tails: list[np.ndarray] = []
    acc = np.float64 if o.dtype == np.float64 else np.float32
    for a in range(0, n, bs):
        b = min(n, a + bs)
        ob, rb = o[a:b], r[a:b]
        m = b - a
        d, t1, t2 = work[0][:m], work[1][:m], work[2][:m]
        np.subtract(ob, rb, out=d)
        np.abs(d, out=d)
        am = int(d.argmax())
        mx = float(d[am])
        if stop_at_nonfinite and not math.isfinite(mx):
            return None
        if mx > best_v:
            best_v, best_i = mx, a + am
        sums.append(float(d.sum(dtype=acc)))
        dd.append(float(np.einsum("i,i->", d, d)))
        rr.append(float(np.einsum("i,i->", rb, rb)))
        oo.append(float(np.einsum("i,i->", ob, ob)))
        np.abs(rb, out=t1)
        n_fail += _n_fail(d, t1, mx, atol, rt, t2)
        t1 += eps
        rel = float(np.divide(d, t1, out=t1).max())
        if rel > max_rel:
            max_rel = rel
        if mx > guess or (mx == guess and not zero_guess):
            tails.append(d[d > guess] if zero_guess else d[d >= guess])
    return {"argmax": best_i, "max": best_v, "sum": math.fsum(sums), "dd": math.fsum(dd), "rr": math.fsum(rr),
            "oo": math.fsum(oo), "n_fail": n_fail, "max_rel": max_rel, "tails": tails}


def _n_fail(d: np.ndarray, abs_r: np.ndarray, mx: float, atol: float | None, rt: float, tmp: np.ndarray) -> int:
    """Elements with ``|o - r| > atol + rt·|r|`` (none can when the largest ``|o - r|`` is within `atol`)."""
    if atol is None or not mx > atol:
        return 0
    if rt == 0.0:
        return int(np.count_nonzero(d > atol))
    u = np.multiply(abs_r, -rt, out=tmp[: d.size])
    u += d
    return int(np.count_nonzero(u > atol))


def _combine(parts: list[dict[str, Any]], offsets: list[int], n: int, o: np.ndarray, r: np.ndarray, *,
             need: int = 0, guess: float = 0.0) -> Figures:
    """The figures of the whole array from its parts (in order; the first maximum wins, as numpy's argmax)."""
    best = 0
    for i, p in enumerate(parts):
        if p["max"] > parts[best]["max"]:
            best = i
    if "p99" in parts[0]:
        p99 = parts[0]["p99"]
    else:
        tails = [t for p in parts for t in p["tails"]]
        n_tail = sum(t.size for t in tails)
        if n_tail >= need:
            tail = np.concatenate(tails) if len(tails) > 1 else tails[0]
            p99 = float(np.partition(tail, tail.size - need)[tail.size - need])
        elif guess == 0.0:  # fewer than 1 % of the values differ at all (a carried cache: old frames copied)
            p99 = 0.0
        else:  # the sampled guess was too high (rare): the exact P99 over all of |o - r|
            full = _scratch(o.dtype, n)[0]
            np.subtract(o, r, out=full)
            p99 = _p99(np.abs(full, out=full))
    dd, rr, oo = (math.fsum(p[key] for p in parts) for key in ("dd", "rr", "oo"))
    return Figures(
        worst_flat=offsets[best] + parts[best]["argmax"], max_abs=parts[best]["max"],
        mean_abs=math.fsum(p["sum"] for p in parts) / n, p99=p99,
        rel_l2=math.sqrt(dd / rr) if rr > 0 else (0.0 if dd == 0 else float("inf")),
        cosine=cosine_from_norms(oo, rr, dd), n_fail=sum(p["n_fail"] for p in parts),
        max_rel=max(p["max_rel"] for p in parts),
    )


def finish_metrics(name: str, out: np.ndarray, ref: np.ndarray, atol: float | None, rtol: float | None, rt: float,
                   frame_axis: int | None, n: int, nonfinite_out: int, nonfinite_ref: int, mismatch: int,
                   finite_mask: np.ndarray | None, fig: Figures, *, worst_values: tuple[float, float] | None = None,
                   frames: dict[str, Any] | None = None) -> TensorMetrics:
    """The `TensorMetrics` of computed figures. Another kernel (`inspector.judge_torch`) passes the worst position's
    values (out, ref) and the frame figures it computed itself; `out`/`ref` then only give shapes."""
    # Unravel the worst position in the tensor's full shape (map back through the finite mask if one was applied).
    worst_flat = fig.worst_flat
    if finite_mask is not None:
        worst_flat = int(np.flatnonzero(finite_mask)[worst_flat])
    worst_index = tuple(int(i) for i in np.unravel_index(worst_flat, tuple(out.shape))) if out.ndim else ()
    if worst_values is None:
        worst_out = float(np.asarray(out).reshape(-1)[worst_flat])
        worst_ref = float(np.asarray(ref).reshape(-1)[worst_flat])
    else:
        worst_out, worst_ref = worst_values

    if frames is None:
        frames = {}
        if frame_axis is not None and out.ndim > 0:
            frames = _frame_figures(np.asarray(out), np.asarray(ref), frame_axis, atol, rt)
    frames = dict(frames)

    n_fail = fig.n_fail
    passed = n_fail == 0 and mismatch == 0 and frames.get("_frame_nonfinite", 0) == 0
    frames.pop("_frame_nonfinite", None)
    message = ""
    if not passed:
        parts = []
        if n_fail:
            parts.append(f"{n_fail} of {n} elements outside atol {atol:g} + rtol {rt:g}·|ref| "
                         f"(max-abs {fig.max_abs:.3g} at {list(worst_index)}: {worst_out:.6g} vs ref "
                         f"{worst_ref:.6g})")
        if mismatch:
            parts.append(f"{mismatch} non-finite values where the reference has others "
                         f"(backend {nonfinite_out}, reference {nonfinite_ref} non-finite)")
        message = f"{name}: " + "; ".join(parts)
    return TensorMetrics(
        name=name, passed=passed, shape=tuple(out.shape), ref_shape=tuple(ref.shape), atol=atol, rtol=rtol,
        max_abs=fig.max_abs, mean_abs=fig.mean_abs, p99_abs=fig.p99, rel_l2=fig.rel_l2, max_rel=fig.max_rel,
        cosine=fig.cosine, worst_index=worst_index, worst_ref=worst_ref, worst_out=worst_out, n_fail=n_fail, size=n,
        nonfinite_ref=nonfinite_ref, nonfinite_out=nonfinite_out, nonfinite_mismatch=mismatch, message=message,
        **frames,
    )


_SCRATCH = threading.local()


def _scratch(dtype: Any, n: int) -> list[np.ndarray]:
    """Three reusable work buffers of at least `n` elements per thread: fresh 25 MB temporaries per tensor would
    cost more in page faults than the arithmetic itself."""
    key = np.dtype(dtype).str
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = {}
    have = bufs.get(key)
    if have is None or have[0].size < n:
        have = bufs[key] = [np.empty(n, dtype=dtype) for _ in range(3)]
    return [b[:n] for b in have]


PARALLEL_MIN = 1 << 20
"""Tensors of at least this many elements are compared in blocks on a thread pool (numpy releases the GIL)."""

_POOL: Any = None
_POOL_LOCK = threading.Lock()


def metric_threads() -> int:
    """Threads for block-parallel comparisons: ``$INSPECTOR_METRIC_THREADS``, else half the cores (at most 4) on
    machines with at least 4 cores, else 0 (serial: on 2 cores the threads would only compete with inference)."""
    import os

    env = os.environ.get("INSPECTOR_METRIC_THREADS")
    if env:
        return max(0, int(env))
    cores = os.cpu_count() or 1
    return min(4, cores // 2) if cores >= 4 else 0


def _block_pool() -> Any:
    """The module-wide pool for block-parallel comparisons (None when `metric_threads()` < 2)."""
    global _POOL
    want = metric_threads()
    if want < 2:
        return None
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers != want:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=want, thread_name_prefix="parity-metrics")
    return _POOL


IDENTICAL_MIN = 1 << 16
"""Tensors of at least this many elements are first checked for bit-identity (a 1 K prefix, then the whole)."""

BLOCKED_MIN = 1 << 18
"""Tensors of at least this many elements are swept in cache-sized blocks (see `_sweep`); smaller ones take
whole-array passes."""

_CACHE_BLOCK = 1 << 16
"""Elements per block of `_sweep`: o, r and three work blocks of float32 (1.25 MB) stay in L2."""


def _identical(o: np.ndarray, r: np.ndarray) -> bool:
    """Bit-identical and all finite. A differing 1 K prefix answers at once; equal arrays cost one compare pass and
    one summing pass (a NaN or infinity makes the sum non-finite; an overflowing sum merely declines the shortcut)."""
    head = min(o.size, 1024)
    if not np.array_equal(o[:head], r[:head]) or not np.array_equal(o, r):
        return False
    return math.isfinite(float(r.sum()))


_BLOCK_SCRATCH = threading.local()


def _block_scratch(dtype: Any, n: int) -> list[np.ndarray]:
    """Three reusable cache-sized work blocks per thread."""
    key = np.dtype(dtype).str
    bufs = getattr(_BLOCK_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _BLOCK_SCRATCH.bufs = {}
    have = bufs.get(key)
    if have is None or have[0].size < n:
        have = bufs[key] = [np.empty(n, dtype=dtype) for _ in range(3)]
    return have


def _p99(d: np.ndarray) -> float:
    """The 99th percentile of a flat non-negative array (numpy's ``method="higher"``), exactly.

    Large arrays: guess a threshold from a strided sample, partition only the tail above it (a few percent of the
    data), and fall back to a full partition if the guess was too high.
    """
    n = d.size
    k = min(n - 1, math.ceil(0.99 * (n - 1)))
    if n < 200_000:
        return float(np.partition(d, k)[k])
    sample = d[:: 61]
    guess = float(np.partition(sample, int(0.98 * (sample.size - 1)))[int(0.98 * (sample.size - 1))])
    tail = d[d >= guess]
    need = n - k  # elements at or above the k-th smallest
    if tail.size >= need:
        j = tail.size - need
        return float(np.partition(tail, j)[j])
    return float(np.partition(d, k)[k])


def _sumsq(x: np.ndarray, tmp: np.ndarray) -> float:
    """Sum of squares: squares in the work dtype, then numpy's pairwise sum (float64 for small arrays).

    No BLAS dot: on a machine whose cores are busy, BLAS threads waking per call cost more than the arithmetic.
    """
    sq = np.square(x, out=tmp[: x.size])
    return float(sq.sum(dtype=np.float64 if x.size <= _BLOCK or x.dtype == np.float64 else None))


def cosine_from_norms(oo: float, rr: float, dd: float) -> float:
    """Cosine from |o|², |r|², |o - r|², written so that values near 1 stay accurate (no a·b cancellation)."""
    if oo == 0.0 and rr == 0.0:
        return 1.0
    if oo == 0.0 or rr == 0.0:
        return 0.0
    no, nr = math.sqrt(oo), math.sqrt(rr)
    one_minus = (dd - (no - nr) ** 2) / (2.0 * no * nr)
    return max(-1.0, min(1.0, 1.0 - one_minus))


def _frame_figures(out: np.ndarray, ref: np.ndarray, frame_axis: int, atol: float | None,
                   rtol: float) -> dict[str, Any]:
    """Per-frame cosine and the number of frames with at least one element outside the tolerance."""
    axis = frame_axis % out.ndim
    o = np.moveaxis(out.astype(np.float64, copy=False), axis, 0).reshape(out.shape[axis], -1)
    r = np.moveaxis(ref.astype(np.float64, copy=False), axis, 0).reshape(ref.shape[axis], -1)
    finite = np.isfinite(o) & np.isfinite(r)
    oz, rz = np.where(finite, o, 0.0), np.where(finite, r, 0.0)
    oo, rr = (oz * oz).sum(axis=1), (rz * rz).sum(axis=1)
    dd = ((oz - rz) ** 2).sum(axis=1)
    cos = tuple(cosine_from_norms(float(a), float(b), float(c)) for a, b, c in zip(oo, rr, dd))
    fo, fr = np.isfinite(o), np.isfinite(r)
    same_nonfinite = ~fo & ~fr & ((o == r) | (np.isnan(o) & np.isnan(r)))
    frame_nonfinite = ((fo != fr) | (~fo & ~fr & ~same_nonfinite)).any(axis=1)
    if atol is None:
        bad = frame_nonfinite
    else:
        bad = (np.abs(oz - rz) > atol + rtol * np.abs(rz)).any(axis=1) | frame_nonfinite
    return {
        "frame_cosine": cos, "min_frame_cosine": min(cos) if cos else None,
        "diverging_frames": int(bad.sum()), "n_frames": int(o.shape[0]),
        "_frame_nonfinite": int(frame_nonfinite.sum()),
    }
