"""Compatibility: `inspector run --batch` as a function now lives in `inspector.api` (the one run path), and the
checks made before a run in `inspector.preflight`. Import from those; this module only re-exports them."""

from __future__ import annotations

from inspector.api import BatchResult, HookFactory, run_batch, run_unit
from inspector.preflight import (
    check_available, check_model_matches, check_options, model_for, parse_backend_options, parse_modes,
)

__all__ = [
    "BatchResult", "HookFactory", "check_available", "check_model_matches", "check_options", "model_for",
    "parse_backend_options", "parse_modes", "run_batch", "run_unit",
]
