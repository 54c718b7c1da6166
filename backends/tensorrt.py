"""TensorRT 10/11: ``trt-fp32`` and ``trt-fp16``, built from the ONNX export with the contract's profiles.

What "precision" means here:
    ``fp32``: the TF32 builder flag is cleared (TensorRT enables TF32 by default, which changes results by ~1e-3 on
    this model family: the seed team's FP32 engine passed 45/50 chunks with TF32 on and 50/50 with it off).
    ``fp16``: TensorRT 10 builds the FP32 network with the FP16 flag (``fp16_mode=flag``). TensorRT 11 is strongly
    typed only (the flag is gone), so there an FP16 ONNX is made first (`backends.fp16_onnx`, I/O kept FP32) and built
    strongly typed (``fp16_mode=onnx``, the default on TensorRT >= 11, available on 10 too).
    Either way the engine's actual tensor dtypes are read back (engine inspector, DETAILED verbosity) and checked
    (`backends.trt_plan.check_precision`): an "FP16" engine that computes in FP32 is an error, not a silent pass;
    an engine whose inspector gives no layer data leaves the check undetermined (``info().extra["checks"]``, which
    the engine turns into an undetermined ``backend:precision`` verdict). ``math_mode`` states the TF32 builder flag
    as the build config had it (recorded with the cached engine; "unknown" for an engine cached without it).

Outputs come back in the engine's own dtypes (an int32 length stays int32: the contract's ``outputs`` rule must see
what the engine really returns); only bfloat16, which numpy lacks, is widened to float32.

Engines and the timing cache are kept on disk (option ``cache_dir``, default ``~/.cache/parity-inspector/trt``) under a
key of model hash, TensorRT version, GPU name, precision, profiles and builder settings.

Execution: ``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3`` on a non-default CUDA stream, device
memory from PyTorch's CUDA caching allocator (no other CUDA binding needed). Closed loop: two device buffers per
fed-back cache, swapped every chunk (`backends.trt_plan.DoubleBufferPlan`): an input address is never an output
address; caches only come to the host for the metrics.

Options: ``precision`` (fp32|fp16), ``cache_dir``, ``workspace_mb`` (default 4096), ``fp16_mode`` (flag|onnx),
``opt_level`` (builder optimisation level), ``device_id``, ``rebuild`` (1: ignore a cached engine).

Nothing here runs without TensorRT and a GPU: the hardware tests skip, and the planning logic is tested on its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from backends.base import Availability, Backend, BackendError, BackendInfo, BackendUnavailable, State
from backends.trt_plan import (
    DoubleBufferPlan, ProfilePlan, binding_plan, check_precision, derive_profiles, double_buffer_plan,
    engine_cache_key, engine_cache_paths, layer_precisions, math_mode, select_profile, trt_dtype_name,
)

INSTALL = ("pip install 'parity-inspector[tensorrt]' (tensorrt>=10 from NVIDIA's index) and a CUDA build of torch, "
           "on a machine with an NVIDIA GPU")


def default_cache_dir() -> Path:
    env = os.environ.get("INSPECTOR_TRT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "parity-inspector" / "trt"


def onnx_input_dims(path: str | Path) -> dict[str, list[Any]]:
    """The ONNX graph's inputs: name → dims (int, or the symbol/None for dynamic axes); initializers excluded."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = []
        for d in vi.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
        out[vi.name] = dims
    return out


@dataclass
class TrtState:
    """Closed-loop state on the GPU: for each cache target, two buffers; `k` chunks done so far."""

    buffers: dict[str, list[Any]]
    """Target (model input name) → [slot 0 tensor, slot 1 tensor] (torch CUDA tensors)."""
    k: int
    host: dict[str, np.ndarray]
    """Reference name → host copy of the state that the next chunk reads."""


class TrtBackend(Backend):
    """A TensorRT engine built from the ONNX export."""

    name = "trt-fp32"

    def __init__(self, model, contract, options=None):
        super().__init__(model, contract, options)
        from backends.onnxrt import parse_option

        self.options = {k: parse_option(v) for k, v in self.options.items()}
        self.precision = str(self.options.get("precision", "fp32"))
        if self.precision not in ("fp32", "fp16"):
            raise BackendError(f"TensorRT backend: precision {self.precision!r}. Note: valid choices are fp32, fp16.")
        self.notes: list[str] = []
        self._build_info: dict[str, Any] = {}

    OPTIONS = frozenset({"precision", "cache_dir", "workspace_mb", "fp16_mode", "opt_level", "device_id", "rebuild"})

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        from backends.onnxrt import parse_option

        opts = {k: parse_option(v) for k, v in options.items()}
        problems = []
        unknown = sorted(set(opts) - cls.OPTIONS)
        if unknown:
            problems.append(f"unknown option(s) {', '.join(unknown)}. Note: valid choices are "
                            f"{', '.join(sorted(cls.OPTIONS))}")
        if str(opts.get("precision", "fp32")) not in ("fp32", "fp16"):
            problems.append(f"precision={opts['precision']!r}. Note: valid choices are fp32, fp16")
        if "fp16_mode" in opts and str(opts["fp16_mode"]) not in ("flag", "onnx"):
            problems.append(f"fp16_mode={opts['fp16_mode']!r}. Note: valid choices are flag, onnx")
        for key in ("workspace_mb", "opt_level", "device_id"):
            if key in opts and (isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 0):
                problems.append(f"{key}={options[key]!r}: expected a whole number >= 0")
        if "rebuild" in opts and not isinstance(opts["rebuild"], (bool, int)):
            problems.append(f"rebuild={options['rebuild']!r}: expected 0/1 (or true/false)")
        return problems

    @classmethod
    def accepts_option(cls, key: str, options: Mapping[str, Any]) -> bool:
        return key in cls.OPTIONS

    # --- availability ------------------------------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> Availability:
        return cls.availability_for({})

    @classmethod
    def availability_for(cls, options: Mapping[str, Any]) -> Availability:
        if importlib.util.find_spec("tensorrt") is None:
            return Availability(False, "TensorRT's Python package (tensorrt) is not installed", INSTALL)
        if importlib.util.find_spec("torch") is None:
            return Availability(False, "torch is not installed (device memory comes from its CUDA allocator)", INSTALL)
        from backends.gpu import gpu_count, no_gpu_reason

        if gpu_count() == 0:
            return Availability(False, f"no CUDA GPU: {no_gpu_reason()}", INSTALL)
        try:
            import tensorrt  # noqa: F401 — the libraries (libnvinfer) load here
        except Exception as exc:  # noqa: BLE001
            return Availability(False, f"tensorrt is installed but does not load: {type(exc).__name__}: {exc}", INSTALL)
        import torch

        if not torch.cuda.is_available():
            return Availability(False, f"torch {torch.__version__} cannot use the GPU (a CPU-only build?)", INSTALL)
        return Availability(True)

    # --- lifecycle ---------------------------------------------------------------------------------------------------
    def _activate_impl(self) -> None:
        avail = self.availability_for(self.options)
        if not avail:
            raise BackendUnavailable(f"Backend {self.name} cannot run on this machine: {avail.reason}. To use it: "
                                     f"{avail.install}.")
        import tensorrt as trt
        import torch

        from backends.gpu import gpu_name
        from backends.modelfile import model_sha256

        if self.model is None or not self.model.exists():
            raise BackendError(f"{self.name}: model file {self.model} does not exist; pass the ONNX export with --model.")
        self._trt = trt
        self._torch = torch
        self._device_id = int(self.options.get("device_id", 0))
        self._device = torch.device("cuda", self._device_id)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.trt_version = trt.__version__
        self.gpu = gpu_name(self._device_id) or torch.cuda.get_device_name(self._device)
        major = int(self.trt_version.split(".")[0])
        self._fp16_mode = str(self.options.get("fp16_mode", "onnx" if major >= 11 else "flag"))
        if self.precision == "fp16" and self._fp16_mode == "flag" and not hasattr(trt.BuilderFlag, "FP16"):
            raise BackendError(f"{self.name}: TensorRT {self.trt_version} has no FP16 builder flag (strongly typed "
                               "only); use fp16_mode=onnx.")
        strongly_typed = self.precision == "fp16" and self._fp16_mode == "onnx" or major >= 11
        source = self.model
        sha = model_sha256(self.model)
        cache_dir = Path(self.options.get("cache_dir") or default_cache_dir())
        if self.precision == "fp16" and self._fp16_mode == "onnx":
            from backends.fp16_onnx import convert_to_fp16

            source = cache_dir / f"fp16-{sha[:16]}.onnx"
            if not source.exists():
                convert_to_fp16(self.model, source)
            self.notes.append(f"FP16 network from an FP16 copy of the ONNX ({source.name}), built strongly typed")
        self._profiles: list[ProfilePlan] = derive_profiles(self.contract, onnx_input_dims(source))
        builder_cfg = {"tf32": False if self.precision == "fp32" else None, "strongly_typed": strongly_typed,
                       "fp16_mode": self._fp16_mode if self.precision == "fp16" else "",
                       "opt_level": self.options.get("opt_level"), "workspace_mb": int(self.options.get("workspace_mb", 4096))}
        key = engine_cache_key(sha, self.trt_version, self.gpu, self.precision, self._profiles, builder_cfg)
        paths = engine_cache_paths(cache_dir, key, self.trt_version, self.gpu)
        cache_dir.mkdir(parents=True, exist_ok=True)
        if paths.plan.exists() and not int(self.options.get("rebuild", 0)):
            plan = paths.plan.read_bytes()
            self._build_info = json.loads(paths.meta.read_text()) if paths.meta.exists() else {}
            self._build_info["cached"] = True
        else:
            plan = self._build(source, builder_cfg, strongly_typed, paths)
        runtime = trt.Runtime(self._logger)
        self.engine = runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise BackendError(f"{self.name}: TensorRT could not deserialize the engine {paths.plan}; delete it to rebuild.")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self._device)
        self._io: dict[str, tuple[bool, str]] = {}
        for i in range(self.engine.num_io_tensors):
            n = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
            self._io[n] = (is_input, trt_dtype_name(str(self.engine.get_tensor_dtype(n))))
        wanted = {s.name for s in self.contract.inputs} | {s.name for s in self.contract.outputs}
        missing = sorted(wanted - set(self._io))
        if missing:
            raise BackendError(f"{self.name}: the engine has no tensors {missing} that contract {self.contract.name} "
                               f"names (engine I/O: {sorted(self._io)}).")
        layers: dict[str, int] = {}
        try:
            insp = self.engine.create_engine_inspector()
            layers = layer_precisions(insp.get_engine_information(trt.LayerInformationFormat.JSON))
        except Exception as exc:  # noqa: BLE001 — no layer data: the check below is then undetermined, and says so
            self.notes.append(f"engine inspector unavailable: {type(exc).__name__}: {exc}")
        self.precision_check = check_precision(self.precision, {n: d for n, (_, d) in self._io.items()}, layers)
        if self.precision_check.status == "fail":
            raise BackendError(f"{self.name}: {self.precision_check.message}. Engine: {paths.plan}.")
        if self.precision_check.status == "undetermined":
            # Not a pass: `info().extra["checks"]` carries it, and the engine makes it an undetermined verdict.
            self.notes.append(self.precision_check.message)
        self._paths = paths
        self._profile_index = -1
        self._alloc: dict[str, Any] = {}

    def _build(self, source: Path, cfg: Mapping[str, Any], strongly_typed: bool, paths: Any) -> bytes:
        trt = self._trt
        t0 = time.perf_counter()
        builder = trt.Builder(self._logger)
        flags = 0
        if strongly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(source)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"{self.name}: TensorRT's ONNX parser rejected {source}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg["workspace_mb"]) << 20)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        if self.precision == "fp32":
            if hasattr(trt.BuilderFlag, "TF32"):
                config.clear_flag(trt.BuilderFlag.TF32)  # on by default: FP32 means no TF32
            else:
                self.notes.append(f"TensorRT {self.trt_version} has no TF32 builder flag to clear")
        elif self._fp16_mode == "flag":
            config.set_flag(trt.BuilderFlag.FP16)
        if cfg.get("opt_level") is not None:
            config.builder_optimization_level = int(cfg["opt_level"])
        # The flag as the builder will use it (TensorRT's default is on; FP16 builds leave it so).
        tf32 = bool(config.get_flag(trt.BuilderFlag.TF32)) if hasattr(trt.BuilderFlag, "TF32") else None
        for plan in self._profiles:
            if not plan.inputs:
                continue
            prof = builder.create_optimization_profile()
            for name, r in plan.inputs.items():
                prof.set_shape(name, r.min, r.opt, r.max)
            config.add_optimization_profile(prof)
        timing = config.create_timing_cache(paths.timing_cache.read_bytes() if paths.timing_cache.exists() else b"")
        config.set_timing_cache(timing, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendError(f"{self.name}: TensorRT failed to build an engine from {source} (see its log above).")
        plan = bytes(serialized)
        _atomic_write(paths.plan, plan)
        _atomic_write(paths.timing_cache, bytes(config.get_timing_cache().serialize()))
        self._build_info = {"built_s": round(time.perf_counter() - t0, 2), "source": str(source), "cached": False,
                            "tensorrt": self.trt_version, "gpu": self.gpu, "precision": self.precision,
                            "tf32": tf32, "builder": dict(cfg), "profiles": [p.to_json() for p in self._profiles]}
        _atomic_write(paths.meta, json.dumps(self._build_info, indent=2).encode())
        return plan

    def _deactivate_impl(self) -> None:
        for attr in ("context", "engine", "stream", "_alloc"):
            if hasattr(self, attr):
                delattr(self, attr)

    # --- execution ---------------------------------------------------------------------------------------------------
    def _torch_dtype(self, dtype: str) -> Any:
        t = self._torch
        return {"float32": t.float32, "float16": t.float16, "bfloat16": t.bfloat16, "int64": t.int64,
                "int32": t.int32, "int8": t.int8, "uint8": t.uint8, "bool": t.bool}[dtype]

    def _set_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        idx = select_profile(self._profiles, shapes) if self.engine.num_optimization_profiles > 1 else 0
        if idx != self._profile_index:
            self.context.set_optimization_profile_async(idx, self.stream.cuda_stream)
            self._profile_index = idx
        for name, shape in shapes.items():
            if not self.context.set_input_shape(name, tuple(shape)):
                raise BackendError(f"{self.name}: TensorRT rejected input shape {list(shape)} for {name!r} "
                                   f"(profile {self._profiles[idx].name!r}).")

    def _to_device(self, name: str, array: np.ndarray) -> Any:
        _, dtype = self._io[name]
        host = np.ascontiguousarray(array.astype(dtype if dtype != "bfloat16" else "float32", copy=False))
        t = self._torch.from_numpy(host).to(self._device, non_blocking=False)
        return t.to(self._torch.bfloat16) if dtype == "bfloat16" else t

    def _execute(self, device_inputs: Mapping[str, Any], output_into: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
        """Bind device inputs, allocate (or use the given) outputs, run on our stream; returns device outputs."""
        torch = self._torch
        in_shapes = {n: tuple(t.shape) for n, t in device_inputs.items()}
        self._set_shapes(in_shapes)
        out_shapes = {n: tuple(self.context.get_tensor_shape(n)) for n, (is_in, _) in self._io.items() if not is_in}
        # Every engine input fed, every output shape known from the inputs (else a clear error, not a crash).
        plan = binding_plan(self._io, in_shapes, out_shapes)
        for n, t in device_inputs.items():
            self.context.set_tensor_address(n, int(t.data_ptr()))
        outs: dict[str, Any] = {}
        for b in plan.outputs:
            given = (output_into or {}).get(b.name)
            if given is not None and tuple(given.shape) == b.shape:
                outs[b.name] = given
            else:
                outs[b.name] = torch.empty(b.shape, dtype=self._torch_dtype(b.dtype), device=self._device)
            self.context.set_tensor_address(b.name, int(outs[b.name].data_ptr()))
        # Inputs were written on the default stream: make ours wait for them.
        self.stream.wait_stream(torch.cuda.current_stream(self._device))
        t0 = time.perf_counter()
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise BackendError(f"{self.name}: execute_async_v3 failed (see TensorRT's log).")
        self.stream.synchronize()
        self.inference_time = time.perf_counter() - t0
        return outs

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dev = {n: self._to_device(n, a) for n, a in feeds.items()}
        outs = self._execute(dev)
        return {n: self._host(n, t) for n, t in outs.items()}

    def _host(self, name: str, t: Any) -> np.ndarray:
        """The engine's output as the engine produced it: its own dtype (int32 lengths stay int32, so the `outputs`
        rule sees what a consumer of the engine gets). bfloat16, which numpy lacks, is widened to float32 (exact)."""
        if t.dtype == self._torch.bfloat16:
            note = f"{name}: bfloat16 output widened to float32 on the host (numpy has no bfloat16)"
            if note not in self.notes:
                self.notes.append(note)
            t = t.float()
        return t.cpu().numpy()

    def _ref_of(self, model_name: str) -> str:
        for s in (*self.contract.inputs, *self.contract.outputs):
            if s.name == model_name:
                return s.ref_name
        return model_name

    # --- closed loop: double-buffered caches on the device ---------------------------------------------------------
    def _step_impl(self, stream_feeds: Mapping[str, np.ndarray], state: State | None,
                   initial_state: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], TrtState]:
        torch = self._torch
        c = self.contract
        if state is None:
            init = dict(initial_state or {})
            buffers = {}
            for ref, arr in init.items():
                name = c.input(ref).name
                a = self._to_device(name, arr)
                buffers[name] = [a, torch.empty_like(a)]
            state = TrtState(buffers, 0, init)
        k = state.k
        slot_in, slot_out = DoubleBufferPlan.slots(k)
        dev_in = {c.input(ref).name: self._to_device(c.input(ref).name, a) for ref, a in stream_feeds.items()}
        for name, pair in state.buffers.items():
            dev_in[name] = pair[slot_in]
        shapes = {n: tuple(t.shape) for n, t in dev_in.items()}
        self._set_shapes(shapes)
        out_shapes = {n: tuple(self.context.get_tensor_shape(n)) for n, (is_in, _) in self._io.items() if not is_in}
        plan = double_buffer_plan(c, {**shapes, **out_shapes}, {n: d for n, (_, d) in self._io.items()})
        bound = plan.bind(k, state.buffers)  # inputs read slot k % 2, direct outputs write slot (k + 1) % 2
        into = {link.source: bound[link.source] for link in plan.links if link.source in bound}
        for link in plan.links:
            if not link.direct:
                note = f"{link.source} → {link.target}: {link.reason}: padded/cast on the device each chunk"
                if note not in self.notes:
                    self.notes.append(note)
        outs = self._execute(dev_in, into)
        for link in plan.links:
            if link.target not in state.buffers:
                continue
            got = outs[link.source]
            if link.direct:
                # never the same address as the input: slot_out differs from slot_in by construction
                if got.data_ptr() == state.buffers[link.target][slot_in].data_ptr():
                    raise BackendError(f"{self.name}: {link.source} was written into the buffer {link.target} "
                                       "reads on the same chunk (double buffering broken); report this as a bug.")
                if got.data_ptr() != state.buffers[link.target][slot_out].data_ptr():
                    state.buffers[link.target][slot_out].copy_(got)
            else:
                fb = c.feedback_for(self._ref_of(link.target))
                fixed = _pad_torch(got, fb.padding) if fb is not None and fb.padding is not None else got
                state.buffers[link.target][slot_out].copy_(fixed.to(state.buffers[link.target][slot_out].dtype))
        torch.cuda.synchronize(self._device)
        host = {n: self._host(n, t) for n, t in outs.items()}
        outputs = self._to_ref_names(host)
        new_host = {}
        for fb in c.feedback:
            tgt = c.input(fb.target).name
            if tgt in state.buffers:
                new_host[fb.target] = state.buffers[tgt][slot_out].cpu().numpy()
        return outputs, TrtState(state.buffers, k + 1, new_host)

    def state_arrays(self, state: State) -> dict[str, np.ndarray]:
        return dict(state.host) if isinstance(state, TrtState) else dict(state)

    # --- info ----------------------------------------------------------------------------------------------------------
    def _info_impl(self) -> BackendInfo:
        pc = getattr(self, "precision_check", None)
        mode = math_mode(self.precision, getattr(self, "_fp16_mode", ""), self._build_info.get("tf32"))
        return BackendInfo(
            name=self.name, runtime="tensorrt", version=getattr(self, "trt_version", ""), device=getattr(self, "gpu", ""),
            provider="TensorRT engine", precision=self.precision, math_mode=mode, options=dict(self.options),
            extra={"engine": str(getattr(self, "_paths", None) and self._paths.plan), "build": self._build_info,
                   "io_dtypes": {n: d for n, (_, d) in getattr(self, "_io", {}).items()},
                   "layer_dtypes": dict(pc.layer_dtypes) if pc else {},
                   "precision_check": pc.to_dict() if pc else {},
                   "checks": {"precision": {"status": pc.status, "message": pc.message}} if pc else {},
                   "profiles": [p.to_json() for p in getattr(self, "_profiles", [])], "notes": list(self.notes)},
        )


def _pad_torch(t: Any, padding: Any) -> Any:
    """`contracts.feedback.pad_to` for a torch tensor, on its device."""
    import torch

    axis = padding.axis % t.dim()
    size = t.shape[axis]
    if size == padding.to:
        return t
    if size > padding.to:
        start = size - padding.to if padding.side == "left" else 0
        return t.narrow(axis, start, padding.to)
    shape = list(t.shape)
    shape[axis] = padding.to - size
    fill = torch.full(shape, padding.value, dtype=t.dtype, device=t.device)
    return torch.cat([fill, t] if padding.side == "left" else [t, fill], dim=axis)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)


__all__ = ["TrtBackend", "TrtState", "onnx_input_dims", "default_cache_dir"]
