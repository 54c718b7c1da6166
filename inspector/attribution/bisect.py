"""Layer bisection: a small set of nodes that must stay FP32 for the chunk to pass in reduced precision.

Runs on ONNX Runtime (CUDA with TF32 off where it can run, CPU otherwise) with reduced precision *emulated* on the
FP32 graph: the inputs of every MatMul/Conv/Gemm node not kept in FP32 are rounded through float16 (or bfloat16) by
Cast round trips (`upcast.emulate_reduced_precision`). Each probe runs the chunk exactly as the ladder does (closed
loop from the stream's first chunk, judged by the contract with the tolerances of the backend under attribution).

Search: first over the encoder's blocks (node-name prefixes such as ``/layers.7/``; nodes outside any numbered block
are grouped by their first name component), then over the nodes of the blocks that must stay FP32. Both levels use
delta debugging (Zeller's ddmin on the set kept in FP32): remove halves, then quarters, … of the kept set while the
chunk still passes, so the result is 1-minimal (dropping any single member makes the chunk fail) within the probe
budget. The result is written in forms a user can apply: Polygraphy's ``--layer-precisions`` (TensorRT layers take
their ONNX node's name), onnxconverter-common's ``node_block_list`` (``convert_float_to_float16``), and plain names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from inspector.attribution.ladder import Say, Step, Target, run_step
from inspector.attribution.upcast import candidate_nodes, emulate_reduced_precision

DEFAULT_MAX_PROBES = 64
_BLOCK_PART = re.compile(r"^(layers?|blocks?|h)[._]?\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class BisectResult:
    """Nodes to keep in FP32, or why the bisection has none.

    Attributes:
        nodes: Node names that must stay FP32 (empty when the bisection could not find a set).
        blocks: The blocks they belong to.
        probes: Chunk runs spent.
        backend: Runtime of the probes.
        reduced: ``float16`` or ``bfloat16``.
        candidates: MatMul/Conv/Gemm nodes considered.
        minimal: Whether the set is 1-minimal (False when the probe budget ran out first).
        note: Why there is no set, or a caveat.
    """

    nodes: tuple[str, ...]
    blocks: tuple[str, ...]
    probes: int
    backend: str
    reduced: str
    candidates: int
    minimal: bool
    note: str = ""

    @property
    def found(self) -> bool:
        return bool(self.nodes)

    def polygraphy(self) -> str:
        return ("--precision-constraints obey --layer-precisions "
                + " ".join(f"{_quote(n)}:float32" for n in self.nodes)) if self.nodes else ""

    def node_block_list(self) -> str:
        return f"node_block_list={list(self.nodes)!r}" if self.nodes else ""

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "blocks": list(self.blocks), "probes": self.probes,
                "backend": self.backend, "reduced": self.reduced, "candidates": self.candidates,
                "minimal": self.minimal, "note": self.note, "polygraphy": self.polygraphy(),
                "onnxconverter_common": self.node_block_list()}

    def render(self) -> list[str]:
        head = (f"layer bisection ({self.reduced} emulated on {self.backend}, {self.candidates} MatMul/Conv/Gemm "
                f"nodes, {self.probes} probes)")
        if not self.nodes:
            return [head + f": no set found — {self.note}"]
        lines = [head + f": keep {len(self.nodes)} node(s) in FP32"
                 + ("" if self.minimal else " (probe budget reached: sufficient, maybe not minimal)"),
                 f"  blocks: {', '.join(self.blocks)}"]
        lines += [f"  {n}" for n in self.nodes]
        lines.append(f"  polygraphy: {self.polygraphy()}")
        lines.append(f"  onnxconverter-common: convert_float_to_float16(model, {self.node_block_list()})")
        if self.note:
            lines.append(f"  note: {self.note}")
        return lines


def _quote(name: str) -> str:
    return f"'{name}'" if any(c in name for c in " :'\"") else name


def block_of(name: str) -> str:
    """The block a node belongs to: the name up to its first numbered ``layers.N``-like part, else its first part."""
    parts = [p for p in name.split("/") if p]
    for i, part in enumerate(parts[:-1]):
        if _BLOCK_PART.match(part):
            return "/".join(parts[: i + 1])
    return parts[0] if len(parts) > 1 else "(graph)"


class _Budget(Exception):
    """The probe budget is spent."""


class _ProbeError(Exception):
    """A probe could not run (the message says why)."""


def ddmin(items: Sequence[str], passes: Callable[[list[str]], bool]) -> list[str]:
    """A 1-minimal subset of `items` (which must pass) that still passes, by removing chunks of it (ddmin)."""
    keep = list(items)
    n = 2
    while len(keep) >= 2:
        size = -(-len(keep) // n)
        parts = [keep[i:i + size] for i in range(0, len(keep), size)]
        for part in parts:
            rest = [x for x in keep if x not in part]
            if rest and passes(rest):
                keep, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(keep):
                break
            n = min(len(keep), n * 2)
    return keep


def probe_backend() -> tuple[str, dict[str, Any]]:
    """ORT CUDA with TF32 off where it can run here, else ORT CPU."""
    from backends.base import availability

    try:
        if availability("ort-cuda"):
            return "ort-cuda", {"use_tf32": 0}
    except Exception:  # noqa: BLE001 — a broken GPU install means CPU probes, said in the result
        pass
    return "ort-cpu", {}


def bisect_precision(target: Target, fp32_model: Path, judge_as: tuple[str, str], work: Path,
                     reduced: str = "float16", max_probes: int = DEFAULT_MAX_PROBES, say: Say | None = None
                     ) -> BisectResult:
    """Find the nodes of `fp32_model` that must stay FP32 for the target chunk to pass (see the module docstring).

    Args:
        target: The chunk (closed loop or functional, as in the ladder).
        fp32_model: The FP32 graph (the upcast copy, or the export itself when it is FP32).
        judge_as: (backend, precision) whose contract tolerances decide a probe.
        work: Folder for the probe models (weights in external data are linked, never copied).
        reduced: ``float16`` or ``bfloat16``.
        max_probes: Chunk runs allowed.
    """
    import onnx

    backend, options = probe_backend()
    skeleton = onnx.load(str(fp32_model), load_external_data=False)
    _link_external_data(skeleton, Path(fp32_model).parent, work)
    nodes = candidate_nodes(skeleton)
    seen: dict[frozenset[str], bool] = {}
    count = [0]

    def passes(keep: Sequence[str]) -> bool:
        key = frozenset(keep)
        if key in seen:
            return seen[key]
        if count[0] >= max_probes:
            raise _Budget
        count[0] += 1
        path = work / "probe.onnx"
        onnx.save(emulate_reduced_precision(skeleton, keep=keep, to=reduced), str(path))
        res = run_step(target, Step("probe", backend, options, path, judge_as=judge_as))
        if res.status == "error":
            raise _ProbeError(res.error)
        seen[key] = res.status == "pass"
        if say is not None:
            say(f"bisection probe {count[0]}: {len(keep)} node(s) in FP32 → {res.status}")
        return seen[key]

    def result(keep: Sequence[str], minimal: bool, note: str = "") -> BisectResult:
        blocks = tuple(dict.fromkeys(block_of(n) for n in keep))
        return BisectResult(tuple(keep), blocks, count[0], backend, reduced, len(nodes), minimal, note)

    if not nodes:
        return result((), False, "the graph has no MatMul/Conv/Gemm node")
    keep: list[str] = list(nodes)
    try:
        if not passes(nodes):
            return result((), False, f"the FP32 graph itself fails this chunk on {backend}: nothing to bisect")
        if passes([]):
            return result((), False, f"{reduced} rounding of the MatMul/Conv/Gemm inputs alone does not reproduce "
                                     f"the failure on {backend}; the reduced precision that hurts is elsewhere "
                                     "(accumulation, normalisation or activations in 16 bits)")
        by_block: dict[str, list[str]] = {}
        for n in nodes:
            by_block.setdefault(block_of(n), []).append(n)
        kept_blocks = ddmin(list(by_block), lambda bs: passes([n for b in bs for n in by_block[b]]))
        keep = [n for b in kept_blocks for n in by_block[b]]
        keep = ddmin(keep, passes)
    except _Budget:
        return result(keep, False, f"the probe budget ({max_probes}) ran out")
    except _ProbeError as exc:
        return result((), False, f"a probe could not run: {exc}")
    return result(keep, True)


def _link_external_data(model: Any, src_dir: Path, work: Path) -> None:
    """Symlink every external data file `model` reads into `work`, so probe models saved there find their weights."""
    from onnx import TensorProto

    work.mkdir(parents=True, exist_ok=True)
    for init in model.graph.initializer:
        if init.data_location != TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in init.external_data if e.key == "location"), None)
        if loc is None:
            continue
        link = work / loc
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((src_dir / loc).resolve())


__all__ = ["BisectResult", "DEFAULT_MAX_PROBES", "bisect_precision", "block_of", "ddmin", "probe_backend"]
