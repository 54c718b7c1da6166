"""TensorRT planning that needs no TensorRT: optimization profiles, engine-cache keys, binding and double-buffer
plans, and the check that an engine's precision is what was asked for.

Everything here is plain Python on plain data, so it is tested on machines without TensorRT or a GPU;
`backends.tensorrt` feeds it what the TensorRT API reports.

Profiles: TensorRT needs a min/opt/max shape for every *dynamic* network input, caches included. The contract's
profiles give full shapes for the inputs they list; inputs they leave out get their shape from the contract's
symbolic shape, with each symbol (``B``, ``T``) bound by the listed inputs that use it (a symbol must bind to the same
range wherever it appears). An input that stays unresolved is an error naming the input, the axis and the symbol.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from backends.base import BackendError
from contracts.model import Contract

Shape = tuple[int, ...]
Dim = int | str | None


class TrtPlanError(BackendError):
    """The contract and the model do not give TensorRT what it needs (a profile, a consistent shape)."""


@dataclass(frozen=True)
class InputRange:
    """min/opt/max of one network input in one optimization profile (model names)."""

    min: Shape
    opt: Shape
    max: Shape

    def contains(self, shape: Sequence[int]) -> bool:
        return (len(shape) == len(self.min)
                and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max)))


@dataclass(frozen=True)
class ProfilePlan:
    """One optimization profile for every dynamic input."""

    name: str
    inputs: Mapping[str, InputRange]

    def contains(self, shapes: Mapping[str, Sequence[int]]) -> bool:
        return all(r.contains(shapes[n]) for n, r in self.inputs.items() if n in shapes)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": {n: {"min": list(r.min), "opt": list(r.opt), "max": list(r.max)}
                                               for n, r in sorted(self.inputs.items())}}


def is_dynamic(dims: Sequence[Dim]) -> bool:
    """An ONNX input shape with any symbolic/unknown dimension (``"B"``, ``None``, ``-1``, ``0``)."""
    return any(not isinstance(d, int) or d <= 0 for d in dims)


def derive_profiles(contract: Contract, network_inputs: Mapping[str, Sequence[Dim]]) -> list[ProfilePlan]:
    """Full min/opt/max shapes for every dynamic network input, one plan per contract profile.

    Args:
        contract: Gives the profiles (model names) and the symbolic shapes.
        network_inputs: The network's inputs as the ONNX graph declares them: name → dims (int, or a symbol / None /
            -1 for dynamic axes).

    Returns:
        One `ProfilePlan` per contract profile, covering exactly the dynamic network inputs.

    Raises:
        TrtPlanError: No profile while some input is dynamic; a symbol bound inconsistently; an input that stays
            unresolved; a profile shape that contradicts a fixed dimension or has min > opt > max.
    """
    dynamic = {n: list(d) for n, d in network_inputs.items() if is_dynamic(d)}
    if not dynamic:
        return [ProfilePlan("static", {})]
    if not contract.profiles:
        raise TrtPlanError(
            f"contract {contract.name} has no TensorRT optimization profiles, but the model's inputs "
            f"{sorted(dynamic)} are dynamic: add a `profiles` entry with min/opt/max shapes for them.")
    specs = {s.name: s for s in contract.inputs}
    plans = []
    for prof in contract.profiles:
        ranges: dict[str, InputRange] = {}
        for name, sr in prof.shapes.items():
            if name not in network_inputs:
                raise TrtPlanError(f"contract {contract.name}, profile {prof.name!r}: input {name!r} is not a network "
                                   f"input (the model has {sorted(network_inputs)}).")
            ranges[name] = _checked_range(contract.name, prof.name, name, sr.min, sr.opt, sr.max)
        # Bind symbols from the inputs the profile lists.
        symbols: dict[str, tuple[int, int, int]] = {}
        for name, rng in ranges.items():
            spec = specs.get(name)
            if spec is None:
                continue
            for axis, dim in enumerate(spec.shape):
                if isinstance(dim, str) and axis < len(rng.min):
                    val = (rng.min[axis], rng.opt[axis], rng.max[axis])
                    if symbols.setdefault(dim, val) != val:
                        raise TrtPlanError(
                            f"contract {contract.name}, profile {prof.name!r}: symbol {dim!r} is {symbols[dim]} "
                            f"(min, opt, max) for one input but {val} for {name!r} axis {axis}; a symbol must bind "
                            "to one range in a profile.")
        for name, dims in dynamic.items():
            if name in ranges:
                _check_fixed(contract.name, prof.name, name, dims, ranges[name])
                continue
            spec = specs.get(name)
            mins, opts, maxs = [], [], []
            for axis, d in enumerate(dims):
                sym = spec.shape[axis] if spec is not None and axis < len(spec.shape) else d
                if isinstance(d, int) and d > 0:
                    lo = op = hi = d
                elif isinstance(sym, int) and sym > 0:
                    lo = op = hi = sym
                elif isinstance(sym, str) and sym in symbols:
                    lo, op, hi = symbols[sym]
                else:
                    raise TrtPlanError(
                        f"contract {contract.name}, profile {prof.name!r}: network input {name!r} axis {axis} is "
                        f"dynamic ({d!r}) and neither the profile lists {name!r} nor is its symbol "
                        f"{sym!r} bound by another input of the profile; add {name!r} to the profile.")
                mins.append(lo)
                opts.append(op)
                maxs.append(hi)
            ranges[name] = _checked_range(contract.name, prof.name, name, mins, opts, maxs)
        plans.append(ProfilePlan(prof.name, {n: r for n, r in ranges.items() if n in dynamic}))
    return plans


def _checked_range(cname: str, pname: str, name: str, lo: Sequence[int], op: Sequence[int],
                   hi: Sequence[int]) -> InputRange:
    if not (len(lo) == len(op) == len(hi)):
        raise TrtPlanError(f"contract {cname}, profile {pname!r}, input {name!r}: min/opt/max have different ranks.")
    if not all(a <= b <= c for a, b, c in zip(lo, op, hi)) or any(a < 0 for a in lo):
        raise TrtPlanError(f"contract {cname}, profile {pname!r}, input {name!r}: need 0 <= min <= opt <= max on every "
                           f"axis, got min {list(lo)}, opt {list(op)}, max {list(hi)}.")
    return InputRange(tuple(int(x) for x in lo), tuple(int(x) for x in op), tuple(int(x) for x in hi))


def _check_fixed(cname: str, pname: str, name: str, dims: Sequence[Dim], rng: InputRange) -> None:
    if len(dims) != len(rng.min):
        raise TrtPlanError(f"contract {cname}, profile {pname!r}, input {name!r}: rank {len(rng.min)} but the network "
                           f"input has rank {len(dims)} ({list(dims)}).")
    for axis, d in enumerate(dims):
        if isinstance(d, int) and d > 0 and not (rng.min[axis] == rng.opt[axis] == rng.max[axis] == d):
            raise TrtPlanError(f"contract {cname}, profile {pname!r}, input {name!r} axis {axis}: the network fixes it "
                               f"to {d} but the profile says min {rng.min[axis]}, opt {rng.opt[axis]}, max "
                               f"{rng.max[axis]}.")


def select_profile(plans: Sequence[ProfilePlan], shapes: Mapping[str, Sequence[int]]) -> int:
    """The index of the first profile whose ranges hold these input shapes.

    Raises:
        TrtPlanError: None does; the message lists each profile's ranges for the offending input.
    """
    for i, p in enumerate(plans):
        if p.contains(shapes):
            return i
    bad = []
    for p in plans:
        for n, r in p.inputs.items():
            if n in shapes and not r.contains(shapes[n]):
                bad.append(f"profile {p.name!r}: {n} {list(shapes[n])} not within min {list(r.min)} .. max {list(r.max)}")
                break
    raise TrtPlanError("no optimization profile of the engine accepts this chunk's shapes: " + "; ".join(bad)
                       + ". Widen the contract's profiles and rebuild the engine.")


# --- engine cache -----------------------------------------------------------------------------------------------------

def engine_cache_key(model_sha256: str, trt_version: str, gpu_name: str, precision: str,
                     profiles: Sequence[ProfilePlan], builder: Mapping[str, Any] | None = None) -> str:
    """A key that changes whenever the engine would: model bytes, TensorRT version, GPU, precision, profiles and
    builder settings (TF32, strong typing, optimisation level, workspace)."""
    doc = {
        "model": model_sha256, "tensorrt": trt_version, "gpu": gpu_name, "precision": precision,
        "profiles": [p.to_json() for p in profiles], "builder": dict(sorted((builder or {}).items())),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CachePaths:
    plan: Path
    meta: Path
    timing_cache: Path


def engine_cache_paths(cache_dir: str | Path, key: str, trt_version: str, gpu_name: str) -> CachePaths:
    """Where an engine and its metadata live; the timing cache is shared per TensorRT version and GPU."""
    root = Path(cache_dir)
    gpu = "".join(ch if ch.isalnum() else "-" for ch in gpu_name).strip("-") or "gpu"
    return CachePaths(root / f"{key}.plan", root / f"{key}.json", root / f"timing-{trt_version}-{gpu}.cache")


# --- bindings ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorBinding:
    name: str
    is_input: bool
    dtype: str
    shape: Shape


@dataclass(frozen=True)
class BindingPlan:
    """Every I/O tensor of one execution with its shape (what `TrtBackend` allocates and binds)."""

    tensors: tuple[TensorBinding, ...]

    @property
    def outputs(self) -> tuple[TensorBinding, ...]:
        return tuple(t for t in self.tensors if not t.is_input)


def binding_plan(io: Mapping[str, tuple[bool, str]], input_shapes: Mapping[str, Sequence[int]],
                 output_shapes: Mapping[str, Sequence[int]]) -> BindingPlan:
    """Bindings for one execution.

    Args:
        io: Engine tensor name → (is_input, dtype name).
        input_shapes: The chunk's input shapes.
        output_shapes: What the execution context reports for the outputs once the inputs are set.

    Raises:
        TrtPlanError: An input has no shape, or an output shape is still unknown (-1: data-dependent).
    """
    tensors = []
    for name, (is_input, dtype) in io.items():
        shapes = input_shapes if is_input else output_shapes
        if name not in shapes:
            raise TrtPlanError(f"engine tensor {name!r} ({'input' if is_input else 'output'}) has no shape for this "
                               "chunk: the feeds lack it or the context did not infer it.")
        shape = tuple(int(s) for s in shapes[name])
        if any(s < 0 for s in shape):
            raise TrtPlanError(f"engine output {name!r} has a data-dependent shape {list(shape)}; this backend needs "
                               "shapes known from the inputs.")
        tensors.append(TensorBinding(name, is_input, dtype, shape))
    return BindingPlan(tuple(tensors))


@dataclass(frozen=True)
class CacheLink:
    """One feedback edge in engine (model) names, and whether the output can be written straight into the
    next chunk's input buffer (same shape and dtype) or needs a padding/cast step in between."""

    source: str
    target: str
    direct: bool
    reason: str = ""


@dataclass(frozen=True)
class DoubleBufferPlan:
    """Two device buffers per fed-back cache, swapped every chunk.

    On chunk k (counting from the loop's first chunk), a direct cache's input is read from slot ``k % 2`` and its
    output written to slot ``(k + 1) % 2``, which chunk k+1 then reads: an input is never the same buffer as an
    output. Non-direct links write the output to its own buffer and pad/cast it into slot ``(k + 1) % 2``.
    """

    links: tuple[CacheLink, ...]

    @staticmethod
    def slots(k: int) -> tuple[int, int]:
        """(input slot, output slot) for chunk k."""
        return k % 2, (k + 1) % 2

    def bind(self, k: int, buffers: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        """Engine tensor name → the buffer it is bound to on chunk k: every link's input reads its slot
        ``k % 2``; a direct link's output is written straight into slot ``(k + 1) % 2`` (never the input's buffer).

        Args:
            k: Chunk number within the loop.
            buffers: Target (input) name → its two slot buffers (device tensors in the backend; anything here).
        """
        i, o = self.slots(k)
        out: dict[str, Any] = {}
        for link in self.links:
            if link.target not in buffers:
                continue
            out[link.target] = buffers[link.target][i]
            if link.direct:
                out[link.source] = buffers[link.target][o]
        return out


def double_buffer_plan(contract: Contract, engine_shapes: Mapping[str, Sequence[int]],
                       engine_dtypes: Mapping[str, str]) -> DoubleBufferPlan:
    """Plan the cache buffers of a closed loop from the contract's feedback map.

    Args:
        contract: Its feedback map (reference names) and padding rules.
        engine_shapes: Engine tensor name → shape (inputs and outputs, as bound for a steady-state chunk).
        engine_dtypes: Engine tensor name → dtype.
    """
    links = []
    for fb in contract.feedback:
        src, tgt = contract.output(fb.source).name, contract.input(fb.target).name
        s_shape, t_shape = tuple(engine_shapes.get(src, ())), tuple(engine_shapes.get(tgt, ()))
        if engine_dtypes.get(src) != engine_dtypes.get(tgt):
            links.append(CacheLink(src, tgt, False, f"dtype {engine_dtypes.get(src)} → {engine_dtypes.get(tgt)}"))
        elif s_shape != t_shape:
            links.append(CacheLink(src, tgt, False, f"shape {list(s_shape)} → {list(t_shape)} (padding)"))
        else:
            links.append(CacheLink(src, tgt, True))
    return DoubleBufferPlan(tuple(links))


# --- precision check --------------------------------------------------------------------------------------------------

def _dtype_of_format(text: str) -> str | None:
    t = text.lower()
    if "fp16" in t or "half" in t:
        return "float16"
    if "bf16" in t or "bfloat16" in t:
        return "bfloat16"
    if "fp8" in t:
        return "fp8"
    if "int8" in t:
        return "int8"
    if "fp32" in t or "float" in t:
        return "float32"
    if "int64" in t:
        return "int64"
    if "int32" in t:
        return "int32"
    return None


def layer_precisions(engine_info: Mapping[str, Any] | str) -> dict[str, int]:
    """Count the engine's layer outputs per dtype, from TensorRT's engine-inspector JSON (DETAILED verbosity).

    TensorRT reports each layer's outputs with a ``"Format/Datatype"`` such as ``"Row major linear FP32"`` or
    ``"Channel major FP16 format where channel % 8 == 0"``; layers without detail (names only) are not counted.
    """
    doc = json.loads(engine_info) if isinstance(engine_info, str) else engine_info
    counts: Counter[str] = Counter()
    for layer in doc.get("Layers", []):
        if not isinstance(layer, Mapping):
            continue
        for out in layer.get("Outputs", []) or []:
            fmt = out.get("Format/Datatype") or out.get("Datatype") or ""
            dt = _dtype_of_format(str(fmt))
            if dt:
                counts[dt] += 1
    return dict(counts)


@dataclass(frozen=True)
class PrecisionCheck:
    """Whether an engine computes in the precision asked for.

    ``status`` is ``"pass"``, ``"fail"`` or ``"undetermined"`` (the engine inspector gave no layer data, so nothing
    shows what the layers compute in). ``bool(check)`` is True only for ``"pass"``: an unconfirmed precision is
    never a pass.
    """

    status: str
    requested: str
    layer_dtypes: Mapping[str, int] = field(default_factory=dict)
    io_dtypes: Mapping[str, str] = field(default_factory=dict)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "requested": self.requested, "message": self.message,
                "layer_dtypes": dict(self.layer_dtypes), "io_dtypes": dict(self.io_dtypes)}


def check_precision(requested: str, io_dtypes: Mapping[str, str], layer_dtypes: Mapping[str, int]) -> PrecisionCheck:
    """Catch an "FP16" engine that computes in FP32 (and the reverse).

    Args:
        requested: ``fp32`` or ``fp16``.
        io_dtypes: Engine I/O tensor → dtype.
        layer_dtypes: From `layer_precisions` (empty if the engine gave no layer detail).

    Returns:
        ``fail`` when the engine's tensors contradict the request; ``undetermined`` when there is no layer detail to
        decide from (an FP32 request is not confirmed by FP32 I/O alone: the layers may still run in FP16);
        ``pass`` when the layer outputs show the requested precision.
    """
    half = layer_dtypes.get("float16", 0) + sum(1 for d in io_dtypes.values() if d == "float16")
    full = layer_dtypes.get("float32", 0)
    if requested == "fp32" and half:
        return PrecisionCheck("fail", requested, layer_dtypes, io_dtypes,
                              f"engine requested as FP32 has {half} FP16 tensors/layer outputs")
    if not layer_dtypes:
        return PrecisionCheck("undetermined", requested, layer_dtypes, io_dtypes,
                              f"cannot confirm {requested.upper()}: the engine inspector reports no layer precisions "
                              "(build the engine with ProfilingVerbosity.DETAILED, or rebuild=1 if it was cached "
                              "without)")
    if requested == "fp16":
        if not layer_dtypes.get("float16", 0):
            return PrecisionCheck("fail", requested, layer_dtypes, io_dtypes,
                                  f"engine requested as FP16 computes entirely in FP32 ({full} FP32 layer outputs, "
                                  "none FP16): TensorRT ignored the request (strongly typed network from an FP32 "
                                  "ONNX?)")
        return PrecisionCheck("pass", requested, layer_dtypes, io_dtypes,
                              f"{layer_dtypes.get('float16', 0)} FP16 and {full} FP32 layer outputs")
    return PrecisionCheck("pass", requested, layer_dtypes, io_dtypes, f"{full} FP32 layer outputs, none FP16")


def math_mode(precision: str, fp16_mode: str, tf32: bool | None) -> str:
    """What `BackendInfo.math_mode` says for an engine: the TF32 builder flag as the builder config really had it
    (None: not known, e.g. an engine cached before the flag was recorded), and how FP16 was asked for.

    Args:
        precision: ``fp32`` or ``fp16``.
        fp16_mode: ``flag`` or ``onnx`` (FP16 only).
        tf32: ``config.get_flag(BuilderFlag.TF32)`` after configuring the build; None when unknown or when this
            TensorRT has no TF32 flag.
    """
    flag = ("tf32=unknown (not recorded with the engine, or this TensorRT has no TF32 flag)" if tf32 is None
            else f"tf32={'on' if tf32 else 'off'}")
    if precision == "fp16":
        how = "FP16 builder flag" if fp16_mode == "flag" else "FP16 ONNX, strongly typed"
        return f"fp16 ({how}), {flag}"
    return f"fp32, {flag}"


TRT_DTYPES = {
    "FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "INT32": "int32", "INT64": "int64",
    "BOOL": "bool", "UINT8": "uint8", "FP8": "fp8", "INT4": "int4", "FP4": "fp4",
}
"""TensorRT `DataType` member name → numpy-style name."""


def trt_dtype_name(member_name: str) -> str:
    return TRT_DTYPES.get(member_name.rsplit(".", 1)[-1].upper(), member_name.lower())
