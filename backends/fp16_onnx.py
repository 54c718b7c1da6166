"""An FP16 copy of an ONNX model, I/O kept in FP32: what "FP16" means on TensorRT 11, which builds strongly typed
networks only (the FP16 builder flag is gone; the precision of every tensor is the ONNX graph's).

Uses ONNX Runtime's own converter (``onnxruntime.transformers.float16``, the code of onnxconverter-common, shipped
with every onnxruntime wheel): float32 initializers and tensors become float16, Cast nodes are inserted at the
graph's float inputs and outputs (``keep_io_types``) so feeds and outputs stay float32, and nothing else about the
interface changes. Ops known to misbehave in FP16 can be kept in FP32 with `op_block_list`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from backends.base import BackendError

EXTERNAL_DATA_OVER = 1 << 30
"""Models larger than this are saved with their weights in one external data file (protobuf's 2 GB limit)."""


def convert_to_fp16(src: str | Path, dst: str | Path, op_block_list: Sequence[str] | None = None) -> Path:
    """Write an FP16 copy of `src` at `dst` (float32 I/O kept), atomically.

    Raises:
        BackendError: The converter is missing or fails on this graph.
    """
    import onnx

    try:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    except ImportError as exc:  # pragma: no cover - every onnxruntime wheel ships it
        raise BackendError(f"cannot convert {src} to FP16: onnxruntime.transformers.float16 is missing ({exc}); "
                           "install onnxruntime (or onnxruntime-gpu).") from exc
    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src))
    blocked = list(DEFAULT_OP_BLOCK_LIST) + list(op_block_list or [])
    try:
        half = convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked,
                                        disable_shape_infer=model.ByteSize() > EXTERNAL_DATA_OVER)
    except Exception as exc:  # noqa: BLE001 — the converter raises plain exceptions
        raise BackendError(f"converting {src} to FP16 failed: {type(exc).__name__}: {exc}") from exc
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    big = half.ByteSize() > EXTERNAL_DATA_OVER
    if big:
        onnx.save_model(half, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=dst.name + ".data")
    else:
        onnx.save_model(half, str(tmp))
    tmp.replace(dst)
    return dst


def float_dtypes(path: str | Path) -> dict[str, int]:
    """How many initializers of each float type a model holds (a quick check that a conversion happened)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for init in model.graph.initializer:
        name = onnx.TensorProto.DataType.Name(init.data_type).lower()
        counts[name] = counts.get(name, 0) + 1
    return counts
