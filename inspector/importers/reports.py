"""The seed team's parity reports (ONNX Runtime and TensorRT schemas), parsed into what each chunk is known to be.

Two schemas exist, both one JSON object:

* ORT: ``mode, providers, onnx, ref, total_chunks, passed, failed, pass_rate, atol, rtol, cache_atol,
  failures[{chunk, errors[] | error}]``. Only failing chunks are listed; a listed chunk with ``error`` raised instead
  of producing outputs and is *not* counted in ``total_chunks``. ``pass_rate`` is a percentage.
* TensorRT: the same plus ``engine, zero_feed_cache, timing_ms{mean,p50,p95,p99},
  encoder_output_error_distribution, chunk_stats[{chunk, encoder_output_max_abs, encoder_output_mean_abs, passed}]``.

Failure strings look like ``"encoder_output: max_abs=7.322e-04 mean_abs=1.173e-04 max_rel=1.936e+01"``.

What the numbers allow: with ``chunk_stats`` every chunk's encoder_output max-abs is known. Without it (the ORT
schema) only failing chunks carry a number; a chunk that passed is known only to be within the report's tolerance,
so its max-abs is recorded as an interval ``[0, atol]`` (``[0, inf)`` when ``rtol > 0``: an allclose-style check
lets an element exceed ``atol`` by ``rtol × |reference|``), never as an invented number.

Other teams' spellings of the same report are read too (`normalise_report`, one note per change): camelCase keys
(``totalChunks``, ``chunkStats``, ``encoderOutputMaxAbs``), the report nested one level down (``{"results": {...}}``)
or only its per-chunk list nested (``results.chunks[]``), per-chunk lists as ``chunks`` (a list, or an object keyed
by chunk number), numbers and booleans written as text (``"50"``, ``"6.4e-4"``, ``"95%"``, ``"true"``/``"PASS"``),
a missing ``total_chunks`` when the chunks are listed. A chunk listed with neither a figure nor a verdict, in a
report without a ``failures`` list, is unknown (max-abs in ``[0, inf)``): never taken for a pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal, Mapping

from inspector.errors import InspectorError
from inspector.values import as_number

FRAMES = "encoder_output"


def other_output(tensor: str) -> bool:
    """A failing tensor that is known not to be the encoder output: a cache or a length (anything else may be the
    encoder output under another spelling, e.g. ``encoder_out`` or ``output[0]``)."""
    t = (tensor or "").lower()
    return t != FRAMES and ("cache" in t or "len" in t)
"""The reference name of the frames output the reports' per-chunk statistics are about."""

ORT_KEYS: tuple[str, ...] = ("mode", "providers", "onnx", "ref", "total_chunks", "passed", "failed", "pass_rate",
                             "atol", "rtol", "cache_atol", "failures")
TRT_KEYS: tuple[str, ...] = ("engine", "zero_feed_cache", "timing_ms", "encoder_output_error_distribution",
                             "chunk_stats")
CACHE_TENSORS: tuple[str, ...] = ("cache_last_channel_out", "cache_last_time_out", "cache_last_channel_len_out")

ChunkStatus = Literal["passed", "failed", "raised"]


@dataclass(frozen=True)
class TensorError:
    """One tensor's failure on one chunk, as the report states it.

    Attributes:
        tensor: Reference name (``encoder_output``, ``cache_last_time_out`` …).
        max_abs: Parsed ``max_abs=``, if the report gave it.
        mean_abs: Parsed ``mean_abs=``.
        max_rel: Parsed ``max_rel=``.
        text: The report's original string (or JSON) for this failure.
    """

    tensor: str
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "max_abs": self.max_abs, "mean_abs": self.mean_abs, "max_rel": self.max_rel,
                "text": self.text}


@dataclass(frozen=True)
class Bound:
    """What is known about one number: it lies in ``[lo, hi]`` (``hi`` may be ``inf``); exact when ``lo == hi``."""

    lo: float
    hi: float
    why: str = ""

    @property
    def exact(self) -> bool:
        return self.lo == self.hi

    def to_json(self) -> list[float | None]:
        return [self.lo, None if math.isinf(self.hi) else self.hi]


@dataclass(frozen=True)
class ImportedChunk:
    """One chunk of an imported report.

    Attributes:
        index: The report's chunk number.
        status: ``passed`` (not listed among failures / chunk_stats says passed), ``failed`` (listed with errors)
            or ``raised`` (listed with ``error``: no outputs; not in the report's ``total_chunks``).
        errors: The failing tensors the report lists for this chunk.
        raised: The exception text of a raised chunk.
        frames_max_abs: encoder_output max-abs: exact, or an interval when the report gives no number; None when
            the chunk raised (nothing was computed).
        frames_mean_abs: encoder_output mean-abs when the report gives it.
        frames_passed: Whether encoder_output passed at the report's tolerance (None: unknown / raised).
        unparsed: Failure strings that name no tensor, kept verbatim.
    """

    index: int
    status: ChunkStatus
    errors: tuple[TensorError, ...] = ()
    raised: str = ""
    frames_max_abs: Bound | None = None
    frames_mean_abs: float | None = None
    frames_passed: bool | None = None
    unparsed: tuple[str, ...] = ()

    def error_for(self, tensor: str) -> TensorError | None:
        for err in self.errors:
            if err.tensor == tensor:
                return err
        return None


@dataclass(frozen=True)
class ParsedReport:
    """A parity report, parsed and cross-checked. `notes` lists every inconsistency or assumption, in words.

    Attributes:
        schema: ``"ort"`` or ``"trt"``.
        backend: Our backend name for what produced it (``ort-cpu``, ``ort-cuda``, ``trt-fp16`` …).
        precision: ``fp32``, ``fp16``, ``int8``, ``bf16``, ``mixed`` or ``unknown``.
        math_mode: e.g. ``tf32=off``; ``tf32=unknown …`` when the file does not say.
        runtime: ``onnxruntime`` or ``tensorrt``.
        provider: The execution provider (ORT) or ``TensorRT``.
        mode: ``functional``, ``closed-loop`` or ``""`` (not stated / not recognised); `raw_mode` is the file's.
        atol, rtol, cache_atol: The report's own tolerances (None when absent).
        claims: The report's own totals, verbatim: total_chunks, passed, failed, pass_rate (a percentage).
        chunks: Every chunk, by index order.
        timing_ms: The report's timing summary (TensorRT schema), else None.
        error_distribution: ``encoder_output_error_distribution`` verbatim, else None.
        zero_feed_cache: TensorRT schema: whether zero caches were fed on every chunk.
        model: ONNX path; engine: engine path (TensorRT schema); ref: reference file path.
        notes: Inconsistencies found and assumptions made.
        extra: Top-level keys this importer does not interpret, kept verbatim.
    """

    schema: Literal["ort", "trt"]
    backend: str
    precision: str
    math_mode: str
    runtime: str
    provider: str
    mode: str
    raw_mode: str
    atol: float | None
    rtol: float | None
    cache_atol: float | None
    claims: Mapping[str, Any]
    chunks: tuple[ImportedChunk, ...]
    timing_ms: Mapping[str, Any] | None = None
    error_distribution: Any = None
    zero_feed_cache: bool | None = None
    model: str = ""
    engine: str = ""
    ref: str = ""
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> list[int]:
        return [c.index for c in self.chunks]

    @property
    def all_frames_known(self) -> bool:
        """True when every chunk that produced outputs has an exact encoder_output max-abs."""
        return all(c.frames_max_abs is not None and c.frames_max_abs.exact
                   for c in self.chunks if c.status != "raised")

    def failures_per_tensor(self) -> dict[str, dict[str, Any]]:
        """Per tensor: how many chunks fail, the first failing chunk, the worst max-abs the report gives."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in self.chunks:
            for err in chunk.errors:
                row = out.setdefault(err.tensor, {"chunks_failed": 0, "first_chunk": chunk.index, "worst_max_abs": None,
                                                  "worst_chunk": None})
                row["chunks_failed"] += 1
                if err.max_abs is not None and (row["worst_max_abs"] is None or err.max_abs > row["worst_max_abs"]):
                    row["worst_max_abs"], row["worst_chunk"] = err.max_abs, chunk.index
        raised = [c.index for c in self.chunks if c.status == "raised"]
        if raised:
            out["(raised)"] = {"chunks_failed": len(raised), "first_chunk": raised[0], "worst_max_abs": None,
                               "worst_chunk": None}
        return out


# --- detection --------------------------------------------------------------------------------------------------

def detect_schema(doc: Any, where: str = "the file") -> Literal["ort", "trt"]:
    """Which report schema `doc` follows.

    Raises:
        InspectorError: `doc` is not an object, or has neither schema's identifying keys; the message lists what
            was expected and what the file has.
    """
    if isinstance(doc, dict):
        doc, _ = normalise_report(doc, where)
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else type(doc).__name__
        raise InspectorError(
            f"{where}: expected a parity report, one JSON object with the ORT schema ({', '.join(ORT_KEYS)}) or the "
            f"TensorRT schema (those plus {', '.join(TRT_KEYS)}); found {kind}. A streaming summary (one object per "
            f"chunk with chunk_idx, cache_len_in, cache_len_out …) imports with --kind summary.")
    keys = set(doc)
    if "chunk_stats" in keys or "engine" in keys:
        missing = [k for k in ("total_chunks",) if k not in keys]
        if "chunk_stats" not in keys and "failures" not in keys:
            missing.append("chunk_stats or failures")
        if not missing:
            return "trt"
    elif "failures" in keys and "total_chunks" in keys:
        return "ort"
    else:
        missing = [k for k in ("total_chunks", "failures") if k not in keys]
    shown = ", ".join(sorted(keys)[:20]) + (" …" if len(keys) > 20 else "")
    raise InspectorError(
        f"{where}: unknown report schema. Expected the seed team's ORT parity report (keys {', '.join(ORT_KEYS)}) or "
        f"their TensorRT report (adds {', '.join(TRT_KEYS)}); missing {', '.join(missing)}. The file has keys: "
        f"{shown or '(none)'}.")


# --- other teams' spellings ------------------------------------------------------------------------------------

_REPORT_KEYS = frozenset(ORT_KEYS) | frozenset(TRT_KEYS) | {"chunks"}
_FIGURE_KEYS = ("total_chunks", "failures", "chunk_stats", "chunks")
"""Keys that carry the report's figures: a report without one of them at its top level is looked for one level
down (``{"results": {...}}``)."""
_HOISTED = ("total_chunks", "failures", "chunk_stats", "chunks", "passed", "failed", "pass_rate", "atol", "rtol",
            "cache_atol")
_INDEX_KEYS = ("chunk", "chunk_idx", "chunk_index", "index", "idx")
_TRUE_WORDS = {"true", "pass", "passed", "ok", "yes", "1"}
_FALSE_WORDS = {"false", "fail", "failed", "no", "0", "mismatch"}


def snake_key(key: Any) -> Any:
    """``totalChunks`` → ``total_chunks``, ``encoderOutputMaxAbs`` → ``encoder_output_max_abs``, ``Pass-Rate`` →
    ``pass_rate``; other keys unchanged."""
    if not isinstance(key, str):
        return key
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[\s\-]+", "_", out).lower()


def snake_keys(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`obj` with its keys in snake_case (one level).

    Raises:
        InspectorError: two keys that mean the same (``totalChunks`` and ``total_chunks``) with different values.
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in obj.items():
        new = snake_key(key)
        if new in out and out[new] != value:
            raise InspectorError(f"{where}: '{origin[new]}' and '{key}' both give '{new}', with different values "
                                 f"({_compact(out[new])[:40]} and {_compact(value)[:40]}); keep one.")
        out[new], origin[new] = value, str(key)
    return out


def normalise_report(doc: Mapping[str, Any], where: str = "the report") -> tuple[dict[str, Any], list[str]]:
    """Another team's spelling of a parity report → the seed's, with one note per change (see the module doc).

    Idempotent: a report already in the seed's spelling comes back equal, with no notes.

    Raises:
        InspectorError: a value that cannot mean what its key says (a chunk number that is no integer, a verdict
            that is neither true nor false, …); the message names the key.
    """
    out, notes, _ = _normalise(doc, where)
    return out, notes


def _normalise(doc: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[str], bool]:
    """`normalise_report`, and whether the report itself lists failures (else a chunk missing from the failures
    built from its per-chunk list is not known to have passed)."""
    notes: list[str] = []
    out = snake_keys(doc, where)
    renamed = sorted(str(k) for k in doc if snake_key(k) != k and snake_key(k) in _REPORT_KEYS | {"engine"})
    if renamed:
        notes.append(f"keys read in snake_case: {', '.join(renamed)}.")
    # The figures one level down: {"results": {"total_chunks": …}} or only {"results": {"chunks": [...]}}.
    for key in _HOISTED:
        if key in out:
            continue
        holders = [k for k, v in out.items() if isinstance(v, Mapping) and key in snake_keys(v, f"{where}: {k}")
                   and not isinstance(snake_keys(v, where)[key], bool)]  # a {"passed": true} verdict is no count
        if len(holders) > 1 and key in _FIGURE_KEYS:
            raise InspectorError(f"{where}: '{key}' is given under {' and '.join(repr(h) for h in holders)}; a "
                                 f"report holds one run: import each part as its own file.")
        if holders:
            out[key] = snake_keys(out[holders[0]], where)[key]
            notes.append(f"'{key}' read from '{holders[0]}.{key}'.")
    # Per-chunk lists: "chunks" (a list, or an object keyed by chunk number) is the chunk_stats list.
    failures_given = "failures" in out
    chunks = out.get("chunks")
    if isinstance(chunks, (int, str)) and not isinstance(chunks, bool) and "total_chunks" not in out:
        out["total_chunks"] = out.pop("chunks")
        notes.append("'chunks' read as total_chunks (a count).")
    elif chunks is not None:
        if "chunk_stats" in out:
            raise InspectorError(f"{where}: has both 'chunks' and 'chunk_stats'; which lists the chunks is unclear. "
                                 f"Keep one.")
        entries = _per_chunk_list(out.pop("chunks"), f"{where}: chunks")
        for e in entries:  # an entry that says "errors": [] passed; one that lists errors failed
            if isinstance(e, dict) and "passed" not in e and ("errors" in e or "error" in e):
                e["passed"] = not (e.get("errors") or e.get("error"))
        out["chunk_stats"] = entries
        if "failures" not in out:
            failing = [{"chunk": e["chunk"], **{k: e[k] for k in ("errors", "error") if k in e}} for e in entries
                       if e.get("errors") or e.get("error")]
            if failing:
                out["failures"] = failing
        notes.append("'chunks' read as the per-chunk list (chunk_stats).")
    for key in ("chunk_stats", "failures"):
        if key in out and isinstance(out[key], Mapping):
            out[key] = _per_chunk_list(out[key], f"{where}: {key}")
            notes.append(f"'{key}' is an object keyed by chunk number; read as a list.")
        elif key in out and isinstance(out[key], list):
            out[key] = [_chunk_entry(e, f"{where}: {key}[{i}]") for i, e in enumerate(out[key])]
    # Numbers and booleans written as text.
    for key in ("total_chunks", "passed", "failed"):
        value = out.get(key)
        if isinstance(value, str) and value.strip().isdigit():
            out[key] = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            out[key] = int(value)
    rate = out.get("pass_rate")
    if isinstance(rate, str) and rate.strip().endswith("%") and as_number(rate.strip()[:-1]) is not None:
        out["pass_rate"] = as_number(rate.strip()[:-1])
        notes.append(f"pass_rate {rate!r} read as the percentage {out['pass_rate']:g}.")
    if "total_chunks" not in out:
        stats, passed, failed = out.get("chunk_stats"), out.get("passed"), out.get("failed")
        raised = {f.get("chunk") for f in out.get("failures") or [] if isinstance(f, Mapping) and f.get("error")}
        if isinstance(stats, list) and stats:
            out["total_chunks"] = len({e.get("chunk") for e in stats if isinstance(e, Mapping)} - raised)
            notes.append(f"no total_chunks: {out['total_chunks']}, the chunks the per-chunk list holds.")
        elif isinstance(passed, int) and isinstance(failed, int) and not isinstance(passed, bool) \
                and not isinstance(failed, bool) and "failures" in out:
            out["total_chunks"] = passed + failed
            notes.append(f"no total_chunks: {passed + failed}, passed + failed.")
    return out, notes, failures_given


def _per_chunk_list(value: Any, where: str) -> list[dict[str, Any]]:
    """A per-chunk list as a list of entries with ``chunk``; an object keyed by chunk number (``{"0": {...}}``)
    gives its keys as the chunk numbers.

    Raises:
        InspectorError: not a list or object, a key that is no chunk number, an entry that is no object.
    """
    if isinstance(value, list):
        return [_chunk_entry(e, f"{where}[{i}]") for i, e in enumerate(value)]
    if not isinstance(value, Mapping):
        raise InspectorError(f"{where}: expected a list of per-chunk objects (or an object keyed by chunk number), "
                             f"found {type(value).__name__}.")
    out = []
    for key, entry in value.items():
        if not str(key).strip().isdigit():
            raise InspectorError(f"{where}.{key}: the key is not a chunk number; an object of chunks is keyed by "
                                 f"chunk number (\"0\", \"1\", …).")
        if not isinstance(entry, Mapping):
            raise InspectorError(f"{where}.{key}: expected an object (encoder_output_max_abs, passed, errors …), "
                                 f"found {_compact(entry)[:60]}.")
        out.append(_chunk_entry({"chunk": int(str(key).strip()), **entry}, f"{where}.{key}"))
    return out


def _chunk_entry(entry: Any, where: str) -> Any:
    """One per-chunk entry in the seed's spelling: snake_case keys, the chunk number under ``chunk`` (from
    ``index``/``idx`` or text), ``passed`` a boolean (from ``"true"``, ``"PASS"``, ``status: "fail"`` …)."""
    if not isinstance(entry, Mapping):
        return entry  # _chunk_index says what is wrong, naming the entry
    e = snake_keys(entry, where)
    for key in _INDEX_KEYS:
        if key in e:
            value = e[key]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())  # "3": a chunk number written as text
            e[key] = value
            e.setdefault("chunk", value)
            break
    verdict_key = "passed" if "passed" in e else ("status" if isinstance(e.get("status"), str) else
                                                 ("result" if isinstance(e.get("result"), str) else None))
    if verdict_key is not None and not isinstance(e[verdict_key], bool) and e[verdict_key] is not None:
        word = str(e[verdict_key]).strip().lower()
        if word in _TRUE_WORDS:
            e["passed"] = True
        elif word in _FALSE_WORDS:
            e["passed"] = False
        elif verdict_key == "passed":
            raise InspectorError(f"{where}.passed: {_compact(e['passed'])[:40]} is neither true nor false (also "
                                 f"read: {', '.join(sorted(_TRUE_WORDS | _FALSE_WORDS))}).")
    elif verdict_key is not None and isinstance(e[verdict_key], bool):
        e["passed"] = e[verdict_key]
    return e


# --- failure strings --------------------------------------------------------------------------------------------

_TENSOR_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*:\s*(.*)$", re.S)
_KEY_VALUE = re.compile(r"([A-Za-z_]\w*)\s*(?:=|:|\s)\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|"
                        r"inf(?:inity)?|nan))(?![\w.])", re.I)
_TENSOR_LOOSE = re.compile(r"^\s*([A-Za-z_][\w.\-]*?)[\s:,\-]+((?:max_abs|mean_abs|max_rel)\b.*)$", re.S | re.I)
_METRIC_WORDS = {"max_abs", "mean_abs", "max_rel", "error", "errors", "mismatch"}


def parse_failure(entry: Any) -> TensorError | None:
    """One failure as the report writes it: ``"tensor: max_abs=… mean_abs=… max_rel=…"`` or a dict with a tensor
    name and numbers. Returns None when it names no tensor (the caller keeps it verbatim)."""
    if isinstance(entry, Mapping):
        name = next((entry[k] for k in ("tensor", "name", "output") if isinstance(entry.get(k), str)), None)
        if name is None:
            return None
        return TensorError(name, _num(entry.get("max_abs")), _num(entry.get("mean_abs")), _num(entry.get("max_rel")),
                           text=_compact(entry))
    if not isinstance(entry, str):
        return None
    m = _TENSOR_PREFIX.match(entry)
    if m is None or m.group(1).lower() in _METRIC_WORDS:
        m = _TENSOR_LOOSE.match(entry)  # "encoder_output max_abs 7.3e-04" / "encoder_output - max_abs: …"
        if m is None or m.group(1).lower() in _METRIC_WORDS:
            return None
    values = {k.lower(): float(v) for k, v in _KEY_VALUE.findall(m.group(2))}
    return TensorError(m.group(1), values.get("max_abs"), values.get("mean_abs"), values.get("max_rel"), text=entry)


_num = as_number


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


# --- backend and precision -------------------------------------------------------------------------------------

def _provider_entries(providers: Any) -> list[tuple[str, dict[str, Any]]]:
    """``["CUDAExecutionProvider", ...]``, ``[["CUDAExecutionProvider", {opts}], ...]`` or ``[{"name":…}, …]``."""
    if isinstance(providers, (str, dict)):
        providers = [providers]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in providers or []:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            opts = item[1] if len(item) > 1 and isinstance(item[1], dict) else {}
            out.append((item[0], dict(opts)))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append((item["name"], dict(item.get("options") or {})))
    return out


def _falsy(value: Any) -> bool:
    return value in (0, False, "0", "false", "False", "off")


def ort_backend(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(backend, provider, precision, math_mode) for an ORT report, from `providers`."""
    entries = _provider_entries(doc.get("providers"))
    provider, opts = entries[0] if entries else ("", {})
    backend = {"CPUExecutionProvider": "ort-cpu", "CUDAExecutionProvider": "ort-cuda",
               "TensorrtExecutionProvider": "ort-tensorrt", "ROCMExecutionProvider": "ort-rocm",
               "DmlExecutionProvider": "ort-dml", "CoreMLExecutionProvider": "ort-coreml"}.get(provider)
    if backend is None:
        backend = "ort-" + (provider.removesuffix("ExecutionProvider").lower() or "unknown")
    precision = "fp32"
    if provider == "CUDAExecutionProvider":
        if "use_tf32" in opts:
            math_mode = "tf32=off" if _falsy(opts["use_tf32"]) else "tf32=on"
        else:
            math_mode = "tf32=on (ONNX Runtime CUDA default; the report does not set use_tf32)"
    elif provider == "TensorrtExecutionProvider":
        precision = "fp16" if not _falsy(opts.get("trt_fp16_enable", False)) else "fp32"
        math_mode = ""
    else:
        math_mode = ""
    return backend, provider, precision, math_mode


_PRECISIONS = (("fp16", "fp16"), ("half", "fp16"), ("float16", "fp16"), ("bf16", "bf16"), ("bfloat16", "bf16"),
               ("int8", "int8"), ("fp8", "fp8"), ("fp32", "fp32"), ("float32", "fp32"), ("best", "mixed"),
               ("mixed", "mixed"))
_TF32_OFF = re.compile(r"(?:no|without|disable[d]?)[-_]?tf32|tf32[-_]?(?:off|0|false|disabled?)", re.I)
_TF32_ON = re.compile(r"tf32", re.I)


def trt_backend(doc: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """(backend, precision, math_mode, engine path, how precision was found) for a TensorRT report.

    Fields win over the engine's filename: ``precision``/``dtype``, ``fp16``/``int8``/``tf32`` flags (top level or in
    an ``engine`` object or ``build``/``builder_config`` object), then tokens in the engine filename such as
    ``parakeet_fp16.engine`` or ``encoder_fp32_notf32.plan``.
    """
    engine = doc.get("engine")
    engine_path = ""
    sources: list[Mapping[str, Any]] = [doc]
    if isinstance(engine, str):
        engine_path = engine
    elif isinstance(engine, Mapping):
        engine_path = str(engine.get("path") or engine.get("file") or engine.get("name") or "")
        sources.append(engine)
    for key in ("build", "builder_config", "build_config", "config"):
        if isinstance(doc.get(key), Mapping):
            sources.append(doc[key])

    precision, found = "", ""
    tf32: bool | None = None
    for src in sources:
        for key in ("precision", "dtype", "engine_precision"):
            if isinstance(src.get(key), str) and not precision:
                precision, found = _precision_from_text(src[key]), f"field '{key}'"
        if not precision:
            for flag, name in (("int8", "int8"), ("fp16", "fp16"), ("bf16", "bf16")):
                if src.get(flag) is True:
                    precision, found = name, f"flag '{flag}'"
                    break
        if tf32 is None and isinstance(src.get("tf32"), bool):
            tf32 = src["tf32"]
    stem = PurePath(engine_path).name
    if not precision and stem:
        precision = _precision_from_text(stem)
        found = f"engine filename '{stem}'" if precision else ""
    if tf32 is None and stem:
        if _TF32_OFF.search(stem):
            tf32 = False
        elif _TF32_ON.search(stem):
            tf32 = True
    if not precision and tf32 is not None:
        precision, found = "fp32", "the TF32 setting (TF32 only applies to FP32 math)"
    precision = precision or "unknown"
    if precision == "fp32" or (precision == "unknown" and tf32 is None):
        if tf32 is None:
            math_mode = "tf32=unknown (TensorRT's default is on; the report does not say)"
        else:
            math_mode = "tf32=on" if tf32 else "tf32=off"
    else:
        math_mode = "" if tf32 is None else ("tf32=on" if tf32 else "tf32=off")
    backend = f"trt-{precision}" if precision != "unknown" else "trt"
    return backend, precision, math_mode, engine_path, found or "nothing in the file (precision unknown)"


def _precision_from_text(text: str) -> str:
    low = text.lower()
    for token, name in _PRECISIONS:
        if re.search(rf"(?<![a-z0-9]){token}(?![a-z0-9])", low) or re.search(rf"(?<![a-z]){token}", low):
            return name
    return ""


def normalise_mode(raw: Any) -> str:
    """``functional`` / ``closed-loop`` from the report's free-form `mode` (``closed_loop``, ``closedloop`` …)."""
    if not isinstance(raw, str):
        return ""
    low = raw.lower().replace("_", "-").replace(" ", "-")
    if "closed" in low or low in ("stateful", "loop", "feedback", "streaming"):
        return "closed-loop"
    if "func" in low or low in ("isolated", "chunk-isolated", "teacher-forced", "reference-cache"):
        return "functional"
    return ""


# --- the parser --------------------------------------------------------------------------------------------------

def parse_report(doc: Mapping[str, Any], where: str = "the report") -> ParsedReport:
    """Parse and cross-check one report (either schema).

    Raises:
        InspectorError: the schema is unknown, or a field has the wrong type (the message names it).
    """
    schema = detect_schema(doc, where)
    # failures_given: else a chunk's absence from the failures says nothing about it
    doc, notes, failures_given = _normalise(doc, where)

    def number(key: str) -> float | None:
        if key not in doc or doc[key] is None:
            return None
        value = _num(doc[key])
        if value is None:
            raise InspectorError(f"{where}: '{key}' must be a number, found {_compact(doc[key])[:80]}.")
        return value

    total = doc.get("total_chunks")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise InspectorError(f"{where}: 'total_chunks' must be a non-negative integer, found {_compact(total)[:80]}.")
    atol, rtol, cache_atol = number("atol"), number("rtol"), number("cache_atol")
    failures = doc.get("failures", [])
    if not isinstance(failures, list):
        raise InspectorError(f"{where}: 'failures' must be a list of {{chunk, errors[] | error}}, found "
                             f"{type(failures).__name__}.")
    stats = doc.get("chunk_stats", None)
    if stats is not None and not isinstance(stats, list):
        raise InspectorError(f"{where}: 'chunk_stats' must be a list of {{chunk, encoder_output_max_abs, "
                             f"encoder_output_mean_abs, passed}}, found {type(stats).__name__}.")

    # Failures by chunk.
    listed: dict[int, dict[str, Any]] = {}
    for pos, entry in enumerate(failures):
        idx = _chunk_index(entry, f"{where}: failures[{pos}]")
        slot = listed.setdefault(idx, {"errors": [], "raised": "", "unparsed": []})
        if "error" in entry and entry.get("error") is not None:
            slot["raised"] = str(entry["error"])
        errs = entry.get("errors", [])
        if isinstance(errs, Mapping) and not any(k in errs for k in ("tensor", "name", "output")):
            # {"encoder_output": "max_abs=…", "cache_last_time_out": {"max_abs": …}}: keyed by tensor
            errs = [{"tensor": k, **v} if isinstance(v, Mapping) else f"{k}: {v}" for k, v in errs.items()]
        if isinstance(errs, (str, Mapping)):
            errs = [errs]
        if not isinstance(errs, list):
            raise InspectorError(f"{where}: failures[{pos}].errors must be a list of strings, found "
                                 f"{type(errs).__name__}.")
        for err in errs:
            parsed = parse_failure(err)
            if parsed is None:
                slot["unparsed"].append(err if isinstance(err, str) else _compact(err))
            else:
                slot["errors"].append(parsed)
        if not slot["raised"] and not errs:
            slot["unparsed"].append("(listed as failing with no errors and no error)")

    stats_by_chunk: dict[int, Mapping[str, Any]] = {}
    for pos, entry in enumerate(stats or []):
        idx = _chunk_index(entry, f"{where}: chunk_stats[{pos}]")
        if idx in stats_by_chunk:
            notes.append(f"chunk_stats lists chunk {idx} twice; the last entry is used.")
        stats_by_chunk[idx] = entry

    raised = sorted(i for i, s in listed.items() if s["raised"])
    failed_listed = sorted(i for i, s in listed.items() if not s["raised"])
    # Which chunks ran: their total_chunks does not count chunks that raised.
    if stats_by_chunk:
        indices = sorted(set(stats_by_chunk) | set(listed))
        if len(set(stats_by_chunk) - set(raised)) != total:
            notes.append(f"chunk_stats has {len(stats_by_chunk)} chunks but total_chunks is {total}.")
    else:
        n_ran = total + len(raised)
        indices = list(range(n_ran))
        beyond = sorted(i for i in listed if i >= n_ran or i < 0)
        if beyond:
            notes.append(f"failures name chunk(s) {beyond} outside 0..{n_ran - 1} (total_chunks {total} plus "
                         f"{len(raised)} that raised); they are imported as listed.")
            indices = sorted(set(indices) | set(beyond))

    # Cross-check the report's own totals (their pass_rate is a percentage of total_chunks).
    claims = {k: doc.get(k) for k in ("total_chunks", "passed", "failed", "pass_rate")}
    passed_claim, failed_claim, rate_claim = doc.get("passed"), doc.get("failed"), _num(doc.get("pass_rate"))
    if isinstance(passed_claim, int) and isinstance(failed_claim, int) and passed_claim + failed_claim != total:
        notes.append(f"passed ({passed_claim}) + failed ({failed_claim}) != total_chunks ({total}).")
    # More failures claimed than listed: which other chunks failed is unknown, so no unlisted chunk is a pass.
    unlisted_unknown = (isinstance(failed_claim, int) and not isinstance(failed_claim, bool) and not stats_by_chunk
                        and failed_claim > len(failed_listed))
    if isinstance(failed_claim, int) and not stats_by_chunk and failed_claim != len(failed_listed):
        notes.append(f"the report says failed={failed_claim} but lists {len(failed_listed)} failing chunk(s) with "
                     f"errors; " + ("the chunks not listed may have failed: their max-abs is unknown." if
                                    unlisted_unknown else "the listed chunks are used."))
    if rate_claim is not None and isinstance(passed_claim, int) and total:
        pct = 100.0 * passed_claim / total
        if abs(rate_claim - pct) > 0.051:
            if abs(rate_claim * 100 - pct) <= 0.051:
                notes.append(f"pass_rate {rate_claim} looks like a fraction; the seed's reports write a percentage "
                             f"({pct:.1f}).")
            else:
                notes.append(f"pass_rate {rate_claim}% does not match passed/total_chunks = {pct:.1f}%.")
    if raised:
        notes.append(f"{len(raised)} chunk(s) raised instead of producing outputs ({_short(raised)}); the report "
                     f"leaves them out of total_chunks and pass_rate, this import counts them as failed.")

    # Per-chunk knowledge of encoder_output.
    chunks: list[ImportedChunk] = []
    stat_disagree: list[int] = []
    no_verdict: list[int] = []
    unrecognised: list[int] = []
    for idx in indices:
        slot = listed.get(idx, {"errors": [], "raised": "", "unparsed": []})
        errors = tuple(slot["errors"])
        stat = stats_by_chunk.get(idx)
        if slot["raised"]:
            chunks.append(ImportedChunk(idx, "raised", errors, slot["raised"], None, None, None,
                                        tuple(slot["unparsed"])))
            continue
        frames_err = next((e for e in errors if e.tensor == FRAMES), None)
        stat_max = _num(stat.get(f"{FRAMES}_max_abs", stat.get("max_abs"))) if stat else None
        stat_mean = _num(stat.get(f"{FRAMES}_mean_abs", stat.get("mean_abs"))) if stat else None
        stat_pass = stat.get("passed") if stat and isinstance(stat.get("passed"), bool) else None
        failed = bool(errors or slot["unparsed"]) or stat_pass is False
        if stat_pass is True and (errors or slot["unparsed"]):
            stat_disagree.append(idx)
        if stat_max is not None:
            bound = _exact(stat_max, "chunk_stats")
        elif frames_err is not None and frames_err.max_abs is not None:
            bound = _exact(frames_err.max_abs, "failure string")
        elif frames_err is not None or any(FRAMES in text for text in slot["unparsed"]):
            bound = Bound(atol or 0.0, math.inf, "encoder_output failed with no max_abs given: above atol")
        elif stat_pass is None and not errors and (not failures_given or unlisted_unknown):
            chunks.append(ImportedChunk(idx, "passed", errors, "", Bound(0.0, math.inf, "listed with no figure and no "
                                        "verdict: unknown"), stat_mean, None, tuple(slot["unparsed"])))
            no_verdict.append(idx)
            continue
        elif slot["unparsed"] or any(not other_output(e.tensor) for e in errors):
            # Listed as failing, and what failed cannot be tied to a known output: the encoder output's figure is
            # unknown (it may be the tensor, under another spelling), never "within atol".
            bound = Bound(0.0, math.inf, "listed as failing; no encoder_output figure recognised: unknown")
            unrecognised.append(idx)
        elif atol is not None and not rtol:
            bound = Bound(0.0, atol, f"passed at atol={atol:g}: max-abs is at most atol")
        else:
            bound = Bound(0.0, math.inf, f"passed at atol={atol} rtol={rtol}: an element may exceed atol by rtol "
                                         f"x |reference|, so max-abs has no upper bound from the report")
        frames_unparsed = any(FRAMES in text for text in slot["unparsed"])
        frames_passed = (stat_pass if stat_pass is not None and frames_err is None
                         else (frames_err is None and not frames_unparsed))
        if idx in unrecognised and stat_pass is None:
            frames_passed = None
        mean = stat_mean if stat_mean is not None else (frames_err.mean_abs if frames_err else None)
        chunks.append(ImportedChunk(idx, "failed" if failed else "passed", errors, "", bound, mean, frames_passed,
                                    tuple(slot["unparsed"])))
    if unrecognised:
        names = sorted({e.tensor for i in unrecognised for e in listed.get(i, {}).get("errors", [])
                        if not other_output(e.tensor)})
        notes.append(f"chunk(s) {_short(unrecognised)} are listed as failing with errors no encoder_output figure "
                     f"could be read from" + (f" (tensors named: {', '.join(names)})" if names else "")
                     + "; their encoder_output max-abs is unknown.")
    if stat_disagree:
        notes.append(f"chunk_stats says passed but failures list errors for chunk(s) {_short(stat_disagree)}: "
                     f"chunk_stats' 'passed' is read as encoder_output only; those chunks count as failed.")
    if no_verdict and not unlisted_unknown:
        notes.append(f"{len(no_verdict)} chunk(s) listed with neither an encoder_output figure nor a passed flag "
                     f"({_short(no_verdict)}), and the report has no failures list: their max-abs is unknown.")
    unknown = [c.index for c in chunks if c.frames_max_abs is not None and not c.frames_max_abs.exact]
    if unknown and not stats_by_chunk and not unlisted_unknown:
        notes.append(f"encoder_output max-abs is given only for failing chunks: {len(unknown)} of "
                     f"{len(chunks) - len(raised)} chunks carry only a bound "
                     f"({'max-abs <= atol' if atol is not None and not rtol else 'no upper bound because rtol > 0'}).")

    if schema == "trt":
        backend, precision, math_mode, engine_path, found = trt_backend(doc)
        runtime, provider = "tensorrt", "TensorRT"
        notes.append(f"precision {precision} from {found}.")
        zero_feed = doc.get("zero_feed_cache") if isinstance(doc.get("zero_feed_cache"), bool) else None
    else:
        backend, provider, precision, math_mode = ort_backend(doc)
        runtime, engine_path, zero_feed = "onnxruntime", "", None
        if not provider:
            notes.append("'providers' is empty: the execution provider is unknown.")
    raw_mode = doc.get("mode") if isinstance(doc.get("mode"), str) else ""
    mode = normalise_mode(raw_mode)
    if raw_mode and not mode:
        notes.append(f"mode '{raw_mode}' is not recognised as functional or closed loop.")
    timing = doc.get("timing_ms") if isinstance(doc.get("timing_ms"), Mapping) else None
    known = set(ORT_KEYS) | set(TRT_KEYS)
    extra = {k: v for k, v in doc.items() if k not in known}
    return ParsedReport(
        schema=schema, backend=backend, precision=precision, math_mode=math_mode, runtime=runtime, provider=provider,
        mode=mode, raw_mode=raw_mode, atol=atol, rtol=rtol, cache_atol=cache_atol, claims=claims,
        chunks=tuple(chunks), timing_ms=timing, error_distribution=doc.get("encoder_output_error_distribution"),
        zero_feed_cache=zero_feed, model=str(doc.get("onnx") or ""), engine=engine_path, ref=str(doc.get("ref") or ""),
        notes=tuple(notes), extra=extra)


def _exact(value: float, source: str) -> Bound:
    """A known max-abs; NaN (an FP16 engine's overflow) is as bad as it gets: +inf, as live runs count it."""
    if math.isnan(value):
        return Bound(math.inf, math.inf, f"{source}: NaN (non-finite output), counted as +inf")
    return Bound(value, value, source)


def _chunk_index(entry: Any, where: str) -> int:
    if not isinstance(entry, Mapping):
        raise InspectorError(f"{where}: expected an object with 'chunk', found {_compact(entry)[:80]}.")
    for key in ("chunk", "chunk_idx", "chunk_index"):
        value = entry.get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < 10**9:
                raise InspectorError(f"{where}: '{key}' is {value}; chunk numbers count from 0 (and stay below "
                                     f"10**9).")
            return value
    raise InspectorError(f"{where}: has no integer 'chunk' (or 'chunk_idx'); found keys {sorted(entry)}.")


def _short(indices: list[int], limit: int = 8) -> str:
    head = ", ".join(str(i) for i in indices[:limit])
    return head + (f", … ({len(indices)} in all)" if len(indices) > limit else "")
