"""The attribution verdict, read off the ladder's steps.

- ``pass``: the chunk passes as run; nothing to attribute.
- ``precision``: a step that turns a reduced-precision switch off (TF32, an FP16 engine, 16-bit math in the graph)
  makes the chunk pass; the verdict names that switch and the headline figure before and after it.
- ``bug``: no step passes and the error stays above tolerance on every strict-FP32 step that ran (or the backend
  fails where ``ort-cpu`` passes on the same FP32 model: its kernels or conversion, not precision); the verdict points
  to `inspector triage` on that chunk.
- ``mixed``: no step passes, but the stricter math removes part of the failure: a tensor failing as run passes at
  strict FP32, or the headline error drops by `MIXED_FACTOR` or more. Both figures are given.
- ``undetermined``: the as-run step, or every strict step, could not run: the verdict says which and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from inspector.attribution.ladder import StepResult

KINDS = ("pass", "precision", "bug", "mixed", "undetermined")
MIXED_FACTOR = 2.0
"""A strict step whose headline error is at least this many times smaller than as run: precision explains part."""

EXIT_CODES = {"pass": 0, "precision": 0, "bug": 0, "mixed": 0, "undetermined": 3}
"""`inspector attribute` exits 0 when it could attribute (or there was nothing to), 3 when undetermined."""

_WITH = {"TF32": "with TF32 off", "FP16 (TensorRT)": "with an FP32 engine (TF32 off)"}


@dataclass(frozen=True)
class Verdict:
    """What caused the chunk's failure.

    Attributes:
        kind: One of `KINDS`.
        switch: The reduced-precision switch that explains it (precision, mixed), else "".
        summary: One sentence, e.g. ``TF32: encoder_output 2.06e-03 → 2.90e-06 with TF32 off, within tolerance``.
        tensor: The headline tensor (the worst failing one as run), "" when only invariants failed.
        before, after: Its max-abs error as run and at the deciding step.
        notes: Steps that could not run, and other caveats.
        triage: The `inspector triage` command to run next (bug, mixed), else "".
    """

    kind: str
    switch: str = ""
    summary: str = ""
    tensor: str = ""
    before: float | None = None
    after: float | None = None
    notes: tuple[str, ...] = ()
    triage: str = ""

    @property
    def short(self) -> str:
        """``precision: TF32``, ``bug: see triage``, ``mixed: float16 math + bug``, ``undetermined``, ``pass``."""
        if self.kind == "precision":
            return f"precision: {self.switch}"
        if self.kind == "bug":
            return "bug: see triage"
        if self.kind == "mixed":
            return f"mixed: {self.switch} + bug"
        return self.kind

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "short": self.short, "switch": self.switch, "summary": self.summary,
                "tensor": self.tensor, "before": self.before, "after": self.after, "notes": list(self.notes),
                "triage": self.triage}


@dataclass(frozen=True)
class TriageHint:
    """What `decide` needs to write the triage command."""

    store: str
    model: str
    contract: str
    chunk: int
    stream: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def command(self, backend: str, baseline: str | None = None) -> str:
        cmd = (f"inspector triage --store {self.store} --model {self.model} --contract {self.contract} "
               f"--chunk {self.chunk}" + (f" --stream {self.stream}" if self.stream else "") + f" --backend {backend}")
        if baseline:
            cmd += f" --baseline {baseline}"
        else:
            cmd += " --baseline-model KNOWN_GOOD.onnx"
        return cmd


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def headline_tensor(as_run: StepResult) -> str:
    """The tensor that failed worst as run (largest max-abs over atol), "" when only invariants failed."""
    failed = list((as_run.record or {}).get("failed_tensors") or [])
    if not failed:
        return ""

    def key(name: str) -> float:
        e = as_run.excess(name)
        if e is not None:
            return e
        m = as_run.max_abs(name)
        return float("inf") if m is None else m

    return max(failed, key=key)


def _tol(r: StepResult, name: str) -> str:
    t = r.tensor(name)
    if t.get("atol") is None:
        return ""
    return f"atol {t['atol']:.3g}" + (f", rtol {t['rtol']:.3g}" if t.get("rtol") else "")


def decide(results: Sequence[StepResult], hint: TriageHint) -> Verdict:
    """The verdict for a ladder's results (the first is the as-run step)."""
    as_run, later = results[0], list(results[1:])
    notes = tuple(f"step {r.step.key} could not run: {r.error}" if r.status == "error" else
                  f"step {r.step.key} undetermined: {r.error}" for r in later if r.status in ("error", "undetermined"))
    if not as_run.ran:
        return Verdict("undetermined", summary=f"the chunk could not be run as the run ran it: {as_run.error}",
                       notes=notes)
    if as_run.status == "pass":
        return Verdict("pass", summary=f"chunk {hint.chunk} passes as run ({as_run.step.backend}); nothing to "
                                       "attribute", notes=notes)
    name = headline_tensor(as_run)
    before = as_run.max_abs(name) if name else None
    since_fail: list[StepResult] = []
    for r in later:
        if r.status == "skipped":
            continue
        since_fail.append(r)
        if r.status == "fail":
            since_fail = []
        if r.status != "pass":
            continue
        after = r.max_abs(name) if name else None
        figure = f"{name} {_f(before)} → {_f(after)}" if name else "the failing invariants hold"
        skipped_between = [s for s in since_fail[:-1] if s.status == "error"]
        caveat = tuple(f"the change of step {s.step.key} ({s.step.change}) could not be tested on its own"
                       for s in skipped_between)
        if r.step.key == "strict-cpu":
            return Verdict(
                "bug", summary=f"{as_run.step.backend} fails at strict FP32 where ort-cpu passes on the same model "
                               f"({figure}, {_tol(r, name) or 'within tolerance'}): its kernels or its conversion of "
                               "the graph, not precision",
                tensor=name, before=before, after=after, notes=notes + caveat,
                triage=hint.command(as_run.step.backend, "ort-cpu"))
        switches = [s.step.switch for s in since_fail if s.step.switch]
        switch = " + ".join(dict.fromkeys(switches)) or r.step.key
        effect = " and ".join(_WITH.get(s, "with the model upcast to FP32" if "math" in s else f"({s})")
                              for s in dict.fromkeys(switches))
        tol = _tol(r, name)
        return Verdict("precision", switch=switch, tensor=name, before=before, after=after, notes=notes + caveat,
                       summary=f"{switch}: {figure} {effect}, within tolerance" + (f" ({tol})" if tol else ""))
    strict = [r for r in [as_run, *later] if r.ran and r.step.strict]
    if not strict:
        why = "; ".join(notes) or "no strict-FP32 step applies to this backend and model"
        return Verdict("undetermined", tensor=name, before=before, notes=notes,
                       summary=f"no strict-FP32 step ran, so precision cannot be told from a bug: {why}")
    final = strict[-1]
    after = final.max_abs(name) if name else None
    gone = [t for t in as_run.failures() if t not in final.failures()]
    stays = final.failures()
    ran_on = ", ".join(dict.fromkeys(r.step.backend for r in strict))
    triage = hint.command(STRICT_TRIAGE_BACKEND)
    dropped = (before is not None and after is not None and after > 0 and before / after >= MIXED_FACTOR)
    switches = [r.step.switch for r in later if r.ran and r.step.switch and r.step.key != "strict-cpu"]
    if (gone or dropped) and switches:
        switch = " + ".join(dict.fromkeys(switches))
        parts = []
        for t in gone:
            if t.startswith("invariant "):
                parts.append(f"{t} holds")
            else:
                parts.append(f"{t} {_f(as_run.max_abs(t))} → {_f(final.max_abs(t))} (within tolerance)")
        for t in stays:
            if not t.startswith("invariant "):
                parts.append(f"{t} {_f(as_run.max_abs(t))} → {_f(final.max_abs(t))} still above "
                             f"{_tol(final, t) or 'tolerance'}")
            else:
                parts.append(f"{t} still fails")
        return Verdict("mixed", switch=switch, tensor=name, before=before, after=after, notes=notes, triage=triage,
                       summary=f"precision ({switch}) explains part: " + "; ".join(parts)
                               + f" at strict FP32 ({final.step.key} on {final.step.backend}): a bug remains")
    what = (f"{name} {_f(before)} as run, {_f(after)} at strict FP32, above {_tol(final, name) or 'tolerance'}"
            if name else "the failing invariants still fail")
    return Verdict("bug", tensor=name, before=before, after=after, notes=notes, triage=triage,
                   summary=f"the error stays above tolerance at strict FP32 on every backend that ran ({ran_on}): "
                           f"{what}")


STRICT_TRIAGE_BACKEND = "ort-cpu"

__all__ = ["EXIT_CODES", "KINDS", "MIXED_FACTOR", "TriageHint", "Verdict", "decide", "headline_tensor"]
