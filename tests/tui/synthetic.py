"""Test double: a deterministic synthetic store for the inspector's tests and its benchmark (`bench/tui_step.py`).

It lives under tests/ because `PlantedBackend` runs no model: it is never a backend a user could pick.

The reference is made with numpy (seeded) in the contract's layout and obeys the demo contract's streaming rules
(first chunk 41 frames, later 57; 3 frames out; the attention cache fills from the right and its length runs 1, 4, 7,
… up to the cache size). Runs are recorded by the real parity engine (`inspector.engine.ParityEngine`) with
`PlantedBackend`, a backend that replays the reference outputs plus seeded noise and planted faults (single-element
spikes, NaNs, an exception on a chunk), so every record, verdict and saved output has exactly the engine's layout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from backends.base import Availability, Backend, BackendInfo


@dataclass(frozen=True)
class Fault:
    """A planted fault: on `chunk`, `tensor[index]` gets `delta` added (or becomes NaN), or the backend raises."""

    chunk: int
    tensor: str = ""
    index: tuple[int, ...] = ()
    delta: float = 0.0
    kind: str = "add"  # add | nan | raise


@dataclass(frozen=True)
class Shapes:
    """Sizes of the synthetic encoder (defaults: the demo's `tiny` preset)."""

    layers: int = 2
    cache: int = 256
    d_model: int = 64
    conv_ctx: int = 4
    frames: int = 3
    feat: int = 128


@dataclass(frozen=True)
class RunPlan:
    """One run to record: backend name, mode, noise level, faults, whether to save outputs."""

    backend: str
    mode: str = "functional"
    noise: float = 2e-6
    faults: tuple[Fault, ...] = ()
    save_outputs: bool = True
    precision: str = "fp32"
    state: str = "pass"
    """Closed loop: the ``state_carried`` verdict to record. `PlantedBackend` replays outputs whatever state it is
    fed, so the real state probe cannot judge it; the plan states what the synthetic reference carries."""


class PlantedStateVerdict:
    """A `ChunkHook` that supplies the closed-loop ``state_carried`` verdict of a planted run (see `RunPlan.state`)."""

    name = "planted-state"

    def __init__(self, status: str) -> None:
        self.status = status

    def start(self, run: Any) -> None:
        pass

    def chunk(self, event: Any) -> None:
        return None

    def replay(self, event: Any) -> None:
        pass

    def verdicts(self, records: Sequence[Mapping[str, Any]], run: Any) -> list[Any]:
        from inspector.acceptance import Verdict

        return [Verdict("state_carried", "state_carried", self.status,
                        message=f"planted: the synthetic reference's cache is carried ({self.status}, not probed)")]


def _key(audio: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(audio).tobytes(), digest_size=8).hexdigest()


def reference_chunks(shapes: Shapes, chunks: int, seed: int = 0, prefill: bool = False):
    """Yield (index, inputs, outputs) of a synthetic stream, in reference names and batch-first layout.

    With `prefill` the attention cache starts full (as deep into a long stream), else empty (a stream's start).
    """
    rng = np.random.default_rng(seed)
    s = shapes
    clc = np.zeros((1, s.layers, s.cache, s.d_model), np.float32)
    clt = np.zeros((1, s.layers, s.d_model, s.conv_ctx), np.float32)
    len_in = 0
    if prefill:
        clc = rng.standard_normal(clc.shape, dtype=np.float32)
        len_in = s.cache
    for i in range(chunks):
        t = 41 if i == 0 else 57
        kept = 1 if i == 0 else s.frames
        audio = rng.standard_normal((1, s.feat, t), dtype=np.float32)
        layer_scale = np.linspace(0.5, 2.0, s.layers, dtype=np.float32).reshape(1, s.layers, 1, 1)
        new_rows = rng.standard_normal((1, s.layers, kept, s.d_model), dtype=np.float32) * layer_scale
        clc_out = np.concatenate([clc[:, :, kept:], new_rows], axis=2)
        clt_out = rng.standard_normal((1, s.layers, s.d_model, s.conv_ctx), dtype=np.float32) * 0.1
        len_out = min(len_in + kept, s.cache)
        inputs = {
            "audio_signal": audio, "length": np.array([t], np.int64),
            "cache_last_channel": clc, "cache_last_time": clt,
            "cache_last_channel_len": np.array([len_in], np.int64),
        }
        outputs = {
            "encoder_output": rng.standard_normal((1, s.d_model, s.frames), dtype=np.float32),
            "encoded_lengths": np.array([s.frames], np.int64),
            "cache_last_channel_out": clc_out, "cache_last_time_out": clt_out,
            "cache_last_channel_len_out": np.array([len_out], np.int64),
        }
        yield i, inputs, outputs
        clc, clt, len_in = clc_out, clt_out, len_out


class PlantedBackend(Backend):
    """Replays a synthetic reference's outputs plus seeded noise and planted faults (recognises the chunk by its
    audio). For tests and benchmarks of everything downstream of a backend; it runs no model."""

    name = "planted"

    def __init__(self, model: Any, contract: Any, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(None, contract, options)
        self.by_audio: dict[str, tuple[int, dict[str, np.ndarray]]] = dict(self.options.pop("by_audio", {}))
        self.faults: Sequence[Fault] = tuple(self.options.pop("faults", ()))
        self.noise = float(self.options.get("noise", 0.0))
        self.precision = str(self.options.get("precision", "fp32"))

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def _activate_impl(self) -> None:
        pass

    def _deactivate_impl(self) -> None:
        pass

    def _info_impl(self) -> BackendInfo:
        return BackendInfo(name=self.name, runtime="numpy", version=np.__version__, device="cpu",
                           precision=self.precision, math_mode="replay+noise",
                           options={"noise": self.noise})

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        audio_name = self.contract.input("audio_signal").name
        index, ref = self.by_audio[_key(feeds[audio_name])]
        rng = np.random.default_rng([index, 7])
        out: dict[str, np.ndarray] = {}
        for spec in self.contract.outputs:
            value = np.array(ref[spec.ref_name], copy=True)
            if value.dtype.kind == "f" and self.noise:
                # relative noise, as rounding differences are: exact zeros (an empty cache) stay exact
                value += (rng.standard_normal(value.shape, dtype=np.float32) * self.noise * np.abs(value)).astype(
                    value.dtype)
            out[spec.name] = value
        for fault in self.faults:
            if fault.chunk != index:
                continue
            if fault.kind == "raise":
                raise RuntimeError(f"planted failure on chunk {index}")
            target = out[self.contract.output(fault.tensor).name]
            if fault.kind == "nan":
                target[fault.index] = np.nan
            else:
                target[fault.index] += fault.delta
        return out


DEFAULT_RUNS: tuple[RunPlan, ...] = (
    RunPlan("planted-clean", "closed-loop", noise=2e-6, save_outputs=False),
    RunPlan("planted-faults", "functional", noise=2e-6, faults=(
        Fault(3, "cache_last_channel_out", (0, 1, 200, 10), 5e-3),
        Fault(5, "encoder_output", (0, 7, 1), 3e-4),
        Fault(7, "encoder_output", (0, 12, 2), kind="nan"),
        Fault(9, kind="raise"),
    )),
)


@dataclass
class SyntheticStore:
    """What `build_synthetic_store` made."""

    path: Path
    contract: Any
    run_ids: list[str] = field(default_factory=list)
    stream: str = "utt-0001"


def build_synthetic_store(path: str | Path, *, chunks: int = 12, shapes: Shapes = Shapes(), seed: int = 0,
                          runs: Sequence[RunPlan] = DEFAULT_RUNS, contract: Any = "demo_streaming",
                          streams: Sequence[str] = ("utt-0001",), overwrite: bool = True,
                          prefill: bool = False) -> SyntheticStore:
    """Write a synthetic store: `chunks` reference chunks per stream, then each run in `runs` (first stream only).

    Args:
        path: Store directory (replaced when `overwrite`).
        chunks: Chunks per stream.
        shapes: Sizes (default: the demo's tiny model; the parakeet size is ``Shapes(24, 256, 1024)``).
        seed: Seed of the reference.
        runs: Runs to record with `PlantedBackend`.
        contract: Contract (object, path or shipped name); its tolerances, invariants and acceptance judge the runs.
        streams: Stream names (each gets the same chunk count, seeds differ).
        overwrite: Replace an existing store at `path`.
        prefill: Start with a full attention cache (the benchmark's worst case: nothing compresses).
    """
    from contracts.load import load_contract
    from inspector.engine import ParityEngine, RunSpec
    from store import Store

    contract_obj = load_contract(contract) if isinstance(contract, (str, Path)) else contract
    st = Store.create(path, overwrite=overwrite, attrs={"contract": contract_obj.name})
    by_audio: dict[str, tuple[int, dict[str, np.ndarray]]] = {}
    for n, stream in enumerate(streams):
        for index, inputs, outputs in reference_chunks(shapes, chunks, seed + n, prefill):
            st.write_chunk(stream, index, inputs, outputs, {"chunk_len": int(inputs["length"][0])})
            if n == 0:
                by_audio[_key(inputs["audio_signal"])] = (index, outputs)
    made = SyntheticStore(Path(path), contract_obj, stream=streams[0])
    engine = ParityEngine(st, contract_obj)
    for plan in runs:
        backend = PlantedBackend(None, contract_obj, {"by_audio": by_audio, "faults": plan.faults,
                                                      "noise": plan.noise, "precision": plan.precision})
        backend.name = plan.backend
        spec = RunSpec(backend=plan.backend, mode=plan.mode, stream=streams[0], chunks=tuple(range(chunks)),
                       options={"noise": plan.noise}, save_outputs=plan.save_outputs, resume=False)
        engine.hooks = [PlantedStateVerdict(plan.state)] if plan.mode == "closed-loop" else []
        with backend:
            result = engine.run(spec, backend)
        made.run_ids.append(result.run_id)
    return made
