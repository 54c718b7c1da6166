"""Check (4) of the `cache_last_time` diagnostic: does the error of one state output reach later chunks?

Starting after chunk K, the backend runs the next few chunks in closed loop twice from the same state — the
reference's state inputs of chunk K+1 — except for one input: run A gets the *backend's* chunk-K value of the
output under test (`cache_last_time_out` → `cache_last_time`), run B the *reference's*. Stream inputs come from the
reference in both. Whatever differs between A and B afterwards was caused by that output's error alone: its
difference on `encoder_output` (and every other output) is what propagates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from contracts.feedback import next_state
from contracts.model import Contract
from inspector.diagnostics.chunkdata import load_chunk, model_feeds
from inspector.diagnostics.perturb import Movement, movement, movements


@dataclass(frozen=True)
class PropagationStep:
    """One later chunk of the two closed-loop runs.

    Attributes:
        chunk: Chunk index.
        difference: Output → movement of run A (backend's value fed) against run B (reference's value fed).
        error_a, error_b: Max-abs error of the frames output of A and B against the reference.
    """

    chunk: int
    difference: Mapping[str, Movement]
    error_a: float
    error_b: float

    def to_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "difference": {k: m.to_dict() for k, m in self.difference.items()},
                "frames_error_with_backend_value": _jf(self.error_a),
                "frames_error_with_reference_value": _jf(self.error_b)}


@dataclass(frozen=True)
class PropagationCheck:
    """Check (4): whether the state output's error reaches later chunks.

    Attributes:
        verdict: ``"propagating"``, ``"non-propagating"``, ``"nothing-to-propagate"`` (the backend's value equals
            the reference's) or ``"unknown"`` (no later chunk, no backend).
        text: The verdict in words.
        output, input: The state output under test and the input it feeds.
        injected_max_abs: ``max |backend value - reference value|`` fed into chunk K+1.
        frames_output: The frames output watched.
        max_difference: Largest max-abs difference A − B on the frames output over the chunks run.
        gain: ``max_difference / injected_max_abs``.
        atol: The frames output's absolute tolerance (None if the contract has none).
        trend: ``"decays"``, ``"persists"`` or ``"grows"`` over the chunks run (None with fewer than two).
        steps: Per chunk figures.
        noise_floor: Max-abs run-to-run jitter of the frames output; differences at or below it do not count.
    """

    verdict: str
    text: str
    output: str
    input: str
    injected_max_abs: float
    frames_output: str
    max_difference: float
    gain: float | None
    atol: float | None
    trend: str | None
    steps: tuple[PropagationStep, ...]
    noise_floor: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "text": self.text, "output": self.output, "input": self.input,
                "injected_max_abs": _jf(self.injected_max_abs), "frames_output": self.frames_output,
                "max_difference": _jf(self.max_difference), "gain": _jf(self.gain), "atol": self.atol,
                "trend": self.trend, "noise_floor": _jf(self.noise_floor),
                "steps": [s.to_dict() for s in self.steps]}


def propagation_check(backend: Any, contract: Contract, store: Any, stream: str, chunk: int, output: str,
                      backend_value: np.ndarray, reference_value: np.ndarray, *, chunks: int = 3,
                      frames_output: str | None = None, atol: float | None = None, noise_floor: float = 0.0,
                      inactive_input: bool = False,
                      progress: Callable[[str], None] | None = None) -> PropagationCheck:
    """Run chunks K+1..K+`chunks` twice in closed loop and measure what `output`'s error changes.

    Args:
        backend: An active backend.
        contract: The contract (feedback map, names, frames output).
        store: The store holding the reference chunks.
        stream: Stream name.
        chunk: Chunk K, whose `output` is under test.
        output: The state output (reference name), e.g. ``cache_last_time_out``.
        backend_value: The backend's chunk-K value of `output` (model layout).
        reference_value: The reference's chunk-K value of `output` (model layout).
        chunks: How many later chunks to run (fewer if the stream ends).
        frames_output: The output whose movement decides the verdict (default: the contract's frames output).
        atol: That output's absolute tolerance, to say how large the difference is.
        noise_floor: Run-to-run jitter of the frames output; a difference must exceed it to count.
        inactive_input: The activity check found the input unused: named as the reason when nothing propagates.
        progress: Called with a short message before each run.
    """
    fb = next((f for f in contract.feedback if f.source == output), None)
    frames = frames_output or (contract.frames_output.ref_name if contract.frames_output else "encoder_output")
    target = fb.target if fb is not None else output.removesuffix("_out")
    # The kernel's max-abs (inf on a shape or non-finite mismatch, NaN for an empty cache: no figure).
    injected = movement(output, backend_value, reference_value).max_abs

    def result(verdict: str, text: str, steps: tuple[PropagationStep, ...] = (), max_diff: float = 0.0,
               trend: str | None = None) -> PropagationCheck:
        gain = max_diff / injected if injected and math.isfinite(injected) and steps else None
        return PropagationCheck(verdict, text, output, target, injected, frames, max_diff, gain, atol, trend, steps,
                                noise_floor)

    if fb is None:
        return result("unknown", f"the contract has no feedback from {output}: it does not feed a later chunk")
    later = [k for k in range(chunk + 1, chunk + 1 + max(0, chunks)) if k in set(store.chunk_indices(stream))]
    later = _contiguous(later, chunk + 1)
    if not later:
        return result("unknown", f"chunk {chunk} is the last chunk of stream {stream!r}: nothing to propagate into")
    if injected == 0.0:
        return result("nothing-to-propagate",
                      f"the backend's {output} equals the reference's exactly: there is no error to propagate")

    first = load_chunk(store, contract, stream, later[0])
    start = {name: first.inputs[name] for name in contract.state_inputs if name in first.inputs}
    start_a = dict(start)
    start_a[target] = next_state(contract, {output: np.asarray(backend_value)})[target]
    start_b = dict(start)
    start_b[target] = next_state(contract, {output: np.asarray(reference_value)})[target]

    state_names = set(contract.state_inputs)
    stream_feeds, refs = [], []
    for k in later:
        data = first if k == later[0] else load_chunk(store, contract, stream, k)
        feeds = model_feeds(contract, data)
        stream_feeds.append({n: v for n, v in feeds.items() if n not in state_names})
        refs.append(data.outputs)

    def closed_loop(initial: Mapping[str, np.ndarray], label: str) -> list[dict[str, np.ndarray]]:
        if progress:
            progress(f"propagation: chunks {later[0]}..{later[-1]} in closed loop with the {label} {output}")
        outs, state = [], None
        for feeds in stream_feeds:
            o, state = backend.step(feeds, state, initial_state=initial)
            outs.append({n: np.array(v, copy=True) for n, v in o.items()})
        return outs

    run_a = closed_loop(start_a, "backend's")
    run_b = closed_loop(start_b, "reference's")
    steps = []
    for k, a, b, ref in zip(later, run_a, run_b, refs):
        diff = movements(a, b)
        err_a = movement(frames, a[frames], ref[frames]).max_abs if frames in a and frames in ref else math.nan
        err_b = movement(frames, b[frames], ref[frames]).max_abs if frames in b and frames in ref else math.nan
        steps.append(PropagationStep(k, diff, err_a, err_b))
    per_chunk = [s.difference[frames].max_abs if frames in s.difference else 0.0 for s in steps]
    max_diff = max(per_chunk) if per_chunk else 0.0
    trend = None
    if len(per_chunk) >= 2 and per_chunk[0] > 0:
        ratio = per_chunk[-1] / per_chunk[0]
        trend = "decays" if ratio < 0.5 else "grows" if ratio > 2.0 else "persists"
    moved_others = sorted({n for s in steps for n, m in s.difference.items()
                           if n != frames and m.max_abs > noise_floor})
    span = f"chunk {later[0]}" if len(later) == 1 else f"chunks {later[0]}..{later[-1]}"
    if max_diff > noise_floor:
        size = f", {max_diff / atol:.3g}× its atol {atol:g}" if atol else ""
        text = (f"propagating: the {output} error (max-abs {injected:.3g}) reaches {frames} of {span} "
                f"(max-abs difference {max_diff:.3g}{size}; first {per_chunk[0]:.3g}, last {per_chunk[-1]:.3g}"
                f"{'' if trend is None else ', ' + trend})")
        if moved_others:
            text += f"; it also moves {', '.join(moved_others)}"
        return result("propagating", text, tuple(steps), max_diff, trend)
    why = (f"the {target} input is inactive (perturbing it moves no output)" if inactive_input
           else f"the next chunk does not read the values that differ")
    text = (f"non-propagating: feeding the backend's {output} instead of the reference's (max-abs difference "
            f"{injected:.3g}) changes {frames} of {span} by {max_diff:.3g}"
            f"{'' if not noise_floor else f' (≤ run-to-run jitter {noise_floor:.3g})'}, because {why}")
    if moved_others:
        text += f"; it does move {', '.join(moved_others)}"
    return result("non-propagating", text, tuple(steps), max_diff, trend)


def _contiguous(indices: list[int], start: int) -> list[int]:
    out = []
    for k in indices:
        if k != start + len(out):
            break
        out.append(k)
    return out


def _jf(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return x
