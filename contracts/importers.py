"""Importers for the seed team's contract formats (filled in below)."""

from __future__ import annotations

from typing import Any


def detect_schema(doc: Any) -> str | None:
    """Which foreign contract schema a parsed document is in, or None."""
    if not isinstance(doc, dict) or doc.get("format") == "parity-contract":
        return None
    if "mode" in doc and ("cache_layout" in doc or "cache_len_bounds" in doc or "cache_pad" in doc):
        return "parakeet-tdt-0.6b-v3"
    if "streaming" in doc and ("trt_optimization_profiles" in doc or "runtime_contract" in doc
                               or "assertions" in doc or "validation" in doc):
        return "encoder_streaming"
    return None
