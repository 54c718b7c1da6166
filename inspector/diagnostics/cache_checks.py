"""Checks (1) and (2) of the `cache_last_time` diagnostic: where the error sits, on plain arrays.

(1) *Distribution*: the error's mass per position along the cache's time (conv-context) axis and per layer. A
    padding-side artefact puts its mass at one end of the time axis; a numerical difference spreads over every position
    that holds data.
(2) *Significance*: whether the error sits where the reference values matter. Error mass where ``|reference|`` is
    below the contract's `significance_threshold` is junk in padding (zeros the model wrote and will, or will not,
    read back); error where the reference is significant is a real error.

What "padding side" means for NeMo's conv cache (checked on the exported tiny and parakeet-size encoders): the depthwise
conv of each layer runs on ``[cache (conv_ctx frames), chunk frames, right zero padding]`` and the next cache is the
last ``conv_ctx`` frames of that after dropping ``cache_drop_size`` frames. With the parakeet streaming set-up
(kernel 9, non-causal context [4, 4], drop 3) the last cache position is one frame of the right zero padding: the
reference holds exactly 0 there on every chunk, and the next chunk reads it back as the left neighbour of its first
frame. On the first chunk the whole input cache is zeros (NeMo's initial state). Both are where a runtime that mishandles
padding leaves junk — and why these checks look at the ends of the axis and at ``|reference| ≈ 0`` separately.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inspector.metrics import error_map

DEFAULT_NEGLIGIBLE_ABS = 1e-5
"""Max-abs error below which there is nothing to place (float32 round-off of an exact export is ~1e-6)."""
DEFAULT_CONCENTRATION = 0.6
"""Share of the error mass that makes a run of positions at one end (or one position, or one layer) "concentrated"."""
DEFAULT_JUNK_SHARE = 0.8
"""Share of error mass where the reference is insignificant above which the error is called padding junk."""
DEFAULT_REAL_SHARE = 0.8
"""Share of error mass where the reference is significant above which the error is called real."""


@dataclass(frozen=True)
class CacheAxes:
    """Which axes of the cache tensor index time positions and layers."""

    time: int
    layer: int | None

    @classmethod
    def from_spec(cls, rank: int, axes: tuple[str, ...] | None) -> "CacheAxes":
        """From a contract's axis labels; without labels, NeMo's batch-first export layout ``[B, L, C, T]``."""
        if axes:
            lowered = [a.lower() for a in axes]
            time = next((lowered.index(a) for a in ("time", "conv_context", "conv_ctx", "context", "t")
                         if a in lowered), None)
            layer = next((lowered.index(a) for a in ("layer", "layers", "l") if a in lowered), None)
            if time is not None:
                return cls(time=time, layer=layer)
        if rank == 4:
            return cls(time=3, layer=1)
        return cls(time=rank - 1, layer=None)


@dataclass(frozen=True)
class DistributionCheck:
    """Check (1): how the error spreads over cache positions and layers.

    Attributes:
        verdict: ``"none"`` (nothing to place), ``"concentrated-left"``, ``"concentrated-right"``,
            ``"concentrated-position"`` (one interior position), ``"concentrated-layer"`` (one layer, evenly over
            positions) or ``"spread"``.
        text: The verdict in words, with its numbers.
        max_abs, mean_abs: Of ``|out - ref|`` over the whole tensor.
        position_mean_abs: Mean ``|error|`` per time position.
        position_share: Share of the total error mass per time position (sums to 1).
        uniform_share: ``1 / positions``, what an even spread gives each position.
        edge: ``"left"``/``"right"`` when the error sits at one end, else None.
        edge_positions: How many positions at that end hold `edge_share` of the mass.
        edge_share: That share.
        cv: Coefficient of variation of `position_mean_abs` (0 = perfectly even).
        max_mean_ratio: ``max / mean`` of `position_mean_abs` (1 = even, `positions` = all in one position).
        layer_mean_abs, layer_share: The same per layer (empty without a layer axis).
        reference_zero_positions: Positions where the reference is below the significance threshold everywhere
            (padding the model writes; for NeMo's export, the last position).
    """

    verdict: str
    text: str
    time_axis: int
    layer_axis: int | None
    positions: int
    max_abs: float
    mean_abs: float
    position_mean_abs: tuple[float, ...]
    position_share: tuple[float, ...]
    uniform_share: float
    edge: str | None
    edge_positions: int
    edge_share: float
    cv: float
    max_mean_ratio: float
    layer_mean_abs: tuple[float, ...]
    layer_share: tuple[float, ...]
    reference_zero_positions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return _json(asdict(self))


@dataclass(frozen=True)
class SignificanceCheck:
    """Check (2): does the error sit where the reference values are significant?

    Attributes:
        verdict: ``"none"``, ``"padding-junk"``, ``"real-error"`` or ``"mixed"``.
        text: The verdict in words.
        threshold: ``|reference|`` below this is insignificant (contract `diagnostics.significance_threshold`).
        correlation: Pearson correlation of ``|error|`` with ``|reference|`` (None when either is constant).
        insignificant_elements: Share of elements with ``|reference| < threshold``.
        insignificant_error_share: Share of the error mass on those elements.
        enrichment: ``insignificant_error_share / insignificant_elements`` (> 1: the error prefers padding).
        max_abs_insignificant, max_abs_significant: Largest error on either kind of element.
        mean_rel_significant: Mean ``|error| / |reference|`` where the reference is significant.
    """

    verdict: str
    text: str
    threshold: float
    correlation: float | None
    insignificant_elements: float
    insignificant_error_share: float
    enrichment: float | None
    max_abs_insignificant: float
    max_abs_significant: float
    mean_rel_significant: float

    def to_dict(self) -> dict[str, Any]:
        return _json(asdict(self))


def distribution_check(out: np.ndarray, ref: np.ndarray, axes: CacheAxes, *,
                       significance_threshold: float = 1e-3, negligible_abs: float = DEFAULT_NEGLIGIBLE_ABS,
                       concentration: float = DEFAULT_CONCENTRATION) -> DistributionCheck:
    """Check (1) on one chunk's `cache_last_time_out` (backend `out` and reference `ref`, model layout).

    "Concentrated at an end" means: the smallest run of k ≤ positions/2 positions at the left or right end that holds
    at least ``max(concentration, min(0.9, 2k / positions))`` of the error mass — so at least twice what an even
    spread would put there. A single interior position or a single layer holding ``concentration`` of the mass (and
    twice its even share) is reported as such.
    """
    raw = _abs_err(out, ref)
    err = _mass(raw)
    t_ax = axes.time % err.ndim
    positions = err.shape[t_ax]
    other = tuple(a for a in range(err.ndim) if a != t_ax)
    pos_sum = err.sum(axis=other) if other else err.copy()
    pos_mean = pos_sum / max(1, err.size // max(1, positions))
    total = float(pos_sum.sum())
    max_abs = float(raw.max()) if raw.size else 0.0
    mean_abs = float(raw.mean()) if raw.size else 0.0
    share = pos_sum / total if total > 0 else np.zeros(positions)
    uniform = 1.0 / positions if positions else 0.0
    cv = float(pos_mean.std() / pos_mean.mean()) if pos_mean.size and pos_mean.mean() > 0 else 0.0
    mmr = float(pos_mean.max() / pos_mean.mean()) if pos_mean.size and pos_mean.mean() > 0 else 0.0

    l_ax = None if axes.layer is None else axes.layer % err.ndim
    if l_ax is not None and l_ax != t_ax:
        layer_sum = err.sum(axis=tuple(a for a in range(err.ndim) if a != l_ax))
        layer_mean = layer_sum / max(1, err.size // err.shape[l_ax])
        layer_share = layer_sum / total if total > 0 else np.zeros(err.shape[l_ax])
    else:
        l_ax, layer_mean, layer_share = None, np.zeros(0), np.zeros(0)

    ref_abs = np.abs(np.asarray(ref, dtype=np.float64))
    ref_pos_max = ref_abs.max(axis=other) if other else ref_abs
    zero_positions = tuple(int(i) for i in np.flatnonzero(ref_pos_max < significance_threshold))

    edge, k_edge, edge_share = None, 0, 0.0
    for k in range(1, positions // 2 + 1):
        need = max(concentration, min(0.9, 2.0 * k / positions))
        left, right = float(share[:k].sum()), float(share[-k:].sum())
        if max(left, right) >= need:
            edge = "right" if right >= left else "left"
            k_edge, edge_share = k, max(left, right)
            break

    def where(p: int) -> str:
        return f"position {p} of 0..{positions - 1}"

    if max_abs <= negligible_abs:
        verdict = "none"
        text = f"no error to place: max-abs {max_abs:.3g} ≤ {negligible_abs:g}"
    elif edge is not None:
        verdict = f"concentrated-{edge}"
        span = (list(range(k_edge)) if edge == "left" else list(range(positions - k_edge, positions)))
        pad = [p for p in span if p in zero_positions]
        pad_note = (f"; the reference is ~0 at {'that position' if len(span) == 1 else 'those positions'} "
                    f"(padding)" if pad and len(pad) == len(span) else "")
        text = (f"concentrated at the {edge} end: {edge_share:.0%} of the error mass in "
                f"{'the last' if edge == 'right' else 'the first'} {k_edge} of {positions} positions "
                f"(even spread: {k_edge * uniform:.0%}){pad_note} — a padding-side artefact")
    else:
        top = int(np.argmax(share)) if positions else 0
        top_layer = int(np.argmax(layer_share)) if layer_share.size else 0
        if positions > 2 and share[top] >= max(concentration, 2 * uniform):
            verdict = "concentrated-position"
            text = f"concentrated at {where(top)}: {share[top]:.0%} of the error mass (even spread: {uniform:.0%})"
        elif layer_share.size > 1 and layer_share[top_layer] >= max(concentration, min(0.9, 2.0 / layer_share.size)):
            verdict = "concentrated-layer"
            text = (f"spread over positions (max/mean {mmr:.2f}) but concentrated in layer {top_layer}: "
                    f"{layer_share[top_layer]:.0%} of the error mass")
        else:
            verdict = "spread"
            text = (f"spread over positions: shares {', '.join(f'{s:.0%}' for s in share)} "
                    f"(even: {uniform:.0%} each; CV {cv:.2f}, max/mean {mmr:.2f})")
            if zero_positions:
                text += (f"; position{'s' if len(zero_positions) > 1 else ''} "
                         f"{', '.join(map(str, zero_positions))} hold{'s' if len(zero_positions) == 1 else ''} "
                         f"zeros in the reference and no error")
    return DistributionCheck(
        verdict=verdict, text=text, time_axis=t_ax, layer_axis=l_ax, positions=positions, max_abs=max_abs,
        mean_abs=mean_abs, position_mean_abs=_t(pos_mean), position_share=_t(share), uniform_share=uniform,
        edge=edge, edge_positions=k_edge, edge_share=edge_share, cv=cv, max_mean_ratio=mmr,
        layer_mean_abs=_t(layer_mean), layer_share=_t(layer_share), reference_zero_positions=zero_positions,
    )


def significance_check(out: np.ndarray, ref: np.ndarray, threshold: float, *,
                       negligible_abs: float = DEFAULT_NEGLIGIBLE_ABS, junk_share: float = DEFAULT_JUNK_SHARE,
                       real_share: float = DEFAULT_REAL_SHARE) -> SignificanceCheck:
    """Check (2) on one chunk's `cache_last_time_out`.

    The error is *padding junk* when at least `junk_share` of its mass sits where ``|reference| < threshold``, a
    *real error* when at least `real_share` sits where the reference is significant, otherwise *mixed*.
    """
    raw = _abs_err(out, ref).reshape(-1)
    err = _mass(raw)
    r = np.abs(np.asarray(ref, dtype=np.float64)).reshape(-1)
    finite = np.isfinite(r)
    r = np.where(finite, r, 0.0)
    insig = r < threshold
    total = float(err.sum())
    n = err.size
    ins_elems = float(insig.mean()) if n else 0.0
    ins_share = float(err[insig].sum() / total) if total > 0 else 0.0
    enrichment = ins_share / ins_elems if ins_elems > 0 and total > 0 else None
    max_ins = float(raw[insig].max()) if insig.any() else 0.0
    max_sig = float(raw[~insig].max()) if (~insig).any() else 0.0
    mean_rel = float((err[~insig] / r[~insig]).mean()) if (~insig).any() else 0.0
    corr = None
    if n > 1 and err.std() > 0 and r.std() > 0:
        corr = float(np.corrcoef(err, r)[0, 1])

    max_abs = float(raw.max()) if n else 0.0
    if max_abs <= negligible_abs:
        verdict, text = "none", f"no error to place: max-abs {max_abs:.3g} ≤ {negligible_abs:g}"
    elif ins_share >= junk_share:
        verdict = "padding-junk"
        text = (f"padding junk: {ins_share:.0%} of the error mass lies where |reference| < {threshold:g} "
                f"({ins_elems:.0%} of the elements; max-abs there {max_ins:.3g}, elsewhere {max_sig:.3g})")
    elif 1.0 - ins_share >= real_share:
        verdict = "real-error"
        text = (f"real error where values matter: {1 - ins_share:.0%} of the error mass lies where |reference| ≥ "
                f"{threshold:g} (mean relative error there {mean_rel:.3g}"
                f"{'' if corr is None else f'; correlation of |error| with |reference| {corr:.2f}'})")
    else:
        verdict = "mixed"
        text = (f"mixed: {ins_share:.0%} of the error mass where |reference| < {threshold:g} "
                f"({ins_elems:.0%} of the elements), {1 - ins_share:.0%} where it is significant")
    return SignificanceCheck(
        verdict=verdict, text=text, threshold=threshold, correlation=corr, insignificant_elements=ins_elems,
        insignificant_error_share=ins_share, enrichment=enrichment, max_abs_insignificant=max_ins,
        max_abs_significant=max_sig, mean_rel_significant=mean_rel,
    )


def _mass(err: np.ndarray) -> np.ndarray:
    """`err` with infinities (non-finite mismatches) replaced by ten times the largest finite error, so shares of
    the error mass stay defined and still point at where the non-finite values are."""
    if np.isfinite(err).all():
        return err
    finite = err[np.isfinite(err)]
    big = 10.0 * float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return np.where(np.isfinite(err), err, big)


def _abs_err(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``|out - ref|`` by the comparison kernel's rule (`inspector.metrics.error_map`): a non-finite element on
    either side that the other does not share counts as inf.

    Raises:
        InspectorError: The shapes differ, or the tensor is empty (no error to place: undetermined, not "none").
    """
    from inspector.errors import InspectorError

    if np.shape(out) != np.shape(ref):
        raise InspectorError(f"cache tensor shapes differ: backend {list(np.shape(out))} vs reference "
                             f"{list(np.shape(ref))}; the distribution checks need equal shapes (check the "
                             "contract's layout and ref_perm).")
    if np.size(ref) == 0:
        raise InspectorError(f"cache tensor is empty (shape {list(np.shape(ref))}): there is no error to place, so "
                             "the distribution checks cannot decide; check the chunk's cache shapes.")
    return error_map(out, ref)


def _t(a: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(a).reshape(-1))


def _json(d: dict[str, Any]) -> dict[str, Any]:
    def fix(v: Any) -> Any:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, (tuple, list)):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) for k, v in d.items()}
