"""Precision or bug? Attribute a failing chunk to its cause (issue 17).

`attribute_chunk` re-runs one chunk down a ladder of stricter math (`ladder`), reads a verdict off it (`verdict`),
and for a 16-bit precision verdict bisects the nodes that must stay FP32 (`bisect`); `upcast` makes the FP32 and
emulated-FP16 copies of a graph; `planted` builds exports with known causes for the tests and the demo.
Heavy modules (onnx, runtimes) are imported where used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["attribute_chunk", "attribute_run_failure"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from inspector.attribution import attribute

        return getattr(attribute, name)
    raise AttributeError(name)
