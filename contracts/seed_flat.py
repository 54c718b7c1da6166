"""The seed team's two flat encoder contract schemas (``encoder_streaming`` and ``parakeet-tdt-0.6b-v3``, described in
`contracts.importers`) → our contract document, with every key mapped, listed as not mapped, or kept as a note.

`contracts.whole_model` flattens a whole-model contract into the ``parakeet-tdt-0.6b-v3`` form first, so the same
code reads all three.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from contracts.import_base import (
    DTYPES, NEMO_TO_REF, ImportResult, Prelude, dtype_word, int_like, number_like, parse_shape,
)
from contracts.load import contract_from_dict
from contracts.seed_rules import RuleMapping

_ROLES = {
    "audio_signal": "stream", "length": "stream", "cache_last_channel": "state", "cache_last_time": "state",
    "cache_last_channel_len": "state", "encoder_output": "frames", "encoded_lengths": "length",
    "cache_last_channel_out": "state", "cache_last_time_out": "state", "cache_last_channel_len_out": "state",
}
_AXES = {
    "audio_signal": ("batch", "feature", "time"), "length": ("batch",), "encoded_lengths": ("batch",),
    "cache_last_channel": ("batch", "layer", "time", "channel"), "cache_last_time": ("batch", "layer", "channel",
                                                                                      "time"),
    "cache_last_channel_len": ("batch",), "encoder_output": ("batch", "channel", "time"),
    "cache_last_channel_out": ("batch", "layer", "time", "channel"),
    "cache_last_time_out": ("batch", "layer", "channel", "time"), "cache_last_channel_len_out": ("batch",),
}

_CACHES = ("cache_last_channel", "cache_last_time", "cache_last_channel_out", "cache_last_time_out")

# Aliases of streaming keys a symbolic dimension may use.
_SYMBOL_ALIASES = {
    "L": "layers", "n_layers": "layers", "num_layers": "layers", "D": "d_model", "hidden": "d_model",
    "cache": "cache_size", "last_channel_cache_size": "cache_size", "cache_len": "cache_size",
    "conv_ctx": "time_ctx", "conv_context": "time_ctx",
}



class SeedImporter(RuleMapping):
    def __init__(self, doc: dict, label: str, schema: str, pre: Prelude | None = None) -> None:
        self.doc = doc
        self.label = label
        self.schema = schema
        self.pre = pre or Prelude()
        self.mapped: list[str] = list(self.pre.mapped)
        self.unmapped: list[str] = []
        self.notes: list[str] = list(self.pre.notes)
        self.symbols: dict[str, int] = {}
        self.inputs: list[dict] = []
        self.outputs: list[dict] = []
        self.invariants: list[dict] = []
        self.acceptance: dict[str, dict] = {}
        self.tolerance_sets: list[dict] = []
        self.handled: set[str] = set()
        self.pending_frames: int | None = None
        self.tightening: dict | None = None

    # --- bookkeeping --------------------------------------------------------------------------------------------
    def where(self, path: str) -> str:
        """A flat key path as the key path in the user's file (``inputs.x`` → ``encoder.streaming_io.inputs.x``)."""
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(.*)$", path, re.S)
        if m is None or m.group(1) not in self.pre.origin:
            return path
        return self.pre.origin[m.group(1)] + m.group(2)

    def ok(self, what: str) -> None:
        self.mapped.append(self.where(what))

    def miss(self, path: str, value: Any, why: str = "", *, raw: bool = False) -> None:
        path = path if raw else self.where(path)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        line = f"{path}: {text}" + (f" ({why})" if why else "")
        self.unmapped.append(line)
        self.notes.append(f"not mapped from the seed contract: {line}")

    def add_invariant(self, iid: str, check: str, description: str, kind: str = "invariant",
                      source: str = "") -> str:
        for inv in self.invariants:
            if inv["check"] == check:  # the same rule from two places of their file: keep one
                if source:
                    self.ok(f"{source} -> same rule as invariant {inv['id']}: {check}")
                return inv["id"]
        if re.fullmatch(r"cache_last_channel_len(_out)? == 0", check):
            description += (". This rule means the attention cache is never carried between chunks (chunk-isolated): "
                            "a closed loop under it tests no state")
        base, n = iid, 2
        ids = {i["id"] for i in self.invariants}
        while iid in ids:
            iid, n = f"{base}_{n}", n + 1
        self.invariants.append({"id": iid, "check": check, "kind": kind, "description": description})
        if source:
            self.ok(f"{source} -> invariant {iid}: {check}")
        return iid

    # --- main ---------------------------------------------------------------------------------------------------
    def run(self, name: str) -> ImportResult:
        d = self.doc
        for path, value, why in self.pre.unmapped:
            self.miss(path, value, why, raw=True)
        streaming = self.streaming(d.get("streaming", {}))
        if self.pre.streaming_extra:
            streaming["extra"] = {**streaming.get("extra", {}), **self.pre.streaming_extra}
        self.handled |= {"streaming", "name"}
        self.tensors("inputs", d.get("inputs"), self.inputs)
        self.tensors("outputs", d.get("outputs"), self.outputs)
        self.handled |= {"inputs", "outputs"}
        self.layout()
        feedback = self.feedback()
        profiles = self.profiles()
        self.mode()
        self.bounds()
        self.initialization()
        self.assertions()
        self.tolerances()
        self.constraints()
        for path, text, subject in self.pre.prose:
            self.behaviour(text, path, subject)
        self.passthrough_notes()
        for key in d:
            if key not in self.handled:
                self.miss(key, d[key], "not part of what a parity contract describes")

        doc: dict[str, Any] = {
            "format": "parity-contract", "version": 1, "name": name,
            "description": f"Imported from the {self.schema!r} contract {self.label}"
                           + (self.pre.description or (f" (model {d['model']})" if isinstance(d.get("model"), str)
                                                       else "")) + ".",
            "streaming": streaming, "inputs": self.inputs, "outputs": self.outputs, "feedback": feedback,
            "profiles": profiles, "invariants": self.invariants,
            "tolerances": {"sets": self.tolerance_sets},
            "acceptance": list(self.acceptance.values()),
            "notes": self.notes,
        }
        if self.tightening is not None:
            doc["tightening"] = self.tightening
        contract = contract_from_dict(doc, label=f"{self.label} (imported)")
        return ImportResult(contract, self.schema, tuple(self.mapped), tuple(self.unmapped), tuple(self.pre.ignored),
                            dict(self.pre.provenance), self.pre.located)

    # --- streaming ----------------------------------------------------------------------------------------------
    def streaming(self, s: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if not isinstance(s, dict):
            if s:
                self.miss("streaming", s, "expected an object")
            return out

        def as_int(v: Any) -> Any:  # "256" / 256.0 → 256 (their scripts sometimes write numbers as text)
            if isinstance(v, list):
                ints = [int_like(x) for x in v]
                return ints if all(x is not None for x in ints) else v
            n = int_like(v)
            return v if n is None else n

        normalised = {k: as_int(v) for k, v in s.items()}
        for key, val in s.items():
            if normalised[key] != val and not isinstance(val, (int, list)):
                self.ok(f"streaming.{key}: {val!r} read as the integer {normalised[key]}")
        s = normalised

        def pair(v: Any) -> tuple[int, int] | None:
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
                return int(v[0]), int(v[1])
            if isinstance(v, int) and not isinstance(v, bool):
                return int(v), int(v)
            return None

        for key, val in s.items():
            if isinstance(val, int) and not isinstance(val, bool):
                self.symbols[key] = val
        for alias, key in _SYMBOL_ALIASES.items():
            if key not in self.symbols and alias in self.symbols:
                self.symbols[key] = self.symbols[alias]
            if alias not in self.symbols and key in self.symbols:
                self.symbols[alias] = self.symbols[key]
        if "last_channel_cache_size" in s and "cache_size" not in s:
            self.symbols["cache_size"] = int(s["last_channel_cache_size"])
        direct = {"layers": "layers", "n_layers": "layers", "cache_size": "cache_size",
                  "last_channel_cache_size": "cache_size", "time_ctx": "time_ctx", "conv_context": "time_ctx",
                  "valid_out_len": "valid_out_len", "valid_out_len_expected": "valid_out_len",
                  "cache_drop_size": "cache_drop_size", "drop_extra_pre_encoded": "drop_extra_pre_encoded",
                  "first_chunk_frames": "chunk_frames_first", "chunk_frames": "chunk_frames"}
        chunk, shift, pre = pair(s.get("chunk_size")), pair(s.get("shift_size")), pair(s.get("pre_encode_cache_size"))
        for key, val in s.items():
            if key in direct and isinstance(val, int) and not isinstance(val, bool):
                out[direct[key]] = val
                self.ok(f"streaming.{key} -> streaming.{direct[key]}")
            elif key in ("chunk_size", "shift_size", "pre_encode_cache_size") and pair(val) is not None:
                extra[key] = val
            elif key in ("d_model",):
                extra[key] = val
            else:
                extra[key] = val
                self.miss(f"streaming.{key}", val, "kept in streaming.extra")
        if chunk is not None:
            p = pre or (0, 0)
            if isinstance(s.get("chunk_size"), list):
                out.setdefault("chunk_frames_first", chunk[0] + p[0])
                out.setdefault("chunk_frames", chunk[1] + p[1])
            else:
                out.setdefault("chunk_frames", chunk[1])
            self.ok(f"streaming.chunk_size {s['chunk_size']} (+ pre_encode_cache_size) -> streaming.chunk_frames_first "
                    f"{out.get('chunk_frames_first')} / chunk_frames {out.get('chunk_frames')}")
        if shift is not None:
            out["shift_frames"] = shift[1]
            self.ok(f"streaming.shift_size -> streaming.shift_frames {shift[1]}")
        if pre is not None:
            out["pre_encode_cache_size"] = pre[1]
            self.ok(f"streaming.pre_encode_cache_size -> streaming.pre_encode_cache_size {pre[1]}")
        if "valid_out_len_expected" in s and isinstance(s["valid_out_len_expected"], int):
            self.pending_frames = int(s["valid_out_len_expected"])
        elif "valid_out_len" in s and isinstance(s["valid_out_len"], int):
            self.pending_frames = int(s["valid_out_len"])
        if out.get("chunk_frames_first") is not None and out.get("chunk_frames") is not None:
            out["first_chunk"] = "short" if out["chunk_frames_first"] < out["chunk_frames"] else "padded"
        if extra:
            out["extra"] = extra
        return out

    # --- tensors ------------------------------------------------------------------------------------------------
    def tensors(self, key: str, v: Any, into: list[dict]) -> None:
        if v is None:
            self.miss(key, None, "missing: the contract needs its tensors")
            return
        items: list[tuple[str, dict]] = []
        if isinstance(v, dict):
            items = [(n, spec if isinstance(spec, dict) else {"shape": spec}) for n, spec in v.items()]
        elif isinstance(v, list):
            for i, spec in enumerate(v):
                if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                    items.append((spec["name"], spec))
                else:
                    self.miss(f"{key}[{i}]", spec, "a tensor needs a name")
        else:
            self.miss(key, v, "expected a list or an object of tensors")
            return
        for tname, spec in items:
            path = f"{key}.{tname}"
            ref = NEMO_TO_REF.get(tname, tname)
            dtype_raw = dtype_word(spec.get("dtype", spec.get("type", "float32")))
            dtype = DTYPES.get(dtype_raw)
            if dtype is None:
                self.miss(f"{path}.dtype", spec.get("dtype"), "unknown dtype; float32 assumed")
                dtype = "float32"
            shape_raw = parse_shape(spec.get("shape", []))
            if not isinstance(shape_raw, list):
                self.miss(f"{path}.shape", shape_raw, "expected a list of sizes and symbols; the tensor is left out")
                continue
            shape: list[int | str] = []
            for j, dim in enumerate(shape_raw):
                shape.append(self.dim(dim, f"{path}.shape[{j}]"))
            t: dict[str, Any] = {"name": tname, "dtype": dtype, "shape": shape}
            if ref != tname:
                t["ref_name"] = ref
                self.ok(f"{path}: NeMo's export name -> reference name {ref}")
            role = _ROLES.get(ref, "other")
            if key == "inputs" and role not in ("stream", "state", "other"):
                role = "other"
            if key == "outputs" and role == "stream":
                role = "other"
            t["role"] = role
            axes = self.layout_axes(spec.get("layout"), shape, role, f"{path}.layout") if "layout" in spec else None
            if axes is not None:
                t["axes"] = axes
            elif ref in _AXES and len(_AXES[ref]) == len(shape):
                t["axes"] = list(_AXES[ref])
            if role == "frames" and len(shape) == 3:
                t["frame_axis"] = t["axes"].index("time") if "time" in t.get("axes", ()) else 2
            if isinstance(spec.get("description"), str):
                t["description"] = spec["description"]
            t["_constraints"] = spec.get("constraints", [])
            for k in spec:
                if k not in ("name", "dtype", "type", "shape", "constraints", "description", "layout"):
                    self.miss(f"{path}.{k}", spec[k])
            into.append(t)

    def layout_axes(self, layout: Any, shape: list, role: str, path: str) -> list[str] | None:
        """A layout (``"BCT"``, ``"BLTD"``, ``"B,L,D,K"``, ``["B", "L", "T", "D"]``) → our axis labels, or None."""
        letters = [c for c in (layout if isinstance(layout, str) else "".join(map(str, layout))
                               if isinstance(layout, list) else "") if c.isalpha()]
        labels = {"B": "batch", "N": "batch", "L": "layer", "T": "time", "K": "time", "D": "channel",
                  "C": "feature" if role == "stream" else "channel", "F": "feature", "H": "head"}
        axes = [labels.get(c.upper()) for c in letters]
        if not letters or len(letters) != len(shape) or None in axes:
            self.miss(path, layout, f"expected one letter per axis of the rank-{len(shape)} shape from "
                                    f"{''.join(labels)} (B batch, L layer, T/K time, D/C channel); axes not set")
            return None
        if len(set(axes)) != len(axes):
            self.miss(path, layout, "two axes with the same meaning; axes not set")
            return None
        self.ok(f"{path} {layout!r} -> axes {axes}")
        return axes

    def dim(self, dim: Any, path: str) -> int | str:
        if isinstance(dim, float) and dim.is_integer():
            dim = int(dim)
        if isinstance(dim, int) and not isinstance(dim, bool):
            return dim
        if isinstance(dim, str):
            if dim.isdigit():
                return int(dim)
            if dim in self.symbols:
                return self.symbols[dim]
            sym = re.sub(r"[^A-Za-z0-9_.]", "_", dim) or "N"
            return sym if re.match(r"^[A-Za-z_]", sym) else f"d_{sym}"
        if dim is None:
            return "N"
        self.miss(path, dim, "not a dimension; made symbolic")
        return "N"

    def tensor(self, ref_or_name: str) -> dict | None:
        for t in (*self.inputs, *self.outputs):
            if ref_or_name in (t["name"], t.get("ref_name", t["name"])):
                return t
        return None

    def ref(self, t: dict) -> str:
        return t.get("ref_name", t["name"])

    # --- layouts, feedback, padding -----------------------------------------------------------------------------
    def layout(self) -> None:
        lay = self.doc.get("cache_layout")
        self.handled.add("cache_layout")
        if lay is None:
            return
        caches = [t for t in (*self.inputs, *self.outputs) if self.ref(t) in _CACHES and len(t["shape"]) == 4]
        # The model's side: what the tensors' own layouts say (a whole-model contract gives "BLTD" per tensor),
        # else batch-first as in NeMo's export.
        sides = {"layer_first" if t["axes"][:2] == ["layer", "batch"] else "batch_first" for t in caches
                 if t.get("axes")}
        known_model_side = sides.pop() if len(sides) == 1 else None
        ref_side, model_side = None, known_model_side or "batch_first"
        if isinstance(lay, str):
            ref_side = lay  # one word: the reference files' layout, or the model's own if it agrees with it
        elif isinstance(lay, dict):
            ref_side = lay.get("reference", lay.get("file", lay.get("ref")))
            model_side = lay.get("model", lay.get("onnx", model_side))
        norm = {"layer_first": "layer_first", "layers_first": "layer_first", "lbtd": "layer_first",
                "lbdt": "layer_first", "batch_first": "batch_first", "btld": "batch_first", "bltd": "batch_first",
                "bldt": "batch_first"}

        def side(v: Any) -> str | None:  # "Layer-First", "layers first", "LBTD" …
            return norm.get(re.sub(r"[^a-z]+", "_", str(v).lower()).strip("_"))

        r, m = side(ref_side), side(model_side)
        if r is None or m is None:
            self.miss("cache_layout", lay, "expected layer_first or batch_first for the reference and the model")
            return
        if r == m:
            self.ok(f"cache_layout: reference and model both {r}: no permutation")
            return
        if known_model_side is not None and m != known_model_side:
            self.miss("cache_layout", lay, f"says the model is {m} but its tensors' layouts are {known_model_side}")
            return
        for t in caches:  # swapping the first two axes is its own inverse: either direction is [1, 0, 2, 3]
            t["ref_perm"] = [1, 0, 2, 3]
        self.ok(f"cache_layout: {r} reference files, {m} model -> ref_perm [1, 0, 2, 3] on the cache tensors")

    def feedback(self) -> list[dict]:
        pads = self.padding_rules()
        out = []
        outs = {self.ref(t): t for t in self.outputs}
        for t in self.inputs:
            if t["role"] != "state":
                continue
            ref = self.ref(t)
            src = outs.get(f"{ref}_out")
            if src is None:
                t["role"] = "stream"
                self.miss(f"inputs.{t['name']}", "state input",
                          "no output feeds it back; treated as a stream input")
                continue
            fb: dict[str, Any] = {"from": self.ref(src), "to": ref}
            pad = pads.pop(src["name"], None) or pads.pop(self.ref(src), None)
            if pad is not None:
                fb["pad"] = pad
            out.append(fb)
            self.ok(f"feedback {self.ref(src)} -> {ref}" + (" with padding" if pad else ""))
        for key, pad in pads.items():
            self.miss(f"padding.{key}", pad, "no feedback entry for this output")
        return out

    def padding_rules(self) -> dict[str, dict]:
        pads: dict[str, dict] = {}
        sources: list[tuple[str, Any]] = []
        rc = self.doc.get("runtime_contract")
        if isinstance(rc, dict):
            self.handled.add("runtime_contract")
            for k, v in rc.items():
                if k == "cache_padding":
                    sources.append(("runtime_contract.cache_padding", v))
                else:
                    self.miss(f"runtime_contract.{k}", v)
        if "cache_pad" in self.doc:
            self.handled.add("cache_pad")
            sources.append(("cache_pad", self.doc["cache_pad"]))
        for path, v in sources:
            if isinstance(v, dict) and v and not any(isinstance(x, dict) for x in v.values()):
                v = self.global_pad(path, v)  # one {side, value} for every cache
            if not isinstance(v, dict):
                self.miss(path, v, "expected an object keyed by cache output")
                continue
            for out_name, rule in v.items():
                p = f"{path}.{out_name}"
                if not isinstance(rule, dict):
                    self.miss(p, rule)
                    continue
                t = self.tensor(out_name) or self.tensor(f"{out_name}_out")
                if t is None:
                    self.miss(p, rule, "no such tensor")
                    continue
                if t in self.inputs:  # a rule keyed by the input: find the output that feeds it
                    t = self.tensor(f"{self.ref(t)}_out") or t
                axis = int_like(rule.get("axis"))
                to = int_like(rule.get("pad_to", rule.get("to", rule.get("size"))))
                raw_side = rule.get("side", "left")
                side = {"left": "left", "start": "left", "front": "left", "begin": "left", "pre": "left",
                        "before": "left", "right": "right", "end": "right", "back": "right", "post": "right",
                        "after": "right"}.get(str(raw_side).lower())
                value = number_like(rule.get("fill_value", rule.get("value", 0.0)))
                if axis is None or to is None:
                    self.miss(p, rule, "needs an integer axis and pad_to")
                    continue
                if side is None or value is None or not math.isfinite(value):
                    self.miss(p, rule, "side must be left/right (start/end) and fill_value a finite number")
                    continue
                pads[t["name"]] = {"axis": axis, "to": to, "side": side, "value": float(value)}
                self.ok(f"{p} -> feedback padding (axis {axis}, to {to}, {side}, {value})")
                for k in rule:
                    if k not in ("axis", "pad_to", "to", "size", "side", "fill_value", "value"):
                        self.miss(f"{p}.{k}", rule[k])
        return pads

    def global_pad(self, path: str, rule: dict) -> dict[str, dict]:
        """``cache_pad: {side, value}`` for all caches → one rule per cache output whose size varies on an axis
        the input it feeds fixes (padded to that size), e.g. ``cache_last_channel_next [B, 24, C_out, 1024]`` →
        axis 2 to 256."""
        per: dict[str, dict] = {}
        for t in self.outputs:
            src = self.tensor(self.ref(t)[:-4]) if self.ref(t).endswith("_out") else None
            if src is None or src not in self.inputs or len(src["shape"]) != len(t["shape"]):
                continue
            axes = [ax for ax, (o, i) in enumerate(zip(t["shape"], src["shape"])) if isinstance(o, str)
                    and isinstance(i, int) and not (ax == 0 and o in ("B", "batch", "N"))]
            if len(axes) == 1:
                per[t["name"]] = {"axis": axes[0], "to": src["shape"][axes[0]], **{k: x for k, x in rule.items()
                                                                                   if k not in ("axis", "to")}}
            elif len(axes) > 1:
                self.miss(f"{path}", rule, f"{t['name']} varies on several axes ({axes}); which one to pad is unclear")
        if not per:
            self.ok(f"{path}: no cache output varies in size where its input is fixed; nothing to pad")
        return per

    # --- profiles -----------------------------------------------------------------------------------------------
    def profiles(self) -> list[dict]:
        raw = None
        for key in ("trt_optimization_profiles", "trt_profiles", "profiles", "optimization_profiles"):
            if key in self.doc:
                raw, where = self.doc[key], key
                self.handled.add(key)
                break
        if raw is None:
            return []
        items: list[tuple[str, str, dict]] = []
        if isinstance(raw, dict) and all(isinstance(v, dict) and {"min", "opt", "max"} <= set(v) for v in raw.values()):
            items = [("profile0", where, raw)]
        elif isinstance(raw, dict):
            items = [(str(k), f"{where}.{k}", v.get("dims", v.get("shapes", v)) if isinstance(v, dict) else v)
                     for k, v in raw.items()]
        elif isinstance(raw, list):
            for i, p in enumerate(raw):
                if isinstance(p, dict) and ("dims" in p or "shapes" in p):
                    items.append((str(p.get("name", f"profile{i}")), f"{where}[{i}]", p.get("dims", p.get("shapes"))))
                else:
                    items.append((f"profile{i}", f"{where}[{i}]", p))
        out = []
        dynamic = [t for t in self.inputs if any(isinstance(x, str) for x in t["shape"])]
        for pname, path, dims in items:
            if not isinstance(dims, dict):
                self.miss(path, dims, "expected an object of dimensions")
                continue
            per_input: dict[tuple[str, str], tuple[int, int, int]] = {}
            global_sym: dict[str, tuple[int, int, int]] = {}
            full: dict[str, dict[str, list[int]]] = {}  # TensorRT's own form: whole shapes per input
            bad = False
            for key, rng in dims.items():
                if isinstance(rng, dict) and self.tensor(key) in self.inputs and all(
                        isinstance(rng.get(k), list) and all(int_like(x) is not None for x in rng[k])
                        for k in ("min", "opt", "max")):
                    full[self.tensor(key)["name"]] = {k: [int_like(x) for x in rng[k]] for k in ("min", "opt", "max")}
                    continue
                triple = tuple(int_like(rng.get(k)) for k in ("min", "opt", "max")) if isinstance(rng, dict) else ()
                if len(triple) != 3 or any(x is None for x in triple):
                    self.miss(f"{path}.{key}", rng, "expected {min, opt, max} integers (or whole shapes for an input)")
                    bad = True
                    continue
                target = self.split_dim_key(key)
                if target is None:
                    global_sym[key] = triple  # type: ignore[assignment]
                else:
                    per_input[target] = triple  # type: ignore[assignment]
            if bad:
                continue
            shapes: dict[str, dict] = {}
            used: set[str] = set()
            used_keys: set[tuple[str, str]] = set()
            used_syms: set[str] = set()
            for t in dynamic:
                if t["name"] in full:
                    shapes[t["name"]] = full[t["name"]]
                    used.add(t["name"])
                    continue
                lo, mid, hi = [], [], []
                for ax, dim in enumerate(t["shape"]):
                    if isinstance(dim, int):
                        lo.append(dim), mid.append(dim), hi.append(dim)
                        continue
                    key_in = (t["name"], dim)
                    triple = per_input.get(key_in) or per_input.get((self.ref(t), dim)) or global_sym.get(dim)
                    if triple is None and dim in ("B", "batch", "N"):
                        triple = global_sym.get("batch") or global_sym.get("B") or (1, 1, 1)
                        if "B" not in global_sym and "batch" not in global_sym:
                            self.notes.append(f"profile {pname}: batch dimension not given, used 1")
                    if triple is None:
                        # e.g. a dynamic cache axis padded to a fixed size: min = opt = max = that size.
                        fixed = self.symbols.get(dim)
                        triple = (fixed, fixed, fixed) if fixed else None
                    if triple is None:
                        self.miss(f"{path}", dims, f"no range for {t['name']}.{dim}; profile dropped")
                        bad = True
                        break
                    used.add(f"{t['name']}.{dim}")
                    used_keys.update(k for k, v in per_input.items() if v is triple)
                    used_syms.update(k for k, v in global_sym.items() if v is triple)
                    lo.append(triple[0]), mid.append(triple[1]), hi.append(triple[2])
                if bad:
                    break
                shapes[t["name"]] = {"min": lo, "opt": mid, "max": hi}
            if bad:
                continue
            for (tname, dim), rng in per_input.items():
                if (tname, dim) not in used_keys:
                    self.miss(f"{path}.{tname}{'.' if f'{tname}.{dim}' in dims else '_'}{dim}", list(rng),
                              f"{tname} has no dynamic dimension {dim!r} in this contract; ignored")
            for sym, rng in global_sym.items():
                if sym not in used_syms and sym not in ("B", "batch"):
                    self.miss(f"{path}.{sym}", list(rng), "names no dynamic dimension of any input; ignored")
            for tname in full:
                if tname not in shapes:
                    self.miss(f"{path}.{tname}", full[tname], "this input has no dynamic dimension; ignored")
            out.append({"name": pname, "shapes": shapes})
            self.ok(f"{path} -> profile {pname!r} with full shapes for {', '.join(shapes)}")
        return out

    def split_dim_key(self, key: str) -> tuple[str, str] | None:
        """``audio_signal.T`` / ``audio_signal_T`` → (input name, symbol); a bare symbol → None."""
        names = sorted((t["name"] for t in self.inputs), key=len, reverse=True)
        for n in names:
            for sep in (".", "_", ":"):
                if key.startswith(n + sep) and len(key) > len(n) + 1:
                    return n, key[len(n) + 1:]
        return None

    def passthrough_notes(self) -> None:
        for key in ("notes", "note", "comments"):
            if key in self.doc:
                self.handled.add(key)
                val = self.doc[key]
                for n in (val if isinstance(val, list) else [val]):
                    self.notes.append(str(n))
                self.ok(f"{key} -> notes")
        for key in ("model", "component", "onnx", "onnx_file", "contract_version", "description"):
            if key in self.doc:
                self.handled.add(key)
                self.notes.append(f"seed contract {key}: {self.doc[key]}")
