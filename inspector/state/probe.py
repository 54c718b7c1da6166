"""The state-sensitivity probe: does the carried state change anything?

At a few chunks of a closed-loop run (the contract's ``diagnostics.probe_chunks``; by default ``early``, ``middle``
and ``late`` of the run's chunks), `StateProbeHook` re-runs the chunk with each state input replaced

- by zeros,
- by the same input as fed to an earlier chunk (the *donor*: the chunk halfway back),
- and, for the cache length, by the number of non-zero frames the attention cache really holds (when that differs
  from the length fed: a cache that holds frames its length hides is what a length stuck at 0 looks like),

and measures how far each output moves against the closed-loop output of that chunk (max-abs and cosine, with
`inspector.diagnostics.perturb`). A replacement equal to the input is skipped (zeroing an all-zero cache says
nothing). The frames output must move by more than its tolerance (the contract's atol for this backend and
precision, or 10 × the run-to-run jitter if that is larger) for the input to count as *used*; otherwise it is
*inert*, and `inspector.state.verdict` fails the run's ``state_carried`` rule.

Cost: at most 7 backend calls per probe chunk (two or three per state input), plus one to measure run-to-run jitter
once per run; 19–22 calls on a 50-chunk run. The hook also runs `inspector.state.feedback.feedback_test` (a few
calls) when the loop breaks on the run's second chunk, the first fed the backend's own state.

The hook records, under ``extra.state`` of the probed chunks (beside the trajectory of `TrajectoryHook`)::

    "probe": {"chunk": 25, "donor": 12, "threshold": 1e-4, "atol": 1e-4, "noise_floor": 0.0,
              "frames_output": "encoder_output", "calls": 6,
              "inputs": {"cache_last_channel": {"role": "attention", "probed": true, "moved": true,
                                                "max_abs": 1.31, "cosine": 0.42, "variant": "zeros",
                                                "variants": [{"label", "kind", "input_change_rms",
                                                              "frames": {"max_abs", "cosine", "rel_l2"},
                                                              "outputs": {name: max_abs}, "error"}, …]}, …}}
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from inspector.hooks import ChunkEvent, RunInfo
from inspector.state.trajectory import TrajectoryHook, scalar

JITTER_FACTOR = 10.0
"""An output must move by more than this many times the run-to-run jitter (and more than its atol)."""


def probe_positions(words: Sequence[str | int], chunks: Sequence[int]) -> list[int]:
    """The chunks to probe: ``early`` (a tenth into the run, at least its second chunk), ``middle``, ``late`` (the
    last chunk), or chunk indices (kept if the run has them), sorted, without repeats.

    The run's first chunk is never probed: it is fed the reference's initial state, not the loop's.
    """
    n = len(chunks)
    if n < 2:
        return []
    pos: set[int] = set()
    for w in words:
        if w == "early":
            pos.add(min(n - 1, max(1, round(n / 10))))
        elif w == "middle":
            pos.add(max(1, n // 2))
        elif w == "late":
            pos.add(n - 1)
        elif isinstance(w, int) and not isinstance(w, bool) and w in chunks:
            p = list(chunks).index(w)
            if p > 0:
                pos.add(p)
    return [chunks[p] for p in sorted(pos)]


def donor_of(chunk: int, chunks: Sequence[int]) -> int | None:
    """The chunk whose state replaces a probed chunk's: halfway back along the run (None for the first chunk)."""
    p = list(chunks).index(chunk)
    return chunks[p // 2] if p > 0 else None


class StateProbeHook(TrajectoryHook):
    """The state trajectory (`TrajectoryHook`) plus the state-sensitivity probe and the feedback-wiring test; its
    `verdicts` are the run's state verdicts (`inspector.state.verdict.state_verdicts`).

    Args:
        probe_chunks: Where to probe (words or chunk indices, see `probe_positions`); default: the contract's
            ``diagnostics.probe_chunks``. An empty tuple turns the probe off.
        fingerprints: Fingerprint every cache per chunk.
        feedback_test: Try other feedback wirings when the loop breaks on its second chunk.
        swap: Also replace each input by an earlier chunk's (the donor's); off halves the probe's calls.
    """

    def __init__(self, probe_chunks: Sequence[str | int] | None = None, fingerprints: bool = True,
                 feedback_test: bool = True, swap: bool = True) -> None:
        super().__init__(fingerprints=fingerprints)
        self.probe_words = None if probe_chunks is None else tuple(probe_chunks)
        self.feedback_test = feedback_test
        self.swap = swap
        self._pending: list[int] = []
        self._donors: set[int] = set()
        self._donor_state: dict[int, dict[str, np.ndarray]] = {}
        self._positions: dict[int, int] = {}
        self._prev: tuple[int, Mapping[str, np.ndarray], Mapping[str, np.ndarray], str | None] | None = None
        self._jitter: float | None = None
        self._feedback_done = False
        self.atol = 0.0

    # --- ChunkHook ---------------------------------------------------------------------------------------------
    def start(self, run: RunInfo) -> None:
        from contracts.rules import tolerance_for

        super().start(run)
        chunks = list(run.spec.chunks)
        words = self.probe_words if self.probe_words is not None else run.contract.diagnostics.probe_chunks
        self._positions = {c: i for i, c in enumerate(chunks)}
        self._pending = probe_positions(words, chunks) if self.closed else []
        self._donors = {d for c in self._pending if (d := donor_of(c, chunks)) is not None}
        self._donor_state = {}
        self._prev = None
        self._jitter = None
        self._feedback_done = False
        frames = self.names.frames if self.names else ""
        self.atol = float(tolerance_for(run.contract, frames, run.spec.backend, run.backend_info.precision).atol) \
            if frames else 0.0

    def chunk(self, event: ChunkEvent) -> Mapping[str, Any] | None:
        rec = super().chunk(event)
        if rec is None:
            return None
        self._keep_donor(event)
        if self.feedback_test and not self._feedback_done and self._positions.get(event.index) == 1:
            self._feedback_done = True
            try:
                test = self._maybe_feedback_test(event)
            except Exception as exc:  # noqa: BLE001 — a failing diagnostic must not lose the chunk's trajectory
                test = {"error": f"{type(exc).__name__}: {exc}"}
            if test is not None:
                rec["feedback_test"] = test
        if self._pending and event.index >= self._pending[0] and event.error is None and event.outputs:
            while self._pending and self._pending[0] <= event.index:
                self._pending.pop(0)
            try:
                rows = ((rec.get("fp") or {}).get(self.names.channel_in) or {}).get("rows") if self.names else None
                rec["probe"] = self.probe(event, cache_rows=rows)
            except Exception as exc:  # noqa: BLE001
                rec["probe"] = {"chunk": event.index, "error": f"{type(exc).__name__}: {exc}"}
        self._prev = (event.index, event.feeds, event.outputs, event.error)
        return rec

    def replay(self, event: ChunkEvent) -> None:
        super().replay(event)
        if not self.closed:
            return
        self._keep_donor(event)
        while self._pending and self._pending[0] <= event.index:
            self._pending.pop(0)  # recorded before the interruption
        if self._positions.get(event.index, 0) >= 1:
            self._feedback_done = True
        self._prev = (event.index, event.feeds, event.outputs, event.error)

    def verdicts(self, records: Sequence[Mapping[str, Any]], run: RunInfo) -> list[Any]:
        """The run's state verdicts (closed loop only), judged from every chunk record, resumed ones included."""
        from inspector.state.verdict import state_verdicts

        if run.spec.mode != "closed-loop":
            return []
        return state_verdicts(records, run.contract, backend=run.spec.backend,
                              precision=run.backend_info.precision)

    # --- the probe ---------------------------------------------------------------------------------------------
    def _keep_donor(self, event: ChunkEvent) -> None:
        if event.index in self._donors and self.names is not None:
            self._donor_state[event.index] = {t: np.array(event.feeds[t]) for t in self.names.state_inputs
                                              if t in event.feeds}

    def probe(self, event: ChunkEvent, cache_rows: int | None = None) -> dict[str, Any]:
        """Probe one chunk (see the module docstring); returns its record.

        Args:
            event: The chunk, as the engine hands it to hooks (its backend is active).
            cache_rows: Non-zero frames of the attention cache fed to the chunk, if already counted.
        """
        from inspector.diagnostics.perturb import Replacement, movements, probe_input, swap_replacement, \
            zeros_replacement

        n = self.names
        assert n is not None and self.run is not None
        backend, feeds, base = event.backend, dict(event.feeds), dict(event.outputs)
        calls = 0
        if self._jitter is None:
            again = movements(backend.run(feeds), base)
            calls += 1
            m = again.get(n.frames)
            if m is None or not m.determined:
                # No figure (the frames output absent or empty): no noise floor and no movement can be measured;
                # an infinite threshold would call every state input inert. The probe records this as its error.
                raise ValueError(f"the frames output {n.frames} gives no figure at chunk {event.index} ("
                                 + ("absent" if m is None else "empty") + "): whether the state is used cannot "
                                 "be measured")
            self._jitter = m.max_abs if math.isfinite(m.max_abs) else math.inf
        threshold = max(self.atol, JITTER_FACTOR * self._jitter)
        donor = donor_of(event.index, self.run.spec.chunks)
        donor_state = self._donor_state.get(donor, {}) if donor is not None else {}
        inputs: dict[str, Any] = {}
        for name in n.state_inputs:
            if name not in feeds:
                continue
            orig = np.asarray(feeds[name])
            reps = [zeros_replacement(orig)]
            if self.swap and name in donor_state and donor_state[name].shape == orig.shape:
                reps.append(swap_replacement(donor_state[name], f"fed to chunk {donor}"))
            if name == n.len_in and n.channel_in in feeds:
                rows = cache_rows if cache_rows is not None else _cache_rows(self, feeds[n.channel_in])
                if rows is not None and rows != scalar(orig):
                    reps.append(Replacement(f"= {rows}, the non-zero frames {n.channel_in} holds", "rows",
                                            np.full_like(orig, rows)))
            reps = [r for r in reps if not (r.value.shape == orig.shape and np.array_equal(r.value, orig))]
            entry: dict[str, Any] = {"role": n.role(name), "probed": False, "moved": False, "max_abs": None,
                                     "cosine": None, "variant": "", "variants": []}
            if reps:
                res = probe_input(backend, feeds, name, reps, base_outputs=base, measure_noise_floor=False)
                calls += len(reps)
                for v in res.variants:
                    fm = v.movements.get(n.frames)
                    var = {"label": v.label, "kind": v.kind, "input_change_rms": _f(v.input_change_rms),
                           "frames": None if fm is None else {"max_abs": _f(fm.max_abs), "cosine": _f(fm.cosine),
                                                              "rel_l2": _f(fm.rel_l2),
                                                              "shape_changed": fm.shape_changed},
                           "outputs": {k: _f(m.max_abs) for k, m in v.movements.items()}, "error": v.error}
                    if not v.error and fm is not None and not fm.determined:
                        var["error"] = f"no figure: {n.frames} is empty"  # unknown, so never "inert"
                    entry["variants"].append(var)
                    if var["error"] or fm is None or v.input_change_rms == 0.0:
                        continue
                    entry["probed"] = True
                    amount = math.inf if fm.shape_changed else fm.max_abs
                    if entry["max_abs"] is None or amount > entry["max_abs"]:
                        entry.update(max_abs=amount, cosine=fm.cosine, variant=v.label)
                entry["moved"] = entry["max_abs"] is not None and entry["max_abs"] > threshold
                entry["max_abs"] = _f(entry["max_abs"])
                entry["cosine"] = _f(entry["cosine"])
            inputs[name] = entry
        return {"chunk": event.index, "donor": donor, "threshold": threshold, "atol": self.atol,
                "noise_floor": _f(self._jitter), "frames_output": n.frames, "calls": calls, "inputs": inputs}

    # --- the feedback-wiring test ---------------------------------------------------------------------------------
    def _maybe_feedback_test(self, event: ChunkEvent) -> dict[str, Any] | None:
        from inspector.state.feedback import feedback_test, frames_error

        n = self.names
        assert n is not None and self.run is not None
        prev = self._prev
        if prev is None or prev[3] is not None or not prev[2] or self.run.spec.baseline:
            return None  # no clean first chunk to wire from, or the "expected" side is fed the same wiring
        if not event.expected:
            return None
        if event.error is not None:
            broken = f"the backend raised: {event.error[:300]}"
        else:
            err = frames_error(event.outputs, event.expected, n.frames)
            if err is None or err <= self.atol:
                return None
            broken = f"{n.frames} max-abs {err:.3g} > atol {self.atol:.3g}"
        stream = {k: v for k, v in event.feeds.items() if k not in n.state_inputs}
        prev_state = {k: v for k, v in prev[1].items() if k in n.state_inputs}
        return feedback_test(event.backend, self.run.contract, event.index, stream, prev_state, prev[2],
                             event.expected, n.frames, self.atol, broken)


def _cache_rows(hook: StateProbeHook, cache: np.ndarray) -> int | None:
    from inspector.state.trajectory import fingerprint, time_axis_of

    arr = np.asarray(cache)
    if arr.ndim < 2 or hook.names is None or hook.run is None:
        return None
    spec = hook._specs.get(hook.names.channel_in)
    return fingerprint(arr, time_axis_of(spec, arr, hook.run.contract)).rows


def _f(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
