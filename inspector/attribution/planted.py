"""Planted causes: edited copies of an FP32 ONNX export whose failures have a known cause, for the attribution tests
and the demo's example runs.

- `float16_math`: every MatMul/Conv/Gemm input rounded through float16 by Cast round trips (a precision problem:
  the upcast step of the ladder removes it);
- `scaled_weight`: one late MatMul weight scaled (by 1.01 by default): a bug that no precision switch removes;
- `float16_math_and_scaled_weight`: both at once (a bug partly hidden behind precision).

Each reads `src`, writes `dst` atomically and returns a `Planted` saying what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.attribution.upcast import candidate_nodes, emulate_reduced_precision, load_model, save_model
from inspector.errors import InspectorError

DEFAULT_SCALE = 1.01


@dataclass(frozen=True)
class Planted:
    """One planted export: where it is, what was done, and the cause the ladder must find."""

    path: Path
    cause: str
    """``precision``, ``bug`` or ``mixed``."""
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "cause": self.cause, "what": self.what}


def _scale_last_matmul_weight(model: Any, factor: float) -> str:
    """Scale the weight initializer of the graph's last MatMul that reads one (the last layer's feed-forward);
    returns the node's name."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type == "MatMul" and any(i in inits for i in n.input)]
    if not nodes:
        raise InspectorError("cannot plant a scaled weight: the graph has no MatMul reading an initializer.")
    node = nodes[-1]
    weight = next(i for i in node.input if i in inits)
    arr = numpy_helper.to_array(inits[weight]).astype(np.float32) * np.float32(factor)
    inits[weight].CopyFrom(numpy_helper.from_array(arr, weight))
    return node.name or weight


def float16_math(src: str | Path, dst: str | Path) -> Planted:
    """Every MatMul/Conv/Gemm input of `src` rounded through float16 (Cast round trips)."""
    model = load_model(src)
    n = len(candidate_nodes(model))
    save_model(emulate_reduced_precision(model), dst)
    return Planted(Path(dst), "precision", f"inputs of all {n} MatMul/Conv/Gemm nodes rounded through float16")


def scaled_weight(src: str | Path, dst: str | Path, factor: float = DEFAULT_SCALE) -> Planted:
    """The last MatMul weight of `src` scaled by `factor`."""
    model = load_model(src)
    node = _scale_last_matmul_weight(model, factor)
    save_model(model, dst)
    return Planted(Path(dst), "bug", f"weight of {node} scaled by {factor:g}")


def float16_math_and_scaled_weight(src: str | Path, dst: str | Path, factor: float = DEFAULT_SCALE) -> Planted:
    """Both faults: the scaled weight, then float16 round trips on every MatMul/Conv/Gemm input."""
    model = load_model(src)
    node = _scale_last_matmul_weight(model, factor)
    n = len(candidate_nodes(model))
    save_model(emulate_reduced_precision(model), dst)
    return Planted(Path(dst), "mixed", f"weight of {node} scaled by {factor:g}, and inputs of all {n} "
                                       "MatMul/Conv/Gemm nodes rounded through float16")


EXAMPLES = (("float16-math", float16_math), ("scaled-weight", scaled_weight))
"""The demo's example exports: file stem and builder."""


def record_examples(store_path: str | Path, onnx: str | Path, contract: Any, folder: str | Path,
                    say: Any = None) -> list[dict[str, Any]]:
    """Record the demo's two planted exports beside the faithful one: build each (once), run it closed loop on
    ``ort-cpu`` over every chunk into the store (outputs saved, so the app draws where it is wrong; a rerun re-judges
    the recorded run), attribute its first failing chunk, and keep the verdict in the run's summary under
    ``attribution``, with ``example`` naming the planted cause (these runs are examples: they never decide the demo's
    exit code).

    Returns:
        Per example: ``{"example", "what", "run_id", "passed", "verdict"}`` (``verdict``: the attribution's dict).
    """
    from backends.base import make_backend
    from contracts.model import Contract
    from inspector.attribution.attribute import attribute_run_failure
    from inspector.diagnostics.session import open_contract
    from inspector.engine import ParityEngine, RunSpec
    from store import Store

    con = contract if isinstance(contract, Contract) else open_contract(contract)
    folder = Path(folder)
    done = []
    for stem, build in EXAMPLES:
        path = folder / f"example-{stem}.onnx"
        planted = build(onnx, path) if not path.exists() else None
        what = planted.what if planted is not None else stem
        st = Store.open(store_path, "a")
        eng = ParityEngine(st, con, path)
        stream = eng.resolve_stream(None)
        spec = RunSpec("ort-cpu", "closed-loop", stream, eng.resolve_chunks(stream, None), save_outputs=True,
                       reuse_complete=True)
        with make_backend("ort-cpu", path, con) as be:
            result = eng.run(spec, be)
        verdict = attribute_run_failure(st, con, path, backend="ort-cpu", options={}, mode="closed-loop",
                                        stream=stream, records=result.records, store_path=str(store_path),
                                        contract_ref=con.source or con.name)
        old = next((r.summary for r in st.runs() if r.run_id == result.run_id), {}) or {}
        w = st.resume_run(result.run_id)
        w.finish("complete", summary={**old, "example": f"planted example: {what}", "attribution": verdict})
        short = (verdict or {}).get("verdict", {}).get("short", "passes")
        if say is not None:
            say(f"  example {stem}: {'passes' if result.passed else 'FAILS'} — attributed: {short} "
                f"(run {result.run_id})")
        done.append({"example": stem, "what": what, "run_id": result.run_id, "passed": result.passed,
                     "verdict": verdict})
    return done
