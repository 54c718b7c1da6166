"""An ONNX graph's inputs and outputs against a contract: names, dtypes, ranks and fixed dimensions.

Only the graph's declarations are read (``onnx.load(..., load_external_data=False)``), so a 2.4 GB export with an
external data file checks in well under a second. Every difference is listed, each with a severity:

- ``error``: the model cannot be run as the contract says (missing tensor, other dtype or rank, a fixed size that
  differs, an extra input the contract does not feed, a size the contract lets vary but the model fixes);
- ``warning``: harmless for running but worth knowing (an extra output);
- ``info``: compatible (the model accepts any size where the contract fixes one).

Hints name the likely cause: names that look swapped, or NeMo's export names where the contract expects the
reference names (``outputs`` for ``encoder_output`` …).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contracts.errors import ContractError
from contracts.model import Contract, Dim, TensorSpec

DiffSeverity = Literal["error", "warning", "info"]

# NeMo's export names for the streaming encoder → the reference names our contracts (and `inspector export`) use.
NEMO_NAMES: dict[str, str] = {
    "outputs": "encoder_output",
    "cache_last_channel_next": "cache_last_channel_out",
    "cache_last_time_next": "cache_last_time_out",
    "cache_last_channel_next_len": "cache_last_channel_len_out",
    "processed_signal": "audio_signal",
    "processed_signal_length": "length",
}


class ModelFileError(ContractError):
    """The model file is missing or is not an ONNX model."""


@dataclass(frozen=True)
class TensorDecl:
    """One input or output as the ONNX graph declares it.

    Attributes:
        name: The graph's name.
        dtype: numpy-style dtype name, or ``"?"`` if the graph does not say.
        shape: Dims: an int, a symbol (``dim_param``), or None (unknown); None for the whole shape if no shape is
            declared.
    """

    name: str
    dtype: str
    shape: tuple[int | str | None, ...] | None

    def shape_text(self) -> str:
        if self.shape is None:
            return "?"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class ModelIO:
    """The graph's inputs (initializers excluded) and outputs, in graph order."""

    path: str
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]
    ir_version: int = 0
    opsets: tuple[tuple[str, int], ...] = ()

    def find(self, name: str) -> TensorDecl | None:
        for t in (*self.inputs, *self.outputs):
            if t.name == name:
                return t
        return None


@dataclass(frozen=True)
class Difference:
    """One way the model differs from the contract.

    Attributes:
        tensor: The tensor's name (the contract's model name, or the graph's for extra tensors).
        io: ``"input"`` or ``"output"``.
        what: ``missing``, ``extra``, ``dtype``, ``rank``, ``dim`` or ``shape``.
        expected: What the contract says (text).
        actual: What the graph says (text).
        severity: ``error``, ``warning`` or ``info``.
        message: One sentence.
        hint: The likely cause or fix, or ``""``.
    """

    tensor: str
    io: str
    what: str
    expected: str
    actual: str
    severity: DiffSeverity
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        """Truthy when it is an error (so ``any(diffs)`` says whether the check fails)."""
        return self.severity == "error"


def read_model_io(onnx_path: str | Path) -> ModelIO:
    """Read an ONNX model's declared inputs and outputs without loading its weights.

    Raises:
        ModelFileError: The file is missing, unreadable or not an ONNX model.
    """
    import onnx  # heavy-ish (protobuf); only needed here

    path = Path(onnx_path)
    if not path.exists():
        raise ModelFileError(f"model {path}: no such file. Give the path of an exported .onnx model "
                             "(`inspector export` writes one).")
    if path.is_dir():
        raise ModelFileError(f"model {path}: is a directory; give the .onnx file inside it.")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a file that is not ONNX
        raise ModelFileError(f"model {path}: not an ONNX model ({type(exc).__name__}: {exc}). Give an .onnx file "
                             "written by an ONNX exporter.") from None
    graph = model.graph
    if not graph.input and not graph.output:
        raise ModelFileError(f"model {path}: not an ONNX model, or one with no inputs and outputs (an empty graph). "
                             "Give an .onnx file written by an ONNX exporter.")
    initializers = {t.name for t in graph.initializer}
    inputs = tuple(_decl(v) for v in graph.input if v.name not in initializers)
    outputs = tuple(_decl(v) for v in graph.output)
    opsets = tuple((o.domain or "ai.onnx", int(o.version)) for o in model.opset_import)
    return ModelIO(str(path), inputs, outputs, int(model.ir_version), opsets)


def _decl(value_info) -> TensorDecl:  # noqa: ANN001 - onnx.ValueInfoProto
    from onnx import helper

    tt = value_info.type.tensor_type
    try:
        dtype = str(helper.tensor_dtype_to_np_dtype(tt.elem_type)) if tt.elem_type else "?"
    except (KeyError, ValueError, TypeError):
        dtype = "?"
    if tt.elem_type == 16:  # BFLOAT16: numpy has no such dtype, onnx maps it to a uint16 stand-in
        dtype = "bfloat16"
    if not tt.HasField("shape"):
        return TensorDecl(value_info.name, dtype, None)
    dims: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return TensorDecl(value_info.name, dtype, tuple(dims))


def _spec_text(spec: TensorSpec) -> str:
    return f"{spec.dtype} [" + ", ".join(str(d) for d in spec.shape) + "]"


def _decl_text(decl: TensorDecl) -> str:
    return f"{decl.dtype} {decl.shape_text()}"


def _pinned(contract: Contract, input_name: str, axis: int, size: int) -> bool:
    """Whether every profile pins this input's axis to exactly `size` (so a model that fixes it is fine)."""
    if not contract.profiles:
        return False
    for prof in contract.profiles:
        rng = prof.shapes.get(input_name)
        if rng is None or not (rng.min[axis] == rng.opt[axis] == rng.max[axis] == size):
            return False
    return True


def _compatible(spec: TensorSpec, decl: TensorDecl) -> bool:
    """Dtype, rank and fixed dims agree (used to recognise swapped names)."""
    if decl.dtype != spec.dtype or decl.shape is None or len(decl.shape) != spec.rank:
        return False
    return all(not (isinstance(a, int) and isinstance(b, int) and a != b) for a, b in zip(spec.shape, decl.shape))


def _compare_tensor(contract: Contract, spec: TensorSpec, decl: TensorDecl, io: str) -> list[Difference]:
    out: list[Difference] = []
    if decl.dtype != spec.dtype:
        out.append(Difference(spec.name, io, "dtype", spec.dtype, decl.dtype, "error",
                              f"{io} {spec.name!r} is {decl.dtype} in the model but {spec.dtype} in the contract"))
    if decl.shape is None:
        out.append(Difference(spec.name, io, "shape", _spec_text(spec), "no shape declared", "info",
                              f"the model declares no shape for {io} {spec.name!r}; rank and sizes are not checked"))
        return out
    if len(decl.shape) != spec.rank:
        out.append(Difference(spec.name, io, "rank", str(spec.rank), str(len(decl.shape)), "error",
                              f"{io} {spec.name!r} has rank {len(decl.shape)} {decl.shape_text()} in the model but "
                              f"{spec.rank} [{', '.join(map(str, spec.shape))}] in the contract"))
        return out
    for axis, (want, got) in enumerate(zip(spec.shape, decl.shape)):
        out.extend(_compare_dim(contract, spec, io, axis, want, got))
    return out


def _compare_dim(contract: Contract, spec: TensorSpec, io: str, axis: int, want: Dim,
                 got: int | str | None) -> list[Difference]:
    label = f"axis {axis}" + (f" ({spec.axes[axis]})" if spec.axes else "")
    if isinstance(want, int):
        if isinstance(got, int):
            if got != want:
                return [Difference(spec.name, io, "dim", str(want), str(got), "error",
                                   f"{io} {spec.name!r} {label} is {got} in the model but {want} in the contract")]
            return []
        return [Difference(spec.name, io, "dim", str(want), "?" if got is None else str(got), "info",
                           f"{io} {spec.name!r} {label} is dynamic in the model ({got or '?'}) where the contract "
                           f"fixes {want}: compatible")]
    if isinstance(got, int):
        if io == "input" and _pinned(contract, spec.name, axis, got):
            return [Difference(spec.name, io, "dim", want, str(got), "info",
                               f"{io} {spec.name!r} {label} is fixed to {got} in the model; every profile pins "
                               f"{want!r} to {got}: compatible")]
        if io == "output":
            return [Difference(spec.name, io, "dim", want, str(got), "warning",
                               f"output {spec.name!r} {label} is fixed to {got} in the model where the contract lets "
                               f"{want!r} vary")]
        return [Difference(spec.name, io, "dim", want, str(got), "error",
                           f"input {spec.name!r} {label} is fixed to {got} in the model but the contract lets {want!r} "
                           "vary: chunks (or batches) of another size will fail",
                           "re-export with this axis dynamic (dynamic_axes), or fix it in the contract")]
    return []


def check_model(onnx_path: str | Path, contract: Contract) -> list[Difference]:
    """Compare an ONNX graph's inputs and outputs with a contract.

    Args:
        onnx_path: The .onnx file (external data is not loaded).
        contract: The contract.

    Returns:
        Every difference (errors, warnings and compatible notes), in contract order, then extra tensors. The model
        matches when no difference has severity ``error``.

    Raises:
        ModelFileError: The file is missing or not an ONNX model.
    """
    io = read_model_io(onnx_path)
    return compare_io(io, contract)


def compare_io(io: ModelIO, contract: Contract) -> list[Difference]:
    """`check_model` on an already-read `ModelIO`."""
    diffs: list[Difference] = []
    for kind, specs, decls in (("input", contract.inputs, io.inputs), ("output", contract.outputs, io.outputs)):
        by_name = {d.name: d for d in decls}
        wanted = {s.name for s in specs}
        extra = [d for d in decls if d.name not in wanted]
        swapped = _swapped_pairs(specs, by_name)
        for spec in specs:
            decl = by_name.get(spec.name)
            if decl is None:
                diffs.append(Difference(spec.name, kind, "missing", _spec_text(spec), "absent", "error",
                                        f"the model has no {kind} {spec.name!r}",
                                        _missing_hint(spec, extra, kind)))
                continue
            found = _compare_tensor(contract, spec, decl, kind)
            if spec.name in swapped and any(d.severity == "error" for d in found):
                other = swapped[spec.name]
                found = [dataclasses.replace(d, hint=f"{spec.name!r} and {other!r} look swapped: the model's "
                                                      f"{spec.name!r} matches the contract's {other!r} and vice versa "
                                                      "(an inference server that sorted state names did this)")
                         if d.severity == "error" else d for d in found]
            diffs.extend(found)
        missing = {s.name for s in specs if s.name not in by_name} | {s.ref_name for s in specs
                                                                     if s.name not in by_name}
        for decl in extra:
            ref = NEMO_NAMES.get(decl.name)
            if ref is not None and ref in missing:
                continue  # already reported with the missing tensor's hint
            hint = ""
            if ref is not None and any(s.ref_name == ref or s.name == ref for s in specs):
                hint = (f"{decl.name!r} is NeMo's export name for {ref!r}: rename it in the graph (`inspector export` "
                        f"does) or set name {decl.name!r} with ref_name {ref!r} in the contract")
            if kind == "input":
                diffs.append(Difference(decl.name, kind, "extra", "absent", _decl_text(decl), "error",
                                        f"the model has an input {decl.name!r} the contract does not know, so nothing "
                                        "would feed it", hint))
            else:
                diffs.append(Difference(decl.name, kind, "extra", "absent", _decl_text(decl), "warning",
                                        f"the model has an output {decl.name!r} the contract does not list "
                                        "(ignored)", hint))
    return diffs


def _swapped_pairs(specs: tuple[TensorSpec, ...], by_name: dict[str, TensorDecl]) -> dict[str, str]:
    """Contract names whose model tensors fit each other's declarations but not their own."""
    out: dict[str, str] = {}
    for i, a in enumerate(specs):
        for b in specs[i + 1:]:
            da, db = by_name.get(a.name), by_name.get(b.name)
            if da is None or db is None:
                continue
            if not _compatible(a, da) and not _compatible(b, db) and _compatible(b, da) and _compatible(a, db):
                out[a.name], out[b.name] = b.name, a.name
    return out


def _missing_hint(spec: TensorSpec, extra: list[TensorDecl], kind: str) -> str:
    for decl in extra:
        if NEMO_NAMES.get(decl.name) in (spec.name, spec.ref_name):
            return (f"the model has {decl.name!r}, NeMo's export name for it: rename it in the graph (`inspector "
                    f"export` does) or set name {decl.name!r} with ref_name {spec.ref_name!r} in the contract")
    names = [d.name for d in extra]
    close = difflib.get_close_matches(spec.name, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean the model's {kind} {close[0]!r}?"
    return ""


def matches(diffs: list[Difference]) -> bool:
    """True when no difference is an error."""
    return not any(d.severity == "error" for d in diffs)
