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
"""

from __future__ import annotations

from inspector.values import as_number

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal, Mapping

from inspector.errors import InspectorError

FRAMES = "encoder_output"
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
    notes: list[str] = []

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
    if isinstance(failed_claim, int) and not stats_by_chunk and failed_claim != len(failed_listed):
        notes.append(f"the report says failed={failed_claim} but lists {len(failed_listed)} failing chunk(s) with "
                     f"errors; the listed chunks are used.")
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
        elif atol is not None and not rtol:
            bound = Bound(0.0, atol, f"passed at atol={atol:g}: max-abs is at most atol")
        else:
            bound = Bound(0.0, math.inf, f"passed at atol={atol} rtol={rtol}: an element may exceed atol by rtol "
                                         f"x |reference|, so max-abs has no upper bound from the report")
        frames_unparsed = any(FRAMES in text for text in slot["unparsed"])
        frames_passed = (stat_pass if stat_pass is not None and frames_err is None
                         else (frames_err is None and not frames_unparsed))
        mean = stat_mean if stat_mean is not None else (frames_err.mean_abs if frames_err else None)
        chunks.append(ImportedChunk(idx, "failed" if failed else "passed", errors, "", bound, mean, frames_passed,
                                    tuple(slot["unparsed"])))
    if stat_disagree:
        notes.append(f"chunk_stats says passed but failures list errors for chunk(s) {_short(stat_disagree)}: "
                     f"chunk_stats' 'passed' is read as encoder_output only; those chunks count as failed.")
    unknown = [c.index for c in chunks if c.frames_max_abs is not None and not c.frames_max_abs.exact]
    if unknown and not stats_by_chunk:
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
