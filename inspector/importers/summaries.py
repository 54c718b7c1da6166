"""The seed team's streaming summaries: one object per chunk, lengths only, read as a state trajectory.

A summary line looks like ``{"chunk_idx": 0, "input_len": 41, "cache_len_in": 0, "cache_len_out": 1,
"cache_drop_size": 3, "valid_out_len": 3, ...}`` (JSON Lines, or one JSON list of such objects). It holds no
tensors, so it cannot be compared against a reference; what it can show is whether the attention cache was carried
from chunk to chunk, and whether its length follows NeMo's rule ``len_out = min(len_in + frames_kept, cache_size)``.

`describe_trajectory` says that in words ("attention cache never carried: cache_len_out stayed 0 for 50 chunks",
"grows by 3 per chunk, saturating at 256 as NeMo does", "grows by padded frames on the last chunk"); the contract's
state invariants are applied through `state_env` (the environment `contracts.rules.Rule.evaluate` takes).

Other teams' spellings are read too (`_records`): camelCase keys (``chunkIdx``, ``cacheLenOut``), integers as text,
the chunk number as ``chunk``/``index``, the lines under ``chunks``/``steps``/``records`` (also one level down, as
``results.chunks``) or as an object keyed by chunk number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.importers.reports import snake_key

SUMMARY_KEYS: tuple[str, ...] = ("chunk_idx", "input_len", "cache_len_in", "cache_len_out", "cache_drop_size",
                                 "valid_out_len")
"""The fields the seed's summaries carry (each line has at least `chunk_idx` and one cache length)."""

REFERENCE_ALIASES: Mapping[str, str] = {
    "cache_len_in": "cache_last_channel_len",
    "cache_len_out": "cache_last_channel_len_out",
    "encoded_len": "encoded_lengths",
    "encoded_lengths": "encoded_lengths",
}
"""Summary field -> the reference tensor it is the value of (so the contract's rules, written on tensors, apply)."""

Pattern = Literal["never-carried", "constant", "grows", "grows-saturates", "not-fed-back", "irregular", "empty"]


@dataclass(frozen=True)
class SummaryStep:
    """One chunk of a streaming summary.

    Attributes:
        index: ``chunk_idx``.
        input_len: Feature frames fed to this chunk, if given.
        cache_len_in: Attention-cache length fed in, if given.
        cache_len_out: Attention-cache length returned, if given.
        cache_drop_size: The chunk's ``cache_drop_size``, if given.
        valid_out_len: Output frames kept from this chunk, if given.
        fields: Every field of the line, verbatim (the ones above included).
    """

    index: int
    input_len: int | None
    cache_len_in: int | None
    cache_len_out: int | None
    cache_drop_size: int | None
    valid_out_len: int | None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def state(self) -> dict[str, int]:
        """The ``state`` dict of this chunk's per-run metrics (keys as issue 8's state trajectory uses them)."""
        out: dict[str, int] = {}
        for key in ("cache_len_in", "cache_len_out", "input_len", "valid_out_len", "cache_drop_size"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class TrajectoryVerdict:
    """What a cache-length trajectory means.

    Attributes:
        pattern: One word for the shape of it (``never-carried``, ``grows-saturates`` …).
        carried: Whether the attention cache was carried between chunks (None: the summary has no cache lengths).
        summary: One sentence, e.g. ``attention cache never carried: cache_len_out stayed 0 for 50 chunks``.
        findings: Further sentences: anomalies (padded frames, not fed back, above cache size) and facts.
        problems: The subset of `findings` that are faults, not facts.
        step: The steady growth per chunk, if it grows.
        saturated_at: The length it saturated at and the chunk it first got there, if it did.
    """

    pattern: Pattern
    carried: bool | None
    summary: str
    findings: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    step: int | None = None
    saturated_at: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "carried": self.carried, "summary": self.summary,
                "findings": list(self.findings), "problems": list(self.problems), "step": self.step,
                "saturated_at": list(self.saturated_at) if self.saturated_at else None}


# --- parsing -----------------------------------------------------------------------------------------------------

_INDEX_ALIASES = ("chunk_idx", "chunk", "chunk_index", "index", "idx")
_LIST_KEYS = ("chunks", "steps", "records")


def _record(rec: Any, where: str) -> Any:
    """One line in the seed's spelling: snake_case keys (``cacheLenOut``), the chunk number under ``chunk_idx``
    (from ``chunk``, ``index`` …), integers written as text (``"41"``) as integers. Anything else unchanged.

    Raises:
        InspectorError: two spellings of one key (``cacheLenOut`` and ``cache_len_out``) with different values.
    """
    if not isinstance(rec, dict):
        return rec
    out: dict[str, Any] = {}
    for key, value in rec.items():
        new = snake_key(key)
        if new in out and out[new] != value:
            raise InspectorError(f"{where}: two spellings of '{new}' with different values ({out[new]!r} and "
                                 f"{value!r} under '{key}'); keep one.")
        out[new] = value
    for key in _INDEX_ALIASES:
        if key in out:
            out.setdefault("chunk_idx", out[key])
            break
    for key in ("chunk_idx", *SUMMARY_KEYS[1:], *REFERENCE_ALIASES):
        value = out.get(key)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            out[key] = int(value.strip())
    return out


def _records(data: Any) -> Any:
    """The per-chunk records of a summary, wherever a writer put them: a list (JSON Lines or a JSON list), one
    object (a one-chunk summary), ``{"chunks": [...]}`` (or ``steps``/``records``, also one level down as
    ``{"results": {"chunks": [...]}}``), or an object keyed by chunk number (``{"chunks": {"0": {...}}}``). Returns
    the input unchanged when it is none of these (the caller says what is wrong)."""
    if isinstance(data, dict):
        holder = data
        if not any(k in data for k in _LIST_KEYS):
            nested = [v for v in data.values() if isinstance(v, dict) and any(k in v for k in _LIST_KEYS)]
            holder = nested[0] if len(nested) == 1 else data
        inner = next((holder[k] for k in _LIST_KEYS if isinstance(holder.get(k), (list, dict))), None)
        if isinstance(inner, dict) and inner and all(str(k).strip().isdigit() for k in inner):
            inner = [{"chunk_idx": int(str(k).strip()), **v} if isinstance(v, dict) else v for k, v in inner.items()]
        if isinstance(inner, list):
            return [_record(r, f"record {i + 1}") for i, r in enumerate(inner)]
        if any(snake_key(k) in _INDEX_ALIASES for k in data):  # a one-chunk summary is one JSON object
            return [_record(data, "the record")]
        return data
    if isinstance(data, list):
        return [_record(r, f"record {i + 1}") for i, r in enumerate(data)]
    return data


def looks_like_summary(data: Any) -> bool:
    """True for per-chunk objects with a chunk number and a cache length (the summary format; see `_records`)."""
    try:
        records = _records(data)
    except InspectorError:
        return True  # per-chunk records with two spellings of a key: parse_summary raises that, naming them
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return False
    first = records[0]
    return "chunk_idx" in first and ("cache_len_out" in first or "cache_len_in" in first) and "outputs" not in first


def parse_summary(data: Any, where: str = "the summary") -> list[SummaryStep]:
    """Parse a summary (per-chunk objects wherever `_records` finds them), sorted by chunk.

    Raises:
        InspectorError: not a list of objects, a line without ``chunk_idx``, a non-integer length, a repeated chunk.
    """
    records = _records(data)
    if not isinstance(records, list):
        raise InspectorError(f"{where}: expected a streaming summary, one object per chunk ({', '.join(SUMMARY_KEYS)}"
                             f", …) as JSON Lines or a JSON list; found {type(records).__name__}.")
    if not records:
        raise InspectorError(f"{where}: the summary has no chunks.")
    steps: dict[int, SummaryStep] = {}
    streams: set[str] = set()
    for pos, rec in enumerate(records):
        line = f"{where}, record {pos + 1}"
        if not isinstance(rec, dict):
            raise InspectorError(f"{line}: expected an object with chunk_idx, cache_len_in, cache_len_out …, found "
                                 f"{type(rec).__name__}.")
        if "inputs" in rec or "outputs" in rec:
            raise InspectorError(f"{line}: holds tensors ('inputs'/'outputs'): this is a reference JSONL, not a "
                                 f"streaming summary; convert it with `inspector convert`.")
        idx = rec.get("chunk_idx", rec.get("chunk"))
        if isinstance(idx, float) and idx.is_integer():
            idx = int(idx)
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise InspectorError(f"{line}: has no integer 'chunk_idx' from 0 (found {idx!r}; keys: "
                                 f"{', '.join(sorted(rec))}); every line of a streaming summary names its chunk.")
        if idx in steps:
            raise InspectorError(f"{line}: chunk_idx {idx} appears twice; a summary holds one line per chunk of one "
                                 f"stream (split a multi-stream file by stream first).")
        stream = rec.get("stream", rec.get("utt_id"))
        if isinstance(stream, str):
            streams.add(stream)
        values = {key: _int_field(rec, key, line) for key in SUMMARY_KEYS[1:]}
        steps[idx] = SummaryStep(idx, **values, fields=dict(rec))
    if len(streams) > 1:
        raise InspectorError(f"{where}: lines of {len(streams)} streams ({', '.join(sorted(streams)[:5])}); import one "
                             f"stream per file.")
    if all(s.cache_len_in is None and s.cache_len_out is None for s in steps.values()):
        raise InspectorError(f"{where}: no line has cache_len_in or cache_len_out; a streaming summary without cache "
                             f"lengths says nothing about carried state.")
    return [steps[i] for i in sorted(steps)]


def _int_field(rec: Mapping[str, Any], key: str, where: str) -> int | None:
    value = rec.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InspectorError(f"{where}: '{key}' must be an integer, found {value!r}.")
    return value


def summary_stream(steps: Sequence[SummaryStep]) -> str | None:
    """The stream name the summary's lines carry (``stream`` or ``utt_id``), if any."""
    for s in steps:
        name = s.fields.get("stream", s.fields.get("utt_id"))
        if isinstance(name, str):
            return name
    return None


# --- the contract's rules on a summary ---------------------------------------------------------------------------

def state_env(step: SummaryStep) -> dict[str, Any]:
    """The values a rule sees for one summary line: every numeric field under its own name, and the cache lengths
    also under their reference tensor names (``cache_len_out`` → ``cache_last_channel_len_out``) as int64 arrays of
    shape [1], as the export returns them. Add ``chunk`` and ``prev`` before evaluating."""
    env: dict[str, Any] = {}
    for key, value in step.fields.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("chunk_idx", "chunk"):
            env[key] = value
    for key, ref in REFERENCE_ALIASES.items():
        value = step.fields.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            env[ref] = np.asarray([value], dtype=np.int64)
    return env


# --- the trajectory in words ------------------------------------------------------------------------------------

def describe_trajectory(steps: Sequence[SummaryStep], cache_size: int | None = None,
                        valid_out_len: int | None = None) -> TrajectoryVerdict:
    """Say what a cache-length trajectory means.

    Args:
        steps: The summary, sorted by chunk.
        cache_size: The contract's attention-cache size (``streaming.cache_size``), if known: the length must
            saturate there and never exceed it.
        valid_out_len: The contract's frames kept per chunk, if known (a later chunk should add that many).

    Returns:
        The verdict; `problems` lists the faults found (empty for a healthy trajectory).
    """
    n = len(steps)
    outs = [s.cache_len_out for s in steps]
    ins = [s.cache_len_in for s in steps]
    if n == 0:
        return TrajectoryVerdict("empty", None, "the summary has no chunks")
    if all(v is None for v in outs):
        return TrajectoryVerdict("irregular", None, f"cache_len_out is not in the summary ({n} chunks): whether the "
                                 f"attention cache was carried cannot be told")
    findings: list[str] = []
    problems: list[str] = []
    known = [(s.index, s.cache_len_out) for s in steps if s.cache_len_out is not None]
    missing = n - len(known)
    if missing:
        findings.append(f"{missing} chunk(s) have no cache_len_out.")

    raw_neg = _negative_raw_lengths(steps)
    if raw_neg:
        problems.append(raw_neg)

    # 1. Never carried: the seed's chunk-isolated bug.
    if all(v == 0 for _, v in known):
        drops = {s.cache_drop_size for s in steps if s.cache_drop_size is not None}
        why = ""
        if len(drops) == 1:
            drop = drops.pop()
            valid = {s.valid_out_len for s in steps if s.valid_out_len is not None}
            why = f" with cache_drop_size {drop}" + (f" and valid_out_len {valid.pop()}" if len(valid) == 1 else "")
        summary = (f"attention cache never carried: cache_len_out stayed 0 for {len(known)} chunks{why}; a closed "
                   f"loop over this export tests nothing of the attention cache")
        problems.insert(0, summary)
        return TrajectoryVerdict("never-carried", False, summary, tuple(findings), tuple(problems))

    # 2. Is the length fed back? cache_len_in of a chunk should be cache_len_out of the one before.
    not_fed = [s.index for prev, s in zip(steps, steps[1:])
               if s.cache_len_in is not None and prev.cache_len_out is not None and s.cache_len_in != prev.cache_len_out]
    fed_known = sum(1 for prev, s in zip(steps, steps[1:])
                    if s.cache_len_in is not None and prev.cache_len_out is not None)
    if not_fed and len(not_fed) == fed_known and all((v or 0) == 0 for v in ins):
        summary = (f"cache not fed back: cache_len_out reaches {max(v for _, v in known)} but cache_len_in is 0 on "
                   f"every chunk, so each chunk starts from an empty attention cache")
        problems.insert(0, summary)
        return TrajectoryVerdict("not-fed-back", False, summary, tuple(findings), tuple(problems))
    if not_fed:
        problems.append(f"cache_len_in differs from the previous chunk's cache_len_out at chunk(s) {_short(not_fed)} "
                        f"(e.g. chunk {not_fed[0]}: in {_step(steps, not_fed[0]).cache_len_in}, previous out "
                        f"{_step(steps, not_fed[0] - 1).cache_len_out if _has(steps, not_fed[0] - 1) else '?'}): "
                        f"the state is not fed back as it came out")

    # 3. Growth per chunk: what each chunk added (out - in when in is known, else out - previous out).
    growth: list[tuple[int, int]] = []
    prev_out: int | None = None
    for s in steps:
        base = s.cache_len_in if s.cache_len_in is not None else prev_out
        if s.cache_len_out is not None and base is not None:
            growth.append((s.index, s.cache_len_out - base))
        elif s.cache_len_out is not None and s is steps[0]:
            growth.append((s.index, s.cache_len_out))
        prev_out = s.cache_len_out if s.cache_len_out is not None else prev_out
    top = max(v for _, v in known)
    cap = cache_size
    if cap is not None and top > cap:
        over = [i for i, v in known if v > cap]
        problems.append(f"cache_len_out exceeds the cache size {cap} at chunk(s) {_short(over)} (up to {top})")
    saturated_at: tuple[int, int] | None = None
    sat_value = cap if cap is not None and top == cap else None
    if sat_value is None and len(known) >= 3 and known[-1][1] == known[-2][1] == top and top > 0:
        sat_value = top  # a plateau: take it as the saturation length when the contract does not say
    if sat_value is not None:
        first = next(i for i, v in known if v == sat_value)
        saturated_at = (sat_value, first)
        after = [i for i, v in known if i > first and v != sat_value]
        if after:
            problems.append(f"cache_len_out left its saturation value {sat_value} after chunk {first} (chunk(s) "
                            f"{_short(after)})")
    decreases = [s.index for prev, s in zip(steps, steps[1:])
                 if prev.cache_len_out is not None and s.cache_len_out is not None
                 and s.cache_len_out < prev.cache_len_out and (saturated_at is None or s.index <= saturated_at[1])]
    if decreases:
        problems.append(f"cache_len_out goes down at chunk(s) {_short(decreases)} before saturating: the cache was "
                        f"reset or truncated")

    # The steady step: the most common growth among chunks after the first that are not capped by saturation.
    unsaturated = [(i, g) for i, g in growth[1:] if saturated_at is None or i < saturated_at[1]]
    counted = Counter(g for _, g in unsaturated if g > 0)
    step = valid_out_len if valid_out_len else (counted.most_common(1)[0][0] if counted else None)
    if counted and valid_out_len and counted.most_common(1)[0][0] != valid_out_len:
        mode_step = counted.most_common(1)[0][0]
        problems.append(f"the cache grows by {mode_step} per chunk but the contract keeps valid_out_len "
                        f"{valid_out_len} frames per chunk")
        step = mode_step

    if len(known) == 1 and not problems:
        summary = (f"one chunk only (cache_len_out {known[0][1]}): whether the attention cache is carried and grows "
                   f"cannot be told from a single chunk")
        return TrajectoryVerdict("irregular", None, summary, tuple(findings), ())
    if all(v == known[0][1] for _, v in known) and cap is not None and known[0][1] == cap and steps[0].index > 0:
        summary = (f"cache length at its size {cap} on every chunk ({steps[0].index}..{steps[-1].index}): the "
                   f"summary starts after the cache filled up; it is carried and saturated")
        return TrajectoryVerdict("grows-saturates", True, summary, tuple(findings), tuple(problems), None,
                                 (cap, steps[0].index))
    if all(v == known[0][1] for _, v in known):
        summary = (f"cache length constant at {known[0][1]} for {len(known)} chunks: it never grows, so no new "
                   f"frames enter the attention cache")
        problems.insert(0, summary)
        return TrajectoryVerdict("constant", True, summary, tuple(findings), tuple(problems), 0, None)

    # 4. Per-chunk anomalies against the steady step: padded frames on short or final chunks.
    if step:
        typical_in = Counter(s.input_len for s in steps[1:] if s.input_len is not None).most_common(1)
        typical_in_len = typical_in[0][0] if typical_in else None
        for (i, g) in growth[1:]:
            s = _step(steps, i)
            capped = saturated_at is not None and i >= saturated_at[1]
            if capped:
                continue
            kept = s.valid_out_len
            short = typical_in_len is not None and s.input_len is not None and s.input_len < typical_in_len
            last = i == steps[-1].index
            where = "on the last chunk" if last else f"on chunk {i}"
            if kept is not None and kept < step and g > kept:
                problems.append(f"grows by padded frames {where}: +{g} while only {kept} output frame(s) were valid "
                                f"(valid_out_len {kept})")
            elif short and g >= step:
                problems.append(f"grows by padded frames {where}: input_len {s.input_len} is shorter than the usual "
                                f"{typical_in_len}, yet cache_len grew by {g} as for a full chunk (the padding was "
                                f"counted as real frames)")
            elif short and 0 <= g < step:
                findings.append(f"{where[3:]} is short (input_len {s.input_len} < {typical_in_len}) and the cache "
                                f"grew by {g}, by its real frames only")
            elif g != step and not (saturated_at and s.cache_len_out == saturated_at[0]):
                problems.append(f"grows by {g} instead of {step} at chunk {i}")

    # 5. The sentence.
    first_out = known[0][1]
    if step:
        start = f"starts at {first_out} after chunk {known[0][0]}, " if first_out != step else ""
        grow = f"grows by {step} per chunk"
    else:
        start, grow = "", "grows irregularly"
    if saturated_at is not None:
        nemo = " as NeMo does (len_out = min(len_in + frames_kept, cache_size))" if not problems else ""
        summary = f"{start}{grow}, saturating at {saturated_at[0]} from chunk {saturated_at[1]}{nemo}"
        pattern: Pattern = "grows-saturates"
    else:
        room = f" ({top} of {cap})" if cap is not None else ""
        summary = f"{start}{grow}, not yet saturated after {len(known)} chunks{room}"
        pattern = "grows"
    if problems:
        pattern = "irregular" if pattern == "grows" and not step else pattern
        summary += "; but " + problems[0]
    summary = "attention cache carried: " + summary
    return TrajectoryVerdict(pattern, True, summary, tuple(findings), tuple(problems), step, saturated_at)


def _negative_raw_lengths(steps: Sequence[SummaryStep]) -> str:
    """A raw (pre-clamp) length below zero, if the summary records one: the seed's bug, made visible."""
    for s in steps:
        for key, value in s.fields.items():
            if "raw" in key and "len" in key and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and value < 0:
                return (f"{key} is {value:g} at chunk {s.index}: a negative cache length was clamped to "
                        f"{s.cache_len_out}, i.e. more frames are dropped (cache_drop_size {s.cache_drop_size}) than "
                        f"the chunk produces")
    return ""


def _step(steps: Sequence[SummaryStep], index: int) -> SummaryStep:
    return next(s for s in steps if s.index == index)


def _has(steps: Sequence[SummaryStep], index: int) -> bool:
    return any(s.index == index for s in steps)


def _short(indices: Sequence[int], limit: int = 8) -> str:
    head = ", ".join(str(i) for i in indices[:limit])
    return head + (f", … ({len(indices)} in all)" if len(indices) > limit else "")
