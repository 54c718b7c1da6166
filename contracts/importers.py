"""Other teams' contract formats → our `Contract`, with a list of everything that could not be mapped.

Three schemas are read, detected by content wherever the contract is nested (`locate_schema`):

- ``whole_model`` (the seed team's real, public contract of the whole ASR model): ``model_id``, ``hashes``
  (kept as provenance), ``encoder {type, architecture, offline_io, streaming_io {inputs, outputs}}`` with tensors
  ``{name, dtype, shape, layout}`` (layout letters ``BCT``, ``BLTD``, ``BLDK``, ``LBTD`` … become axis labels and tell
  batch- from layer-first caches), ``streaming {mode, valid_out_len, cache_len_expected, cache_len_bounds,
  cache_len_behavior, cache_layout, cache_pad {side, value}, chunk_size, chunk_size_units, shift_size, cache_drop_size,
  pre_encode_cache_size, drop_extra_pre_encoded, cache {last_channel_size, time_context_size …}}`` and ``trt
  {precision, profiles {encoder_streaming: [...]}, tolerances {ort {default_atol …}, trt {…_p95_max_abs …}}}``. It is
  flattened into the ``parakeet-tdt-0.6b-v3`` form below and read by the same code; ``predictor``, ``joint``,
  ``decode``, ``tokenizer``, ``features``, ``timebase``, the offline I/O and the other graphs' profiles are listed as
  ignored;

- ``encoder_streaming`` (their first contract): ``streaming`` (layers, cache_size, time_ctx, valid_out_len_expected,
  cache_drop_size, shift_size, chunk_size, pre_encode_cache_size, drop_extra_pre_encoded), ``inputs``/``outputs``
  with symbolic shapes and prose-or-expression ``constraints``, ``trt_optimization_profiles`` with dimensions named
  ``"audio_signal.T"``, ``runtime_contract.cache_padding`` (per cache output: axis, pad_to, side, fill_value),
  ``initialization``, ``assertions`` and ``validation.tolerance``;
- ``parakeet-tdt-0.6b-v3`` (their stateful follow-up): ``mode`` (``chunk_isolated`` | ``stateful_cache``),
  ``cache_layout``, ``cache_pad``, ``cache_len_bounds``, profile dimensions named ``audio_signal_T``, and tolerance
  sets for ORT (atol, rtol, ``cache_last_time_atol``) and TensorRT (``encoder_output_p95_max_abs`` …,
  ``fp16_encoder_output_p95_max_abs``).

Both describe the same tensors; tensor lists may be lists of ``{"name", …}`` or objects keyed by name. NeMo's
export names (``outputs``, ``cache_last_channel_next`` …) keep their model name and get our reference name. Prose
assertions become rules where the meaning is clear (``"… non-decreasing until cache_size"`` →
``saturates(X, 256)``), otherwise they are kept as notes and listed as not mapped.

This module detects the schema and dispatches: `contracts.whole_model` flattens a whole-model contract,
`contracts.seed_flat` reads the two flat schemas (and the flattened whole model) with `contracts.seed_rules` mapping
their rules and tolerances, `contracts.import_base` holds what they share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.errors import ContractError
from contracts.import_base import ImportResult, Prelude
from contracts.schemas import SCHEMAS, detect_schema, join_path, locate_schema
from contracts.seed_flat import SeedImporter
from contracts.whole_model import flatten_whole_model

# Re-exported: callers and tests import them from here.
__all__ = ["SCHEMAS", "ImportResult", "detect_schema", "import_contract", "import_contract_file", "locate_schema"]


def import_contract_file(path: str | Path, name: str | None = None) -> ImportResult:
    """Read a seed-team contract file and convert it.

    Raises:
        ContractError: Missing file, invalid JSON, unknown schema, or a result that does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise ContractError(f"contract {path}: no such file.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ContractError(f"contract {path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract {path}: cannot read the file ({exc}).") from None
    return import_contract(doc, label=path.name, name=name, default_name=path.name.split(".contract")[0])


def import_contract(doc: Any, label: str = "<dict>", name: str | None = None,
                    default_name: str = "imported") -> ImportResult:
    """Convert a parsed seed-team contract document.

    Args:
        doc: The parsed JSON.
        label: How messages name it.
        name: Name of our contract (default: the document's ``name``/``model``, else `default_name`).
        default_name: Fallback name.

    Raises:
        ContractError: Unknown schema (the message says which two are known), or the result does not validate.
    """
    found = locate_schema(doc)
    if found is None:
        if isinstance(doc, dict) and doc.get("format") == "parity-contract":
            raise ContractError(f"contract {label}: already a parity-inspector contract; load it directly, no import "
                                "needed.")
        raise ContractError(f"contract {label}: unknown contract schema. Found {_describe(doc)}. {_KNOWN_SCHEMAS}")
    schema, node, where = found
    if schema == "whole_model":
        flat, pre = flatten_whole_model(doc, label)
        imp = SeedImporter(flat, label, schema, pre)
        return imp.run(name or str(flat.get("name") or default_name))
    imp = SeedImporter(node, label, schema, Prelude(located=where,
                                                  origin={k: join_path(where, k) for k in node} if where else {}))
    if where:
        imp.ok(f"the contract sits under {where!r} in the file")
    return imp.run(name or str(node.get("name") or doc.get("name") or default_name))


_KNOWN_SCHEMAS = (
    "`inspector contract import` reads three schemas, wherever they are nested: the whole-model contract (an "
    "'encoder' object with 'streaming_io' {inputs, outputs}, next to 'streaming' {chunk_size, shift_size, "
    "valid_out_len, cache ...} and 'trt' {profiles, tolerances}); the seed team's 'encoder_streaming' schema "
    "('streaming' with chunk_size/shift_size next to 'inputs'/'outputs', or keys trt_optimization_profiles, "
    "runtime_contract, assertions, validation); and their 'parakeet-tdt-0.6b-v3' schema ('mode' chunk_isolated or "
    "stateful_cache next to 'inputs'/'outputs', or keys cache_layout, cache_pad, cache_len_bounds, tolerances).")


def _describe(doc: Any) -> str:
    """What a document holds, for the unknown-schema message: its top-level keys and those one level down."""
    if not isinstance(doc, dict):
        return f"a JSON {type(doc).__name__}, not an object"
    if not doc:
        return "an empty object"
    parts = []
    for k, v in list(doc.items())[:12]:
        if isinstance(v, dict) and v:
            inner = ", ".join(list(map(str, v))[:6]) + (", ..." if len(v) > 6 else "")
            parts.append(f"{k} {{{inner}}}")
        else:
            parts.append(str(k))
    more = f" and {len(doc) - 12} more" if len(doc) > 12 else ""
    return "top-level keys " + "; ".join(parts) + more
