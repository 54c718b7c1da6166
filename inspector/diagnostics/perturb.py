"""Re-run one chunk through a backend with one input replaced, and measure how far each output moves.

This is the machinery behind the `cache_last_time` activity check (is the cache used inside the forward pass?) and
the state-sensitivity probe of issue 8 (is the carried state used at all?). Both ask the same question of a backend:
*if this input were different, would the outputs notice?*

    with make_backend("ort-cpu", model, contract) as backend:
        probe = probe_input(backend, feeds, "cache_last_time",
                            [*noise_replacements(feeds["cache_last_time"], (1e-3, 1e-1, 1.0)),
                             zeros_replacement(feeds["cache_last_time"])])
        probe.largest("encoder_output").rel_l2      # 0.0 ⇒ the input is disconnected

Movements are measured against the backend's own unperturbed outputs (never the reference), so the backend's error
does not enter; the unperturbed chunk is run twice, and the difference between those two runs (``noise_floor``) is
the run-to-run jitter a movement must clear (0 on a deterministic CPU runtime).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from inspector.metrics import compare


@dataclass(frozen=True)
class Movement:
    """How far one output moved from its unperturbed value.

    Attributes:
        output: Reference name of the output.
        max_abs: ``max |perturbed - base|``.
        rel_l2: ``||perturbed - base|| / ||base||`` (inf when the base is all zeros and the output moved).
        cosine: Cosine similarity of the perturbed and the base output (1.0 = same direction).
        shape_changed: The perturbed output has another shape (then the figures are inf/0).
        determined: False when there is no figure (an empty output): neither moved nor still.
    """

    output: str
    max_abs: float
    rel_l2: float
    cosine: float
    shape_changed: bool = False
    determined: bool = True

    @property
    def moved(self) -> bool:
        """Whether the output moved at all (False also when undetermined: check `determined` before reading a
        "not moved" as a finding)."""
        return self.shape_changed or self.max_abs > 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"max_abs": _jf(self.max_abs), "rel_l2": _jf(self.rel_l2), "cosine": _jf(self.cosine),
                "shape_changed": self.shape_changed, "determined": self.determined}


@dataclass(frozen=True)
class Replacement:
    """One way to replace an input.

    Attributes:
        label: Human-readable, e.g. ``"noise 0.1×RMS"``, ``"zeros"``, ``"cache of chunk 12"``.
        kind: ``"noise"``, ``"zeros"``, ``"swap"`` (another chunk's value) or any other word.
        value: The replacement array (same dtype as the original; shape may differ only if the model allows it).
        scale: For noise: the standard deviation relative to the input's RMS.
    """

    label: str
    kind: str
    value: np.ndarray
    scale: float | None = None


@dataclass(frozen=True)
class VariantResult:
    """The outputs' movement under one replacement.

    Attributes:
        label, kind, scale: From the `Replacement`.
        input_change_rms: RMS of ``replacement - original`` (0 when the replacement equals the input, e.g. zeroing
            an input that is already all zeros: then no movement says nothing about activity).
        movements: Output reference name → `Movement`.
        error: The backend's error message when the perturbed run raised (movements are then empty).
    """

    label: str
    kind: str
    scale: float | None
    input_change_rms: float
    movements: Mapping[str, Movement]
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "scale": self.scale,
                "input_change_rms": _jf(self.input_change_rms),
                "movements": {k: m.to_dict() for k, m in self.movements.items()}, "error": self.error}


@dataclass(frozen=True)
class ProbeResult:
    """Every replacement of one input, and the run-to-run noise floor.

    Attributes:
        input: Reference name of the replaced input.
        input_rms: RMS of the original input.
        noise_floor: Output → movement between two unperturbed runs.
        variants: One result per replacement, in the order given.
    """

    input: str
    input_rms: float
    noise_floor: Mapping[str, Movement]
    variants: tuple[VariantResult, ...]
    base_outputs: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def largest(self, output: str, metric: str = "rel_l2") -> Movement | None:
        """The replacement that moved `output` most (by `metric`), among those that changed the input."""
        best: Movement | None = None
        for v in self.variants:
            m = v.movements.get(output)
            if m is None or v.input_change_rms == 0.0:
                continue
            if best is None or _key(m, metric) > _key(best, metric):
                best = m
        return best

    def effective_variants(self) -> tuple[VariantResult, ...]:
        """Replacements that really changed the input and ran."""
        return tuple(v for v in self.variants if v.input_change_rms > 0.0 and not v.error)

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "input_rms": _jf(self.input_rms),
                "noise_floor": {k: m.to_dict() for k, m in self.noise_floor.items()},
                "variants": [v.to_dict() for v in self.variants]}


# --- building replacements -------------------------------------------------------------------------------------
def rms(array: np.ndarray) -> float:
    """Root mean square of the finite values of `array` (0.0 for an empty array)."""
    a = np.asarray(array, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def noise_replacements(original: np.ndarray, scales: Iterable[float], reference_rms: float | None = None,
                       seed: int = 0) -> list[Replacement]:
    """The input plus Gaussian noise, one replacement per scale.

    Args:
        original: The unperturbed input.
        scales: Noise standard deviations relative to `reference_rms`.
        reference_rms: What the scales are relative to; defaults to the input's own RMS. An all-zero input (a
            first chunk's cache) has RMS 0: pass the RMS of a typical value (e.g. the same cache one chunk later).
        seed: Seed of the noise (the same seed gives the same noise).
    """
    base = rms(original) if reference_rms is None else float(reference_rms)
    if base == 0.0:
        base = 1.0
    rng = np.random.default_rng(seed)
    unit = rng.standard_normal(original.shape)
    out = []
    for s in scales:
        value = (original.astype(np.float64) + unit * (s * base)).astype(original.dtype)
        out.append(Replacement(label=f"noise {s:g}×RMS", kind="noise", value=value, scale=float(s)))
    return out


def zeros_replacement(original: np.ndarray) -> Replacement:
    """The input replaced by zeros of the same shape and dtype."""
    return Replacement(label="zeros", kind="zeros", value=np.zeros_like(original))


def swap_replacement(value: np.ndarray, label: str) -> Replacement:
    """The input replaced by another value, e.g. the cache of a different chunk (issue 8's probe)."""
    return Replacement(label=label, kind="swap", value=np.asarray(value))


# --- running ---------------------------------------------------------------------------------------------------
def movement(output: str, moved: np.ndarray, base: np.ndarray) -> Movement:
    """How far `moved` is from `base`: the comparison kernel's figures (`inspector.metrics.compare`) with `base`
    as the reference. A non-finite value that appears or disappears is an infinite movement (identical NaNs are
    none); an empty output has no figure (`Movement.determined` False, figures NaN), so it never reads as "did not
    move"."""
    moved, base = np.asarray(moved), np.asarray(base)
    if moved.shape != base.shape:
        return Movement(output, math.inf, math.inf, 0.0, shape_changed=True)
    fig = compare(base, moved, name=output)
    if not fig.determined:
        return Movement(output, math.nan, math.nan, math.nan, determined=False)
    if fig.nonfinite_mismatch:
        return Movement(output, math.inf, math.inf, 0.0)
    if fig.size and fig.nonfinite_ref == fig.size:  # only identical non-finite values: nothing moved
        return Movement(output, 0.0, 0.0, 1.0)
    if math.isnan(fig.max_abs) or math.isnan(fig.rel_l2) or math.isnan(fig.cosine):
        # Non-comparable dtypes: the kernel's failure message is all there is.
        return Movement(output, math.inf, math.inf, 0.0)
    return Movement(output, fig.max_abs, fig.rel_l2, fig.cosine)


def movements(outputs: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray],
              names: Sequence[str] | None = None) -> dict[str, Movement]:
    """`movement` for every output present in both dicts (or only `names`)."""
    keys = names if names is not None else [k for k in base if k in outputs]
    return {k: movement(k, outputs[k], base[k]) for k in keys if k in outputs and k in base}


def rerun_with(backend: Any, feeds: Mapping[str, np.ndarray], input_name: str, value: np.ndarray,
               base_outputs: Mapping[str, np.ndarray]) -> dict[str, Movement]:
    """Run `feeds` through an active `backend` with `input_name` replaced by `value`; each output's movement.

    Args:
        backend: An active `backends.base.Backend`.
        feeds: Every input of the chunk (reference names, model layout).
        input_name: The input to replace (reference name).
        value: Its replacement.
        base_outputs: The backend's unperturbed outputs for the same feeds.
    """
    changed = dict(feeds)
    changed[input_name] = value
    return movements(backend.run(changed), base_outputs)


def probe_input(backend: Any, feeds: Mapping[str, np.ndarray], input_name: str,
                replacements: Sequence[Replacement], base_outputs: Mapping[str, np.ndarray] | None = None,
                measure_noise_floor: bool = True) -> ProbeResult:
    """Re-run one chunk once per replacement of `input_name` and report how far each output moves.

    Args:
        backend: An active backend.
        feeds: The chunk's inputs (reference names, model layout).
        input_name: The input to replace.
        replacements: What to put in its place, one run each.
        base_outputs: The backend's outputs for the unperturbed feeds, if already computed.
        measure_noise_floor: Run the unperturbed chunk (again) to measure run-to-run jitter.

    Returns:
        The probe's figures. A replacement whose run raises is recorded with its error, and the probe goes on.
    """
    if input_name not in feeds:
        from inspector.errors import InspectorError

        raise InspectorError(f"cannot perturb input {input_name!r}: the chunk's feeds hold only "
                             f"{', '.join(sorted(feeds))}.")
    original = np.asarray(feeds[input_name])
    if base_outputs is None:
        base_outputs = backend.run(feeds)
    floor: dict[str, Movement] = {}
    if measure_noise_floor:
        floor = movements(backend.run(feeds), base_outputs)
    results = []
    for rep in replacements:
        change = rms(np.asarray(rep.value, dtype=np.float64) - original) if rep.value.shape == original.shape \
            else math.inf
        try:
            moved = rerun_with(backend, feeds, input_name, rep.value, base_outputs)
            err = ""
        except Exception as exc:  # noqa: BLE001 — a runtime that rejects a replacement is a finding, not a crash
            moved, err = {}, f"{type(exc).__name__}: {exc}"
        results.append(VariantResult(rep.label, rep.kind, rep.scale, change, moved, err))
    return ProbeResult(input=input_name, input_rms=rms(original), noise_floor=floor, variants=tuple(results),
                       base_outputs=dict(base_outputs))


def _key(m: Movement, metric: str) -> float:
    value = getattr(m, metric)
    return -value if metric == "cosine" else value


def _jf(x: float | None) -> float | None:
    """A float for strict JSON: non-finite values become None (as in `inspector.metrics`)."""
    if x is None or not math.isfinite(x):
        return None
    return x
