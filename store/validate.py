"""Checks on reference lines: one chunk against the contract, and each line against the lines before it.

`ContractRules` is the part of a `contracts.Contract` the reader needs (plain, picklable data, so conversion worker
processes get it cheaply). `LineChecker` sees every line in file order (in the main process during a parallel
conversion) and finds what no single line shows: a header that is not first, a file mixing formats, tensors that
come and go between lines, and gaps, duplicates or disorder in ``chunk_index`` per stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from store.errors import JsonlError, TensorProblem, Where

KINDS = ("inputs", "outputs")


@dataclass(frozen=True)
class TensorRule:
    """What the contract says about one tensor, in the reference file's terms."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    perm: tuple[int, ...] | None = None  # reference layout → model layout (np.transpose(ref, perm))


@dataclass(frozen=True)
class ContractRules:
    """The contract's tensor list, per kind, by reference name."""

    name: str
    inputs: tuple[TensorRule, ...] = ()
    outputs: tuple[TensorRule, ...] = ()

    @classmethod
    def from_contract(cls, contract: Any) -> ContractRules:
        """Build from a `contracts.model.Contract` (anything with `name`, `inputs`, `outputs` of TensorSpecs)."""
        def rules(specs: Any) -> tuple[TensorRule, ...]:
            return tuple(TensorRule(s.ref_name, s.dtype, tuple(s.shape), tuple(s.ref_perm) if s.ref_perm else None)
                         for s in specs)

        return cls(name=getattr(contract, "name", ""), inputs=rules(contract.inputs), outputs=rules(contract.outputs))

    def of(self, kind: str) -> tuple[TensorRule, ...]:
        return self.inputs if kind == "inputs" else self.outputs

    def dtype_of(self, kind: str, name: str) -> str | None:
        for rule in self.of(kind):
            if rule.name == name:
                return rule.dtype
        return None

    def check(self, tensors: Mapping[str, Mapping[str, tuple[tuple[int, ...], str]]]
              ) -> list[tuple[str, str | None, str]]:
        """Problems of one chunk's tensors against the contract, as (kind, tensor or None, problem) triples.

        Args:
            tensors: kind → reference name → (shape, dtype name) of every tensor of the chunk.

        Symbolic dimensions (``"B"``, ``"T"``) match any size but must be the same size everywhere they appear
        within the chunk.
        """
        problems: list[tuple[str, str | None, str]] = []
        symbols: dict[str, tuple[int, str]] = {}
        for kind in KINDS:
            have = tensors.get(kind, {})
            expected = [r.name for r in self.of(kind)]
            missing = [n for n in expected if n not in have]
            if missing:
                problems.append((kind, missing[0], f"is missing: the contract {self.name!r} expects {kind} "
                                 f"{', '.join(expected)}; the line has {', '.join(have) or 'none'}."))
            for name in have:
                if name not in expected:
                    problems.append((kind, name, f"is not in the contract {self.name!r}, which expects {kind} "
                                     f"{', '.join(expected)} (a misspelt name, or the wrong contract?)."))
            for rule in self.of(kind):
                if rule.name not in have:
                    continue
                shape, dtype = have[rule.name]
                if dtype != rule.dtype:
                    problems.append((kind, rule.name, f"has dtype {dtype}; the contract {self.name!r} says "
                                     f"{rule.dtype}."))
                raw = tuple(shape)
                shape = raw
                if rule.perm is not None and len(rule.perm) == len(shape):
                    shape = tuple(shape[p] for p in rule.perm)
                before = dict(symbols)
                problem = _shape_problem(shape, rule, symbols, f"{kind[:-1]} {rule.name!r}")
                if problem and rule.perm is not None and not _shape_problem(raw, rule, dict(before), ""):
                    problem += (f" Unpermuted, the file's shape {list(raw)} fits the contract: the file is in the "
                                f"model's layout already, so the contract's ref_perm {list(rule.perm)} (cache_layout "
                                f"of an imported contract) does not describe this file.")
                elif problem and rule.perm is None and len(raw) == 4:
                    swapped = (raw[1], raw[0], raw[2], raw[3])
                    if not _shape_problem(swapped, rule, dict(before), ""):
                        problem += (f" With its first two axes swapped ({list(swapped)}) it fits: the file holds "
                                    f"this tensor layer-first, as older seed files do; use a contract with ref_perm "
                                    f"[1, 0, 2, 3] on the caches (`inspector contract import` of a seed contract with "
                                    f"cache_layout layer_first sets it).")
                if problem:
                    problems.append((kind, rule.name, problem))
        return problems


def _shape_problem(shape: tuple[int, ...], rule: TensorRule, symbols: dict[str, tuple[int, str]],
                   label: str) -> str | None:
    want = list(rule.shape)
    layout = " (in the model's layout, after the contract's ref_perm)" if rule.perm else ""
    if len(shape) != len(want):
        return f"has shape {list(shape)}{layout} (rank {len(shape)}); the contract says {want} (rank {len(want)})."
    for axis, (size, dim) in enumerate(zip(shape, want)):
        if isinstance(dim, int):
            if size != dim:
                return f"has shape {list(shape)}{layout}; the contract says {want} (axis {axis} must be {dim})."
        else:
            seen = symbols.get(dim)
            if seen is None:
                symbols[dim] = (size, label)
            elif seen[0] != size:
                return (f"has shape {list(shape)}{layout}: axis {axis} ({dim!r}) is {size}, but {dim!r} is "
                        f"{seen[0]} in {seen[1]} of the same chunk; the contract says {want}.")
    return None


@dataclass(frozen=True)
class LineSummary:
    """What the cross-line checks need to know about one parsed line (small; crosses process boundaries)."""

    number: int
    kind: str  # "header" | "chunk"
    format: str = ""
    stream: str = ""
    chunk: int = -1
    dtypes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind → name → dtype
    header: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    """The checker's answer for one line: commit it or not, and the problems found (empty when clean)."""

    accept: bool
    problems: tuple[JsonlError, ...] = ()


class LineChecker:
    """Checks each line against the lines before it; call `check` in file order.

    Args:
        path: The file (for messages).
        with_contract: A contract fixes the tensor names; without one, the first chunk line does.
    """

    def __init__(self, path: str, *, with_contract: bool = False) -> None:
        self.path = path
        self.with_contract = with_contract
        self.format: str | None = None
        self.first: LineSummary | None = None
        self.data_lines = 0
        self.first_nonblank: int | None = None
        self._next: dict[str, int] = {}
        self._seen: dict[tuple[str, int], int] = {}

    def _error(self, s: LineSummary, problem: str, code: str, tensor: str | None = None,
               kind: str | None = None) -> JsonlError:
        stream = s.stream if s.kind == "chunk" else None
        chunk = s.chunk if s.kind == "chunk" else None
        return JsonlError(Where(self.path, s.number, stream, chunk, tensor, kind), problem, code)

    def check(self, s: LineSummary) -> Verdict:
        if self.first_nonblank is None:
            self.first_nonblank = s.number
        if s.kind == "header":
            if s.number != self.first_nonblank:
                return Verdict(False, (self._error(s, "is a header line (format 'parity-reference'), which may only "
                                                      f"be the first line (line {self.first_nonblank} was).",
                                                   "misplaced_header"),))
            return Verdict(True)
        if self.format is None:
            self.format = s.format
        elif s.format != self.format:
            return Verdict(False, (self._error(
                s, f"is in the {s.format!r} format but the file's first chunk line is in the {self.format!r} "
                   f"format (keys chunk_idx/metadata vs stream/chunk_index/meta); one file holds one format.",
                "mixed_format"),))
        if not self.with_contract and self.first is not None:
            problem = self._names_problem(s)
            if problem:
                return Verdict(False, (problem,))
        return self._sequence(s)

    def _names_problem(self, s: LineSummary) -> JsonlError | None:
        assert self.first is not None
        for kind in KINDS:
            want, have = dict(self.first.dtypes.get(kind, {})), dict(s.dtypes.get(kind, {}))
            missing = [n for n in want if n not in have]
            extra = [n for n in have if n not in want]
            if missing or extra:
                name = (missing or extra)[0]
                what = "is missing" if missing else "is unexpected"
                return self._error(s, f"{what}: line {self.first.number} (the first chunk) has {kind} "
                                      f"{', '.join(want) or 'none'}; this line has {', '.join(have) or 'none'}. "
                                      f"Every line must carry the same tensors (pass --contract to check against it).",
                                   "missing_tensor" if missing else "unexpected_tensor", name, kind)
            for name, dtype in have.items():
                if want[name] != dtype:
                    return self._error(s, f"has dtype {dtype}, but {want[name]} on line {self.first.number} "
                                          f"(the first chunk).", "dtype", name, kind)
        return None

    def _sequence(self, s: LineSummary) -> Verdict:
        key = (s.stream, s.chunk)
        expected = self._next.get(s.stream, 0)
        if key in self._seen:
            return Verdict(False, (self._error(
                s, f"repeats chunk_index {s.chunk} of stream {s.stream!r}, already on line {self._seen[key]}; "
                   f"each chunk may appear once (the first one is kept).", "duplicate"),))
        problems: tuple[JsonlError, ...] = ()
        if s.chunk > expected:
            missing = f"chunk {expected}" if s.chunk == expected + 1 else f"chunks {expected}..{s.chunk - 1}"
            problems = (self._error(
                s, f"has chunk_index {s.chunk} but stream {s.stream!r} is at chunk {expected}: {missing} "
                   f"missing (chunk_index counts from 0 and rises by 1 within a stream).", "gap"),)
        elif s.chunk < expected:
            problems = (self._error(
                s, f"has chunk_index {s.chunk} after chunk {expected - 1} of stream {s.stream!r}: out of order "
                   f"(chunk_index rises by 1 within a stream).", "out_of_order"),)
        self._seen[key] = s.number
        self._next[s.stream] = max(expected, s.chunk + 1)
        self.data_lines += 1
        if self.first is None:
            self.first = s
        return Verdict(True, problems)


def tensor_problem(exc: TensorProblem, path: str, line: int, stream: str | None, chunk: int | None,
                   tensor: str | None, kind: str | None, code: str = "tensor") -> JsonlError:
    """A decoder's `TensorProblem` with its full location."""
    return JsonlError(Where(path, line, stream, chunk, tensor, kind), f"{str(exc)}", code)
