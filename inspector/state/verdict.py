"""Did the closed loop carry state? The run's state verdicts, in words, from its chunk records.

Everything here is a pure function of the chunk records (the trajectory and probe figures `StateProbeHook` stores
under ``extra.state``, the invariants the engine evaluated), so a stored run can be re-judged without re-running it,
and an imported streaming summary (``state`` per chunk, no probe) is judged by the same code.

Verdicts (`inspector.acceptance.Verdict`, one JUnit case and one Markdown line each):

- ``state_carried`` (the contract's ``state_carried`` acceptance rule, or that id when the contract has none):
  fails when the attention cache is never carried (its length stays 0; zeroing or swapping it does not move the
  frames output beyond tolerance), when a fed-back cache is inert, when the length is not fed back, or when the
  feedback map is miswired. The message is the verdict in words, e.g. "attention cache never carried
  (cache_last_channel_len stayed 0 for 50 chunks; zeroing cache_last_channel changes encoder_output by 0.0) …".
- ``state_trajectory``: the cache-length trajectory in words (`inspector.importers.summaries.describe_trajectory`,
  the importer's wording): fails on a length stuck at 0, one that grows by padded frames, one not fed back …
- ``state_feedback``: every fed-back output fits the input it feeds; when the loop broke on its second chunk, which
  other wiring (if any) restores parity.
- the contract's ``no_growth`` rule, re-issued as "not meaningful" (status ``undetermined``) when ``state_carried``
  fails: an error that cannot accumulate through the state says nothing by not growing.

Fail-closed: a probe that raised (at a probed chunk, or on a replacement of an input that no other replacement
showed to be used), a recorder that raised, or a feedback test that raised makes its verdict ``undetermined`` with
the exception, never a pass; only a failure the remaining figures already prove stays ``fail``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from contracts.model import Contract
from inspector.acceptance import FAIL, PASS, UNDETERMINED, Verdict, zero_length_rule_note
from inspector.state.trajectory import StateNames, Trajectory, state_of, trajectory_of

STATE_CARRIED = "state_carried"
STATE_TRAJECTORY = "state_trajectory"
STATE_FEEDBACK = "state_feedback"

@dataclass(frozen=True)
class Sensitivity:
    """How one state input moved the frames output over the probed chunks.

    Attributes:
        input: Reference name.
        role: ``attention``, ``conv``, ``length`` or ``state``.
        status: ``used`` (moved the output beyond the threshold at some probed chunk), ``inert`` (probed, never
            did), ``unprobed`` (no replacement changed it: it was the same as zeros and the donor everywhere) or
            ``error`` (a replacement raised and none moved the output: whether it is used is not known).
        max_abs: Largest frames-output movement over every replacement and probed chunk.
        cosine: Cosine of that movement's output with the closed-loop output.
        chunk: Where it was largest.
        variant: Which replacement it was.
        zeroed: Frames-output max-abs movement when the input was zeroed, per probed chunk.
        threshold: The largest threshold applied.
        chunks: The probed chunks.
        rows_variant: For the length: (chunk, value, movement) of setting it to the cache's non-zero frames.
        kinds: The kinds of replacement that changed the input and ran (``zeros``, ``swap``, ``rows``).
    """

    input: str
    role: str
    status: str
    max_abs: float | None
    cosine: float | None
    chunk: int | None
    variant: str
    zeroed: Mapping[int, float | None]
    threshold: float
    chunks: tuple[int, ...]
    rows_variant: tuple[int, int, float | None] | None = None
    kinds: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    """``"chunk K, <label>: <exception>"`` for every replacement that raised."""

    @property
    def zero_max(self) -> float | None:
        vals = [v for v in self.zeroed.values() if v is not None]
        return max(vals) if vals else None

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "role": self.role, "status": self.status, "max_abs": self.max_abs,
                "cosine": self.cosine, "chunk": self.chunk, "variant": self.variant,
                "zeroed": {str(k): v for k, v in self.zeroed.items()}, "threshold": self.threshold,
                "chunks": list(self.chunks), "rows_variant": list(self.rows_variant) if self.rows_variant else None,
                "kinds": list(self.kinds), "errors": list(self.errors)}


@dataclass(frozen=True)
class StateAssessment:
    """Everything the state verdicts say, with the numbers.

    Attributes:
        status: ``pass``, ``fail`` or ``undetermined`` (nothing to judge, lengths only and no probe, or a probe,
            recorder or feedback test raised).
        carried: Whether state was carried (None when it cannot be told).
        summary: The verdict in words.
        headline: Its first words (``attention cache never carried``, ``state carried`` …).
        reasons: Why it failed, one sentence each.
        findings: Further facts worth saying (hidden frames, an inert length input, probe errors …).
        trajectory: The recorded trajectory.
        trajectory_text: The trajectory in words; trajectory_problems: its faults.
        sensitivity: Input → `Sensitivity`.
        probes: The probe records, as stored.
        feedback: ``{"shapes": first-chunk shape check, "test": the wiring test, "suggested": wiring,
            "explanation": words}``, or empty.
        zero_rule: The note for a held zero-length rule, if the contract has one.
    """

    status: str
    carried: bool | None
    summary: str
    headline: str = ""
    reasons: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    trajectory: Trajectory | None = None
    trajectory_text: str = ""
    trajectory_problems: tuple[str, ...] = ()
    sensitivity: Mapping[str, Sensitivity] = field(default_factory=dict)
    probes: tuple[Mapping[str, Any], ...] = ()
    feedback: Mapping[str, Any] = field(default_factory=dict)
    zero_rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "carried": self.carried, "summary": self.summary, "headline": self.headline,
                "reasons": list(self.reasons), "findings": list(self.findings),
                "trajectory": self.trajectory.to_dict() if self.trajectory else None,
                "trajectory_text": self.trajectory_text, "trajectory_problems": list(self.trajectory_problems),
                "sensitivity": {k: s.to_dict() for k, s in self.sensitivity.items()},
                "probes": [dict(p) for p in self.probes], "feedback": dict(self.feedback),
                "zero_rule": self.zero_rule}


# --- judging -------------------------------------------------------------------------------------------------------

MIN_STATE_CHUNKS = 2
"""A trajectory or a state verdict needs at least this many chunks (state flows between chunks)."""


def assess_state(records: Sequence[Mapping[str, Any]], contract: Contract) -> StateAssessment:
    """Judge whether a closed-loop run carried state, from its chunk records."""
    recs = sorted(records, key=lambda r: r["chunk"])
    names = StateNames.of(contract)
    traj = trajectory_of(recs)
    states = [(r["chunk"], state_of(r) or {}) for r in recs]
    probes = tuple(s["probe"] for _, s in states if isinstance(s.get("probe"), Mapping) and "inputs" in s["probe"])
    findings: list[str] = []
    findings += [f"the state probe failed on chunk {s['probe'].get('chunk', c)}: {s['probe']['error']}"
                 for c, s in states if isinstance(s.get("probe"), Mapping) and s["probe"].get("error")]
    findings += [f"the state recorder failed on chunk {c}: {s['error']}" for c, s in states
                 if isinstance(s.get("error"), str)]
    zero_rule = _zero_rule_held(recs, contract)
    if traj is None and not probes:
        return StateAssessment(UNDETERMINED, None, "no state trajectory was recorded (the run is not closed-loop, or the "
                                             "state hooks were not installed)" + _also(findings), "not judged",
                               findings=tuple(findings), zero_rule=zero_rule)

    sens = {name: _sensitivity(name, names, probes) for name in names.state_inputs
            if any(name in p.get("inputs", {}) for p in probes)}
    feedback = _feedback(states, contract)
    t_text, t_problems = _trajectory_words(traj, contract, names) if traj is not None and traj.has_lengths \
        else ("", ())

    reasons: list[tuple[str, str]] = []  # (headline, sentence)
    # 1. The wiring.
    if feedback.get("mismatch") or feedback.get("explanation"):
        reasons.append(("state not carried as wired", _feedback_sentence(feedback)))
    # 2. The lengths and the attention cache.
    outs = _known(traj.chunks, traj.cache_len_out) if traj is not None else []
    ins = _known(traj.chunks, traj.cache_len_in) if traj is not None else []
    never = bool(names.len_out) and len(outs) >= 2 and all(v == 0 for _, v in outs)
    not_fed = (not never and len(ins) >= 2 and any(v > 0 for _, v in outs)
               and all(v == 0 for _, v in ins[1:]))
    hidden = _hidden_frames(traj, names) if traj is not None else None
    att = sens.get(names.channel_in)
    conv = sens.get(names.time_in)
    ln = sens.get(names.len_in)
    att_dead = att is not None and att.status in ("inert", "unprobed")
    if never and att is not None and att.status == "used":
        # The length lies, the cache does not: state flows through the cache content (the trajectory rule fails).
        findings.append(f"{names.len_out} stayed 0 for {len(outs)} chunks, yet {names.channel_in} is used "
                        f"({_changing(att)} moves {names.frames} by up to {_num(att.max_abs)}): the model reads its "
                        "whole cache whatever the length says, padding included")
        never = False
    if never or att_dead:
        reasons.append(_never_carried(names, outs, ins, never, att, conv, ln, hidden))
    elif not_fed:
        reasons.append(("cache length not fed back",
                        f"cache length not fed back: {names.len_out} reaches {max(v for _, v in outs)} but "
                        f"{names.len_in} is 0 on every later chunk, so each chunk starts from an empty attention "
                        "cache"))
    # 3. Every other fed-back cache must be used too.
    for s in sens.values():
        if s.role in ("attention", "length") or s.status != "inert":
            continue
        reasons.append((f"{s.input} inert",
                        f"{s.input} inert: {_changing(s)} moves {names.frames} by at most {_num(s.max_abs)} "
                        f"(threshold {_num(s.threshold)}) at chunk(s) {_list(s.chunks)}: it is fed back but not "
                        "used"))
    if ln is not None and ln.status == "inert" and not never and not att_dead:
        findings.append(f"{ln.input} inert: changing it moves {names.frames} by at most {_num(ln.max_abs)}; the "
                        "model ignores the cache length (it attends to every cache position, padding included)")
    if hidden is not None and not never and not att_dead:
        findings.append(_hidden_sentence(names, hidden))
    if zero_rule and not (never or att_dead):
        findings.append(f"the contract's rule {zero_rule}")

    errored = [f"{s.input}: {s.errors[0]}" for s in sens.values() if s.status == "error" and s.errors]
    common = dict(findings=tuple(findings), trajectory=traj, trajectory_text=t_text, trajectory_problems=t_problems,
                  sensitivity=sens, probes=probes, feedback=feedback, zero_rule=zero_rule)
    if reasons:
        summary = reasons[0][1]
        if zero_rule and (never or att_dead):
            summary += f". The contract's rule {zero_rule}"
        return StateAssessment(FAIL, False, summary, reasons[0][0], reasons=tuple(r[1] for r in reasons),
                               **common)
    raised = [f for f in findings if " failed on chunk " in f] + [
        f"a replacement of {e} raised and none moved the output" for e in errored]
    if raised:
        # Fail-closed: part of the evidence is missing because something raised; what ran cannot make it a pass.
        return StateAssessment(UNDETERMINED, None, "not decided: " + "; ".join(raised[:3])
                               + (f" (and {len(raised) - 3} more)" if len(raised) > 3 else ""), "not judged", **common)
    if not probes and traj is not None and len(traj.chunks) < MIN_STATE_CHUNKS:
        return StateAssessment(UNDETERMINED, None, f"not enough chunks to judge whether state is carried ({len(traj.chunks)} "
                               f"chunk run; state flowing from chunk to chunk needs at least {MIN_STATE_CHUNKS})",
                               "not judged", **common)
    if not probes:
        return StateAssessment(UNDETERMINED, None, "the cache-length trajectory is consistent with carried state ("
                               + (t_text or "no lengths recorded") + "); the state-sensitivity probe did not run",
                               "not judged", **common)
    if not any(s.status == "used" for s in sens.values()):
        # Only the attention input's silence is a reason above; when the diagnostics names match no input (or the
        # probe could change none of them) nothing showed state flowing, and "no reason to fail" is not a pass.
        return _nothing_used(sens, common)
    return StateAssessment(PASS, True, _carried_sentence(names, outs, sens, t_text), "state carried", **common)


def _nothing_used(sens: Mapping[str, Sensitivity], common: Mapping[str, Any]) -> StateAssessment:
    """The verdict when the probe ran but showed no fed-back state input used: FAIL when every probed input was
    shown inert, otherwise UNDETERMINED naming what each input's probe came to."""
    if sens and all(s.status == "inert" for s in sens.values()):
        summary = ("no state input is used: " + "; ".join(
            f"{s.input} inert (moves the frames output by at most {_num(s.max_abs)}, threshold {_num(s.threshold)})"
            for s in sens.values()))
        return StateAssessment(FAIL, False, summary, "state inputs inert", reasons=(summary,), **common)
    if not sens:
        why = "the probe records name none of the contract's state inputs"
    else:
        why = "; ".join(f"{s.input} {s.status}" + (" (no replacement changed it: it equals zeros and the donor)"
                                                    if s.status == "unprobed" else "") for s in sens.values())
    return StateAssessment(UNDETERMINED, None, f"no state input could be perturbed: {why}; nothing shows state "
                           "carried from chunk to chunk", "not judged", **common)


def state_verdicts(records: Sequence[Mapping[str, Any]], contract: Contract, *, backend: str = "",
                   precision: str = "fp32") -> list[Verdict]:
    """The state verdicts of one closed-loop run (see the module docstring).

    Args:
        records: The run's chunk records.
        contract: The contract.
        backend, precision: For re-judging ``no_growth`` at the right thresholds.
    """
    a = assess_state(records, contract)
    rule = next((acc.id for acc in contract.acceptance if acc.kind == "state_carried"
                 and "closed-loop" in acc.modes), STATE_CARRIED)
    details = a.to_dict()
    first = _first_failing_chunk(a)
    out = [Verdict(rule, "state_carried", a.status, value=_carried_value(a), threshold=_max_threshold(a),
                   tensor=_state_tensor(a, contract), first_failing_chunk=first, message=a.summary,
                   details=details)]
    if a.trajectory is not None and a.trajectory.has_lengths:
        names = StateNames.of(contract)
        status = "fail" if a.trajectory_problems else "pass"
        msg = a.trajectory_text
        if len(a.trajectory.chunks) < MIN_STATE_CHUNKS:
            status = UNDETERMINED
            lens = ", ".join(f"chunk {c}: {i} -> {o}" for c, i, o in zip(
                a.trajectory.chunks, a.trajectory.cache_len_in, a.trajectory.cache_len_out))
            msg = (f"not enough chunks to judge the cache-length trajectory ({len(a.trajectory.chunks)} chunk run; "
                   f"need at least {MIN_STATE_CHUNKS}); cache length in -> out: {lens}")
        if len(a.trajectory_problems) > 1:
            msg += "; also: " + "; ".join(a.trajectory_problems[1:4])
        if a.trajectory.errors:
            errs = a.trajectory.errors
            msg += (f" (the backend raised on {len(errs)} chunk(s), first chunk {errs[0]}; the loop restarted from the "
                    "reference's state after each, so those lengths are the reference's, not the loop's)")
        out.append(Verdict(STATE_TRAJECTORY, "state_trajectory", status,
                           tensor=names.len_out or names.len_in, message=msg,
                           first_failing_chunk=_trajectory_first(a) if status == "fail" else None,
                           details={"cache_len_in": list(a.trajectory.cache_len_in),
                                    "cache_len_out": list(a.trajectory.cache_len_out),
                                    "problems": list(a.trajectory_problems)}))
    fb = a.feedback
    if fb.get("shapes") or fb.get("test") or fb.get("test_error"):
        bad = bool(fb.get("mismatch") or fb.get("explanation"))
        status = FAIL if bad else (UNDETERMINED if fb.get("test_error") else PASS)
        message = _feedback_sentence(fb) if bad else _feedback_ok_sentence(fb)
        if status == UNDETERMINED:
            message = (f"not decided: the loop broke on its first fed-back chunk and the feedback-wiring test that "
                       f"looks for the cause raised: {fb['test_error']}")
        out.append(Verdict(STATE_FEEDBACK, "state_feedback", status,
                           tensor=", ".join(e["target"] for e in fb.get("mismatch", [])),
                           first_failing_chunk=(fb.get("test") or {}).get("chunk") if bad else None,
                           message=message, details=dict(fb)))
    if a.status == "fail":
        out.extend(_no_growth_not_meaningful(records, contract, backend, precision, a))
    return out


# --- pieces --------------------------------------------------------------------------------------------------------

def _known(chunks: Sequence[int], values: Sequence[int | None]) -> list[tuple[int, int]]:
    return [(c, v) for c, v in zip(chunks, values) if v is not None]


def _sensitivity(name: str, names: StateNames, probes: Sequence[Mapping[str, Any]]) -> Sensitivity:
    best: tuple[float, float | None, int, str] | None = None
    zeroed: dict[int, float | None] = {}
    chunks, probed, moved, thr = [], False, False, 0.0
    rows_variant = None
    kinds: list[str] = []
    errors: list[str] = []
    for p in probes:
        e = (p.get("inputs") or {}).get(name)
        if e is None:
            continue
        c = int(p["chunk"])
        chunks.append(c)
        thr = max(thr, float(p.get("threshold") or 0.0))
        probed = probed or bool(e.get("probed"))
        moved = moved or bool(e.get("moved"))
        for v in e.get("variants", []):
            fr = v.get("frames") or {}
            if v.get("error"):
                errors.append(f"chunk {c}, {v.get('label', v.get('kind', '?'))}: {v['error']}")
            if not v.get("error") and (v.get("input_change_rms") or 0) > 0 and v.get("kind") not in kinds:
                kinds.append(v.get("kind"))
            if v.get("kind") == "zeros" and not v.get("error"):
                zeroed[c] = fr.get("max_abs")
            if v.get("kind") == "rows" and not v.get("error"):
                value = _label_int(v.get("label", ""))
                rows_variant = (c, value, fr.get("max_abs"))
        if e.get("max_abs") is not None and (best is None or e["max_abs"] > best[0]):
            best = (float(e["max_abs"]), e.get("cosine"), c, e.get("variant", ""))
    # "inert" is a claim about every replacement: with one of them raised it is not shown (only "used" is).
    status = "used" if moved else ("error" if errors else ("inert" if probed else "unprobed"))
    return Sensitivity(name, names.role(name), status, best[0] if best else None, best[1] if best else None,
                       best[2] if best else None, best[3] if best else "", zeroed, thr, tuple(chunks), rows_variant,
                       tuple(kinds), tuple(errors))


def _label_int(label: str) -> int:
    m = re.search(r"-?\d+", label)
    return int(m.group(0)) if m else 0


def _hidden_frames(traj: Trajectory, names: StateNames) -> tuple[int, int, int] | None:
    """The last chunk where the attention cache fed in holds more non-zero frames than its length says."""
    if not names.channel_in or not names.len_in:
        return None
    rows = dict(traj.fp_values(names.channel_in, "rows"))
    found = None
    for c, ln in zip(traj.chunks, traj.cache_len_in):
        r = rows.get(c)
        if r is not None and ln is not None and r > ln:
            found = (c, int(r), int(ln))
    return found


def _hidden_sentence(names: StateNames, hidden: tuple[int, int, int]) -> str:
    c, rows, ln = hidden
    return (f"{names.channel_in} holds {rows} non-zero frames at chunk {c} but {names.len_in} says {ln}: the length "
            f"hides frames the cache carries")


def _changing(s: Sensitivity) -> str:
    verbs = {"zeros": "zeroing", "swap": "swapping", "rows": "resetting"}
    kinds = [verbs[k] for k in s.kinds if k in verbs] or ["changing"]
    return " or ".join(kinds[:2]) + f" {s.input}"


def _never_carried(names: StateNames, outs: Sequence[tuple[int, int]], ins: Sequence[tuple[int, int]], never: bool,
                   att: Sensitivity | None, conv: Sensitivity | None, ln: Sensitivity | None,
                   hidden: tuple[int, int, int] | None) -> tuple[str, str]:
    parts = []
    if never:
        both = names.len_in and len(ins) >= len(outs) and all(v == 0 for _, v in ins)
        what = f"{names.len_in} stayed 0 in and out" if both else f"{names.len_out} stayed 0"
        parts.append(f"{what} for {len(outs)} chunks")
    if att is not None:
        if att.status == "unprobed":
            parts.append(f"{names.channel_in} was all zeros at every probed chunk ({_list(att.chunks)})")
        else:
            z = att.zero_max
            if z is not None and att.max_abs is not None and att.max_abs <= z:
                parts.append(f"{_changing(att)} changes {names.frames} by {_num(z)}")
            else:
                if z is not None:
                    parts.append(f"zeroing {names.channel_in} changes {names.frames} by {_num(z)}")
                if att.max_abs is not None:
                    parts.append(f"any replacement of it by at most {_num(att.max_abs)} ({att.variant})")
    head = ("attention cache never carried" if never or (att is not None and att.status == "unprobed")
            else "attention cache inert")
    text = f"{head} ({'; '.join(parts)})" if parts else head
    if not never and att is not None and att.status == "inert" and outs:
        text += f", although {names.len_out} runs {outs[0][1]} → {outs[-1][1]}"
    if conv is not None and conv.status == "used":
        z = conv.zero_max
        text += (f"; only {conv.input} moves the output ({'zeroing it: ' if z is not None else ''}{names.frames} "
                 f"max-abs {_num(z if z is not None else conv.max_abs)}): the attention cache serves within a chunk "
                 "only and nothing of it is carried between chunks (the seed report's 'chunk-isolated mode'), so "
                 "this closed loop tests nothing of it")
    else:
        text += ": this closed loop tests nothing of the attention cache"
    if hidden is not None:
        text += f". {_hidden_sentence(names, hidden)}"
        if ln is not None and ln.rows_variant is not None and ln.rows_variant[2] is not None:
            c, value, moved = ln.rows_variant
            text += (f" (setting {names.len_in} to {value} at chunk {c} moves {names.frames} by {_num(moved)}: the "
                     "cache would matter if its length were carried)")
    return head, text


def _carried_sentence(names: StateNames, outs: Sequence[tuple[int, int]], sens: Mapping[str, Sensitivity],
                      t_text: str) -> str:
    parts = []
    if outs:
        grow = ""
        m = re.search(r"grows by (\d+) per chunk", t_text)
        if m:
            grow = f", +{m.group(1)} per chunk"
        sat = re.search(r"saturating at (\d+) from chunk (\d+)", t_text)
        if sat:
            grow += f", saturating at {sat.group(1)} from chunk {sat.group(2)}"
        parts.append(f"{names.len_out} {outs[0][1]} → {outs[-1][1]} over {len(outs)} chunks{grow}")
    moved = []
    for s in sens.values():
        if s.status != "used":
            continue
        z = s.zero_max
        how = f"zeroing {s.input}" if z is not None else f"replacing {s.input}"
        amount = z if z is not None else s.max_abs
        cos = f" (cosine {s.cosine:.3f})" if s.cosine is not None and s.role == "attention" else ""
        moved.append(f"{how} moves {names.frames} by {_num(amount)}{cos}")
    chunks = sorted({c for s in sens.values() for c in s.chunks})
    if moved:
        parts.append("; ".join(moved) + f" (probed at chunk{'s' if len(chunks) > 1 else ''} {_list(chunks)})")
    return "state carried: " + "; ".join(parts)


def _trajectory_words(traj: Trajectory, contract: Contract, names: StateNames) -> tuple[str, tuple[str, ...]]:
    """The trajectory in the summary importer's words, with tensor names instead of its field names."""
    from inspector.importers.summaries import SummaryStep, describe_trajectory

    steps = [SummaryStep(c, il, li, lo, None, vo, {}) for c, il, li, lo, vo in
             zip(traj.chunks, traj.input_len, traj.cache_len_in, traj.cache_len_out, traj.valid_out_len)]
    tv = describe_trajectory(steps, cache_size=contract.streaming.cache_size,
                             valid_out_len=contract.streaming.valid_out_len)

    def rename(text: str) -> str:
        if names.len_out:
            text = re.sub(r"\bcache_len_out\b", names.len_out, text)
        if names.len_in:
            text = re.sub(r"\bcache_len_in\b", names.len_in, text)
        return text

    return rename(tv.summary), tuple(rename(p) for p in tv.problems)


def _trajectory_first(a: StateAssessment) -> int | None:
    for p in a.trajectory_problems:
        m = re.search(r"chunk\(?s?\)? (\d+)", p)
        if m:
            return int(m.group(1))
        if "last chunk" in p and a.trajectory is not None and a.trajectory.chunks:
            return a.trajectory.chunks[-1]
    return a.trajectory.chunks[0] if a.trajectory is not None and a.trajectory.chunks else None


def _feedback(states: Sequence[tuple[int, Mapping[str, Any]]], contract: Contract) -> dict[str, Any]:
    from inspector.state.feedback import explain_wiring, static_suggestion

    shapes = next((s["feedback"] for _, s in states if isinstance(s.get("feedback"), Mapping)), None)
    test = next((s["feedback_test"] for _, s in states if isinstance(s.get("feedback_test"), Mapping)
                 and "error" not in s["feedback_test"]), None)
    test_error = next((f"chunk {c}: {s['feedback_test']['error']}" for c, s in states
                       if isinstance(s.get("feedback_test"), Mapping) and "error" in s["feedback_test"]), None)
    if shapes is None and test is None and test_error is None:
        return {}
    own = {f.target: f.source for f in contract.feedback}
    out: dict[str, Any] = {"shapes": shapes, "test": test, "contract": own}
    if test_error is not None:
        out["test_error"] = test_error
    mismatch = [e for e in (shapes or {}).get("edges", []) if not e.get("ok")]
    if mismatch:
        out["mismatch"] = mismatch
    suggested = (test or {}).get("restores") or (static_suggestion(shapes, contract) if shapes else None)
    if suggested:
        out["suggested"] = suggested
        out["explanation"] = explain_wiring(own, suggested)
    return out


def _feedback_sentence(fb: Mapping[str, Any]) -> str:
    from inspector.state.feedback import describe_mismatch, sorted_pairing, wrong_edges

    own = fb.get("contract") or {}
    mismatch = fb.get("mismatch") or []
    if fb.get("explanation"):
        text = f"likely cause: {fb['explanation']}"
        if sorted_pairing(own):
            text += ", as when an inference server pairs state outputs and inputs sorted by name"
    else:
        text = "the feedback map feeds outputs into inputs they do not fit"
    if mismatch:
        text += " (" + "; ".join(describe_mismatch(e) for e in mismatch) + ")"
    test = fb.get("test") or {}
    if test.get("restores"):
        changed = wrong_edges(own, test["restores"])
        wiring = ", ".join(f"{test['restores'][t]} → {t}" for t in changed)
        broken = str(test.get("broken", ""))
        if len(broken) > 200:
            broken = broken[:200] + " …"
        text += (f". With the contract's wiring chunk {test['chunk']} broke ({broken}); wired {wiring} instead it "
                 f"matches the reference again (max-abs {_num(test.get('restored_max_abs'))}, atol "
                 f"{_num(test.get('atol'))})")
    return "state not carried as wired: " + text


def _feedback_ok_sentence(fb: Mapping[str, Any]) -> str:
    shapes = fb.get("shapes") or {}
    n = len(shapes.get("edges", []))
    text = f"every fed-back output fits the input it feeds ({n} edge{'s' if n != 1 else ''}: shapes and dtypes)"
    test = fb.get("test")
    if test:
        text += (f"; chunk {test['chunk']} broke ({test.get('broken')}) but none of {test.get('calls', 0)} other "
                 "wirings restores parity: the feedback map is not the cause")
    return text


def _zero_rule_held(recs: Sequence[Mapping[str, Any]], contract: Contract) -> str:
    for inv in contract.invariants:
        note = zero_length_rule_note(inv.check, contract)
        if not note or "closed-loop" not in inv.modes:
            continue
        results = [(r.get("invariants") or {}).get(inv.id, {}).get("ok") for r in recs]
        judged = [ok for ok in results if ok is not None]
        if judged and all(judged):
            return f"{note} (invariant {inv.id} held on all {len(judged)} chunks)"
    return ""


def _no_growth_not_meaningful(records: Sequence[Mapping[str, Any]], contract: Contract, backend: str,
                              precision: str, a: StateAssessment) -> list[Verdict]:
    from contracts.rules import tolerance_for
    from inspector.acceptance import RunContext, evaluate_run

    out = []
    for acc in contract.acceptance:
        if acc.kind != "no_growth" or "closed-loop" not in acc.modes:
            continue
        only = dataclasses.replace(contract, acceptance=(acc,), invariants=(), tightening=None)
        atols = {s.ref_name: tolerance_for(contract, s.ref_name, backend, precision).atol for s in contract.outputs}
        ctx = RunContext(only, "closed-loop", backend, precision, atols, require_state=False)
        v = next((x for x in evaluate_run(records, ctx) if x.rule == acc.id), None)
        if v is None:
            continue
        why = (f"not meaningful: the state is not carried ({a.headline}), so error cannot accumulate through it and "
               "the absence of growth proves nothing")
        status = UNDETERMINED if v.status in (PASS, UNDETERMINED) else v.status
        out.append(dataclasses.replace(v, status=status, message=f"{why}. Measured: {v.message}",
                                       details={**dict(v.details), "not_meaningful": True,
                                                "measured_status": v.status}))
    return out


def _also(findings: Sequence[str]) -> str:
    return ("; " + "; ".join(findings[:3])) if findings else ""


def _first_failing_chunk(a: StateAssessment) -> int | None:
    if a.status != "fail":
        return None
    test = (a.feedback or {}).get("test") or {}
    if a.feedback.get("explanation") and test.get("chunk") is not None:
        return int(test["chunk"])
    if a.trajectory is not None and a.trajectory.chunks:
        return a.trajectory.chunks[0]
    return None


def _carried_value(a: StateAssessment) -> float | None:
    att = next((s for s in a.sensitivity.values() if s.role == "attention"), None)
    if att is not None:
        return att.max_abs
    vals = [s.max_abs for s in a.sensitivity.values() if s.max_abs is not None]
    return max(vals) if vals else None


def _max_threshold(a: StateAssessment) -> float | None:
    vals = [s.threshold for s in a.sensitivity.values()]
    return max(vals) if vals else None


def _state_tensor(a: StateAssessment, contract: Contract) -> str:
    if a.status != "fail":
        return ""
    if a.feedback.get("mismatch"):
        return ", ".join(e["target"] for e in a.feedback["mismatch"])
    dead = [s.input for s in a.sensitivity.values() if s.status in ("inert", "unprobed") and s.role != "length"]
    return ", ".join(dead) or contract.diagnostics.cache_channel_input


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0.0"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.3g}"


def _list(items: Sequence[int]) -> str:
    return ", ".join(str(i) for i in items)


__all__ = ["STATE_CARRIED", "STATE_FEEDBACK", "STATE_TRAJECTORY", "Sensitivity", "StateAssessment", "assess_state",
           "state_verdicts", "zero_length_rule_note"]
