"""The seed contract's rules → ours: its mode, cache-length bounds, initialization, assertions and per-tensor
constraints (expressions of our rule language, or prose with a clear meaning), and its tolerance sets and P95/P100
acceptance. Mixed into `contracts.seed_flat.SeedImporter`, whose tensors and bookkeeping it uses (``ok``, ``miss``,
``add_invariant``, ``tensor``, ``ref``); kept apart because it is the half of the importer that maps meaning, not
structure.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from contracts.import_base import NEMO_TO_REF, backend_patterns, int_like, number_like


class RuleMapping:
    """The rule-mapping methods of `SeedImporter` (see the module doc)."""

    doc: dict
    symbols: dict[str, int]
    inputs: list[dict]
    outputs: list[dict]
    invariants: list[dict]
    acceptance: dict[str, dict]
    tolerance_sets: list[dict]
    handled: set[str]
    pending_frames: int | None

    # --- rules --------------------------------------------------------------------------------------------------
    def mode(self) -> None:
        mode = self.doc.get("mode")
        self.handled.add("mode")
        if self.pending_frames is not None and self.tensor("encoded_lengths") is not None:
            self.add_invariant("frames_per_chunk", f"encoded_lengths == {self.pending_frames}",
                               f"every chunk emits valid_out_len = {self.pending_frames} frames",
                               source="streaming.valid_out_len")
        if mode is None:
            return
        if self.tensor("cache_last_channel_len_out") is None:
            self.miss("mode", mode, "no cache_last_channel_len_out tensor to check it on")
            return
        if mode == "chunk_isolated":
            self.add_invariant(
                "cache_len_zero", "cache_last_channel_len_out == 0",
                "the seed contract's chunk_isolated mode: cache_last_channel_len stays 0, i.e. the attention cache is "
                "NEVER carried between chunks; a closed loop under this rule tests no state", kind="state",
                source="mode chunk_isolated")
        elif mode == "stateful_cache":
            size = self.symbols.get("cache_size")
            if size:
                self.add_invariant("cache_len_saturates", f"saturates(cache_last_channel_len_out, {size})",
                                   f"stateful_cache: the cache length never decreases until {size}, then stays",
                                   kind="state", source="mode stateful_cache")
            if self.tensor("cache_last_channel_len") is not None:
                self.add_invariant("cache_len_fed_back", "cache_last_channel_len == prev.cache_last_channel_len_out",
                                   "stateful_cache: each chunk's cache length input is the previous chunk's output",
                                   kind="state", source="mode stateful_cache")
            self.acceptance.setdefault("state_carried", {
                "id": "state_carried", "kind": "state_carried", "modes": ["closed-loop"],
                "description": "stateful_cache: the closed loop must really carry state"})
        else:
            self.miss("mode", mode, "expected chunk_isolated or stateful_cache")

    def bounds(self) -> None:
        b = self.doc.get("cache_len_bounds")
        self.handled.add("cache_len_bounds")
        if b is None:
            return
        lo = hi = None
        if isinstance(b, dict):
            lo, hi = b.get("min"), b.get("max")
        elif isinstance(b, list) and len(b) == 2:
            lo, hi = b
        lo, hi = (int_like(lo) if int_like(lo) is not None else lo), (int_like(hi) if int_like(hi) is not None
                                                                        else hi)
        if not (isinstance(lo, int) or isinstance(hi, int)):
            self.miss("cache_len_bounds", b, "expected {min, max}")
            return
        for name in ("cache_last_channel_len", "cache_last_channel_len_out"):
            if self.tensor(name) is None:
                continue
            parts = ([f"{lo} <= {name}"] if isinstance(lo, int) else []) + ([f"{name} <= {hi}"] if isinstance(hi, int)
                                                                            else [])
            check = f"{lo} <= {name} <= {hi}" if len(parts) == 2 else parts[0]
            self.add_invariant(f"{name}_bounds", check, f"cache_len_bounds: {json.dumps(b)}", kind="state",
                               source="cache_len_bounds")

    def initialization(self) -> None:
        init = self.doc.get("initialization")
        self.handled.add("initialization")
        if init is None:
            return
        if not isinstance(init, dict):
            self.miss("initialization", init)
            return
        for name, how in init.items():
            t = self.tensor(name)
            if t is None or t not in self.inputs:
                self.miss(f"initialization.{name}", how, "not an input of the contract")
                continue
            ref = self.ref(t)
            if how in ("zeros", "zero", 0, 0.0):
                check = f"implies(chunk == 0, {ref} == 0)"
            elif isinstance(how, (int, float)) and not isinstance(how, bool) and math.isfinite(how):
                check = f"implies(chunk == 0, {ref} == {how})"
            else:
                self.miss(f"initialization.{name}", how, "only zeros or a number can be checked")
                continue
            self.add_invariant(f"init_{ref}", check, f"first chunk starts from {ref} = {how} (initialization)",
                               kind="state", source=f"initialization.{name}")

    def assertions(self) -> None:
        for key in ("assertions", "invariants", "checks"):
            if key not in self.doc:
                continue
            self.handled.add(key)
            items = self.doc[key]
            if not isinstance(items, list):
                self.miss(key, items, "expected a list")
                continue
            for i, a in enumerate(items):
                path = f"{key}[{i}]"
                text = a.get("check", a.get("expr", a.get("assert", a.get("text")))) if isinstance(a, dict) else a
                desc = a.get("description", "") if isinstance(a, dict) else ""
                if not isinstance(text, str):
                    self.miss(path, a)
                    continue
                self.prose(text, path, desc)

    def prose(self, text: str, path: str, desc: str = "", tensor: dict | None = None) -> bool:
        """Map one assertion/constraint to a rule or acceptance; else keep it as a note. True if mapped."""
        known = {self.ref(t) for t in (*self.inputs, *self.outputs)}
        low = text.lower().strip().rstrip(".")
        description = desc or f"seed contract: {text!r}"
        # 1. Already an expression of our language (after replacing streaming symbols / the tensor's dim symbols).
        stripped = re.sub(r"\s+(for (every|each|all) chunks?|on (every|each|all) chunks?|always|per chunk)\s*$", "",
                          text.strip().rstrip("."), flags=re.I)
        expr = self.expression(stripped, known, tensor)
        if expr is not None:
            self.add_invariant(self.rule_id(expr), expr, description, kind=self.rule_kind(expr), source=path)
            return True
        # 2. Patterns with a clear meaning.
        name_m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\b", text)
        subject = name_m.group(1) if name_m else None
        subject = subject if subject in known else None
        m = re.search(r"non[- ]?decreasing\s*(?:,\s*)?(?:until|up to|saturat\w*\s*(?:at)?)\s+([A-Za-z_][A-Za-z0-9_]*|\d+)",
                      low)
        if subject and m:
            bound = m.group(1)
            n = int(bound) if bound.isdigit() else self.symbols.get(bound)
            if n is not None:
                self.add_invariant(f"{subject}_saturates", f"saturates({subject}, {n})", description, kind="state",
                                   source=path)
                return True
        if subject and re.search(r"non[- ]?decreasing|monoton\w* (increasing|non-decreasing)", low):
            self.add_invariant(f"{subject}_nondecreasing", f"nondecreasing({subject})", description, kind="state",
                               source=path)
            return True
        if re.search(r"\b(finite|no nan|nan[- ]free)\b", low):
            targets = [subject] if subject else [self.ref(t) for t in self.outputs if t["dtype"].startswith(("float",
                                                                                                            "bfloat"))]
            for tname in targets:
                self.add_invariant(f"finite_{tname}", f"finite({tname})", description, source=path)
            return True
        if re.search(r"\bgrow", low) and re.search(r"closed[- ]loop|over chunks|monoton", low):
            frames = next((self.ref(t) for t in self.outputs if t["role"] == "frames"), None)
            if frames:
                self.acceptance.setdefault("no_growth", {
                    "id": "no_growth", "kind": "no_growth", "tensor": frames, "metric": "max_abs",
                    "modes": ["closed-loop"], "description": description})
                self.ok(f"{path} -> acceptance no_growth")
                return True
        self.miss(path, text, "prose with no clear rule: kept as a note")
        return False

    def behaviour(self, text: str, path: str, subject: str | None) -> None:
        """Prose about the cache length (``"grows by valid_out_len per chunk and saturates at 256"``): every clear
        clause becomes a rule; the rest stays a note (via `prose`)."""
        if subject is None or self.tensor(subject) is None:
            self.prose(text, path)
            return
        low = text.lower()
        subject = self.ref(self.tensor(subject))
        found = False

        def number(word: str) -> int | None:
            return int(word) if word.isdigit() else self.symbols.get(word)

        m = re.search(r"(?:saturat\w*|caps?|capped|clamped|stays?|plateaus?)\s+(?:at|to)\s+([a-z_][a-z0-9_]*|\d+)", low)
        cap = number(m.group(1)) if m else None
        if cap is not None:
            self.add_invariant(f"{subject}_saturates", f"saturates({subject}, {cap})", f"{path}: {text!r}",
                               kind="state", source=path)
            found = True
        m = re.search(r"(?:grows?|increases?|rises?|advances?)\s+by\s+([a-z_][a-z0-9_]*|\d+)\s+"
                      r"(?:per|each|every|a)\s+chunk", low)
        step = number(m.group(1)) if m else None
        fed = self.tensor(subject[:-4]) if subject.endswith("_out") else None
        size = cap if cap is not None else self.symbols.get("cache_size")
        if step is not None and fed is not None and size is not None:
            first = " after the first" if re.search(r"first chunk|after the first|chunk 0", low) else ""
            check = f"{subject} == min({self.ref(fed)} + {step}, {size})"
            if first:
                check = f"implies(chunk > 0, {check})"
            self.add_invariant(f"{subject}_grows_by_{step}", check, f"{path}: {text!r}", kind="state", source=path)
            found = True
        if not found:
            self.prose(f"{subject} {text}", path, desc=f"{path}: {text!r}")

    def expression(self, text: str, known: set[str], tensor: dict | None) -> str | None:
        """`text` as a rule of our language, with streaming symbols (and the tensor's dim symbols) substituted."""
        from contracts.rules import RuleError, compile_rule

        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            return None
        dims = {}
        if tensor is not None:
            dims = {d: ax for ax, d in enumerate(tensor["shape"]) if isinstance(d, str)}

        class Sub(ast.NodeTransformer):
            def visit_Name(s, node: ast.Name) -> ast.AST:  # noqa: N802, N805
                if node.id in known or node.id in ("chunk", "prev"):
                    return node
                if node.id in dims and tensor is not None:
                    return ast.parse(f"shape({self.ref(tensor)}, {dims[node.id]})", mode="eval").body
                if node.id in self.symbols:
                    return ast.Constant(self.symbols[node.id])
                return node

        new = ast.unparse(Sub().visit(tree))
        try:
            rule = compile_rule(new)
        except RuleError:
            return None
        if any(n not in known for n in rule.names):
            return None
        return new

    @staticmethod
    def rule_id(expr: str) -> str:
        ops = {"==": "eq", "!=": "ne", "<=": "le", ">=": "ge", "<": "lt", ">": "gt"}
        tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|==|!=|<=|>=|<|>", expr)
        words = [ops.get(t, t.replace(".", "_")) for t in tokens]
        return "_".join(words)[:60].strip("_") or "rule"

    @staticmethod
    def rule_kind(expr: str) -> str:
        return "state" if "cache" in expr else "invariant"

    def constraints(self) -> None:
        for group, ts in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in ts:
                cons = t.pop("_constraints", [])
                if isinstance(cons, str):
                    cons = [cons]
                if not isinstance(cons, list):
                    self.miss(f"{group}.{t['name']}.constraints", cons)
                    continue
                for i, c in enumerate(cons):
                    if isinstance(c, str):
                        self.prose(c, f"{group}.{t['name']}.constraints[{i}]", tensor=t)
                    else:
                        self.miss(f"{group}.{t['name']}.constraints[{i}]", c)

    # --- tolerances ---------------------------------------------------------------------------------------------
    def tolerances(self) -> None:
        float_outs = [self.ref(t) for t in self.outputs if t["dtype"].startswith(("float", "bfloat"))]
        val = self.doc.get("validation")
        if isinstance(val, dict):
            self.handled.add("validation")
            for k, v in val.items():
                if k == "tolerance" and isinstance(v, dict):
                    per = self.per_output(v, float_outs, "validation.tolerance")
                    if per:
                        self.tolerance_sets.append({"name": "default", "per_output": per})
                        self.ok("validation.tolerance -> tolerance set 'default'")
                else:
                    self.miss(f"validation.{k}", v, "run settings, not part of the contract")
        tol = self.doc.get("tolerances", self.doc.get("tolerance"))
        if tol is None:
            return
        self.handled |= {"tolerances", "tolerance"}
        if not isinstance(tol, dict):
            self.miss("tolerances", tol)
            return
        if any(k in tol for k in ("atol", "rtol")):
            tol = {"default": tol}
        for set_name, spec in tol.items():
            path = f"tolerances.{set_name}"
            if not isinstance(spec, dict):
                self.miss(path, spec)
                continue
            low = set_name.lower()
            backend = backend_patterns(low)
            plain: dict[str, Any] = {}
            by_precision: dict[str, dict[str, float]] = {}
            for k, v in spec.items():
                m = re.match(r"^(?:(fp16|fp32|bf16|tf32|int8)_)?([a-z0-9_]+?)_p(\d+(?:\.\d+)?)_max_abs$", k)
                v = number_like(v) if number_like(v) is not None else v
                if m and isinstance(v, (int, float)):
                    prec, tensor, q = m.group(1), m.group(2), float(m.group(3))
                    if tensor not in float_outs:
                        self.miss(f"{path}.{k}", v, f"{tensor!r} is not an output")
                        continue
                    aid = f"{tensor}_p{m.group(3)}"
                    if prec:
                        by_precision.setdefault(prec, {})[aid] = float(v)
                        self.ok(f"{path}.{k} -> acceptance {aid} threshold {v} for {prec} ({set_name})")
                        if aid not in self.acceptance:
                            self.acceptance[aid] = {"id": aid, "kind": "quantile", "tensor": tensor,
                                                    "metric": "max_abs", "q": q, "threshold": float(v),
                                                    "description": f"P{m.group(3)} of per-chunk {tensor} max-abs "
                                                                   f"(given for {prec} only)"}
                    else:
                        self.acceptance[aid] = {"id": aid, "kind": "quantile", "tensor": tensor, "metric": "max_abs",
                                                "q": q, "threshold": float(v),
                                                "description": f"P{m.group(3)} of per-chunk {tensor} max-abs < {v} "
                                                               f"(seed contract, {set_name})"}
                        self.ok(f"{path}.{k} -> acceptance {aid} (P{m.group(3)} {tensor} max-abs < {v})")
                else:
                    plain[k] = v
            per = self.per_output(plain, float_outs, path) if plain else {}
            if per or by_precision or backend:
                base = {"name": low, "applies_to": backend, "per_output": per}
                named_precisions = sorted(set(re.split(r"[^a-z0-9]+", low)) & {"fp16", "fp32", "bf16", "int8", "tf32"})
                if named_precisions:  # e.g. a set called "trt_fp16"
                    base["precisions"] = named_precisions
                if per:
                    self.tolerance_sets.append(base)
                    self.ok(f"{path} -> tolerance set {low!r}" + (f" for {backend[0]}" if backend else ""))
                for prec, overrides in by_precision.items():
                    self.tolerance_sets.append({"name": f"{low}-{prec}", "applies_to": backend, "precisions": [prec],
                                                "per_output": per, "acceptance_overrides": overrides})
                    self.ok(f"{path} ({prec}_*) -> tolerance set '{low}-{prec}' with acceptance overrides")
        if self.tolerance_sets and not any(not ts.get("applies_to") and not ts.get("precisions")
                                           for ts in self.tolerance_sets):
            src = next((ts for ts in self.tolerance_sets if ts["per_output"]), None)
            if src is not None:
                self.tolerance_sets.insert(0, {"name": "default", "per_output": dict(src["per_output"])})
                self.ok(f"tolerance set 'default' = a copy of {src['name']!r}'s element-wise tolerances (the seed "
                        "contract gives other backends none)")
        for ts in self.tolerance_sets:  # a set without element-wise tolerances inherits the default's
            if not ts["per_output"] and self.tolerance_sets[0]["per_output"]:
                ts["per_output"] = dict(self.tolerance_sets[0]["per_output"])

    def per_output(self, spec: dict, float_outs: list[str], path: str) -> dict[str, dict]:
        """``{atol, rtol, <tensor>_atol, <tensor>_rtol}`` → per-output tolerances (global values for every output)."""
        per: dict[str, dict] = {}
        spec = {k: (number_like(v) if number_like(v) is not None else v) for k, v in spec.items()}
        for alias in ("default_atol", "default_rtol", "global_atol", "global_rtol"):  # the whole-model schema's words
            if alias in spec and alias.split("_")[1] not in spec:
                spec[alias.split("_")[1]] = spec.pop(alias)
                self.ok(f"{path}.{alias} -> {alias.split('_')[1]} of every output")
        glob = {k: spec[k] for k in ("atol", "rtol") if isinstance(spec.get(k), (int, float))}
        if glob:
            for o in float_outs:
                per[o] = {"atol": float(glob.get("atol", 0.0)), "rtol": float(glob.get("rtol", 0.0))}
        for k, v in spec.items():
            if k in ("atol", "rtol"):
                if k not in glob:
                    self.miss(f"{path}.{k}", v, "not a number")
                continue
            m = re.match(r"^([a-z0-9_]+?)_(atol|rtol)$", k)
            target = None
            if m:
                base = m.group(1)
                for cand in (base, f"{base}_out", NEMO_TO_REF.get(base, "")):
                    if cand in float_outs:
                        target = cand
                        break
            if target is None or not isinstance(v, (int, float)):
                self.miss(f"{path}.{k}", v, "no output of that name" if m else "")
                continue
            per.setdefault(target, {"atol": float(glob.get("atol", 0.0)), "rtol": float(glob.get("rtol", 0.0))})
            per[target][m.group(2)] = float(v)
            self.ok(f"{path}.{k} -> {target} {m.group(2)} {v}")
        # Drop zero rtol for readability (the model's default).
        return {k: ({"atol": t["atol"]} if not t.get("rtol") else t) for k, t in per.items()}
