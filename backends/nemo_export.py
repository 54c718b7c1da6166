"""NeMo's ONNX export of the streaming encoder, made into the file the contracts describe.

`enc.export_cache_support = True; enc.export(path, check_trace=False)` (NeMo 3.0, TorchScript-based exporter, IR 8,
opset 17) gives a graph with cache inputs and outputs in the batch-first layout. We then
- rename NeMo's outputs to the reference names (`outputs` → `encoder_output`, `cache_last_channel_next` →
  `cache_last_channel_out`, …) so that model names and reference names agree;
- give the symbolic dimensions readable names (``B``, ``T``, ``T_out``, ``cache_frames``, ``time_ctx``);
- keep the IR version at or below `MAX_IR_VERSION` (ONNX Runtime rejects IR versions newer than it knows);
- write one `.onnx`, plus exactly one `<name>.data` external-data file when the weights pass 2 GB (NeMo itself
  leaves ~370 loose tensor files next to a parakeet-size export).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendError

NEMO_TO_REF: dict[str, str] = {
    "outputs": "encoder_output",
    "cache_last_channel_next": "cache_last_channel_out",
    "cache_last_time_next": "cache_last_time_out",
    "cache_last_channel_next_len": "cache_last_channel_len_out",
}
MAX_IR_VERSION = 10
PROTOBUF_LIMIT = 2_000_000_000  # bytes; above this the weights must live in external data

# Readable names for the dynamic axes, by reference name (None keeps a fixed size as it is).
_DIM_NAMES: dict[str, tuple[str | None, ...]] = {
    "audio_signal": ("B", None, "T"),
    "length": ("B",),
    "cache_last_channel": ("B", None, "cache_frames", None),
    "cache_last_time": ("B", None, None, "time_ctx"),
    "cache_last_channel_len": ("B",),
    "encoder_output": ("B", None, "T_out"),
    "encoded_lengths": ("B",),
    "cache_last_channel_out": ("B", None, "cache_frames", None),
    "cache_last_time_out": ("B", None, None, "time_ctx"),
    "cache_last_channel_len_out": ("B",),
}


@dataclass(frozen=True)
class ExportResult:
    """What `export_onnx` wrote.

    Attributes:
        onnx: The `.onnx` file.
        data: Its single external-data file, or None when the weights are inside the `.onnx`.
        size_bytes: Total bytes on disk (`.onnx` + data).
        ir_version: The file's ONNX IR version.
        opset: The default-domain opset.
        inputs: Graph input names, in order.
        outputs: Graph output names, in order.
        seconds: Wall time of NeMo's export plus our rewrite.
    """

    onnx: Path
    data: Path | None
    size_bytes: int
    ir_version: int
    opset: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"onnx": str(self.onnx), "data": str(self.data) if self.data else None,
                "size_bytes": self.size_bytes, "ir_version": self.ir_version, "opset": self.opset,
                "inputs": list(self.inputs), "outputs": list(self.outputs), "seconds": round(self.seconds, 3)}


def export_onnx(model: Any, path: str | Path) -> ExportResult:
    """Export a `ReferenceModel`'s encoder to `path` with cache inputs/outputs under the reference names.

    NeMo's export prepares the module for tracing and leaves it so; streaming the same module afterwards was checked
    to give bit-identical outputs (tiny, NeMo 3.0), but export last where you can.

    Args:
        model: A `backends.nemo.ReferenceModel` (streaming already set up).
        path: Where the `.onnx` goes; `<path>.data` is written beside it when the weights pass 2 GB.

    Returns:
        What was written.

    Raises:
        BackendError: NeMo's export failed, or the output folder is not writable.
    """
    import torch

    from backends.nemo import quiet_nemo

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    enc = model.encoder
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as tmp:
        raw = Path(tmp) / "nemo_export.onnx"
        enc.export_cache_support = True
        try:
            # NeMo draws its example inputs from the global RNG: keep the caller's RNG untouched.
            with torch.random.fork_rng(devices=[]), quiet_nemo():
                torch.manual_seed(0)
                enc.export(str(raw), check_trace=False)
        except Exception as exc:  # noqa: BLE001 — surface NeMo/torch export failures as one paragraph
            raise BackendError(f"NeMo's ONNX export of {model.source.get('model')} failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        result = _rewrite(raw, path)
    return ExportResult(**{**result, "seconds": time.perf_counter() - start})


def _rewrite(raw: Path, path: Path) -> dict[str, Any]:
    import onnx

    proto = onnx.load(str(raw), load_external_data=True)
    rename_io(proto, NEMO_TO_REF)
    name_dims(proto)
    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    weight_bytes = sum(len(t.raw_data) for t in proto.graph.initializer) + sum(
        len(n.SerializeToString()) for n in proto.graph.node if n.op_type == "Constant")
    data_path: Path | None = None
    for stale in (path, path.with_name(path.name + ".data")):
        if stale.exists():
            stale.unlink()
    if weight_bytes > PROTOBUF_LIMIT * 0.9:
        data_path = path.with_name(path.name + ".data")
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_path.name, size_threshold=1024, convert_attribute=False)
    else:
        onnx.save_model(proto, str(path))
    size = path.stat().st_size + (data_path.stat().st_size if data_path else 0)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return {"onnx": path, "data": data_path, "size_bytes": size, "ir_version": int(proto.ir_version),
            "opset": int(opset), "inputs": tuple(i.name for i in proto.graph.input),
            "outputs": tuple(o.name for o in proto.graph.output)}


def rename_io(proto: Any, mapping: dict[str, str]) -> None:
    """Rename graph inputs/outputs (and every use of those values) in place."""
    graph = proto.graph
    taken = {v.name for v in (*graph.input, *graph.output, *graph.value_info)} | {
        o for n in graph.node for o in n.output}
    for old, new in mapping.items():
        if old != new and new in taken:
            raise BackendError(f"cannot rename {old!r} to {new!r}: the graph already has a value named {new!r}.")
    for vi in (*graph.input, *graph.output, *graph.value_info):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]


def name_dims(proto: Any) -> None:
    """Give the dynamic dimensions of the graph's inputs and outputs the names of `_DIM_NAMES`."""
    for vi in (*proto.graph.input, *proto.graph.output):
        names = _DIM_NAMES.get(vi.name)
        dims = vi.type.tensor_type.shape.dim
        if names is None or len(names) != len(dims):
            continue
        for dim, label in zip(dims, names):
            if label is not None and not dim.HasField("dim_value"):
                dim.dim_param = label


def clean_export_dir(folder: Path) -> None:
    """Remove a leftover temporary export folder (after a crash)."""
    for tmp in folder.glob(".export-*"):
        shutil.rmtree(tmp, ignore_errors=True)
