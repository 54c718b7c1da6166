"""The contract's invariant language: small expressions over a chunk's tensors, parsed and walked, never `eval`ed.

A rule is one Python-syntax expression, e.g. ``encoded_lengths == 3``, ``finite(encoder_output)``,
``saturates(cache_last_channel_len_out, 256)`` or
``implies(chunk > 0, cache_last_channel_len_out == min(cache_last_channel_len + 3, 256))``.
`compile_rule` parses it with `ast.parse(mode="eval")` and accepts only a whitelist:

- numbers, ``True``/``False``, tuples of expressions;
- names: a tensor's reference name (its numpy value on this chunk), ``chunk`` (the chunk index),
  ``prev.<name>`` (the tensor on the previous chunk of the same stream);
- ``+ - * / // %``, unary ``-``/``+``, ``not``, ``and``, ``or``;
- comparisons ``== != < <= > >=``, chained too; comparisons over arrays hold when they hold for every element;
- calls to ``min, max, abs, all, any, finite, shape, numel, mean, implies, nondecreasing, saturates``;
- ``shape(x)[i]`` (the only subscript).

Anything else (attribute access other than ``prev.<name>``, other subscripts, strings, lambdas, comprehensions,
``**``, conditional expressions, keyword arguments …) is a `RuleError` naming the construct and its column.

`Rule.evaluate(env)` returns a `RuleResult`: ``ok`` is True/False, or None when the rule could not apply (it uses
``prev.`` on a stream's first chunk, or a tensor it names is absent); ``detail`` is a sentence with the actual
values, e.g. ``cache_last_channel_len_out == 0 failed: cache_last_channel_len_out = [4]``.

The module also holds the two contract helpers the engine needs per chunk: `tolerance_for` and
`tightening_triggered`.
"""

from __future__ import annotations

import ast
import difflib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from contracts.errors import ContractError
from contracts.model import EXACT_TOLERANCE, Contract, Tolerance

# ---------------------------------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------------------------------

FUNCTIONS: dict[str, tuple[int, int]] = {
    # name -> (min args, max args); max -1 = any number >= min
    "min": (1, -1),
    "max": (1, -1),
    "abs": (1, 1),
    "all": (1, 1),
    "any": (1, 1),
    "finite": (1, 1),
    "shape": (1, 2),
    "numel": (1, 1),
    "mean": (1, 1),
    "implies": (2, 2),
    "nondecreasing": (1, 1),
    "saturates": (2, 2),
}
"""The functions a rule may call, with their argument counts."""

RESERVED_NAMES: frozenset[str] = frozenset({"chunk", "prev", *FUNCTIONS})
"""Names with a meaning of their own; every other name in a rule is a tensor's reference name."""

_ALLOWED = ("numbers, tensor names, chunk, prev.<name>, + - * / // %, unary -, not/and/or, comparisons "
            "(== != < <= > >=), tuples, shape(x)[i] and calls to " + ", ".join(FUNCTIONS))


class RuleError(ContractError):
    """A rule does not parse or uses something outside the language.

    Attributes:
        text: The rule as written.
        reason: What is wrong, without the rule text (the loader prefixes the key path).
        column: 1-based column of the offending construct, or None.
    """

    def __init__(self, text: str, reason: str, column: int | None = None) -> None:
        self.text = text
        self.reason = reason
        self.column = column
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"rule {text!r}: {reason}{where}")

    @property
    def short(self) -> str:
        """The reason and the column, for messages that already quote the rule's location."""
        where = f" (column {self.column})" if self.column is not None else ""
        return f"{self.reason}{where}"


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one chunk.

    Attributes:
        ok: True if the rule holds, False if it does not, None if it did not apply (first chunk for a rule using
            ``prev.``, or a tensor it names is absent).
        detail: One sentence a user understands, with the actual values.
        values: The values the rule used, by name as written (``"prev.x"`` for previous-chunk values), made JSON
            friendly: numbers, short lists, or a summary ``{"dtype", "shape", "min", "max", "nonfinite"}``.
    """

    ok: bool | None
    detail: str
    values: Mapping[str, Any] = field(default_factory=dict)
    undecided: bool = False
    """The rule applied but could not be decided: a value it must judge is an empty tensor (``ok`` is None). Unlike
    "does not apply" (first chunk, absent tensor), this makes the rule undetermined for the run."""

    def __bool__(self) -> bool:
        """True unless the rule failed (a skipped rule is not a failure)."""
        return self.ok is not False

    @property
    def skipped(self) -> bool:
        return self.ok is None


class _Missing(Exception):
    """A name the rule uses is absent from the environment (or prev is None): the rule does not apply."""


class _EvalFailure(Exception):
    """The expression could not be computed on these values (shape mismatch, division by zero, bad axis …)."""


class _Empty(Exception):
    """The rule must judge an empty tensor: "every element holds" would hold vacuously, so it is not decided."""


# ---------------------------------------------------------------------------------------------------------------------
# Formatting values for details
# ---------------------------------------------------------------------------------------------------------------------

_SHORT = 8  # arrays with at most this many elements are printed in full


def _fmt_scalar(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return format(f, ".6g")
    return repr(x)


def fmt_value(v: Any, light: bool = False) -> str:
    """A value as a user reads it in a detail: ``4``, ``[4]``, ``(1, 64, 3)``, or a summary of a large array
    (with min/max/non-finite counts unless `light`: a passing rule need not scan a 6-million-element cache)."""
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt_scalar(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return _fmt_scalar(v.item())
        if v.size <= _SHORT:
            return _nested(v.tolist())
        if light:
            return f"{v.dtype} array of shape [{', '.join(map(str, v.shape))}]"
        return _summary_text(v)
    return _fmt_scalar(v)


def _nested(x: Any) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(e) for e in x) + "]"
    return _fmt_scalar(x)


def _stats(v: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": str(v.dtype), "shape": list(v.shape)}
    if v.size == 0:
        return out
    if v.dtype.kind in "fc":
        finite = np.isfinite(v)
        n_bad = int(v.size - np.count_nonzero(finite))
        vals = v[finite] if n_bad else v
        if vals.size:
            out["min"] = float(vals.min())
            out["max"] = float(vals.max())
        out["nonfinite"] = n_bad
        if n_bad:
            out["nan"] = int(np.count_nonzero(np.isnan(v)))
    elif v.dtype.kind in "iub":
        out["min"] = int(v.min())
        out["max"] = int(v.max())
    return out


def _summary_text(v: np.ndarray) -> str:
    s = _stats(v)
    parts = [f"{s['dtype']} array of shape [{', '.join(map(str, s['shape']))}]"]
    extra = []
    if "min" in s:
        extra.append(f"min {_fmt_scalar(s['min'])}, max {_fmt_scalar(s['max'])}")
    if s.get("nonfinite"):
        nan = s.get("nan", 0)
        extra.append(f"{s['nonfinite']} non-finite ({nan} NaN, {s['nonfinite'] - nan} infinite)")
    return parts[0] + (f" ({'; '.join(extra)})" if extra else "")


def _jsonable(v: Any, full: bool) -> Any:
    """A JSON-friendly rendering of a value; large arrays become a summary (with statistics only if `full`)."""
    if isinstance(v, tuple):
        return [_jsonable(x, full) for x in v]
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return v.item()
        if v.size <= _SHORT:
            return v.tolist()
        return _stats(v) if full else {"dtype": str(v.dtype), "shape": list(v.shape)}
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation helpers
# ---------------------------------------------------------------------------------------------------------------------


def _truth(v: Any) -> bool:
    """Truth of a value: arrays hold when every element does; an empty array decides nothing (`_Empty`)."""
    if isinstance(v, np.ndarray):
        if v.size == 0:
            raise _Empty("an empty tensor")
        return bool(np.all(v))
    if isinstance(v, tuple):
        return all(_truth(x) for x in v) if v else False
    return bool(v)


def _nonempty(v: Any, src: str) -> Any:
    if isinstance(v, np.ndarray) and v.size == 0:
        raise _Empty(f"{src} is empty")
    return v


def _as_array(v: Any) -> Any:
    if isinstance(v, tuple):
        return np.asarray(v)
    return v


_CMP: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Eq: ("==", np.equal),
    ast.NotEq: ("!=", np.not_equal),
    ast.Lt: ("<", np.less),
    ast.LtE: ("<=", np.less_equal),
    ast.Gt: (">", np.greater),
    ast.GtE: (">=", np.greater_equal),
}


def _compare(op: type, a: Any, b: Any) -> Any:
    """Elementwise comparison (numpy broadcasting); tuples compare as wholes for == and !=."""
    if isinstance(a, tuple) and isinstance(b, tuple) and op in (ast.Eq, ast.NotEq):
        return (a == b) if op is ast.Eq else (a != b)
    a, b = _as_array(a), _as_array(b)
    try:
        sa, sb = np.shape(a), np.shape(b)
        np.broadcast_shapes(sa, sb)
    except ValueError:
        if op in (ast.Eq, ast.NotEq):
            # Different shapes are simply unequal for == / != (e.g. comparing two shape tuples of different rank).
            return op is ast.NotEq
        raise _EvalFailure(f"cannot compare values of shapes {list(np.shape(a))} and {list(np.shape(b))}") from None
    with np.errstate(invalid="ignore"):
        return _CMP[op][1](a, b)


_BIN: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.Div: ("/", lambda a, b: a / b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}


def _arith(op: type, a: Any, b: Any) -> Any:
    if isinstance(a, tuple) or isinstance(b, tuple):
        raise _EvalFailure(f"arithmetic '{_BIN[op][0]}' on a shape tuple; index it first, e.g. shape(x)[0]")
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        a, b = (int(a) if isinstance(a, (bool, np.bool_)) else a), (int(b) if isinstance(b, (bool, np.bool_)) else b)
    try:
        with np.errstate(all="ignore"):
            return _BIN[op][1](a, b)
    except ZeroDivisionError:
        raise _EvalFailure("division by zero") from None
    except ValueError as exc:  # numpy broadcasting
        raise _EvalFailure(f"'{_BIN[op][0]}' on values of shapes {list(np.shape(a))} and {list(np.shape(b))}: "
                           f"{exc}") from None


# ---------------------------------------------------------------------------------------------------------------------
# The compiled tree
# ---------------------------------------------------------------------------------------------------------------------


class _Ctx:
    """What a rule sees on one chunk."""

    __slots__ = ("env", "prev", "chunk", "seen")

    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env
        self.prev = env.get("prev")
        self.chunk = env.get("chunk")
        self.seen: dict[str, Any] = {}

    def tensor(self, name: str) -> Any:
        if name not in self.env:
            raise _Missing(f"tensor {name!r} is not in this chunk")
        v = self.env[name]
        v = v if isinstance(v, (int, float, bool, np.ndarray)) else np.asarray(v)
        self.seen.setdefault(name, v)
        return v

    def prev_tensor(self, name: str) -> Any:
        if self.prev is None:
            raise _Missing("there is no previous chunk")
        if name not in self.prev:
            raise _Missing(f"tensor {name!r} is not in the previous chunk")
        v = self.prev[name]
        v = v if isinstance(v, (int, float, bool, np.ndarray)) else np.asarray(v)
        self.seen.setdefault(f"prev.{name}", v)
        return v

    def chunk_index(self) -> int:
        if self.chunk is None:
            raise _Missing("the chunk index is not known")
        self.seen.setdefault("chunk", self.chunk)
        return int(self.chunk)


class _Node:
    """One compiled construct. `value` computes it; `explain` says why it is false (for boolean nodes)."""

    src: str = ""

    def value(self, ctx: _Ctx) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def children(self) -> tuple[_Node, ...]:
        return ()

    def walk(self) -> Iterator[_Node]:
        yield self
        for c in self.children():
            yield from c.walk()

    @property
    def is_leaf(self) -> bool:
        return False

    def explain(self, ctx: _Ctx) -> str:
        """Why this (false) node is false: its text, 'failed:', the names it uses and their values."""
        return f"{self.src} failed: {_values_text(self, ctx)}"


def _values_text(node: _Node, ctx: _Ctx, extra: list[_Node] | None = None, light: bool = False) -> str:
    """``a = [4], prev.a = [1]; min(a + 3, 256) = [7]`` for the names (and given non-trivial sub-expressions)."""
    parts: list[str] = []
    seen: set[str] = set()
    for n in node.walk():
        key = n.key if isinstance(n, (_Name, _Prev, _Chunk)) else None
        if key is None or key in seen:
            continue
        seen.add(key)
        try:
            parts.append(f"{key} = {fmt_value(n.value(ctx), light)}")
        except (_Missing, _EvalFailure):
            continue
    text = ", ".join(parts) if parts else "no tensor values involved"
    more = []
    for e in extra or []:
        if e.is_leaf:
            continue
        try:
            more.append(f"{e.src} = {fmt_value(e.value(ctx), light)}")
        except (_Missing, _EvalFailure):
            continue
    return text + ("; " + ", ".join(more) if more else "")


class _Const(_Node):
    def __init__(self, v: Any, src: str) -> None:
        self.v, self.src = v, src

    def value(self, ctx: _Ctx) -> Any:
        return self.v

    @property
    def is_leaf(self) -> bool:
        return True


class _Name(_Node):
    def __init__(self, name: str, src: str) -> None:
        self.name, self.src, self.key = name, src, name

    def value(self, ctx: _Ctx) -> Any:
        return ctx.tensor(self.name)

    @property
    def is_leaf(self) -> bool:
        return True


class _Prev(_Node):
    def __init__(self, name: str, src: str) -> None:
        self.name, self.src, self.key = name, src, f"prev.{name}"

    def value(self, ctx: _Ctx) -> Any:
        return ctx.prev_tensor(self.name)

    @property
    def is_leaf(self) -> bool:
        return True


class _Chunk(_Node):
    key = "chunk"

    def __init__(self, src: str) -> None:
        self.src = src

    def value(self, ctx: _Ctx) -> Any:
        return ctx.chunk_index()

    @property
    def is_leaf(self) -> bool:
        return True


class _Tuple(_Node):
    def __init__(self, items: list[_Node], src: str) -> None:
        self.items, self.src = items, src

    def children(self) -> tuple[_Node, ...]:
        return tuple(self.items)

    def value(self, ctx: _Ctx) -> Any:
        out = []
        for it in self.items:
            v = it.value(ctx)
            if isinstance(v, np.ndarray):
                if v.size != 1:
                    raise _EvalFailure(f"a tuple element must be a single number; {it.src} has {v.size} elements")
                v = v.reshape(()).item()
            out.append(v)
        return tuple(out)


class _BinOp(_Node):
    def __init__(self, op: type, left: _Node, right: _Node, src: str) -> None:
        self.op, self.left, self.right, self.src = op, left, right, src

    def children(self) -> tuple[_Node, ...]:
        return (self.left, self.right)

    def value(self, ctx: _Ctx) -> Any:
        return _arith(self.op, self.left.value(ctx), self.right.value(ctx))


class _Neg(_Node):
    def __init__(self, operand: _Node, sign: int, src: str) -> None:
        self.operand, self.sign, self.src = operand, sign, src

    def children(self) -> tuple[_Node, ...]:
        return (self.operand,)

    def value(self, ctx: _Ctx) -> Any:
        v = self.operand.value(ctx)
        if isinstance(v, tuple):
            raise _EvalFailure("unary minus on a shape tuple")
        if isinstance(v, (bool, np.bool_)):
            v = int(v)
        return -v if self.sign < 0 else v


class _Not(_Node):
    def __init__(self, operand: _Node, src: str) -> None:
        self.operand, self.src = operand, src

    def children(self) -> tuple[_Node, ...]:
        return (self.operand,)

    def value(self, ctx: _Ctx) -> Any:
        return not _truth(self.operand.value(ctx))

    def explain(self, ctx: _Ctx) -> str:
        return f"{self.src} failed: {self.operand.src} holds ({_values_text(self.operand, ctx)})"


class _BoolOp(_Node):
    def __init__(self, is_and: bool, values: list[_Node], src: str) -> None:
        self.is_and, self.values, self.src = is_and, values, src

    def children(self) -> tuple[_Node, ...]:
        return tuple(self.values)

    def value(self, ctx: _Ctx) -> Any:
        if self.is_and:
            return all(_truth(v.value(ctx)) for v in self.values)
        return any(_truth(v.value(ctx)) for v in self.values)

    def explain(self, ctx: _Ctx) -> str:
        if self.is_and:
            for v in self.values:
                if not _truth(v.value(ctx)):
                    return v.explain(ctx)
            return super().explain(ctx)
        return "none of the alternatives holds: " + "; ".join(v.explain(ctx) for v in self.values)


class _Compare(_Node):
    def __init__(self, left: _Node, ops: list[type], comparators: list[_Node], src: str) -> None:
        self.left, self.ops, self.comparators, self.src = left, ops, comparators, src

    def children(self) -> tuple[_Node, ...]:
        return (self.left, *self.comparators)

    def _links(self, ctx: _Ctx) -> Iterator[tuple[_Node, type, _Node, Any, Any, Any]]:
        a_node, a = self.left, self.left.value(ctx)
        for op, b_node in zip(self.ops, self.comparators):
            b = b_node.value(ctx)
            yield a_node, op, b_node, a, b, _compare(op, a, b)
            a_node, a = b_node, b

    def value(self, ctx: _Ctx) -> Any:
        # Elementwise result (so any(x > 2) works); truth is taken with all() where a boolean is needed.
        out: Any = True
        for *_, r in self._links(ctx):
            if isinstance(r, np.ndarray) or isinstance(out, np.ndarray):
                try:
                    out = np.logical_and(out, r)
                except ValueError:
                    out = _truth(out) and _truth(r)
            else:
                out = bool(out) and bool(r)
        return out

    def explain(self, ctx: _Ctx) -> str:
        for a_node, op, b_node, a, b, r in self._links(ctx):
            if _truth(r):
                continue
            link = f"{a_node.src} {_CMP[op][0]} {b_node.src}"
            text = f"{link} failed: {_values_text(_Tuple([a_node, b_node], link), ctx, [a_node, b_node])}"
            r = np.asarray(r)
            if r.size > 1:
                bad = np.argwhere(~r.astype(bool))
                first = tuple(int(i) for i in bad[0])
                ab = np.broadcast_arrays(np.asarray(_as_array(a)), np.asarray(_as_array(b)))
                text += (f" (fails at {len(bad)} of {r.size} elements; first at index [{', '.join(map(str, first))}]:"
                         f" {fmt_value(ab[0][first])} vs {fmt_value(ab[1][first])})")
            return text
        return super().explain(ctx)


class _Subscript(_Node):
    def __init__(self, target: _Node, index: int, src: str) -> None:
        self.target, self.index, self.src = target, index, src

    def children(self) -> tuple[_Node, ...]:
        return (self.target,)

    def value(self, ctx: _Ctx) -> Any:
        shp = self.target.value(ctx)
        try:
            return shp[self.index]
        except IndexError:
            raise _EvalFailure(f"{self.src}: index {self.index} is out of range for shape {fmt_value(shp)}") from None


class _Call(_Node):
    def __init__(self, fn: str, args: list[_Node], src: str) -> None:
        self.fn, self.args, self.src = fn, args, src

    def children(self) -> tuple[_Node, ...]:
        return tuple(self.args)

    # --- values -----------------------------------------------------------------------------------------------
    def value(self, ctx: _Ctx) -> Any:
        fn, args = self.fn, self.args
        if fn == "implies":
            return (not _truth(args[0].value(ctx))) or _truth(args[1].value(ctx))
        if fn == "nondecreasing":
            cur, prev = args[0].value(ctx), ctx.prev_tensor(args[0].name)  # type: ignore[attr-defined]
            return _truth(_compare(ast.GtE, cur, prev))
        if fn == "saturates":
            return self._saturates(ctx)[0]
        vals = [a.value(ctx) for a in args]
        if fn in ("min", "max"):
            return self._minmax(vals)
        x = vals[0]
        if fn == "abs":
            if isinstance(x, tuple):
                raise _EvalFailure("abs() of a shape tuple")
            return np.abs(x) if isinstance(x, np.ndarray) else abs(x)
        if fn == "all":
            return _truth(x)
        if fn == "any":
            return bool(np.any(_nonempty(_as_array(x), args[0].src)))
        if fn == "finite":
            return bool(np.all(np.isfinite(_nonempty(_as_array(x), args[0].src))))
        if fn == "numel":
            return int(np.size(_as_array(x)))
        if fn == "mean":
            arr = np.asarray(_as_array(x), dtype=np.float64)
            if arr.size == 0:
                raise _EvalFailure(f"mean of an empty value ({args[0].src})")
            return float(arr.mean())
        if fn == "shape":
            shp = tuple(int(d) for d in np.shape(_as_array(x)))
            if len(vals) == 1:
                return shp
            axis = vals[1]
            if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
                raise _EvalFailure(f"the axis of {self.src} must be an integer, got {fmt_value(axis)}")
            if not -len(shp) <= int(axis) < len(shp):
                raise _EvalFailure(f"{self.src}: axis {int(axis)} is out of range for {args[0].src} of shape "
                                   f"{fmt_value(shp)}")
            return shp[int(axis)]
        raise AssertionError(fn)  # pragma: no cover - compile_rule admits only FUNCTIONS

    def _minmax(self, vals: list[Any]) -> Any:
        reduce_one, pairwise = (np.min, np.minimum) if self.fn == "min" else (np.max, np.maximum)
        if len(vals) == 1:
            x = vals[0]
            if isinstance(x, tuple):
                if not x:
                    raise _EvalFailure(f"{self.fn}() of an empty tuple")
                return min(x) if self.fn == "min" else max(x)
            if isinstance(x, np.ndarray):
                if x.size == 0:
                    raise _EvalFailure(f"{self.fn}() of an empty tensor ({self.args[0].src})")
                return reduce_one(x)
            return x
        if any(isinstance(v, tuple) for v in vals):
            raise _EvalFailure(f"{self.fn}() of several values cannot take a shape tuple")
        if any(isinstance(v, np.ndarray) for v in vals):
            out = vals[0]
            for v in vals[1:]:
                try:
                    out = pairwise(out, v)
                except ValueError as exc:
                    raise _EvalFailure(f"{self.src}: {exc}") from None
            return out
        return min(vals) if self.fn == "min" else max(vals)

    def _saturates(self, ctx: _Ctx) -> tuple[bool, str]:
        name = self.args[0].name  # type: ignore[attr-defined]
        cur = self.args[0].value(ctx)
        prev = ctx.prev_tensor(name)
        n = self.args[1].value(ctx)
        cur_a, prev_a = np.asarray(cur), np.asarray(prev)
        try:
            over = cur_a > n
            dropped = (prev_a < n) & (cur_a < prev_a)
            left = (prev_a >= n) & (cur_a != n)
        except ValueError as exc:
            raise _EvalFailure(f"{self.src}: {exc}") from None
        if np.any(over):
            return False, f"{name} = {fmt_value(cur)} is above its saturation value {fmt_value(n)}"
        if np.any(dropped):
            return False, (f"{name} went down from {fmt_value(prev)} to {fmt_value(cur)} before reaching "
                           f"{fmt_value(n)} (it must not decrease until it reaches {fmt_value(n)})")
        if np.any(left):
            return False, (f"{name} left its saturation value: {fmt_value(prev)} on the previous chunk, "
                           f"{fmt_value(cur)} now (once at {fmt_value(n)} it must stay there)")
        return True, ""

    # --- explanations -----------------------------------------------------------------------------------------
    def explain(self, ctx: _Ctx) -> str:
        fn, args = self.fn, self.args
        if fn == "implies":
            # The consequent's own explanation starts with its text; say only why it was required.
            return f"{args[0].src} holds, so " + args[1].explain(ctx)
        if fn == "nondecreasing":
            name = args[0].name  # type: ignore[attr-defined]
            return (f"{self.src} failed: {name} went down from {fmt_value(ctx.prev_tensor(name))} to "
                    f"{fmt_value(args[0].value(ctx))}")
        if fn == "saturates":
            ok, why = self._saturates(ctx)
            return f"{self.src} failed: {why}" if not ok else super().explain(ctx)
        if fn == "finite":
            x = np.asarray(_as_array(args[0].value(ctx)))
            bad = ~np.isfinite(x)
            n_bad, n_nan = int(np.count_nonzero(bad)), int(np.count_nonzero(np.isnan(x)))
            first = tuple(int(i) for i in np.argwhere(bad)[0]) if n_bad else ()
            return (f"{self.src} failed: {args[0].src} has {n_bad} non-finite value{'s' if n_bad != 1 else ''} of "
                    f"{x.size} ({n_nan} NaN, {n_bad - n_nan} infinite), the first at index "
                    f"[{', '.join(map(str, first))}]")
        if fn in ("all", "any"):
            return f"{self.src} failed: {_values_text(self, ctx, [args[0]])}"
        return super().explain(ctx)


# ---------------------------------------------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------------------------------------------

_CONSTRUCT_NAMES: dict[type, str] = {
    ast.Lambda: "a lambda", ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression", ast.IfExp:
    "a conditional expression (a if c else b); use implies(c, a)", ast.Dict: "a dict", ast.Set: "a set",
    ast.List: "a list (use a tuple)", ast.Starred: "a starred expression", ast.NamedExpr: "an assignment (:=)",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string", ast.Slice: "a slice",
}

_OP_NAMES: dict[type, str] = {
    ast.Pow: "'**'", ast.MatMult: "'@'", ast.BitAnd: "'&' (use 'and')", ast.BitOr: "'|' (use 'or')",
    ast.BitXor: "'^'", ast.LShift: "'<<'", ast.RShift: "'>>'", ast.Invert: "'~' (use 'not')",
    ast.Is: "'is' (use '==')", ast.IsNot: "'is not' (use '!=')", ast.In: "'in'", ast.NotIn: "'not in'",
}


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, node: ast.AST | None, reason: str) -> RuleError:
        col = getattr(node, "col_offset", None)
        return RuleError(self.text, reason, None if col is None else col + 1)

    def src(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ast.unparse(node)

    def build(self, node: ast.AST) -> _Node:
        src = self.src(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or (isinstance(v, (int, float)) and not isinstance(v, complex)):
                return _Const(v, src)
            if isinstance(v, str):
                raise self.fail(node, f"strings are not allowed ({src})")
            raise self.fail(node, f"the constant {src} is not allowed; only numbers and True/False")
        if isinstance(node, ast.Name):
            if node.id == "chunk":
                return _Chunk(src)
            if node.id == "prev":
                raise self.fail(node, "'prev' must be followed by a tensor name, e.g. prev.cache_last_channel_len_out")
            if node.id in FUNCTIONS:
                raise self.fail(node, f"{node.id} is a function; call it, e.g. {node.id}(x)")
            if node.id.startswith("__"):
                raise self.fail(node, f"the name {node.id!r} is not allowed")
            return _Name(node.id, src)
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "prev"):
                raise self.fail(node, f"attribute access ({src}) is not allowed; only prev.<tensor name>")
            if node.attr.startswith("_"):
                raise self.fail(node, f"the attribute {node.attr!r} is not allowed; only prev.<tensor name>")
            if node.attr in RESERVED_NAMES:
                raise self.fail(node, f"prev.{node.attr} is not a tensor; prev.<tensor name> only")
            return _Prev(node.attr, src)
        if isinstance(node, ast.Tuple):
            return _Tuple([self.build(e) for e in node.elts], src)
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BIN:
                raise self.fail(node, f"the operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)} is not "
                                      "allowed; allowed: + - * / // %")
            return _BinOp(type(node.op), self.build(node.left), self.build(node.right), src)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return _Not(self.build(node.operand), src)
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                return _Neg(self.build(node.operand), -1 if isinstance(node.op, ast.USub) else 1, src)
            raise self.fail(node, f"the operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)} is not "
                                  "allowed; allowed: unary -, not")
        if isinstance(node, ast.BoolOp):
            return _BoolOp(isinstance(node.op, ast.And), [self.build(v) for v in node.values], src)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _CMP:
                    raise self.fail(node, f"the comparison {_OP_NAMES.get(type(op), type(op).__name__)} is not "
                                          "allowed; allowed: == != < <= > >=")
            return _Compare(self.build(node.left), [type(o) for o in node.ops],
                            [self.build(c) for c in node.comparators], src)
        if isinstance(node, ast.Call):
            return self.call(node, src)
        if isinstance(node, ast.Subscript):
            ok_target = (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                         and node.value.func.id == "shape" and len(node.value.args) == 1)
            if not ok_target:
                raise self.fail(node, f"the subscript {src} is not allowed; only shape(x)[i] (or shape(x, axis))")
            idx = self.int_constant(node.slice)
            if idx is None:
                raise self.fail(node, f"the index in {src} must be an integer constant")
            return _Subscript(self.build(node.value), idx, src)
        name = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        raise self.fail(node, f"{name} is not allowed; allowed: {_ALLOWED}")

    @staticmethod
    def int_constant(node: ast.AST) -> int | None:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return sign * node.value
        return None

    def call(self, node: ast.Call, src: str) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only the functions {', '.join(FUNCTIONS)} may be called ({src})")
        fn = node.func.id
        if fn not in FUNCTIONS:
            close = difflib.get_close_matches(fn, FUNCTIONS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise self.fail(node, f"unknown function {fn!r}; allowed: {', '.join(FUNCTIONS)}{hint}")
        if node.keywords:
            raise self.fail(node, f"{fn}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, f"{fn}() takes no *arguments")
        lo, hi = FUNCTIONS[fn]
        n = len(node.args)
        if n < lo or (hi >= 0 and n > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi < 0 else f"{lo} or {hi}")
            raise self.fail(node, f"{fn}() takes {want} argument{'s' if want != '1' else ''}, got {n}")
        if fn in ("nondecreasing", "saturates") and not isinstance(node.args[0], ast.Name):
            raise self.fail(node, f"the first argument of {fn}() must be a tensor name, got {self.src(node.args[0])}")
        if fn == "shape" and n == 2 and self.int_constant(node.args[1]) is None:
            raise self.fail(node, f"the axis in {src} must be an integer constant")
        args = [self.build(a) for a in node.args]
        if fn in ("nondecreasing", "saturates") and not isinstance(args[0], _Name):
            raise self.fail(node, f"the first argument of {fn}() must be a tensor name")
        return _Call(fn, args, src)


@dataclass(frozen=True, eq=False)
class Rule:
    """A compiled rule. Build with `compile_rule`.

    Attributes:
        text: The expression as written.
        names: Reference names of every tensor it uses (current and previous chunk), in order of appearance.
        prev_names: The tensors it reads from the previous chunk (``prev.x``, ``nondecreasing(x)``, ``saturates``).
        uses_chunk: Whether it uses ``chunk``.
    """

    text: str
    names: tuple[str, ...]
    prev_names: tuple[str, ...]
    uses_chunk: bool
    _root: _Node = field(repr=False)

    @property
    def uses_prev(self) -> bool:
        return bool(self.prev_names)

    def evaluate(self, env: Mapping[str, Any]) -> RuleResult:
        """Evaluate on one chunk.

        Args:
            env: Tensor values by reference name (inputs and outputs of the chunk), ``chunk`` (index) and ``prev``
                (the previous chunk's tensors by reference name, or None on a stream's first chunk).

        Returns:
            The result; ``ok`` is None when the rule does not apply (uses ``prev.`` and there is no previous chunk,
            or a tensor it names is absent) and when it cannot be decided (``undecided``: an empty tensor).
        """
        ctx = _Ctx(env)
        if self.prev_names and ctx.prev is None:
            return RuleResult(None, f"{self.text}: not evaluated on a stream's first chunk (it compares with the "
                                    "previous chunk)", {})
        try:
            ok = _truth(self._root.value(ctx))
        except _Missing as exc:
            return RuleResult(None, f"{self.text}: not evaluated: {exc}", self._values(ctx, False))
        except _EvalFailure as exc:
            return RuleResult(False, f"{self.text} could not be evaluated: {exc}", self._values(ctx, True))
        except _Empty:
            empty = [k for k, v in ctx.seen.items() if isinstance(v, np.ndarray) and v.size == 0]
            what = ", ".join(f"{k} (shape {list(ctx.seen[k].shape)})" for k in empty) or "a value it compares"
            return RuleResult(None, f"{self.text}: not decided: {what} is empty, so the rule would hold vacuously",
                              self._values(ctx, False), undecided=True)
        if ok:
            return RuleResult(True, f"{self.text} holds: {_values_text(self._root, ctx, light=True)}",
                              self._values(ctx, False))
        try:
            detail = self._root.explain(ctx)
        except (_Missing, _EvalFailure) as exc:  # pragma: no cover - explain re-walks what value() already did
            detail = f"{self.text} failed ({exc})"
        return RuleResult(False, detail, self._values(ctx, True))

    def _values(self, ctx: _Ctx, full: bool) -> dict[str, Any]:
        return {k: _jsonable(v, full) for k, v in ctx.seen.items()}

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"


@lru_cache(maxsize=1024)
def compile_rule(text: str) -> Rule:
    """Parse and check a rule.

    Args:
        text: The expression, e.g. ``"encoded_lengths == 3"``.

    Returns:
        The compiled rule (cached: the same text gives the same object).

    Raises:
        RuleError: It does not parse, or uses a construct outside the language (the message names it and its column).
    """
    if not isinstance(text, str):
        raise RuleError(repr(text), "a rule must be a string")
    stripped = text.strip()
    if not stripped:
        raise RuleError(text, "the rule is empty")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise RuleError(text, f"not a valid expression ({exc.msg})", exc.offset) from None
    comp = _Compiler(stripped)
    root = comp.build(tree.body)
    names: list[str] = []
    prev_names: list[str] = []
    uses_chunk = False
    for node in root.walk():
        if isinstance(node, _Name) and node.name not in names:
            names.append(node.name)
        elif isinstance(node, _Prev):
            if node.name not in names:
                names.append(node.name)
            if node.name not in prev_names:
                prev_names.append(node.name)
        elif isinstance(node, _Chunk):
            uses_chunk = True
        elif isinstance(node, _Call) and node.fn in ("nondecreasing", "saturates"):
            nm = node.args[0].name  # type: ignore[attr-defined]
            if nm not in prev_names:
                prev_names.append(nm)
    return Rule(stripped, tuple(names), tuple(prev_names), uses_chunk, root)


# ---------------------------------------------------------------------------------------------------------------------
# Contract helpers the engine uses per chunk
# ---------------------------------------------------------------------------------------------------------------------

EXACT = EXACT_TOLERANCE
"""The tolerance of an output no set mentions: exact equality (`contracts.model.EXACT_TOLERANCE`)."""


# The resolvers live on `Contract` (`tolerance_for`, `threshold_for`, `tolerance_sets_for`); these names delegate so
# that every caller resolves through the one place.
def tolerance_for(contract: Contract, ref_name: str, backend: str = "", precision: str = "",
                  tightened: bool = False) -> Tolerance:
    """`Contract.tolerance_for`."""
    return contract.tolerance_for(ref_name, backend, precision, tightened)


def matching_tolerance_sets(contract: Contract, backend: str = "", precision: str = "") -> list:
    """`Contract.tolerance_sets_for`, as a list."""
    return list(contract.tolerance_sets_for(backend, precision))


def acceptance_threshold(contract: Contract, acceptance_id: str, backend: str = "", precision: str = "") -> float:
    """`Contract.threshold_for`."""
    return contract.threshold_for(acceptance_id, backend, precision)


def tightening_triggered(contract: Contract, env: Mapping[str, Any]) -> list[str]:
    """The tightening conditions that hold on this chunk (the seed report's re-validation triggers).

    Args:
        contract: The contract.
        env: As for `Rule.evaluate`.

    Returns:
        The `when` expressions that hold, as written; conditions that do not apply (first chunk, absent tensor) do
        not count. Empty if the contract has no tightening.
    """
    if contract.tightening is None:
        return []
    fired = []
    for text in contract.tightening.when:
        if compile_rule(text).evaluate(env).ok is True:
            fired.append(text)
    return fired
