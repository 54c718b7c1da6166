"""What every contract importer shares: the result type, what a reader found before the flat importer runs, and
readers of JSON values that other teams write in many ways (``256``, ``256.0``, ``"256"``; ``torch.float32``, ``<f4``;
``"[B, 128, T]"``).

Split out of `contracts.importers` so the schema readers (`contracts.whole_model`, `contracts.seed_flat`) share them
without importing each other or the dispatcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from contracts.model import Contract

# NeMo's export names → reference names.
NEMO_TO_REF = {
    "outputs": "encoder_output",
    "cache_last_channel_next": "cache_last_channel_out",
    "cache_last_time_next": "cache_last_time_out",
    "cache_last_channel_next_len": "cache_last_channel_len_out",
}
DTYPES = {
    "float32": "float32", "float": "float32", "fp32": "float32", "f32": "float32", "float16": "float16",
    "half": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64",
    "double": "float64", "int64": "int64", "long": "int64", "i64": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}


def dtype_word(value: Any) -> str:
    """``torch.float32``, ``np.int64``, ``tensor(float)``, ``<f4``, ``FLOAT32`` → the bare lower-case word."""
    word = str(value).strip().lower()
    if word[:1] in "<>=|" and len(word) > 1:
        word = word[1:]
    for prefix in ("torch.", "numpy.", "np.", "tensor(", "dtype("):
        if word.startswith(prefix):
            word = word[len(prefix):]
    word = word.strip("()'\" ")
    return {"f2": "float16", "f4": "float32", "f8": "float64", "i4": "int32", "i8": "int64", "b1": "bool",
            "u1": "uint8", "i1": "int8", "i2": "int16", "int_": "int64", "bool_": "bool"}.get(word, word)


def backend_patterns(set_name: str) -> list[str]:
    """Which of our backends a tolerance set of their file is for, from its name: ``ort``, ``onnxruntime_cuda``,
    ``TensorRT``, ``trt_fp16`` … (an ``ort-*``/``trt-*`` pattern, narrowed to CPU/CUDA when the name says so)."""
    low = re.sub(r"[^a-z0-9]+", "_", set_name.lower())
    words = set(low.split("_"))
    if words & {"trt", "tensorrt"} or low.startswith(("trt", "tensorrt")):
        return ["trt-*"]
    if words & {"ort", "onnxruntime", "onnx"} or low.startswith(("ort", "onnxruntime")):
        if "cpu" in words:
            return ["ort-cpu"]
        if "cuda" in words or "gpu" in words:
            return ["ort-cuda"]
        return ["ort-*"]
    return []


def int_like(value: Any) -> int | None:
    """An integer from a JSON value that means one: 256, 256.0 or "256"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def number_like(value: Any) -> float | None:
    """A number from a JSON value that means one: 1e-4 or "1e-4"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_shape(value: Any) -> Any:
    """A shape written as text (``"[B, 128, T]"``, ``"B x 128 x T"``, ``"(B,128,T)"``) → a list; others unchanged."""
    if not isinstance(value, str):
        return value
    inner = value.strip().strip("[]()")
    parts = [p for p in re.split(r"[\s,x×*]+", inner) if p] if inner else []
    return [int(p) if p.isdigit() else p for p in parts]



@dataclass(frozen=True)
class ImportResult:
    """What an import produced.

    Attributes:
        contract: Our contract (validated).
        schema: The detected schema, one of `SCHEMAS`.
        mapped: What was mapped, one line each (``"assertions[1] -> invariant cache_len_zero"``).
        unmapped: What could not be mapped, one line each, naming the key path (also kept in the notes).
        ignored: Sections deliberately left out because they describe other parts of the model (a whole-model
            contract's predictor, joint, decode, tokenizer, features …), one line each.
        provenance: What the file says about where the model came from (model_id, hashes …), also in the notes.
        located: The key path of the contract inside the document ("" for the document itself).
    """

    contract: Contract
    schema: str
    mapped: tuple[str, ...] = ()
    unmapped: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    located: str = ""


@dataclass
class Prelude:
    """What reading a nested or whole-model document found before the flat importer runs on its encoder part."""

    located: str = ""
    origin: dict[str, str] = field(default_factory=dict)
    """Flat key → its key path in the user's file, so every message names the key the user wrote."""
    mapped: list[str] = field(default_factory=list)
    unmapped: list[tuple[str, Any, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    prose: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(key path, text, tensor the text is about) of prose that may become rules once the tensors are known."""
    streaming_extra: dict[str, Any] = field(default_factory=dict)
    description: str = ""
