"""Small helpers for values read from JSON written by other tools (reports, chunk records)."""

from __future__ import annotations

from typing import Any


def as_number(value: Any) -> float | None:
    """A JSON value as a float: numbers and numeric strings; None for anything else (booleans included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
