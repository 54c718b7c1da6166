"""JSON that survives what parity tools produce: numpy scalars and arrays, NaN and infinities, tuples, paths.

Non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (not as ``null``, which
would read as "missing"); `restore_nonfinite` turns exactly those strings back into floats when reading metrics.
Every write is atomic: a temporary file in the same folder, flushed, then renamed over the target, so a reader
sees the old document or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import orjson

NONFINITE_STRINGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return float(value)  # np.float64 is a float subclass that orjson refuses
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def to_jsonable(value: Any) -> Any:
    """`value` as plain JSON types: numpy scalars → Python numbers, arrays → lists, NaN/inf → strings.

    Args:
        value: Any nesting of dicts, lists, tuples, sets, numbers, strings, numpy values, paths and dataclasses.

    Returns:
        A structure orjson (or `json`) can write without loss or error.
    """
    if value is None or type(value) in (bool, str, int):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    # numpy, imported lazily by the caller anyway; duck-type to keep this module import-light
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return to_jsonable(value.tolist())
    if hasattr(value, "item"):
        return to_jsonable(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def restore_nonfinite(value: Any) -> Any:
    """Undo `to_jsonable`'s NaN/inf strings: ``"NaN"`` → nan, ``"Infinity"`` → inf, ``"-Infinity"`` → -inf."""
    if isinstance(value, str):
        return NONFINITE_STRINGS.get(value, value)
    if isinstance(value, dict):
        return {k: restore_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_nonfinite(v) for v in value]
    return value


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """`value` as JSON bytes, via `to_jsonable`."""
    return orjson.dumps(to_jsonable(value), option=orjson.OPT_INDENT_2 if indent else 0)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a partial one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any, *, indent: bool = True) -> None:
    """`atomic_write_bytes` of `dumps(value)`."""
    atomic_write_bytes(path, dumps(value, indent=indent))


def read_json(path: Path) -> Any:
    """Parse a JSON file (no non-finite restoration; see `restore_nonfinite`).

    Raises:
        FileNotFoundError: There is no such file.
        store.api.StoreCorrupt: The file is empty or not JSON (a ValueError too).
    """
    data = Path(path).read_bytes()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        from store.api import StoreCorrupt

        what = "is empty" if not data.strip() else f"is not valid JSON ({exc})"
        raise StoreCorrupt(f"{path} {what}. The store writes its metadata atomically, so something else changed "
                           f"this file (or the disk is failing).") from None
