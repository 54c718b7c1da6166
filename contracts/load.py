"""Contract JSON (schema version 1, see `contracts/SCHEMA.md`) → validated `Contract`, and back.

Every problem is reported with the key path that holds it, what is wrong and what is allowed, e.g.
``contract demo.contract.json: outputs[2].dtype: 'floa32' is not a dtype; allowed: float32, float16, …``. All
problems of a document are collected and reported together, so one edit-and-retry fixes them all.
Rule expressions are compiled by `contracts.rules` (parsed and whitelisted, never evaluated as code).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from contracts.errors import ContractError
from contracts.model import (
    DTYPES, MODES, Acceptance, Contract, Diagnostics, Feedback, Invariant, Padding, Profile, ShapeRange, Streaming,
    TensorSpec, Tightening, Tolerance, ToleranceSet,
)
from contracts.schemas import detect_schema

FORMAT = "parity-contract"
VERSION = 1
ANNOTATION_PREFIXES = ("_", "$")  # "$schema", "_comment": kept out of validation, ignored
SHIPPED_DIR = Path(__file__).resolve().parent
SUFFIX = ".contract.json"

INPUT_ROLES = ("stream", "state", "other")
OUTPUT_ROLES = ("frames", "length", "state", "other")
SEVERITIES = ("error", "warning", "info")
INVARIANT_KINDS = ("invariant", "state", "alarm")
ACCEPTANCE_KINDS = ("quantile", "pass_rate", "no_growth", "state_carried", "invariants")
ACCEPTANCE_METRICS = ("max_abs", "mean_abs", "p99_abs", "rel_l2", "max_rel", "cosine", "min_frame_cosine", "n_fail",
                      "diverging_frames", "nonfinite_mismatch")
"""Per-chunk figures an acceptance rule may read (fields of `inspector.metrics.TensorMetrics`; a test keeps the two
in step). A name outside this list would give no figure on any chunk, so it is a load error, not a silent +inf."""
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "mixed")
FIRST_CHUNK = ("padded", "separate", "short")
PROBE_WORDS = ("early", "middle", "late")
SIDES = ("left", "right")

_TOP_KEYS = ("format", "version", "name", "description", "streaming", "inputs", "outputs", "feedback", "profiles",
             "invariants", "tolerances", "tightening", "acceptance", "diagnostics", "notes")
_TENSOR_KEYS = ("name", "ref_name", "dtype", "shape", "role", "axes", "ref_perm", "frame_axis", "description")
_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
RESERVED_ACCEPTANCE_IDS: dict[str, str | None] = {
    "state_carried": "state_carried", "state_trajectory": None, "state_feedback": None, "outputs": None,
    "backend_errors": None, "chunks_present": None, "unit_error": None}
"""Verdict ids the tool itself produces, with the acceptance kind that may name one (None: none may). A rule of
another kind under such an id would be judged by the tool's own verdict instead of its own threshold."""
RESERVED_ID_PREFIXES = ("hook:", "backend:", "alarm:", "invariant:")
_SYMBOL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


# ---------------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------------


def shipped_contracts() -> list[str]:
    """Names of the contracts shipped in this package (``demo_streaming`` …)."""
    return sorted(p.name[: -len(SUFFIX)] for p in SHIPPED_DIR.glob(f"*{SUFFIX}"))


def resolve_contract_path(path_or_name: str | Path) -> Path:
    """The file a contract argument means: an existing path, else a shipped contract's bare name.

    Raises:
        ContractError: Neither a file nor a shipped name.
    """
    p = Path(path_or_name)
    if p.is_file():
        return p
    name = str(path_or_name)
    if "/" not in name and "\\" not in name:
        bare = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
        shipped = SHIPPED_DIR / f"{bare}{SUFFIX}"
        if shipped.is_file():
            return shipped
    if p.exists():
        raise ContractError(f"contract {name}: is a directory, not a contract file; give a *{SUFFIX} file.")
    names = shipped_contracts()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ContractError(f"contract {name}: no such file, and no shipped contract of that name. Give the path to a "
                        f"*{SUFFIX} file or one of the shipped names: {', '.join(names) or '(none)'}.{hint}")


def load_contract(path_or_name: str | Path) -> Contract:
    """Load and validate a contract.

    Args:
        path_or_name: A path to a ``*.contract.json`` file, or the bare name of a shipped contract
            (``demo_streaming``, ``encoder_streaming``, ``parakeet-tdt-0.6b-v3``).

    Returns:
        The validated contract; its `source` is the file's path.

    Raises:
        ContractError: Missing file, invalid JSON, or an invalid document (the message names every offending key).
    """
    path = resolve_contract_path(path_or_name)
    label = path.name if path.parent == SHIPPED_DIR else str(path_or_name)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not an error
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract {label}: cannot read the file ({exc}).") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"contract {label}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. "
                            "A contract is one JSON object (see contracts/SCHEMA.md).") from None
    return contract_from_dict(doc, source=str(path), label=label)


def contract_from_dict(doc: Any, source: str = "", *, label: str | None = None) -> Contract:
    """Validate a parsed contract document and build the `Contract`.

    Args:
        doc: The parsed JSON.
        source: Where it came from (kept as `Contract.source`).
        label: How errors name the document (default: `source`'s file name, or ``<dict>``).

    Raises:
        ContractError: Every problem found, each with its key path.
    """
    label = label or (Path(source).name if source else "<dict>")
    v = _Validator(label)
    contract = v.contract(doc, source)
    v.raise_if_errors()
    assert contract is not None
    return contract


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """The JSON document of a contract (schema version 1); `contract_from_dict` of it gives an equal contract.

    Optional fields at their defaults are left out, so the document stays readable.
    """
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": contract.name}
    if contract.description:
        doc["description"] = contract.description
    streaming = _non_default(contract.streaming)
    if streaming:
        doc["streaming"] = streaming
    doc["inputs"] = [_tensor_to_dict(t) for t in contract.inputs]
    doc["outputs"] = [_tensor_to_dict(t) for t in contract.outputs]
    if contract.feedback:
        doc["feedback"] = [_feedback_to_dict(f) for f in contract.feedback]
    if contract.profiles:
        doc["profiles"] = [
            {"name": p.name, "shapes": {k: {"min": list(r.min), "opt": list(r.opt), "max": list(r.max)}
                                        for k, r in p.shapes.items()}}
            for p in contract.profiles
        ]
    if contract.invariants:
        doc["invariants"] = [_invariant_to_dict(i) for i in contract.invariants]
    if contract.tolerances:
        doc["tolerances"] = {"sets": [_toleranceset_to_dict(s) for s in contract.tolerances]}
    if contract.tightening is not None:
        t = contract.tightening
        td: dict[str, Any] = {"when": list(t.when), "per_output": _per_output_to_dict(t.per_output)}
        if t.description:
            td["description"] = t.description
        doc["tightening"] = td
    if contract.acceptance:
        doc["acceptance"] = [_acceptance_to_dict(a) for a in contract.acceptance]
    diagnostics = _non_default(contract.diagnostics)
    if diagnostics:
        doc["diagnostics"] = diagnostics
    if contract.notes:
        doc["notes"] = list(contract.notes)
    return doc


def dump_contract(contract: Contract, path: str | Path) -> Path:
    """Write a contract as JSON (2-space indent, shapes on one line) and return the path."""
    path = Path(path)
    text = json.dumps(contract_to_dict(contract), indent=2, ensure_ascii=False)
    # Keep short lists of scalars (shapes, perms, axis labels, min/opt/max) on one line: far easier to read.
    text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]"
                  if len(m.group(0)) < 200 else m.group(0), text)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# to-dict helpers
# ---------------------------------------------------------------------------------------------------------------------


def _non_default(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if val != default:
            out[f.name] = list(val) if isinstance(val, tuple) else (dict(val) if isinstance(val, Mapping) else val)
    return out


def _tensor_to_dict(t: TensorSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"name": t.name}
    if t.ref_name != t.name:
        d["ref_name"] = t.ref_name
    d["dtype"] = t.dtype
    d["shape"] = list(t.shape)
    if t.role != "other":
        d["role"] = t.role
    if t.axes is not None:
        d["axes"] = list(t.axes)
    if t.ref_perm is not None:
        d["ref_perm"] = list(t.ref_perm)
    if t.frame_axis is not None:
        d["frame_axis"] = t.frame_axis
    if t.description:
        d["description"] = t.description
    return d


def _feedback_to_dict(f: Feedback) -> dict[str, Any]:
    d: dict[str, Any] = {"from": f.source, "to": f.target}
    if f.padding is not None:
        d["pad"] = {"axis": f.padding.axis, "to": f.padding.to, "side": f.padding.side, "value": f.padding.value}
    return d


def _invariant_to_dict(i: Invariant) -> dict[str, Any]:
    d: dict[str, Any] = {"id": i.id, "check": i.check}
    if i.severity != "error":
        d["severity"] = i.severity
    if i.kind != "invariant":
        d["kind"] = i.kind
    if tuple(i.modes) != MODES:
        d["modes"] = list(i.modes)
    if i.description:
        d["description"] = i.description
    return d


def _per_output_to_dict(per: Mapping[str, Tolerance]) -> dict[str, Any]:
    return {k: ({"atol": t.atol, "rtol": t.rtol} if t.rtol else {"atol": t.atol}) for k, t in per.items()}


def _toleranceset_to_dict(s: ToleranceSet) -> dict[str, Any]:
    d: dict[str, Any] = {"name": s.name}
    if s.applies_to:
        d["applies_to"] = list(s.applies_to)
    if s.precisions:
        d["precisions"] = list(s.precisions)
    d["per_output"] = _per_output_to_dict(s.per_output)
    if s.acceptance_overrides:
        d["acceptance_overrides"] = dict(s.acceptance_overrides)
    return d


def _acceptance_to_dict(a: Acceptance) -> dict[str, Any]:
    d: dict[str, Any] = {"id": a.id, "kind": a.kind}
    defaults = {f.name: f.default for f in dataclasses.fields(Acceptance)}
    # Always write what the kind needs, so the document says it without relying on defaults.
    needed = {"quantile": ("tensor", "metric", "q", "threshold"), "pass_rate": ("tensor", "threshold"),
              "no_growth": ("tensor", "metric")}.get(a.kind, ())
    for key in ("tensor", "metric", "q", "threshold", "atol"):
        val = getattr(a, key)
        if key in needed or val != defaults[key]:
            d[key] = val
    if tuple(a.modes) != MODES:
        d["modes"] = list(a.modes)
    if a.informational:
        d["informational"] = True
    if a.description:
        d["description"] = a.description
    return d


# ---------------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------------


def _suggest(word: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


class _Validator:
    """Walks a document, builds the model objects, and collects every problem with its key path."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[str] = []

    # --- reporting ------------------------------------------------------------------------------------------------
    def err(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}" if path else problem)

    def raise_if_errors(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise ContractError(f"contract {self.label}: {self.errors[0]}")
        lines = "\n".join(f"  - {e}" for e in self.errors)
        raise ContractError(f"contract {self.label}: {len(self.errors)} problems (schema: contracts/SCHEMA.md):\n"
                            f"{lines}")

    # --- primitive checks (each returns None after reporting a problem) --------------------------------------------
    def obj(self, v: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict | None:
        if not isinstance(v, dict):
            self.err(path, f"must be an object, got {_kind(v)}")
            return None
        for key in v:
            if key not in allowed and not str(key).startswith(ANNOTATION_PREFIXES):
                self.err(f"{path}.{key}" if path else key,
                         f"unknown key{_suggest(key, allowed)} (allowed: {', '.join(allowed)}; keys starting with "
                         f"'_' or '$' are free-form annotations)")
        for key in required:
            if key not in v:
                self.err(path or "(top level)", f"missing required key {key!r}")
        return v

    def string(self, v: Any, path: str, *, empty: bool = False) -> str | None:
        if not isinstance(v, str):
            self.err(path, f"must be a string, got {_kind(v)}")
            return None
        if not empty and not v.strip():
            self.err(path, "must not be empty")
            return None
        return v

    def integer(self, v: Any, path: str, *, minimum: int | None = None) -> int | None:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                shown = f" {json.dumps(v)}" if isinstance(v, (int, float, str, bool)) or v is None else ""
                self.err(path, f"must be an integer, got {_kind(v)}{shown}")
                return None
        if minimum is not None and v < minimum:
            self.err(path, f"must be >= {minimum}, got {v}")
            return None
        return v

    def number(self, v: Any, path: str, *, nonneg: bool = False, lo: float | None = None,
               hi: float | None = None) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(path, f"must be a number, got {_kind(v)}")
            return None
        f = float(v)
        if not math.isfinite(f):
            self.err(path, f"must be finite, got {v}")
            return None
        if nonneg and f < 0:
            self.err(path, f"must be non-negative, got {v}")
            return None
        if lo is not None and f < lo or hi is not None and f > hi:
            self.err(path, f"must be between {lo} and {hi}, got {v}")
            return None
        return f

    def choice(self, v: Any, path: str, allowed: tuple[str, ...], what: str) -> str | None:
        if not isinstance(v, str) or v not in allowed:
            shown = repr(v) if isinstance(v, str) else _kind(v)
            self.err(path, f"{shown} is not {what}; allowed: {', '.join(allowed)}"
                     f"{_suggest(v, allowed) if isinstance(v, str) else ''}")
            return None
        return v

    def str_list(self, v: Any, path: str) -> tuple[str, ...] | None:
        if not isinstance(v, list):
            self.err(path, f"must be a list of strings, got {_kind(v)}")
            return None
        out = []
        for i, s in enumerate(v):
            s2 = self.string(s, f"{path}[{i}]")
            if s2 is not None:
                out.append(s2)
        return tuple(out)

    def modes(self, v: Any, path: str) -> tuple[str, ...]:
        if not isinstance(v, list) or not v:
            self.err(path, f"must be a non-empty list of run modes ({', '.join(MODES)})")
            return MODES
        out = []
        for i, m in enumerate(v):
            c = self.choice(m, f"{path}[{i}]", MODES, "a run mode")
            if c is not None:
                out.append(c)
        return tuple(out) or MODES

    def rule(self, text: Any, path: str, known: set[str], who: str = "") -> str | None:
        """Compile a rule expression and check the tensors it names exist."""
        from contracts.rules import RuleError, compile_rule

        if self.string(text, path) is None:
            return None
        try:
            rule = compile_rule(text)
        except RuleError as exc:
            self.err(path, f"{who}{exc.short}: {text!r}")
            return None
        for name in rule.names:
            if name not in known:
                self.err(path, f"{who}unknown tensor {name!r} in {text!r}{_suggest(name, sorted(known))} "
                               f"(known: {', '.join(sorted(known))})")
        return text

    # --- the document ---------------------------------------------------------------------------------------------
    def contract(self, doc: Any, source: str) -> Contract | None:
        if not isinstance(doc, dict):
            self.err("", f"a contract must be a JSON object, got {_kind(doc)}")
            self.raise_if_errors()
        if "format" not in doc:
            self._not_ours(doc)
        self.obj(doc, "", _TOP_KEYS, required=("format", "version", "name", "inputs", "outputs"))
        if "format" in doc and doc["format"] != FORMAT:
            self.err("format", f"must be {FORMAT!r}, got {doc['format']!r}")
        if "version" in doc:
            ver = self.integer(doc["version"], "version", minimum=1)
            if ver is not None and ver != VERSION:
                self.err("version", f"this inspector reads contract version {VERSION}, the file is version {ver}; "
                                    "upgrade parity-inspector or write a version-1 contract")
        name = self.string(doc.get("name", "?"), "name") or "?"
        description = self.string(doc.get("description", ""), "description", empty=True) or ""

        streaming = self.streaming(doc.get("streaming", {}), "streaming")
        inputs = self.tensors(doc.get("inputs"), "inputs", INPUT_ROLES)
        outputs = self.tensors(doc.get("outputs"), "outputs", OUTPUT_ROLES)
        self.unique_names(inputs, outputs)
        ref_names = {t.ref_name for t in (*inputs, *outputs)}
        feedback = self.feedbacks(doc.get("feedback", []), "feedback", inputs, outputs)
        profiles = self.profiles(doc.get("profiles", []), "profiles", inputs)
        invariants = self.invariants(doc.get("invariants", []), "invariants", ref_names)
        acceptance = self.acceptances(doc.get("acceptance", []), "acceptance", outputs)
        acc_ids = {a.id: a for a in acceptance}
        tolerances = self.tolerances(doc.get("tolerances", {"sets": []}), "tolerances", outputs, acc_ids)
        tightening = (self.tightening(doc["tightening"], "tightening", outputs, ref_names)
                      if doc.get("tightening") is not None else None)
        diagnostics = self.diagnostics(doc.get("diagnostics", {}), "diagnostics", ref_names)
        notes = self.str_list(doc.get("notes", []), "notes") or ()
        if self.errors:
            return None
        return Contract(name=name, version=VERSION, inputs=inputs, outputs=outputs, feedback=feedback,
                        profiles=profiles, invariants=invariants, tolerances=tolerances, tightening=tightening,
                        acceptance=acceptance, streaming=streaming, diagnostics=diagnostics,
                        description=description, notes=notes, source=source)

    def _not_ours(self, doc: dict) -> None:
        schema = detect_schema(doc)
        if schema is not None:
            self.err("", f"this is not a parity-inspector contract but the seed team's {schema!r} contract schema; "
                         "convert it with `inspector contract import THEIRS.json -o ours.contract.json`")
            self.raise_if_errors()

    # --- sections -------------------------------------------------------------------------------------------------
    def streaming(self, v: Any, path: str) -> Streaming:
        fields = tuple(f.name for f in dataclasses.fields(Streaming))
        d = self.obj(v, path, fields)
        if d is None:
            return Streaming()
        kw: dict[str, Any] = {}
        for key, val in d.items():
            if key not in fields:
                continue
            p = f"{path}.{key}"
            if key == "first_chunk":
                if val is not None:
                    kw[key] = self.choice(val, p, FIRST_CHUNK, "a first-chunk style")
            elif key == "extra":
                if isinstance(val, dict):
                    kw[key] = dict(val)
                else:
                    self.err(p, f"must be an object, got {_kind(val)}")
            elif val is not None:
                kw[key] = self.integer(val, p, minimum=0)
        return Streaming(**kw)

    def dim(self, v: Any, path: str) -> int | str | None:
        if isinstance(v, str):
            if not _SYMBOL_RE.match(v):
                self.err(path, f"{v!r} is not a dimension: use a size (integer >= 0) or a symbol such as 'B' or 'T' "
                               "(letters, digits, '_' and '.')")
                return None
            return v
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            self.err(path, f"{json.dumps(v)} is not a dimension: use a size (integer >= 0) or a symbol such as 'B'")
            return None
        return v

    def tensors(self, v: Any, path: str, roles: tuple[str, ...]) -> tuple[TensorSpec, ...]:
        if not isinstance(v, list):
            if v is not None:
                self.err(path, f"must be a list of tensor objects, got {_kind(v)}")
            return ()
        if not v:
            self.err(path, "must list at least one tensor")
        out = []
        for i, t in enumerate(v):
            spec = self.tensor(t, f"{path}[{i}]", roles)
            if spec is not None:
                out.append(spec)
        return tuple(out)

    def tensor(self, v: Any, path: str, roles: tuple[str, ...]) -> TensorSpec | None:
        d = self.obj(v, path, _TENSOR_KEYS, required=("name", "dtype", "shape"))
        if d is None or any(k not in d for k in ("name", "dtype", "shape")):
            return None
        n_err = len(self.errors)
        name = self.string(d["name"], f"{path}.name")
        ref_name = self.string(d.get("ref_name", name or "x"), f"{path}.ref_name") if "ref_name" in d else name
        if ref_name is not None and not ref_name.isidentifier():
            self.err(f"{path}.ref_name" if "ref_name" in d else f"{path}.name",
                     f"{ref_name!r} cannot be used in rules: a reference name must be an identifier (letters, digits "
                     "and '_'); give the tensor a ref_name")
        dtype = self.choice(d["dtype"], f"{path}.dtype", DTYPES, "a dtype")
        shape: list[int | str] = []
        if not isinstance(d["shape"], list):
            self.err(f"{path}.shape", f"must be a list of sizes and symbols, e.g. [\"B\", 128, \"T\"], got "
                                      f"{_kind(d['shape'])}")
        else:
            for j, dim in enumerate(d["shape"]):
                r = self.dim(dim, f"{path}.shape[{j}]")
                # A placeholder keeps the rank, so one bad dim does not cascade into rank errors elsewhere.
                shape.append(r if r is not None else "_invalid")
        rank = len(d["shape"]) if isinstance(d["shape"], list) else 0
        role = self.choice(d.get("role", "other"), f"{path}.role", roles, "a role here") or "other"
        axes = None
        if "axes" in d and d["axes"] is not None:
            axes = self.str_list(d["axes"], f"{path}.axes")
            if axes is not None and len(axes) != rank:
                self.err(f"{path}.axes", f"has {len(axes)} labels but the shape has rank {rank}")
            if axes is not None and len(set(axes)) != len(axes):
                self.err(f"{path}.axes", f"labels must be distinct, got {list(axes)}")
        ref_perm = None
        if "ref_perm" in d and d["ref_perm"] is not None:
            rp = d["ref_perm"]
            if not isinstance(rp, list) or sorted(rp) != list(range(rank)) or any(isinstance(x, bool) for x in rp):
                self.err(f"{path}.ref_perm", f"must be a permutation of 0..{rank - 1} (the shape has rank {rank}), got "
                                             f"{json.dumps(rp)}")
            else:
                ref_perm = tuple(rp)
        frame_axis = None
        if "frame_axis" in d and d["frame_axis"] is not None:
            frame_axis = self.integer(d["frame_axis"], f"{path}.frame_axis")
            if frame_axis is not None and not -rank <= frame_axis < rank:
                self.err(f"{path}.frame_axis", f"axis {frame_axis} is out of range for rank {rank}")
        description = self.string(d.get("description", ""), f"{path}.description", empty=True) or ""
        if name is None:
            return None
        # With errors, still return a best-effort spec so references to this tensor do not cascade into more
        # errors; the contract is not built anyway.
        return TensorSpec(name=name, dtype=dtype or "float32", shape=tuple(shape), ref_name=ref_name or name,
                          role=role, axes=axes if len(self.errors) == n_err else None, ref_perm=ref_perm,
                          frame_axis=frame_axis, description=description)

    def unique_names(self, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> None:
        seen_model: dict[str, str] = {}
        seen_ref: dict[str, str] = {}
        for group, specs in (("inputs", inputs), ("outputs", outputs)):
            for i, t in enumerate(specs):
                where = f"{group}[{i}]"
                if t.name in seen_model:
                    self.err(f"{where}.name", f"duplicate tensor name {t.name!r} (also {seen_model[t.name]})")
                elif t.ref_name in seen_ref:
                    self.err(f"{where}.ref_name", f"duplicate reference name {t.ref_name!r} (also "
                                                  f"{seen_ref[t.ref_name]})")
                seen_model.setdefault(t.name, where)
                seen_ref.setdefault(t.ref_name, where)
        frames = [f"outputs[{i}]" for i, t in enumerate(outputs) if t.role == "frames"]
        if len(frames) > 1:
            self.err("outputs", f"at most one output may have role 'frames'; {', '.join(frames)} do")

    def feedbacks(self, v: Any, path: str, inputs: tuple[TensorSpec, ...],
                  outputs: tuple[TensorSpec, ...]) -> tuple[Feedback, ...]:
        if not isinstance(v, list):
            self.err(path, f"must be a list of {{\"from\", \"to\"}} objects, got {_kind(v)}")
            return ()
        ins = {t.ref_name: t for t in inputs}
        outs = {t.ref_name: t for t in outputs}
        out: list[Feedback] = []
        targets: dict[str, int] = {}
        for i, fb in enumerate(v):
            p = f"{path}[{i}]"
            d = self.obj(fb, p, ("from", "to", "pad"), required=("from", "to"))
            if d is None or "from" not in d or "to" not in d:
                continue
            src, dst = self.string(d["from"], f"{p}.from"), self.string(d["to"], f"{p}.to")
            if src is not None and src not in outs:
                self.err(f"{p}.from", f"{src!r} is not an output's reference name{_suggest(src, list(outs))} "
                                      f"(outputs: {', '.join(outs)})")
                src = None
            if dst is not None and dst not in ins:
                self.err(f"{p}.to", f"{dst!r} is not an input's reference name{_suggest(dst, list(ins))} "
                                    f"(inputs: {', '.join(ins)})")
                dst = None
            if dst is not None and dst in targets:
                self.err(f"{p}.to", f"input {dst!r} is already fed by feedback[{targets[dst]}]")
            if dst is not None:
                targets.setdefault(dst, i)
            padding = None
            if d.get("pad") is not None:
                padding = self.padding(d["pad"], f"{p}.pad", ins.get(dst) if dst else None)
            if src is None or dst is None:
                continue
            s, t = outs[src], ins[dst]
            if t.role != "state":
                self.err(f"{p}.to", f"input {dst!r} is fed back, so its role must be 'state' (it is {t.role!r})")
            if s.rank != t.rank:
                self.err(p, f"{src!r} has rank {s.rank} but {dst!r} has rank {t.rank}")
            else:
                pad_axis = None if padding is None else padding.axis % max(t.rank, 1)
                for ax, (a, b) in enumerate(zip(s.shape, t.shape)):
                    if ax != pad_axis and isinstance(a, int) and isinstance(b, int) and a != b:
                        self.err(p, f"{src!r} has size {a} on axis {ax} but {dst!r} has {b}; a pad rule can fix "
                                    "only one axis")
            if _dtype_kind(s.dtype) != _dtype_kind(t.dtype):
                self.err(p, f"{src!r} is {s.dtype} but {dst!r} is {t.dtype}")
            out.append(Feedback(source=src, target=dst, padding=padding))
        for i, t in enumerate(inputs):
            if t.role == "state" and t.ref_name not in targets:
                self.err(f"inputs[{i}].role", f"{t.ref_name!r} has role 'state' but no feedback entry feeds it; add "
                                              f"{{\"from\": OUTPUT, \"to\": {t.ref_name!r}}} to feedback")
        return tuple(out)

    def padding(self, v: Any, path: str, target: TensorSpec | None) -> Padding | None:
        d = self.obj(v, path, ("axis", "to", "side", "value"), required=("axis", "to"))
        if d is None or "axis" not in d or "to" not in d:
            return None
        n_err = len(self.errors)
        axis = self.integer(d["axis"], f"{path}.axis")
        to = self.integer(d["to"], f"{path}.to", minimum=1)
        side = self.choice(d.get("side", "left"), f"{path}.side", SIDES, "a side")
        value = self.number(d.get("value", 0.0), f"{path}.value")
        if target is not None and axis is not None:
            if not -target.rank <= axis < target.rank:
                self.err(f"{path}.axis", f"axis {axis} is out of range for {target.ref_name!r} (rank {target.rank})")
            elif to is not None:
                dim = target.shape[axis]
                if isinstance(dim, int) and dim != to:
                    self.err(f"{path}.to", f"pads to {to} but input {target.ref_name!r} has size {dim} on axis {axis}")
        if len(self.errors) > n_err:
            return None
        return Padding(axis=axis, to=to, side=side, value=value)  # type: ignore[arg-type]

    def profiles(self, v: Any, path: str, inputs: tuple[TensorSpec, ...]) -> tuple[Profile, ...]:
        if not isinstance(v, list):
            self.err(path, f"must be a list of profile objects, got {_kind(v)}")
            return ()
        by_model = {t.name: t for t in inputs}
        by_ref = {t.ref_name: t for t in inputs}
        dynamic = [t.name for t in inputs if any(isinstance(x, str) for x in t.shape)]
        out: list[Profile] = []
        names: dict[str, int] = {}
        for i, prof in enumerate(v):
            p = f"{path}[{i}]"
            d = self.obj(prof, p, ("name", "shapes"), required=("name", "shapes"))
            if d is None or "name" not in d or "shapes" not in d:
                continue
            name = self.string(d["name"], f"{p}.name")
            if name is not None:
                if name in names:
                    self.err(f"{p}.name", f"duplicate profile name {name!r} (also profiles[{names[name]}])")
                names.setdefault(name, i)
            shapes_d = d["shapes"]
            if not isinstance(shapes_d, dict):
                self.err(f"{p}.shapes", f"must be an object {{input name: {{min, opt, max}}}}, got {_kind(shapes_d)}")
                continue
            n_err = len(self.errors)
            shapes: dict[str, ShapeRange] = {}
            symbols: dict[str, tuple[tuple[int, int, int], str]] = {}
            for key, rng in shapes_d.items():
                kp = f"{p}.shapes.{key}"
                spec = by_model.get(key)
                if spec is None:
                    alt = by_ref.get(key)
                    hint = (f"; profiles use the model's input names: did you mean {alt.name!r}?" if alt is not None
                            else _suggest(key, list(by_model)))
                    self.err(kp, f"{key!r} is not a model input{hint} (inputs: {', '.join(by_model)})")
                    continue
                if key not in dynamic:
                    self.err(kp, f"input {key!r} has a fixed shape {list(spec.shape)}; profiles list dynamic inputs "
                                 f"only ({', '.join(dynamic) or 'none'})")
                    continue
                r = self.shape_range(rng, kp, spec)
                if r is None:
                    continue
                shapes[key] = r
                for ax, dim in enumerate(spec.shape):
                    if isinstance(dim, str):
                        triple = (r.min[ax], r.opt[ax], r.max[ax])
                        if dim in symbols and symbols[dim][0] != triple:
                            self.err(kp, f"dimension {dim!r} (axis {ax}) is {list(triple)} (min/opt/max) here but "
                                         f"{list(symbols[dim][0])} in {symbols[dim][1]}; one symbol, one range")
                        symbols.setdefault(dim, (triple, key))
            if len(self.errors) == n_err:
                missing = [n for n in dynamic if n not in shapes]
                if missing:
                    self.err(f"{p}.shapes", f"missing dynamic input{'s' if len(missing) > 1 else ''} "
                                            f"{', '.join(map(repr, missing))} (TensorRT needs a min/opt/max shape for "
                                            "every dynamic input)")
            if len(self.errors) == n_err and name is not None:
                out.append(Profile(name=name, shapes=shapes))
        return tuple(out)

    def shape_range(self, v: Any, path: str, spec: TensorSpec) -> ShapeRange | None:
        d = self.obj(v, path, ("min", "opt", "max"), required=("min", "opt", "max"))
        if d is None or any(k not in d for k in ("min", "opt", "max")):
            return None
        n_err = len(self.errors)
        got: dict[str, tuple[int, ...]] = {}
        for k in ("min", "opt", "max"):
            s = d[k]
            if not isinstance(s, list) or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in s):
                self.err(f"{path}.{k}", f"must be a list of sizes (integers >= 0), got {json.dumps(s)}")
                continue
            if len(s) != spec.rank:
                self.err(f"{path}.{k}", f"has rank {len(s)} but {spec.name!r} has rank {spec.rank} "
                                        f"(shape {list(spec.shape)})")
                continue
            for ax, (x, dim) in enumerate(zip(s, spec.shape)):
                if isinstance(dim, int) and x != dim:
                    self.err(f"{path}.{k}", f"axis {ax} is {x} but {spec.name!r} fixes it to {dim}")
            got[k] = tuple(s)
        if len(got) == 3:
            for ax in range(spec.rank):
                lo, mid, hi = got["min"][ax], got["opt"][ax], got["max"][ax]
                if not lo <= mid <= hi:
                    self.err(path, f"axis {ax}: min <= opt <= max does not hold ({lo}, {mid}, {hi})")
        if len(self.errors) > n_err or len(got) != 3:
            return None
        return ShapeRange(min=got["min"], opt=got["opt"], max=got["max"])

    def invariants(self, v: Any, path: str, known: set[str]) -> tuple[Invariant, ...]:
        if not isinstance(v, list):
            self.err(path, f"must be a list of invariant objects, got {_kind(v)}")
            return ()
        out: list[Invariant] = []
        ids: dict[str, int] = {}
        for i, inv in enumerate(v):
            p = f"{path}[{i}]"
            d = self.obj(inv, p, ("id", "check", "severity", "description", "modes", "kind"),
                         required=("id", "check"))
            if d is None or "id" not in d or "check" not in d:
                continue
            n_err = len(self.errors)
            iid = self.ident(d["id"], f"{p}.id")
            if iid is not None:
                if iid in ids:
                    self.err(f"{p}.id", f"duplicate invariant id {iid!r} (also invariants[{ids[iid]}])")
                ids.setdefault(iid, i)
            who = f"invariant {iid!r}: " if iid else ""
            check = self.rule(d["check"], f"{p}.check", known, who)
            severity = self.choice(d.get("severity", "error"), f"{p}.severity", SEVERITIES, "a severity")
            kind = self.choice(d.get("kind", "invariant"), f"{p}.kind", INVARIANT_KINDS, "an invariant kind")
            modes = self.modes(d["modes"], f"{p}.modes") if "modes" in d else MODES
            description = self.string(d.get("description", ""), f"{p}.description", empty=True) or ""
            if len(self.errors) == n_err:
                out.append(Invariant(id=iid, check=check, severity=severity, description=description,  # type: ignore
                                     modes=modes, kind=kind))  # type: ignore[arg-type]
        return tuple(out)

    def ident(self, v: Any, path: str) -> str | None:
        s = self.string(v, path)
        if s is not None and not _ID_RE.match(s):
            self.err(path, f"{s!r} is not an id: use letters, digits, '_', '.' and '-'")
            return None
        return s

    def per_output(self, v: Any, path: str, outputs: tuple[TensorSpec, ...]) -> dict[str, Tolerance]:
        if not isinstance(v, dict):
            self.err(path, f"must be an object {{output reference name or \"*\": {{atol, rtol}}}}, got {_kind(v)}")
            return {}
        names = [t.ref_name for t in outputs]
        out: dict[str, Tolerance] = {}
        for key, tol in v.items():
            kp = f"{path}.{key}"
            if key != "*" and key not in names:
                self.err(kp, f"{key!r} is not an output's reference name{_suggest(key, names)} (outputs: "
                             f"{', '.join(names)}, or \"*\" for all others)")
                continue
            d = self.obj(tol, kp, ("atol", "rtol"), required=("atol",))
            if d is None or "atol" not in d:
                continue
            atol = self.number(d["atol"], f"{kp}.atol", nonneg=True)
            rtol = self.number(d.get("rtol", 0.0), f"{kp}.rtol", nonneg=True)
            if atol is not None and rtol is not None:
                out[key] = Tolerance(atol=atol, rtol=rtol)
        return out

    def tolerances(self, v: Any, path: str, outputs: tuple[TensorSpec, ...],
                   acc_ids: Mapping[str, Acceptance]) -> tuple[ToleranceSet, ...]:
        d = self.obj(v, path, ("sets",), required=("sets",))
        if d is None or "sets" not in d:
            return ()
        sets = d["sets"]
        if not isinstance(sets, list):
            self.err(f"{path}.sets", f"must be a list of tolerance-set objects, got {_kind(sets)}")
            return ()
        out: list[ToleranceSet] = []
        names: dict[str, int] = {}
        for i, s in enumerate(sets):
            p = f"{path}.sets[{i}]"
            sd = self.obj(s, p, ("name", "applies_to", "precisions", "per_output", "acceptance_overrides"),
                          required=("name", "per_output"))
            if sd is None or "name" not in sd or "per_output" not in sd:
                continue
            n_err = len(self.errors)
            name = self.string(sd["name"], f"{p}.name")
            if name is not None:
                if name in names:
                    self.err(f"{p}.name", f"duplicate tolerance set {name!r} (also tolerances.sets[{names[name]}])")
                names.setdefault(name, i)
            applies = self.str_list(sd.get("applies_to", []), f"{p}.applies_to") or ()
            precs: list[str] = []
            pv = sd.get("precisions", [])
            if not isinstance(pv, list):
                self.err(f"{p}.precisions", f"must be a list of precisions ({', '.join(PRECISIONS)})")
            else:
                for j, x in enumerate(pv):
                    c = self.choice(x, f"{p}.precisions[{j}]", PRECISIONS, "a precision")
                    if c is not None:
                        precs.append(c)
            per = self.per_output(sd["per_output"], f"{p}.per_output", outputs)
            overrides: dict[str, float] = {}
            ov = sd.get("acceptance_overrides", {})
            if not isinstance(ov, dict):
                self.err(f"{p}.acceptance_overrides", f"must be an object {{acceptance id: threshold}}, got {_kind(ov)}")
            else:
                for key, val in ov.items():
                    if key not in acc_ids:
                        self.err(f"{p}.acceptance_overrides.{key}", f"{key!r} is not an acceptance id"
                                 f"{_suggest(key, sorted(acc_ids))} (acceptance ids: {', '.join(sorted(acc_ids))})")
                        continue
                    num = self.threshold(val, f"{p}.acceptance_overrides.{key}", acc_ids[key])
                    if num is not None:
                        overrides[key] = num
            if len(self.errors) == n_err:
                out.append(ToleranceSet(name=name, per_output=per, applies_to=applies,  # type: ignore[arg-type]
                                        precisions=tuple(precs), acceptance_overrides=overrides))
        return tuple(out)

    def tightening(self, v: Any, path: str, outputs: tuple[TensorSpec, ...], known: set[str]) -> Tightening | None:
        d = self.obj(v, path, ("when", "per_output", "description"), required=("when", "per_output"))
        if d is None or "when" not in d or "per_output" not in d:
            return None
        n_err = len(self.errors)
        when: list[str] = []
        if not isinstance(d["when"], list) or not d["when"]:
            self.err(f"{path}.when", "must be a non-empty list of rule expressions, e.g. [\"cache_last_channel_len > 0\"]")
        else:
            for i, w in enumerate(d["when"]):
                r = self.rule(w, f"{path}.when[{i}]", known)
                if r is not None:
                    when.append(r)
        per = self.per_output(d["per_output"], f"{path}.per_output", outputs)
        description = self.string(d.get("description", ""), f"{path}.description", empty=True) or ""
        if len(self.errors) > n_err:
            return None
        return Tightening(when=tuple(when), per_output=per, description=description)

    def acceptances(self, v: Any, path: str, outputs: tuple[TensorSpec, ...]) -> tuple[Acceptance, ...]:
        if not isinstance(v, list):
            self.err(path, f"must be a list of acceptance objects, got {_kind(v)}")
            return ()
        names = [t.ref_name for t in outputs]
        out: list[Acceptance] = []
        ids: dict[str, int] = {}
        keys = ("id", "kind", "tensor", "metric", "q", "threshold", "atol", "modes", "informational", "description")
        for i, a in enumerate(v):
            p = f"{path}[{i}]"
            d = self.obj(a, p, keys, required=("id", "kind"))
            if d is None or "id" not in d or "kind" not in d:
                continue
            n_err = len(self.errors)
            reserved = self.reserved_id(d["id"], d["kind"], f"{p}.id")
            aid = None if reserved else self.ident(d["id"], f"{p}.id")
            if aid is not None:
                if aid in ids:
                    self.err(f"{p}.id", f"duplicate acceptance id {aid!r} (also acceptance[{ids[aid]}])")
                ids.setdefault(aid, i)
            kind = self.choice(d["kind"], f"{p}.kind", ACCEPTANCE_KINDS, "an acceptance kind")
            kw: dict[str, Any] = {}
            needs_tensor = kind in ("quantile", "pass_rate", "no_growth")
            if "tensor" in d or needs_tensor:
                if "tensor" not in d:
                    self.err(p, f"kind {kind!r} needs 'tensor' (an output's reference name)")
                else:
                    t = self.string(d["tensor"], f"{p}.tensor")
                    if t is not None and t not in names:
                        self.err(f"{p}.tensor", f"{t!r} is not an output's reference name{_suggest(t, names)} "
                                                f"(outputs: {', '.join(names)})")
                    kw["tensor"] = t
            if "metric" in d:
                m = self.string(d["metric"], f"{p}.metric")
                if m is not None and m not in ACCEPTANCE_METRICS:
                    self.err(f"{p}.metric", f"{m!r} is not a per-chunk metric{_suggest(m, ACCEPTANCE_METRICS)} "
                                            f"(metrics: {', '.join(ACCEPTANCE_METRICS)})")
                kw["metric"] = m
            if kind == "quantile" and "q" not in d:
                self.err(p, "kind 'quantile' needs 'q' (0..100, e.g. 95)")
            if "q" in d:
                kw["q"] = self.number(d["q"], f"{p}.q", lo=0.0, hi=100.0)
            if kind in ("quantile", "pass_rate") and "threshold" not in d:
                self.err(p, f"kind {kind!r} needs 'threshold'")
            if "threshold" in d and kind is not None:
                if kind in ("state_carried", "invariants"):
                    self.err(f"{p}.threshold", f"kind {kind!r} has no threshold (it passes or fails as a whole)")
                else:
                    kw["threshold"] = self.threshold(d["threshold"], f"{p}.threshold", Acceptance(aid or "?", kind))
            if "atol" in d:
                kw["atol"] = self.number(d["atol"], f"{p}.atol", nonneg=True)
            if "modes" in d:
                kw["modes"] = self.modes(d["modes"], f"{p}.modes")
            informational = self.informational(d, p, kind, kw.get("threshold"))
            if informational is not None:
                kw["informational"] = informational
            kw["description"] = self.string(d.get("description", ""), f"{p}.description", empty=True) or ""
            if len(self.errors) == n_err:
                out.append(Acceptance(id=aid, kind=kind, **kw))  # type: ignore[arg-type]
        return tuple(out)

    def reserved_id(self, aid: Any, kind: Any, path: str) -> bool:
        """Report an acceptance id the tool uses for its own verdicts, unless the rule is that built-in kind."""
        if not isinstance(aid, str):
            return False
        if aid in RESERVED_ACCEPTANCE_IDS:
            if kind is not None and RESERVED_ACCEPTANCE_IDS[aid] == kind:
                return False
            allowed = RESERVED_ACCEPTANCE_IDS[aid]
            only = f" (only a rule of kind {allowed!r} may use it)" if allowed else ""
        elif aid.startswith(RESERVED_ID_PREFIXES):
            only = ""
        else:
            return False
        self.err(path, f"{aid!r} is reserved for the tool's own verdicts{only}: the tool would judge the rule with "
                       f"its own verdict, not with this rule's kind {kind!r}; rename it (reserved ids: "
                       f"{', '.join(RESERVED_ACCEPTANCE_IDS)}, and any id starting "
                       f"{', '.join(repr(x) for x in RESERVED_ID_PREFIXES)})")
        return True

    def threshold(self, v: Any, path: str, acc: Acceptance) -> float | None:
        """A threshold (in the rule or a tolerance set's override) the rule can be judged with."""
        if acc.kind in ("state_carried", "invariants"):
            self.err(path, f"acceptance {acc.id!r} is of kind {acc.kind!r}, which has no threshold to override")
            return None
        if acc.kind == "pass_rate":
            return self.number(v, path, lo=0.0, hi=1.0)
        num = self.number(v, path, nonneg=True)
        if num is not None and acc.kind == "quantile" and num == 0:
            self.err(path, "a quantile must be < its threshold; 0 can never hold (every per-chunk figure is >= 0), "
                           "so the rule could only fail: give the largest error you accept, e.g. 5e-4")
            return None
        return num

    def informational(self, d: Mapping[str, Any], p: str, kind: str | None, threshold: float | None) -> bool | None:
        """The rule's ``informational`` flag: as written; a pass rate with threshold 0 is informational (it is a
        reported figure: ``>= 0`` always holds); ``state_carried`` never is."""
        if "informational" not in d:
            return True if kind == "pass_rate" and threshold == 0 else None
        v = d["informational"]
        if not isinstance(v, bool):
            self.err(f"{p}.informational", f"must be true or false, got {_kind(v)}")
            return None
        if v and kind == "state_carried":
            self.err(f"{p}.informational", "a state_carried rule cannot be informational: a closed loop that carries "
                                           "no state tests nothing, so it is always required")
            return None
        if not v and kind == "pass_rate" and threshold == 0:
            self.err(f"{p}.informational", "a required pass rate needs a threshold above 0 (a share >= 0 always "
                                           "holds); give the share you require, or mark it informational: true")
            return None
        return v

    def diagnostics(self, v: Any, path: str, known: set[str]) -> Diagnostics:
        fields = {f.name: f for f in dataclasses.fields(Diagnostics)}
        d = self.obj(v, path, tuple(fields))
        if d is None:
            return Diagnostics()
        kw: dict[str, Any] = {}
        for key, val in d.items():
            if key not in fields:
                continue
            p = f"{path}.{key}"
            if key in ("noise_scales",):
                if not isinstance(val, list) or not val:
                    self.err(p, "must be a non-empty list of positive numbers")
                    continue
                nums = [self.number(x, f"{p}[{j}]", nonneg=True) for j, x in enumerate(val)]
                if all(n is not None for n in nums):
                    kw[key] = tuple(nums)
            elif key == "probe_chunks":
                if not isinstance(val, list) or not val:
                    self.err(p, f"must be a non-empty list of chunk indices or {', '.join(PROBE_WORDS)}")
                    continue
                items: list[str | int] = []
                for j, x in enumerate(val):
                    if isinstance(x, str):
                        c = self.choice(x, f"{p}[{j}]", PROBE_WORDS, "a probe position")
                        if c is not None:
                            items.append(c)
                    else:
                        n = self.integer(x, f"{p}[{j}]", minimum=0)
                        if n is not None:
                            items.append(n)
                kw[key] = tuple(items)
            elif key in ("significance_threshold", "growth_min_ratio"):
                kw[key] = self.number(val, p, nonneg=True)
            elif key == "extra":
                if isinstance(val, dict):
                    kw[key] = dict(val)
                else:
                    self.err(p, f"must be an object, got {_kind(val)}")
            else:  # tensor names
                s = self.string(val, p)
                if s is not None and s not in known:
                    self.err(p, f"{s!r} is not a tensor of this contract{_suggest(s, sorted(known))}")
                kw[key] = s
        return Diagnostics(**kw)


def _dtype_kind(dtype: str) -> str:
    return "float" if dtype.startswith(("float", "bfloat")) else ("bool" if dtype == "bool" else "int")


def load_from_text(text: str, label: str = "<text>") -> Contract:
    """Validate a contract given as JSON text (tests, tools that hold the document in memory)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"contract {label}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}.") from None
    return contract_from_dict(doc, label=label)


__all__ = [
    "FORMAT", "VERSION", "SHIPPED_DIR", "contract_from_dict", "contract_to_dict", "dump_contract", "load_contract",
    "load_from_text", "resolve_contract_path", "shipped_contracts",
]
