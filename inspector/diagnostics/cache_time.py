"""The `cache_last_time` diagnostic: the seed report's root-cause investigation of one tensor, as one call.

For one chunk K of one stream, with a backend and the reference:

1. *distribution* — where along the cache's time axis (and over layers) the error of `cache_last_time_out` sits;
2. *significance* — whether it sits where the reference values matter;
3. *activity* — whether the `cache_last_time` input is used at all (perturb it, watch the outputs);
4. *propagation* — whether the error reaches `encoder_output` of the next chunks in closed loop;

then one verdict in words, e.g. "padding-side artefact …; propagating …" or "real error …; non-propagating because
the cache_last_time input is inactive". Checks (1)-(2) live in `cache_checks`, (3)'s machinery in `perturb`,
(4) in `propagation`.

Chunk K itself is run *functionally* (fed the reference's inputs), so the error measured is that chunk's own, not
one inherited from earlier chunks. `cache_last_channel_len` in and out of the chunk is reported because the seed
contract's loose `cache_last_time_out` tolerance only holds while it is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from contracts.model import Contract
from inspector.diagnostics.cache_checks import (
    DEFAULT_CONCENTRATION, DEFAULT_NEGLIGIBLE_ABS, CacheAxes, DistributionCheck, SignificanceCheck,
    distribution_check, significance_check,
)
from inspector.diagnostics.chunkdata import load_chunk, model_feeds, scalar_or_list
from inspector.diagnostics.perturb import Movement, ProbeResult, noise_replacements, probe_input, rms, zeros_replacement
from inspector.diagnostics.propagation import PropagationCheck, propagation_check
from inspector.errors import InspectorError

FORMAT = "parity-diagnosis"
VERSION = 1
DEFAULT_ACTIVITY_MIN_REL = 1e-6
"""Relative L2 movement of the frames output below which a perturbed input counts as unused."""


@dataclass(frozen=True)
class ActivityCheck:
    """Check (3): is the `cache_last_time` input used inside the forward pass?

    Attributes:
        verdict: ``"active"``, ``"inactive"`` or ``"unknown"`` (every perturbed run failed).
        text: The verdict in words.
        input: The perturbed input.
        frames_output: The output that decides the verdict.
        threshold: Relative-L2 movement of the frames output that counts as "moved".
        noise_rms: What the noise scales are relative to (the input's RMS, or the reference output's when the input
            is all zeros, as on a first chunk).
        largest: Output → its largest movement over the replacements that changed the input.
        probe: Every replacement's figures.
    """

    verdict: str
    text: str
    input: str
    frames_output: str
    threshold: float
    noise_rms: float
    largest: Mapping[str, Movement]
    probe: ProbeResult

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "text": self.text, "input": self.input,
                "frames_output": self.frames_output, "threshold": self.threshold, "noise_rms": self.noise_rms,
                "largest": {k: m.to_dict() for k, m in self.largest.items()}, "probe": self.probe.to_dict()}


@dataclass(frozen=True)
class CacheTimeReport:
    """Everything `diagnose_cache_time` found, and the verdict.

    Attributes:
        verdict: Machine-readable codes: ``nature`` (``none``, ``padding-artefact``, ``padding-junk``,
            ``edge-error``, ``real-error``), ``activity`` (``active``, ``inactive``, ``unknown``, ``skipped``),
            ``effect`` (``propagating``, ``non-propagating``, ``nothing-to-propagate``, ``unknown``, ``skipped``).
        summary: The final verdict in words.
    """

    stream: str
    chunk: int
    backend: str
    backend_info: Mapping[str, Any]
    contract: str
    output: str
    input: str
    shape: tuple[int, ...]
    max_abs: float
    tolerance: Mapping[str, Any]
    cache_len_in: Any
    cache_len_out: Any
    cache_len_out_reference: Any
    distribution: DistributionCheck
    significance: SignificanceCheck
    activity: ActivityCheck | None
    propagation: PropagationCheck | None
    verdict: Mapping[str, str]
    summary: str
    notes: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "kind": "cache-time",
            "stream": self.stream, "chunk": self.chunk, "backend": self.backend,
            "backend_info": dict(self.backend_info), "contract": self.contract, "output": self.output,
            "input": self.input, "shape": list(self.shape), "max_abs": _jf(self.max_abs),
            "tolerance": dict(self.tolerance),
            "cache_last_channel_len": {"in": self.cache_len_in, "out": self.cache_len_out,
                                       "out_reference": self.cache_len_out_reference},
            "checks": {
                "distribution": self.distribution.to_dict(),
                "significance": self.significance.to_dict(),
                "activity": self.activity.to_dict() if self.activity else None,
                "propagation": self.propagation.to_dict() if self.propagation else None,
            },
            "verdict": dict(self.verdict), "summary": self.summary, "notes": list(self.notes),
            "settings": dict(self.settings),
        }

    def render(self) -> str:
        """Plain text for a terminal or a CI log."""
        lines = [f"cache_last_time diagnostic — stream {self.stream!r}, chunk {self.chunk}, backend {self.backend}",
                 f"  {self.output} {list(self.shape)}: max-abs error {self.max_abs:.3g}"
                 + (f" (atol {self.tolerance.get('atol'):g}: {'passes' if self.tolerance.get('passed') else 'fails'}"
                    f"{', tightened' if self.tolerance.get('tightened') else ''})"
                    if self.tolerance.get("atol") is not None else ""),
                 f"  cache_last_channel_len: in {self.cache_len_in}, out {self.cache_len_out}"
                 f" (reference out {self.cache_len_out_reference})",
                 f"  (1) distribution: {self.distribution.text}"]
        d = self.distribution
        if d.positions:
            lines.append("      mean |error| per position: " + ", ".join(f"{v:.3g}" for v in d.position_mean_abs))
        if d.layer_mean_abs:
            lines.append("      mean |error| per layer:    " + ", ".join(f"{v:.3g}" for v in d.layer_mean_abs))
        lines.append(f"  (2) significance: {self.significance.text}")
        if self.activity is not None:
            lines.append(f"  (3) activity: {self.activity.text}")
            for v in self.activity.probe.variants:
                moved = ", ".join(f"{k} {m.rel_l2:.3g}" for k, m in v.movements.items()
                                  if k != self.output and (m.moved or k == self.activity.frames_output))
                lines.append(f"      {v.label:<18} rel-L2 movement: {moved or v.error or '-'}")
        else:
            lines.append("  (3) activity: skipped (no backend)")
        if self.propagation is not None:
            lines.append(f"  (4) propagation: {self.propagation.text}")
        else:
            lines.append("  (4) propagation: skipped (no backend)")
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines.append(f"verdict: {self.summary}")
        return "\n".join(lines)


def diagnose_cache_time(store: Any, contract: Contract, backend: Any | None, chunk: int, *,
                        stream: str | None = None, backend_outputs: Mapping[str, np.ndarray] | None = None,
                        propagation_chunks: int = 3, seed: int = 0,
                        progress: Callable[[str], None] | None = None) -> CacheTimeReport:
    """Run the four `cache_last_time` checks on one chunk and conclude.

    Args:
        store: An open store (`store.Store`).
        contract: The export's contract; `contract.diagnostics` names the tensors and holds the settings
            (`noise_scales`, `significance_threshold`; `extra` may set ``negligible_abs``, ``concentration``,
            ``activity_min_rel``).
        backend: An *active* backend, or None to diagnose `backend_outputs` alone (checks 3-4 are then skipped).
        chunk: Chunk index K.
        stream: Stream name (default: the store's only stream).
        backend_outputs: The backend's outputs for chunk K (reference names, model layout), e.g. from a recorded
            run; by default the chunk is run through `backend` functionally.
        propagation_chunks: How many later chunks check (4) runs.
        seed: Seed of the perturbation noise.
        progress: Called with a short message before each stage.
    """
    from inspector.diagnostics.chunkdata import resolve_stream

    say = progress or (lambda _msg: None)
    dg = contract.diagnostics
    extra = dict(dg.extra or {})
    negligible = float(extra.get("negligible_abs", DEFAULT_NEGLIGIBLE_ABS))
    concentration = float(extra.get("concentration", DEFAULT_CONCENTRATION))
    min_rel = float(extra.get("activity_min_rel", DEFAULT_ACTIVITY_MIN_REL))
    out_name, in_name = dg.cache_time_output, dg.cache_time_input
    frames = dg.frames_output
    stream = resolve_stream(store, stream)
    if backend is None and backend_outputs is None:
        raise InspectorError("the cache_last_time diagnostic needs a backend or the backend's outputs of the chunk.")

    say(f"loading chunk {chunk} of stream {stream!r}")
    data = load_chunk(store, contract, stream, chunk)
    feeds = model_feeds(contract, data)
    for name, where in ((in_name, data.inputs), (out_name, data.outputs)):
        if name not in where:
            raise InspectorError(
                f"chunk {chunk} of stream {stream!r} has no tensor {name!r}; contract {contract.name!r} names it in "
                f"diagnostics. Set diagnostics.cache_time_input/cache_time_output to this export's names.")
    if backend_outputs is None:
        say(f"running chunk {chunk} through {backend.name}")
        backend_outputs = backend.run(feeds)
    if out_name not in backend_outputs:
        raise InspectorError(f"the backend returned no {out_name!r} for chunk {chunk}; it returned "
                             f"{', '.join(sorted(backend_outputs))}.")
    out = np.asarray(backend_outputs[out_name])
    ref = np.asarray(data.outputs[out_name])
    spec = _spec(contract, out_name)
    axes = CacheAxes.from_spec(ref.ndim, spec.axes if spec else None)

    say("checks (1) distribution and (2) significance")
    dist = distribution_check(out, ref, axes, significance_threshold=dg.significance_threshold,
                              negligible_abs=negligible, concentration=concentration)
    sig = significance_check(out, ref, dg.significance_threshold, negligible_abs=negligible)

    len_in = scalar_or_list(data.inputs.get(dg.cache_len_input))
    len_out = scalar_or_list(backend_outputs.get(dg.cache_len_output))
    len_out_ref = scalar_or_list(data.outputs.get(dg.cache_len_output))
    tolerance = _tolerance(contract, backend, out_name, out, ref, feeds, backend_outputs, chunk)

    activity = None
    if backend is not None:
        say(f"check (3) activity: perturbing {in_name}")
        activity = activity_check(backend, feeds, in_name, frames, dg.noise_scales,
                                  reference_rms=rms(ref), threshold=min_rel, seed=seed)

    propagation = None
    if backend is not None:
        say(f"check (4) propagation over {propagation_chunks} chunk(s)")
        floor = activity.probe.noise_floor.get(frames) if activity else None
        atol = _frames_atol(contract, backend, frames)
        propagation = propagation_check(
            backend, contract, store, stream, chunk, out_name, out, ref, chunks=propagation_chunks,
            frames_output=frames, atol=atol, noise_floor=floor.max_abs if floor else 0.0,
            inactive_input=activity is not None and activity.verdict == "inactive", progress=say)

    verdict, summary, notes = conclude(dist, sig, activity, propagation, len_in, len_out, in_name, tolerance)
    info = {}
    if backend is not None:
        try:
            info = backend.info().to_dict()
        except Exception:  # noqa: BLE001 — info is decoration; a backend without it still gets diagnosed
            info = {"name": backend.name}
    return CacheTimeReport(
        stream=stream, chunk=chunk, backend=getattr(backend, "name", "") or "recorded", backend_info=info,
        contract=contract.name, output=out_name, input=in_name, shape=tuple(out.shape),
        max_abs=dist.max_abs, tolerance=tolerance, cache_len_in=len_in, cache_len_out=len_out,
        cache_len_out_reference=len_out_ref, distribution=dist, significance=sig, activity=activity,
        propagation=propagation, verdict=verdict, summary=summary, notes=tuple(notes),
        settings={"noise_scales": list(dg.noise_scales), "significance_threshold": dg.significance_threshold,
                  "negligible_abs": negligible, "concentration": concentration, "activity_min_rel": min_rel,
                  "propagation_chunks": propagation_chunks, "seed": seed},
    )


def activity_check(backend: Any, feeds: Mapping[str, np.ndarray], input_name: str, frames_output: str,
                   noise_scales: tuple[float, ...], *, reference_rms: float | None = None,
                   threshold: float = DEFAULT_ACTIVITY_MIN_REL, seed: int = 0) -> ActivityCheck:
    """Check (3): perturb `input_name` (noise at `noise_scales` × RMS, and zeros) and see whether outputs move.

    The input counts as *active* when some replacement that changed it moves `frames_output` by more than
    `threshold` in relative L2 and by more than ten times the run-to-run jitter.
    """
    original = np.asarray(feeds[input_name])
    own = rms(original)
    noise_rms = own if own > 0 else (reference_rms or 1.0)
    reps = [*noise_replacements(original, noise_scales, reference_rms=noise_rms, seed=seed),
            zeros_replacement(original)]
    probe = probe_input(backend, feeds, input_name, reps)
    outputs = list(probe.base_outputs)
    largest = {name: m for name in outputs if (m := probe.largest(name)) is not None}
    floor = probe.noise_floor.get(frames_output)
    bar = max(threshold, 10.0 * floor.rel_l2) if floor and math.isfinite(floor.rel_l2) else threshold
    effective = probe.effective_variants()
    failed = [v for v in probe.variants if v.error]
    if not effective:
        why = failed[0].error if failed else f"every replacement left {input_name} unchanged"
        return ActivityCheck("unknown", f"unknown: {why}", input_name, frames_output, bar, noise_rms, largest, probe)
    top = largest.get(frames_output)
    zero_note = ""
    if original.any() and any(v.kind == "zeros" and v.input_change_rms > 0 for v in effective):
        z = next(v for v in effective if v.kind == "zeros").movements.get(frames_output)
        if z is not None:
            zero_note = f"; zeroing it moves {frames_output} by {z.rel_l2:.3g}"
    elif not original.any():
        zero_note = f" ({input_name} is all zeros on this chunk, so zeroing it tests nothing)"
    movers = [n for n, m in largest.items() if m.rel_l2 > bar and n != frames_output]
    if top is not None and top.rel_l2 > bar:
        smallest = min(effective, key=lambda v: v.scale if v.scale is not None else math.inf)
        s_move = smallest.movements.get(frames_output)
        sens = (f"; noise {smallest.scale:g}×RMS already moves it by {s_move.rel_l2:.3g}"
                if s_move is not None and smallest.scale is not None else "")
        text = (f"active: perturbing {input_name} moves {frames_output} by up to {top.rel_l2:.3g} relative L2 "
                f"(max-abs {top.max_abs:.3g}, cosine {top.cosine:.4f}){sens}{zero_note}")
        if movers:
            text += f"; also moves {', '.join(movers)}"
        return ActivityCheck("active", text, input_name, frames_output, bar, noise_rms, largest, probe)
    moved = top.rel_l2 if top is not None else 0.0
    text = (f"inactive (input disconnected): noise up to {max(noise_scales):g}×RMS and zeroing {input_name} move "
            f"{frames_output} by {moved:.3g} relative L2 (threshold {bar:.3g}){zero_note}")
    if movers:
        text += f"; it does move {', '.join(movers)}"
    return ActivityCheck("inactive", text, input_name, frames_output, bar, noise_rms, largest, probe)


def conclude(dist: DistributionCheck, sig: SignificanceCheck, activity: ActivityCheck | None,
             propagation: PropagationCheck | None, len_in: Any, len_out: Any, input_name: str,
             tolerance: Mapping[str, Any]) -> tuple[dict[str, str], str, list[str]]:
    """The final verdict: machine codes, one sentence, and notes."""
    notes: list[str] = []
    # nature of the error
    if dist.verdict == "none" and sig.verdict == "none":
        nature = "none"
        head = f"no significant error in the cache (max-abs {dist.max_abs:.3g})"
    elif dist.edge is not None and sig.verdict == "padding-junk":
        nature = "padding-artefact"
        head = (f"padding-side artefact (error at the {dist.edge} end of the time axis, where the reference is ~0; "
                f"max-abs {dist.max_abs:.3g})")
    elif sig.verdict == "padding-junk":
        nature = "padding-junk"
        head = f"padding junk (error where the reference is ~0; max-abs {dist.max_abs:.3g})"
    elif dist.edge is not None:
        nature = "edge-error"
        head = (f"error at the {dist.edge} end of the time axis where the reference is significant "
                f"(max-abs {dist.max_abs:.3g})")
    else:
        nature = "real-error"
        head = f"real error (max-abs {dist.max_abs:.3g}, {dist.verdict.replace('-', ' ')}, where values matter)"

    act = activity.verdict if activity is not None else "skipped"
    effect = propagation.verdict if propagation is not None else "skipped"
    if propagation is None:
        tail = "propagation not checked (no backend)"
    elif effect == "propagating" and nature == "none":
        tail = (f"an error this small changes {propagation.frames_output} of the next chunk(s) by "
                f"{propagation.max_difference:.3g}"
                + (f" ({propagation.max_difference / propagation.atol:.3g}× its atol): harmless"
                   if propagation.atol else ""))
    elif effect == "propagating":
        gain = f", {propagation.max_difference / propagation.atol:.3g}× its atol" if propagation.atol else ""
        tail = (f"propagating: reaches {propagation.frames_output} of the next chunk(s) (max-abs "
                f"{propagation.max_difference:.3g}{gain})")
        if nature == "padding-artefact":
            tail += "; the next chunk reads that position"
    elif effect == "non-propagating":
        why = (f"the {input_name} input is inactive" if act == "inactive"
               else "the next chunk does not read what differs")
        tail = f"non-propagating because {why}"
    elif effect == "nothing-to-propagate":
        tail = "nothing to propagate (the backend's cache equals the reference's)"
    else:
        tail = f"propagation unknown ({propagation.text})"
    if act == "inactive" and effect != "non-propagating":
        tail += f"; the {input_name} input is inactive (disconnected)"

    zero_len = _all_zero(len_in) and _all_zero(len_out)
    if zero_len:
        tail += "; cache_last_channel_len == 0 in and out"
        notes.append("cache_last_channel_len is 0 in and out of this chunk: the attention cache is not carried "
                     "(the seed contract's loose cache_last_time_out tolerance only holds while it stays 0; "
                     "re-validate with the tightened tolerance when it does not)")
    if tolerance.get("tightened"):
        notes.append(f"the contract's tightened tolerance applies on this chunk "
                     f"({', '.join(tolerance.get('triggers', []))}): atol {tolerance.get('atol')}")
    if activity is not None and act == "active" and effect == "non-propagating":
        notes.append("the cache is used inside this chunk's forward pass, but its error does not reach later "
                     "chunks' frames")
    summary = f"{head}; {tail}"
    return {"nature": nature, "activity": act, "effect": effect}, summary, notes


# --- helpers --------------------------------------------------------------------------------------------------------
def _spec(contract: Contract, ref_name: str) -> Any:
    try:
        return contract.tensor(ref_name)
    except KeyError:
        return None


def _backend_precision(backend: Any) -> tuple[str, str]:
    if backend is None:
        return "", ""
    name = getattr(backend, "name", "") or ""
    try:
        precision = backend.info().precision
    except Exception:  # noqa: BLE001
        precision = ""
    return name, precision


def _tolerance(contract: Contract, backend: Any, out_name: str, out: np.ndarray, ref: np.ndarray,
               feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], chunk: int) -> dict[str, Any]:
    """The tolerance for `out_name` on this chunk (tightened when the contract's triggers fire) and whether it holds."""
    from contracts.rules import tightening_triggered
    from inspector.metrics import CompareSettings, compare

    name, precision = _backend_precision(backend)
    env = {**feeds, **outputs, "chunk": chunk, "prev": None}
    try:
        triggers = tightening_triggered(contract, env)
    except Exception as exc:  # noqa: BLE001 — a bad trigger rule is reported by the run; here it only annotates
        triggers, err = [], str(exc)
    else:
        err = ""
    tol = contract.tolerance_for(out_name, name, precision, tightened=bool(triggers))
    fig = compare(ref, out, CompareSettings(tol.atol, tol.rtol), name=out_name)  # the engine's kernel and rule
    result = {"atol": tol.atol, "rtol": tol.rtol, "passed": fig.passed, "outcome": fig.outcome,
              "tightened": bool(triggers), "triggers": list(triggers)}
    if fig.message:
        result["message"] = fig.message
    if err:
        result["trigger_error"] = err
    return result


def _frames_atol(contract: Contract, backend: Any, frames: str) -> float | None:
    name, precision = _backend_precision(backend)
    tol = contract.tolerance_for(frames, name, precision)
    return tol.atol if tol.atol > 0 else None


def _all_zero(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return all(v == 0 for v in value)
    return value == 0


def _jf(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return x
