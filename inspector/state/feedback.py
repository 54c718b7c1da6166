"""Is the feedback map wired right? Other wirings of a broken closed loop, tried on the chunk where it broke.

A closed loop that breaks on the first chunk fed the backend's own state (the run's second chunk) while the first
chunk matched points at the feedback map: an output fed into the wrong input. Public reports on this model family
include an inference server that sorted state names and so swapped ``cache_last_channel`` and
``cache_last_channel_len``. `feedback_test` re-runs that chunk with every other wiring whose shapes and dtypes fit
(a handful at most) and reports the one that restores parity, if any; `explain_wiring` says what differs from the
contract's map in words ("cache_last_channel and cache_last_channel_len are swapped").
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Sequence

import numpy as np

from contracts.model import Contract
from inspector.diagnostics.perturb import movement
from inspector.state.trajectory import fits_input

MAX_WIRINGS = 16
"""At most this many alternative wirings are tried (each is one backend call)."""


def candidate_sources(contract: Contract, reference_state: Mapping[str, np.ndarray],
                      outputs: Mapping[str, np.ndarray]) -> dict[str, list[str]]:
    """For each fed-back input, the outputs that could feed it: same dtype kind and, after the input's padding rule,
    the same shape as the state the input really takes (`reference_state`, e.g. the first chunk's reference feeds).
    The contract's own source comes first when it fits."""
    out: dict[str, list[str]] = {}
    for fb in contract.feedback:
        want = reference_state.get(fb.target)
        if want is None:
            continue
        want = np.asarray(want)
        fits = [n for n, o in outputs.items() if fits_input(np.asarray(o), want, fb.padding)]
        # Prefer state outputs (anything fed back somewhere) over frames/lengths of the same shape.
        sources = {f.source for f in contract.feedback}
        fits.sort(key=lambda n: (n != fb.source, n not in sources))
        out[fb.target] = fits
    return out


def wirings(contract: Contract, candidates: Mapping[str, Sequence[str]],
            limit: int = MAX_WIRINGS) -> list[dict[str, str]]:
    """Alternative wirings (target → source), the contract's own excluded, each source used at most once when that
    is possible; at most `limit`."""
    own = {f.target: f.source for f in contract.feedback}
    targets = [f.target for f in contract.feedback if candidates.get(f.target)]
    if not targets:
        return []
    out: list[dict[str, str]] = []
    for combo in itertools.product(*(candidates[t] for t in targets)):
        w = dict(zip(targets, combo))
        if all(w[t] == own.get(t) for t in targets):
            continue
        if len(set(combo)) < len(combo):
            continue
        out.append(w)
        if len(out) >= limit:
            break
    return out


def wire(contract: Contract, wiring: Mapping[str, str], outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state inputs a wiring builds from one chunk's outputs (each target's padding rule and dtype applied)."""
    from contracts.feedback import pad_to

    state: dict[str, np.ndarray] = {}
    for fb in contract.feedback:
        src = wiring.get(fb.target)
        if src is None or src not in outputs:
            continue
        value = np.asarray(outputs[src])
        if fb.padding is not None and value.ndim > 0:
            value = pad_to(value, fb.padding)
        want = contract.input(fb.target).dtype
        state[fb.target] = np.ascontiguousarray(value.astype(want, copy=False)) if want != "bfloat16" else value
    return state


def frames_error(outputs: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], frames: str) -> float | None:
    """Max-abs difference of the frames output, by the one comparison kernel (`inspector.metrics.compare`, read as
    `inspector.diagnostics.perturb.movement` reads it): inf on a shape mismatch or a non-finite value the reference
    does not share (identical NaNs are no error); None when there is no figure: either side lacks the output, or it
    is empty (undetermined, never "no error")."""
    a, b = outputs.get(frames), expected.get(frames)
    if a is None or b is None:
        return None
    m = movement(frames, a, b)
    return m.max_abs if m.determined else None


def feedback_test(backend: Any, contract: Contract, chunk: int, stream_feeds: Mapping[str, np.ndarray],
                  reference_state: Mapping[str, np.ndarray], prev_outputs: Mapping[str, np.ndarray],
                  expected: Mapping[str, np.ndarray], frames: str, atol: float, broken: str) -> dict[str, Any]:
    """Re-run a broken chunk with every other wiring of the previous chunk's outputs; which restores parity?

    Args:
        backend: The active backend.
        contract: Its feedback map is the wiring under test.
        chunk: The chunk (for the record).
        stream_feeds: The chunk's stream inputs (audio, length).
        reference_state: State inputs as the model takes them (shapes/dtypes to fit), e.g. the previous chunk's
            reference feeds.
        prev_outputs: The previous chunk's outputs (what is fed back).
        expected: The chunk's reference outputs.
        frames: The output parity is judged on.
        atol: Its tolerance.
        broken: Why the chunk is considered broken (for the record).

    Returns:
        ``{"chunk", "broken", "atol", "contract": {target: source}, "candidates", "tried": [{"wiring",
        "max_abs", "error"}], "restores": wiring | None, "calls"}``.
    """
    own = {f.target: f.source for f in contract.feedback}
    cands = candidate_sources(contract, reference_state, prev_outputs)
    tried = []
    restores = None
    for w in wirings(contract, cands):
        full = {**own, **w}
        feeds = {**stream_feeds, **wire(contract, full, prev_outputs)}
        try:
            got = backend.run(feeds)
            err = frames_error(got, expected, frames)
            error = "" if err is not None else f"no figure: {frames} is missing or empty"
        except Exception as exc:  # noqa: BLE001 — a wiring the runtime rejects is simply not the answer
            err, error = None, f"{type(exc).__name__}: {str(exc)[:300]}"
        tried.append({"wiring": full, "max_abs": err, "error": error})
        if err is not None and err <= atol and (restores is None or err < restores[1]):
            restores = (full, err)
    return {"chunk": chunk, "broken": broken, "atol": atol, "contract": own, "candidates": cands, "tried": tried,
            "restores": restores[0] if restores else None, "restored_max_abs": restores[1] if restores else None,
            "calls": len(tried)}


def wrong_edges(contract_map: Mapping[str, str], better: Mapping[str, str]) -> list[str]:
    """The targets a better wiring feeds from another output than the contract does."""
    return [t for t in contract_map if better.get(t) and better[t] != contract_map[t]]


def explain_wiring(contract_map: Mapping[str, str], better: Mapping[str, str]) -> str:
    """What differs between the contract's wiring and a better one, in words (``""`` when nothing does).

    ``{"cache_last_channel": "cache_last_channel_len_out", "cache_last_channel_len": "cache_last_channel_out"}``
    against the right map gives "cache_last_channel and cache_last_channel_len are swapped in the feedback map".
    """
    wrong = wrong_edges(contract_map, better)
    if not wrong:
        return ""
    if len(wrong) == 2:
        a, b = wrong
        if contract_map[a] == better[b] and contract_map[b] == better[a]:
            return f"{a} and {b} are swapped in the feedback map"
    if len(wrong) > 2 and sorted(contract_map[t] for t in wrong) == sorted(better[t] for t in wrong):
        return f"{', '.join(wrong)} are fed from each other's outputs in the feedback map"
    return "the feedback map feeds " + ", ".join(f"{t} from {contract_map[t]} instead of {better[t]}" for t in wrong)


def sorted_pairing(contract_map: Mapping[str, str]) -> bool:
    """Whether a wiring pairs the k-th output by name with the k-th input by name (what a server that sorts state
    names builds), while that is not the identity of names (``x_out`` → ``x``)."""
    targets, sources = sorted(contract_map), sorted(contract_map.values())
    paired = dict(zip(targets, sources))
    natural = all(s.startswith(t) for t, s in contract_map.items())
    return paired == dict(contract_map) and not natural


def static_suggestion(shape_check: Mapping[str, Any], contract: Contract) -> dict[str, str] | None:
    """From a first-chunk shape check (`trajectory.feedback_shapes`): the wiring the shapes and dtypes imply for the
    edges that do not fit, when each has exactly one fitting fed-back output; None otherwise."""
    edges = shape_check.get("edges") or []
    if all(e.get("ok") for e in edges):
        return None
    sources = {f.source for f in contract.feedback}
    suggestion = {e["target"]: e["source"] for e in edges}
    for e in edges:
        if e.get("ok"):
            continue
        fits = [n for n in e.get("fits", []) if n in sources]
        if len(fits) != 1:
            return None
        suggestion[e["target"]] = fits[0]
    return suggestion


def describe_mismatch(edge: Mapping[str, Any]) -> str:
    """``cache_last_channel_out [1, 2, 256, 64] float32 feeds cache_last_channel_len [1] int64``."""
    return (f"{edge['source']} {list(edge['source_shape'])} {edge['source_dtype']} feeds {edge['target']} "
            f"{list(edge['target_shape'])} {edge['target_dtype']}")


__all__ = ["MAX_WIRINGS", "candidate_sources", "describe_mismatch", "explain_wiring", "feedback_test",
           "frames_error", "sorted_pairing", "static_suggestion", "wire", "wirings", "wrong_edges"]
