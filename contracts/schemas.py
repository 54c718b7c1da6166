"""Which contract schema a parsed document is in, detected by content wherever the contract is nested.

Shared by `contracts.load` (which refuses another team's contract with the command that converts it) and
`contracts.importers` (which converts it), so neither imports the other for it. The schemas themselves are described
in `contracts.importers`.
"""

from __future__ import annotations

from typing import Any

SCHEMAS = ("encoder_streaming", "parakeet-tdt-0.6b-v3", "whole_model")


def detect_schema(doc: Any) -> str | None:
    """Which of the known schemas a parsed document is in, or None (ours, or unknown). See `locate_schema`."""
    found = locate_schema(doc)
    return found[0] if found is not None else None


def locate_schema(doc: Any) -> tuple[str, dict, str] | None:
    """The schema of a document and where in it the contract sits: ``(schema, node, key path)``, or None.

    Detected by content, not by an exact set of top-level keys, and wherever the contract is nested (under a
    ``"contract"`` key, a list of models …, up to three levels down). A whole-model contract is recognised by its
    encoder section (an object with ``streaming_io`` or ``offline_io``) anywhere in the document; it is checked
    first because its ``streaming`` section alone looks like the flat ``parakeet-tdt-0.6b-v3`` schema.
    """
    if not isinstance(doc, dict) or doc.get("format") == "parity-contract":
        return None
    every = list(nodes(doc))
    for path, node in every:
        if is_encoder_section(node):
            return "whole_model", doc, ""
    for path, node in every:
        if node.get("format") == "parity-contract":
            continue
        schema = _flat_schema(node)
        if schema is not None:
            return schema, node, path
    return None


MAX_DEPTH = 3


def nodes(doc: Any, max_depth: int = MAX_DEPTH) -> Any:
    """Every object in `doc` down to `max_depth` levels, breadth first (nearest first), as (key path, object)."""
    level: list[tuple[str, Any]] = [("", doc)]
    for _ in range(max_depth + 1):
        nxt: list[tuple[str, Any]] = []
        for path, node in level:
            if isinstance(node, dict):
                yield path, node
                nxt += [(join_path(path, str(k)), v) for k, v in node.items() if isinstance(v, (dict, list))]
            elif isinstance(node, list):
                nxt += [(f"{path}[{i}]", v) for i, v in enumerate(node) if isinstance(v, (dict, list))]
        level = nxt


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_encoder_section(node: Any) -> bool:
    return isinstance(node, dict) and any(isinstance(node.get(k), dict) for k in ("streaming_io", "offline_io"))


def _flat_schema(doc: Any) -> str | None:
    """Which of the seed team's two flat encoder schemas one object is in, or None."""
    if not isinstance(doc, dict) or doc.get("format") == "parity-contract":
        return None
    if "mode" in doc and any(k in doc for k in ("cache_layout", "cache_len_bounds", "cache_pad")):
        return "parakeet-tdt-0.6b-v3"
    if "mode" in doc and "tolerances" in doc and ("inputs" in doc or "outputs" in doc):
        return "parakeet-tdt-0.6b-v3"
    if "streaming" in doc and any(k in doc for k in ("trt_optimization_profiles", "runtime_contract", "assertions",
                                                     "validation", "initialization")):
        return "encoder_streaming"
    # Sparse files with only the required parts: recognised by the seed's own mode words or by a streaming section
    # next to tensors that carry the streaming encoder's names.
    if doc.get("mode") in ("chunk_isolated", "stateful_cache") and ("inputs" in doc or "outputs" in doc):
        return "parakeet-tdt-0.6b-v3"
    streaming = doc.get("streaming")
    if isinstance(streaming, dict) and _names_encoder_tensors(doc) and not ("version" in doc and "name" in doc):
        seed_words = any(k in streaming for k in ("chunk_size", "shift_size", "valid_out_len_expected"))
        if seed_words or isinstance(doc.get("inputs"), dict):
            return "encoder_streaming"
    return None


def _names_encoder_tensors(doc: dict) -> bool:
    """Whether the document's inputs name the streaming encoder's cache tensors (list or object form)."""
    names: set[str] = set()
    for key in ("inputs", "outputs"):
        group = doc.get(key)
        if isinstance(group, dict):
            names |= set(group)
        elif isinstance(group, list):
            names |= {t.get("name") for t in group if isinstance(t, dict) and isinstance(t.get("name"), str)}
    return "cache_last_channel" in names or "cache_last_channel_next" in names or "cache_last_channel_out" in names


__all__ = ["MAX_DEPTH", "SCHEMAS", "detect_schema", "is_encoder_section", "join_path", "locate_schema", "nodes"]
