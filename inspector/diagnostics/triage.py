"""First diverging node: compare two runs of one chunk node by node and find where the error is born.

Both sides — the backend on model M and the baseline on model M2 (default M) — run the same chunk feeds with their
intermediate tensors exposed (`taps`), a slice of tensors at a time, in topological order. For every tensor only its
figures are kept (max-abs, relative L2, cosine, non-finite mismatches); arrays are dropped after each slice.

*Error* of a tensor is its relative L2 error ``||a - b|| / ||b||`` (the absolute error when the baseline is all zeros),
so nodes of very different magnitudes compare fairly. A node **diverges clearly** when

    error(output) > floor                              (above round-off; default 1e-5)
    and error(output) > factor × max error(inputs)     (it made the error, not inherited it; default 10×)

or when an output has non-finite values the baseline does not while no input has. Inputs that are graph inputs carry
no error (both sides get the same feeds); weights (initializers) are not inputs for this rule — when the two models'
weights differ, the differing initializers are listed and named on the node that reads them, which is how an edited
weight shows up: its consumer is the first diverging node and says "weight X differs". The first node in topological
order that diverges clearly is *the first diverging node*; the ten nodes with the largest output error are listed too,
and the ten with the largest amplification (output error over input error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from inspector.diagnostics.taps import GraphIndex, Tap, make_tap
from inspector.errors import InspectorError
from inspector.metrics import compare

FORMAT = "parity-diagnosis"
VERSION = 1
DEFAULT_FACTOR = 10.0
DEFAULT_FLOOR = 1e-5
DEFAULT_BATCH_BYTES = 512 << 20
"""Target bytes of exposed tensors per slice and side; the slice size adapts to what earlier slices measured."""
DEFAULT_FIRST_BATCH = 256
"""Before any tensor is measured, a tensor whose size shape inference cannot tell counts as batch_bytes / this."""


@dataclass(frozen=True)
class TensorError:
    """One tensor compared between backend and baseline.

    Attributes:
        name: Tensor name in the graph.
        shape: Backend tensor shape (empty when missing).
        dtype: Backend dtype.
        error: Relative L2 error (absolute when the baseline is all zeros); inf on shape or non-finite mismatch.
        max_abs, rel_l2, cosine: The usual figures.
        nonfinite_mismatch: Elements finite on one side only.
        missing: Why the tensor was not compared (not produced by one side), else "".
    """

    name: str
    shape: tuple[int, ...] = ()
    dtype: str = ""
    error: float = 0.0
    max_abs: float = 0.0
    rel_l2: float = 0.0
    cosine: float = 1.0
    nonfinite_mismatch: int = 0
    missing: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "error": _jf(self.error),
                "max_abs": _jf(self.max_abs), "rel_l2": _jf(self.rel_l2), "cosine": _jf(self.cosine),
                "nonfinite_mismatch": self.nonfinite_mismatch, "missing": self.missing}


@dataclass(frozen=True)
class WeightDiff:
    """An initializer whose values differ between the two models."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    rel_l2: float
    consumers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "max_abs": _jf(self.max_abs),
                "rel_l2": _jf(self.rel_l2), "consumers": list(self.consumers)}


@dataclass(frozen=True)
class NodeError:
    """One node: its outputs' errors against the error of its inputs.

    Attributes:
        index: Position in topological order.
        name, op_type: The node.
        outputs, inputs: Per-tensor figures (inputs: activations only; graph inputs have error 0).
        weights: Differing initializers this node reads.
        error: Largest output error.
        input_error: Largest input error (0 when every input is a graph input or constant).
        amplification: ``error / max(input_error, floor)``.
        diverges: Whether it meets the "clearly diverges" rule.
    """

    index: int
    name: str
    op_type: str
    outputs: tuple[TensorError, ...]
    inputs: tuple[TensorError, ...]
    weights: tuple[str, ...]
    error: float
    input_error: float
    amplification: float
    diverges: bool

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "op_type": self.op_type, "error": _jf(self.error),
                "input_error": _jf(self.input_error), "amplification": _jf(self.amplification),
                "diverges": self.diverges, "weights_differ": list(self.weights),
                "outputs": [t.to_dict() for t in self.outputs], "inputs": [t.to_dict() for t in self.inputs]}

    def describe(self) -> str:
        outs = ", ".join(f"{t.name} {_f(t.error)}" for t in self.outputs if not t.missing)
        ins = ", ".join(f"{t.name} {_f(t.error)}" for t in self.inputs if not t.missing) or "graph inputs only"
        w = f"; weights differ: {', '.join(self.weights)}" if self.weights else ""
        return f"#{self.index} {self.op_type} {self.name!r}: output error {outs}; inputs {ins}{w}"


@dataclass(frozen=True)
class TriageReport:
    """What `triage` found."""

    model: str
    baseline_model: str
    backend: str
    baseline: str
    stream: str
    chunk: int
    factor: float
    floor: float
    nodes: int
    compared: int
    slices: int
    first: NodeError | None
    worst: tuple[NodeError, ...]
    amplifiers: tuple[NodeError, ...]
    weight_diffs: tuple[WeightDiff, ...]
    graph_outputs: tuple[TensorError, ...]
    summary: str
    missing: int = 0
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "kind": "triage",
            "model": self.model, "baseline_model": self.baseline_model, "backend": self.backend,
            "baseline": self.baseline, "stream": self.stream, "chunk": self.chunk,
            "criteria": {"metric": "rel_l2", "factor": self.factor, "floor": self.floor},
            "nodes": self.nodes, "tensors_compared": self.compared, "tensors_missing": self.missing,
            "slices": self.slices,
            "first_diverging": self.first.to_dict() if self.first else None,
            "worst": [n.to_dict() for n in self.worst],
            "amplifiers": [n.to_dict() for n in self.amplifiers],
            "weight_diffs": [w.to_dict() for w in self.weight_diffs],
            "graph_outputs": [t.to_dict() for t in self.graph_outputs],
            "summary": self.summary, "notes": list(self.notes), **dict(self.extra),
        }

    def render(self) -> str:
        lines = [f"triage — stream {self.stream!r}, chunk {self.chunk}: {self.backend} on {self.model} vs "
                 f"{self.baseline} on {self.baseline_model}",
                 f"  {self.nodes} nodes, {self.compared} tensors compared in {self.slices} slice(s)"
                 + (f", {self.missing} not comparable" if self.missing else ""),
                 f"  rule: output rel-L2 error > {self.factor:g} × max input error and > {self.floor:g}"]
        if self.weight_diffs:
            lines.append(f"  weights that differ between the models ({len(self.weight_diffs)}):")
            for w in self.weight_diffs[:10]:
                lines.append(f"    {w.name} {list(w.shape)}: max-abs {w.max_abs:.3g}, rel-L2 {w.rel_l2:.3g}, "
                             f"read by {', '.join(w.consumers)}")
        lines.append("  first diverging node: " + (self.first.describe() if self.first else "none"))
        if self.worst:
            lines.append("  worst nodes (output error):")
            for n in self.worst:
                lines.append(f"    #{n.index:<5} {n.op_type:<18} {_f(n.error):>9}  (inputs {_f(n.input_error)})  "
                             f"{n.name}")
        if self.graph_outputs:
            lines.append("  graph outputs: " + ", ".join(f"{t.name} {_f(t.error)}" for t in self.graph_outputs))
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines.append(f"verdict: {self.summary}")
        return "\n".join(lines)


def compare_tensors(name: str, a: np.ndarray | None, b: np.ndarray | None) -> TensorError:
    """Figures for one tensor: `a` from the side under test, `b` from the baseline (the reference of the comparison
    kernel, `inspector.metrics.compare`). An empty tensor has no figure: it is reported as not comparable
    (`missing`), never as error 0."""
    if a is None or b is None:
        return TensorError(name, missing="not produced by the " + ("backend" if a is None else "baseline"))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return TensorError(name, tuple(a.shape), str(a.dtype), math.inf, math.inf, math.inf, 0.0)
    fig = compare(b, a, name=name)
    if not fig.determined:
        return TensorError(name, tuple(a.shape), str(a.dtype), math.nan, math.nan, math.nan, math.nan,
                           missing=f"empty on both sides (shape {list(a.shape)}): no figure")
    if math.isnan(fig.max_abs) and not fig.nonfinite_ref and not fig.nonfinite_out:
        # Values the kernel cannot subtract (strings, or dtypes of different kinds) that differ.
        return TensorError(name, tuple(a.shape), str(a.dtype), math.inf, math.inf, math.inf, 0.0)
    mismatch = fig.nonfinite_mismatch
    if fig.size and fig.nonfinite_ref == fig.size and not mismatch:  # identical non-finite values only
        return TensorError(name, tuple(a.shape), str(a.dtype))
    # Relative L2 error; the absolute one when the baseline is all zeros (then rel-L2 is infinite).
    error = math.inf if mismatch else (fig.max_abs if math.isinf(fig.rel_l2) else fig.rel_l2)
    return TensorError(name, tuple(a.shape), str(a.dtype), error, fig.max_abs, fig.rel_l2, fig.cosine, mismatch)


def weight_diffs(model: GraphIndex, baseline: GraphIndex) -> list[WeightDiff]:
    """Initializers present in both models whose values differ (read one pair at a time)."""
    from onnx import numpy_helper

    if model.path.resolve() == baseline.path.resolve():
        return []
    base = {t.name: t for t in baseline.model.graph.initializer}
    consumers: dict[str, list[str]] = {}
    for node, inputs in zip(model.nodes, model.node_inputs):
        for i in inputs:
            if i in model.initializers:
                consumers.setdefault(i, []).append(node.name or node.op_type)
    out = []
    for t in model.model.graph.initializer:
        other = base.get(t.name)
        if other is None:
            continue
        a = numpy_helper.to_array(t, str(model.path.parent))
        b = numpy_helper.to_array(other, str(baseline.path.parent))
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            continue
        e = compare_tensors(t.name, a, b)
        out.append(WeightDiff(t.name, tuple(a.shape), e.max_abs, e.rel_l2, tuple(consumers.get(t.name, ()))))
    return out


def triage(model: str | Path, feeds: Mapping[str, np.ndarray], *, backend: str = "ort-cpu",
           baseline: str = "ort-cpu", baseline_model: str | Path | None = None,
           backend_options: Mapping[str, Any] | None = None, baseline_options: Mapping[str, Any] | None = None,
           factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR, batch_bytes: int = DEFAULT_BATCH_BYTES,
           first_batch: int = DEFAULT_FIRST_BATCH, stream: str = "", chunk: int = -1,
           progress: Callable[[str], None] | None = None) -> TriageReport:
    """Find the first node where the backend's error clearly rises above its inputs' error.

    Args:
        model: ONNX model M (the backend runs it).
        feeds: One chunk's inputs by *model* input name, in model layout.
        backend, baseline: Backend registry names (``ort-cpu``, ``ort-cuda``, ``trt-fp32``, ``trt-fp16``).
        baseline_model: Model M2 for the baseline (default: M). Comparing M against M2 on one runtime is how a
            planted or suspected fault in one export is found.
        backend_options, baseline_options: Runtime options (as for the backends: ``graph_optimization``,
            ``use_tf32`` …).
        factor, floor: The "clearly diverges" rule (see the module docstring).
        batch_bytes: Target bytes of exposed tensors per slice and side (a single larger tensor gets a slice of its
            own).
        first_batch: Sets the first guess for tensors of unknown size: ``batch_bytes / first_batch`` each.
        stream, chunk: For the report only.
        progress: Called with a short message per slice.
    """
    say = progress or (lambda _m: None)
    m_index = GraphIndex(Path(model))
    same_model = baseline_model is None or Path(baseline_model).resolve() == Path(model).resolve()
    b_index = m_index if same_model else GraphIndex(Path(baseline_model))
    if same_model and backend == baseline and dict(backend_options or {}) == dict(baseline_options or {}):
        raise InspectorError(f"triage would compare {backend} on {model} with itself: give a different --baseline "
                             f"runtime, or the model to compare against with --baseline-model.")
    missing_inputs = [n for n in m_index.graph_inputs if n not in feeds]
    if missing_inputs:
        raise InspectorError(f"the chunk's feeds lack model input(s) {missing_inputs} of {model}; they hold "
                             f"{sorted(feeds)}. Check the contract's input names.")
    weights = weight_diffs(m_index, b_index) if not same_model else []
    diff_weights = {w.name for w in weights}

    tap_a: Tap = make_tap(backend, m_index.path, backend_options, index=m_index)
    tap_b: Tap = make_tap(baseline, b_index.path, baseline_options, index=b_index)
    order = m_index.tensors_in_order()
    in_baseline = set(b_index.producer)
    stats: dict[str, TensorError] = {}
    # Slice sizes: bytes from shape inference at this chunk's input shapes where it resolves them; for the rest,
    # the largest size measured so far of a tensor it did not resolve (a first guess before any is measured).
    known = m_index.static_bytes(feeds)
    unknown_guess = batch_bytes / max(1, first_batch)
    n_slices = 0
    pos = 0
    try:
        while pos < len(order):
            chunk_names, total = [], 0.0
            while pos + len(chunk_names) < len(order):
                name = order[pos + len(chunk_names)]
                est = known.get(name, unknown_guess)
                if chunk_names and total + est > batch_bytes:
                    break
                chunk_names.append(name)
                total += est
            n_slices += 1
            say(f"slice {n_slices}: tensors {pos + 1}..{pos + len(chunk_names)} of {len(order)} "
                f"(~{total / 2**20:.0f} MB a side)")
            got_a = tap_a.run(feeds, chunk_names)
            got_b = tap_b.run(feeds, [n for n in chunk_names if n in in_baseline])
            measured = [a.nbytes for n, a in got_a.items() if n not in known]
            if measured:
                unknown_guess = max(measured) if n_slices == 1 else max(unknown_guess, max(measured))
            for name in chunk_names:
                stats[name] = compare_tensors(name, got_a.get(name), got_b.get(name))
            del got_a, got_b
            pos += len(chunk_names)
    finally:
        tap_a.close()
        tap_b.close()

    nodes = _node_errors(m_index, stats, diff_weights, factor, floor)
    first = next((n for n in nodes if n.diverges), None)
    ranked = sorted((n for n in nodes if n.outputs), key=lambda n: n.error, reverse=True)
    worst = tuple(n for n in ranked if n.error > 0)[:10]
    amplifiers = tuple(sorted((n for n in nodes if n.error > floor), key=lambda n: n.amplification,
                              reverse=True)[:10])
    outputs = tuple(stats.get(name) or TensorError(name, missing="not a node output")
                    for name in m_index.graph_outputs)
    compared = sum(1 for s in stats.values() if not s.missing)
    missing = sum(1 for s in stats.values() if s.missing)
    notes = []
    if weights:
        notes.append(f"{len(weights)} initializer(s) differ between {Path(model).name} and "
                     f"{Path(baseline_model).name}: " + ", ".join(w.name for w in weights[:5])
                     + (" …" if len(weights) > 5 else ""))
    if missing:
        notes.append(f"{missing} tensor(s) could not be compared (fused away by the runtime, absent from the "
                     "baseline model, or empty: no figure)")
    summary = _summary(first, worst, outputs, floor)
    return TriageReport(
        model=str(model), baseline_model=str(baseline_model or model), backend=backend, baseline=baseline,
        stream=stream, chunk=chunk, factor=factor, floor=floor, nodes=len(m_index.nodes), compared=compared,
        slices=n_slices, first=first, worst=worst, amplifiers=amplifiers, weight_diffs=tuple(weights),
        graph_outputs=outputs, summary=summary, missing=missing, notes=tuple(notes),
    )


def _node_errors(index: GraphIndex, stats: Mapping[str, TensorError], diff_weights: set[str], factor: float,
                 floor: float) -> list[NodeError]:
    """Per node: output error vs input error, and the divergence rule."""
    out = []
    for idx, node in enumerate(index.nodes):
        outs = tuple(stats[o] for o in node.output if o and o in stats)
        ins = tuple(stats[i] for i in index.node_inputs[idx] if i in stats)
        weights = tuple(i for i in index.node_inputs[idx] if i in diff_weights)
        compared_outs = [t for t in outs if not t.missing]
        compared_ins = [t for t in ins if not t.missing]
        error = max((t.error for t in compared_outs), default=0.0)
        in_error = max((t.error for t in compared_ins), default=0.0)
        new_nonfinite = any(t.nonfinite_mismatch for t in compared_outs) and \
            not any(t.nonfinite_mismatch for t in compared_ins)
        amp = error / max(in_error, floor) if math.isfinite(error) else math.inf
        diverges = bool(compared_outs) and (
            new_nonfinite or (error > floor and (error > factor * in_error)))
        out.append(NodeError(idx, node.name or f"<{node.op_type} #{idx}>", node.op_type, outs, ins, weights, error,
                             in_error, amp, diverges))
    return out


def _summary(first: NodeError | None, worst: tuple[NodeError, ...], outputs: tuple[TensorError, ...],
             floor: float) -> str:
    out_err = max((t.error for t in outputs if not t.missing), default=0.0)
    if first is None:
        if out_err <= floor:
            return f"no node diverges: every compared tensor agrees to rel-L2 ≤ {floor:g}"
        return (f"no single node diverges clearly: the error grows gradually (graph outputs up to rel-L2 "
                f"{_f(out_err)}); see the worst nodes")
    why = f", which reads weight(s) that differ: {', '.join(first.weights)}" if first.weights else ""
    return (f"first diverging node: {first.op_type} {first.name!r} (#{first.index}): output rel-L2 error "
            f"{_f(first.error)} from inputs at {_f(first.input_error)}{why}; graph outputs reach {_f(out_err)}")


def _f(x: float) -> str:
    return "inf" if x == math.inf else f"{x:.3g}"


def _jf(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return x


def triage_chunk(store: Any, contract: Any, chunk: int, model: str | Path, *, stream: str | None = None,
                 **kwargs: Any) -> TriageReport:
    """`triage` on one chunk of a store: loads the chunk's reference inputs, maps them to the model's input names
    and layout through the contract, and passes `kwargs` (backend, baseline, baseline_model, options, factor, floor,
    batch_bytes, progress) on."""
    from inspector.diagnostics.chunkdata import load_chunk, model_feeds, resolve_stream

    stream = resolve_stream(store, stream)
    data = load_chunk(store, contract, stream, chunk)
    feeds = {contract.input(k).name: v for k, v in model_feeds(contract, data).items()}
    return triage(model, feeds, stream=stream, chunk=chunk, **kwargs)
