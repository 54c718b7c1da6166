"""A closed loop with the state hooks only, recording nothing: what `inspector diagnose state` runs.

The parity engine records every run in the store; a diagnosis should not. `inspect_state` steps a backend through a
stream's chunks exactly as the engine's closed loop does (stream inputs from the reference, state from the backend's
own outputs through the contract's feedback map, the first chunk from the reference's state; after a chunk whose
backend raised, the state restarts from the reference's next chunk), hands every chunk to a `StateProbeHook`, builds
minimal chunk records (the hook's figures, and the contract's invariants so a zero-length rule is recognised) and
judges them with `inspector.state.verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from contracts.model import Contract
from inspector.acceptance import Verdict
from inspector.state.verdict import StateAssessment, assess_state, state_verdicts


@dataclass(frozen=True)
class StateInspection:
    """What `inspect_state` found.

    Attributes:
        stream: The stream.
        chunks: The chunks run.
        assessment: The judgement, with its numbers.
        verdicts: The state verdicts (as a batch run would show them).
        records: The minimal chunk records (``chunk``, ``status``, ``extra.state``, ``invariants``).
    """

    stream: str
    chunks: tuple[int, ...]
    assessment: StateAssessment
    verdicts: tuple[Verdict, ...]
    records: tuple[Mapping[str, Any], ...]

    def render(self) -> str:
        """The verdicts as text lines, the state verdict first."""
        a = self.assessment
        span = f"chunks {self.chunks[0]}..{self.chunks[-1]} ({len(self.chunks)})"
        lines = [f"stream {self.stream!r}, {span}, closed loop",
                 f"state: {a.status.upper()}: {a.summary}"]
        for v in self.verdicts[1:]:
            lines.append(f"{v.rule}: {v.status.upper()}: {v.message}")
        for f in a.findings:
            lines.append(f"  - {f}")
        for p in a.probes:
            moved = ", ".join(f"{n} {'used' if e.get('moved') else ('inert' if e.get('probed') else 'not probed')} "
                              f"(max-abs {_num(e.get('max_abs'))})" for n, e in p.get("inputs", {}).items())
            lines.append(f"  probe chunk {p['chunk']} (donor {p.get('donor')}): {moved}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "chunks": list(self.chunks), "assessment": self.assessment.to_dict(),
                "verdicts": [v.to_dict() for v in self.verdicts]}


def _num(x: Any) -> str:
    return "–" if x is None else ("0.0" if x == 0 else f"{float(x):.3g}")


def inspect_state(store: Any, contract: Contract, backend: Any, *, stream: str, chunks: Sequence[int],
                  probe_chunks: Sequence[str | int] | None = None,
                  progress: Callable[[str], None] | None = None) -> StateInspection:
    """Run `backend` (active) in closed loop over `chunks` of `stream` with the state hooks; judge the state.

    Args:
        store: An open store.
        contract: The contract (feedback map, diagnostics settings, invariants).
        backend: An active backend.
        stream: The stream.
        chunks: Consecutive chunk indices to run.
        probe_chunks: Where to probe (default: the contract's ``diagnostics.probe_chunks``).
        progress: Called with a line now and then.
    """
    from contracts.rules import compile_rule
    from inspector.engine import load_chunk, reference_info
    from inspector.hooks import ChunkEvent, RunInfo, RunSpec
    from inspector.state.probe import StateProbeHook

    say = progress or (lambda _m: None)
    chunks = tuple(chunks)
    spec = RunSpec(backend.name, "closed-loop", stream, chunks)
    info = backend.info()
    run = RunInfo("diagnose-state", spec, contract, info, None, reference_info(store), str(backend.model or ""), "")
    hook = StateProbeHook(probe_chunks=probe_chunks)
    hook.start(run)
    rules = [(inv, compile_rule(inv.check)) for inv in contract.invariants if "closed-loop" in inv.modes]
    state_names = set(contract.state_inputs)
    state: Any = None
    prev: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    for k, index in enumerate(chunks):
        ref = load_chunk(store, contract, stream, index)
        stream_feeds = {n: v for n, v in ref.inputs.items() if n not in state_names}
        init = {n: v for n, v in ref.inputs.items() if n in state_names} if state is None else None
        feeds = {**(init if init is not None else backend.state_arrays(state)), **stream_feeds}
        error = None
        outputs: dict[str, Any] = {}
        try:
            outputs, state = backend.step(stream_feeds, state, init)
        except Exception as exc:  # noqa: BLE001 — a failing chunk is a finding; restart from the reference
            error, state = f"{type(exc).__name__}: {exc}", None
        event = ChunkEvent(stream, index, "closed-loop", feeds, outputs, ref.outputs, state, backend, error)
        extra = hook.chunk(event) or {}
        env = {**feeds, **outputs, "chunk": index, "prev": prev}
        invariants = {}
        for inv, rule in rules:
            res = rule.evaluate(env)
            invariants[inv.id] = {"ok": res.ok, "detail": res.detail, "severity": inv.severity, "kind": inv.kind,
                                  **({"undecided": True} if res.undecided else {})}
        records.append({"stream": stream, "chunk": index, "status": "error" if error else "ok", "error": error,
                        "invariants": invariants, "extra": {hook.name: extra}})
        prev = {**feeds, **outputs}
        if (k + 1) % 10 == 0:
            say(f"chunk {k + 1}/{len(chunks)}")
    verdicts = state_verdicts(records, contract, backend=spec.backend, precision=info.precision)
    # Only the state verdicts: no_growth needs the per-chunk comparisons, which this loop does not make.
    verdicts = [v for v in verdicts if v.kind in ("state_carried", "state_trajectory", "state_feedback")]
    return StateInspection(stream, chunks, assess_state(records, contract), tuple(verdicts), tuple(records))
