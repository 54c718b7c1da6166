"""ONNX Runtime: ``ort-cpu`` (CPU execution provider) and ``ort-cuda`` (CUDA execution provider).

Options (``--backend-opt KEY=VALUE``; values arrive as strings and are parsed):

- ``provider``: ``cpu`` or ``cuda`` (set by the registry name).
- ``intra_op_threads`` / ``inter_op_threads``: thread pools (0 = ONNX Runtime's default).
- ``deterministic``: ``1`` (default) sets ``SessionOptions.use_deterministic_compute``.
- ``graph_optimization``: ``all`` (default), ``extended``, ``basic`` or ``disabled``.
- ``allow_spinning``: ``0`` stops ONNX Runtime's idle pool threads from spin-waiting (they otherwise occupy every
  core, slowing the engine's reader and writer threads); default: ONNX Runtime's (spinning on).
- ``io_binding``: closed loop through IO binding, caches kept as device OrtValues between chunks (default 1 on
  CUDA, 0 on CPU; ``io_binding=0`` on CUDA gives host round-trips, for comparison).
- ``device_id`` and every other key: a CUDA execution provider option, passed through as is (``use_tf32=0``,
  ``cudnn_conv_algo_search=DEFAULT``, ``gpu_mem_limit=…``). ``cudnn_conv_algo_search`` defaults to ``HEURISTIC``
  here (ORT's own default, EXHAUSTIVE, searches again at every new input shape: seconds per utterance). The CUDA EP computes MatMul/Conv in TF32 by default
  (``use_tf32=1``); that changes results by ~1e-3 at parakeet size, so `info().math_mode` always says which, read
  back from the session, and notes ``NVIDIA_TF32_OVERRIDE=0`` when it is set.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from backends.base import Availability, Backend, BackendError, BackendInfo, BackendUnavailable, State
from contracts.feedback import pad_to

_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC",
           "disabled": "ORT_DISABLE_ALL"}
_OWN_OPTIONS = {"provider", "intra_op_threads", "inter_op_threads", "deterministic", "graph_optimization",
                "io_binding", "allow_spinning"}
DEFAULT_CONV_ALGO_SEARCH = "HEURISTIC"
"""ort-cuda's cuDNN convolution algorithm search unless ``--backend-opt cudnn_conv_algo_search=…`` says otherwise."""
_CUDA_INSTALL = ("pip install 'parity-inspector[cuda]' (onnxruntime-gpu; uninstall the CPU-only onnxruntime first), "
                 "on a machine with an NVIDIA GPU, its driver, CUDA and cuDNN")


def parse_option(value: Any) -> Any:
    """``"0"`` → 0, ``"1e-3"`` → 0.001, ``"true"`` → True; anything else unchanged."""
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


def _flag(value: Any) -> bool:
    return bool(parse_option(value))


@dataclass
class DeviceState:
    """Closed-loop state kept by ONNX Runtime: OrtValues (on the GPU for ``ort-cuda``) plus what made them."""

    values: dict[str, Any]
    """Target (state input) reference name → OrtValue fed on the next chunk."""
    host: dict[str, np.ndarray] = field(default_factory=dict)
    """Host copies of the same state (the padded outputs), for probes and diagnostics."""


class OrtBackend(Backend):
    """ONNX Runtime on the CPU or CUDA execution provider."""

    name = "ort-cpu"

    def __init__(self, model, contract, options=None):
        super().__init__(model, contract, options)
        self.options = {k: parse_option(v) for k, v in self.options.items()}
        self.provider = str(self.options.get("provider", "cpu"))
        if self.provider not in ("cpu", "cuda"):
            raise BackendError(f"onnxruntime backend: provider {self.provider!r} is not supported. "
                               "Note: valid choices are cpu, cuda.")
        self.sess = None
        self.notes: list[str] = []
        self._provider_options: dict[str, Any] = {}

    # --- availability ----------------------------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> Availability:
        return cls.availability_for({"provider": "cpu"})

    @classmethod
    def availability_for(cls, options: Mapping[str, Any]) -> Availability:
        """Whether ONNX Runtime can run here with these options (``provider=cuda`` needs the GPU build and a GPU)."""
        if importlib.util.find_spec("onnxruntime") is None:
            return Availability(False, "onnxruntime is not installed", "pip install onnxruntime")
        if str(options.get("provider", "cpu")) != "cuda":
            return Availability(True)
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return Availability(
                False, f"the installed onnxruntime {ort.__version__} has no CUDA execution provider "
                       f"(providers: {', '.join(ort.get_available_providers())})", _CUDA_INSTALL)
        from backends.gpu import gpu_count, no_gpu_reason

        if gpu_count() == 0:
            return Availability(False, f"no CUDA GPU: {no_gpu_reason()}", "run on a machine with an NVIDIA GPU")
        return Availability(True)

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Unknown keys (CPU: anything but our own options; CUDA passes other keys to the EP) and bad values."""
        opts = {k: parse_option(v) for k, v in options.items()}
        problems = []
        provider = str(opts.get("provider", "cpu"))
        if provider not in ("cpu", "cuda"):
            problems.append(f"provider={provider!r}. Note: valid choices are cpu, cuda")
        unknown = sorted(set(opts) - _OWN_OPTIONS - {"device_id"})
        if provider == "cpu" and unknown:
            problems.append(f"unknown option(s) {', '.join(unknown)}. Note: valid choices are "
                            f"{', '.join(sorted(_OWN_OPTIONS))} (CUDA execution provider options apply to ort-cuda "
                            "only)")
        level = str(opts.get("graph_optimization", "all"))
        if level not in _LEVELS:
            problems.append(f"graph_optimization={level!r}. Note: valid choices are {', '.join(_LEVELS)}")
        for key in ("intra_op_threads", "inter_op_threads", "device_id"):
            if key in opts and (isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 0):
                problems.append(f"{key}={options[key]!r}: expected a whole number >= 0")
        for key in ("deterministic", "io_binding", "allow_spinning"):
            if key in opts and not isinstance(opts[key], (bool, int)):
                problems.append(f"{key}={options[key]!r}: expected 0/1 (or true/false)")
        return problems

    @classmethod
    def accepts_option(cls, key: str, options: Mapping[str, Any]) -> bool:
        return str(options.get("provider", "cpu")) == "cuda" or key in _OWN_OPTIONS or key == "device_id"

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def _activate_impl(self) -> None:
        import onnxruntime as ort

        avail = self.availability_for(self.options)
        if not avail:
            msg = f"Backend {self.name} cannot run on this machine: {avail.reason}."
            raise BackendUnavailable(msg + (f" To use it: {avail.install}." if avail.install else ""))
        if self.model is None or not self.model.exists():
            raise BackendError(f"{self.name}: model file {self.model} does not exist; pass the ONNX export with --model.")
        problems = self.option_problems(self.options)
        if problems:
            raise BackendError(f"{self.name}: " + "; ".join(problems) + ".")
        so = ort.SessionOptions()
        so.use_deterministic_compute = _flag(self.options.get("deterministic", 1))
        so.intra_op_num_threads = int(self.options.get("intra_op_threads", 0))
        so.inter_op_num_threads = int(self.options.get("inter_op_threads", 0))
        so.log_severity_level = 3  # ORT's Memcpy-node warnings would drown the progress log
        if "allow_spinning" in self.options:
            # ORT's idle pool threads spin by default, taking every core from the engine's reader/writer threads
            spin = "1" if _flag(self.options["allow_spinning"]) else "0"
            so.add_session_config_entry("session.intra_op.allow_spinning", spin)
            so.add_session_config_entry("session.inter_op.allow_spinning", spin)
        level = str(self.options.get("graph_optimization", "all"))
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
        if self.provider == "cuda":
            self._provider_options = {k: str(int(v) if isinstance(v, bool) else v) for k, v in self.options.items()
                                      if k not in _OWN_OPTIONS}
            # ORT's own default, EXHAUSTIVE, re-runs cuDNN's algorithm search at every new Conv input shape: 1.0-1.8 s
            # on chunks 0 and 1 of every utterance at parakeet size on the H200, against ~28 ms steady; HEURISTIC
            # gave bit-identical outputs there (bench/RESULTS.md). `cudnn_conv_algo_search=EXHAUSTIVE` restores it.
            self._provider_options.setdefault("cudnn_conv_algo_search", DEFAULT_CONV_ALGO_SEARCH)
            providers: list[Any] = [("CUDAExecutionProvider", self._provider_options), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.sess = ort.InferenceSession(str(self.model), sess_options=so, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidArgument types
            raise BackendError(f"{self.name}: ONNX Runtime could not load {self.model}: {exc}") from exc
        if self.provider == "cuda" and self.sess.get_providers()[0] != "CUDAExecutionProvider":
            got = self.sess.get_providers()
            self.sess = None
            raise BackendUnavailable(
                f"Backend {self.name} cannot run on this machine: ONNX Runtime fell back to {got} (the CUDA execution "
                f"provider failed to load: check CUDA/cuDNN libraries). To use it: {_CUDA_INSTALL}.")
        self._io_binding = _flag(self.options.get("io_binding", 1 if self.provider == "cuda" else 0))
        self._device = "cuda" if self.provider == "cuda" else "cpu"
        self._device_id = int(self.options.get("device_id", 0))
        self._out_names = [o.name for o in self.sess.get_outputs()]
        model_inputs = {i.name for i in self.sess.get_inputs()}
        check = f"`inspector contract check {self.model} -c {self.contract.source or self.contract.name}`"
        missing = [s.name for s in self.contract.inputs if s.name not in model_inputs]
        if missing:
            self.sess = None
            raise BackendError(f"{self.name}: the model {self.model} has no input(s) {missing} that the contract "
                               f"{self.contract.name} names; it has {sorted(model_inputs)}.{_nemo_hint(missing)} "
                               f"{check} lists every difference.")
        model_outputs = set(self._out_names)
        missing = [s.name for s in self.contract.outputs if s.name not in model_outputs]
        if missing:
            self.sess = None
            raise BackendError(f"{self.name}: the model {self.model} has no output(s) {missing} that the contract "
                               f"{self.contract.name} names; it has {sorted(model_outputs)}.{_nemo_hint(missing)} "
                               f"{check} lists every difference.")

    def _deactivate_impl(self) -> None:
        self.sess = None

    # --- running ---------------------------------------------------------------------------------------------------
    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.sess.run(None, feeds)
        return dict(zip(self._out_names, values))

    def _step_impl(self, stream_feeds, state, initial_state):
        if not self._io_binding:
            return super()._step_impl(stream_feeds, _host(state), initial_state)
        return self._step_bound(stream_feeds, state, initial_state)

    def state_arrays(self, state: State) -> dict[str, np.ndarray]:
        return dict(state.host) if isinstance(state, DeviceState) else dict(state)

    def _step_bound(self, stream_feeds: Mapping[str, np.ndarray], state: DeviceState | None,
                    initial_state: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], DeviceState]:
        """One closed-loop chunk with IO binding: caches stay device OrtValues; outputs still come to the host.

        Every output is bound to a fresh device allocation, so an input buffer is never also an output buffer; the
        state outputs' OrtValues become the next chunk's inputs as they are when their shape and dtype already match
        the input (the export keeps caches at full size); otherwise they are padded/cast on the host and sent back
        (noted in `notes` and `info().extra`).
        """
        import onnxruntime as ort

        if state is None:
            init = dict(initial_state or {})
            values = {t: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a), self._device, self._device_id)
                      for t, a in init.items()}
            state = DeviceState(values, init)
        io = self.sess.io_binding()
        for ref, arr in stream_feeds.items():
            io.bind_cpu_input(self.contract.input(ref).name, np.ascontiguousarray(arr))
        for target, value in state.values.items():
            io.bind_ortvalue_input(self.contract.input(target).name, value)
        for name in self._out_names:
            io.bind_output(name, self._device, self._device_id)
        start = time.perf_counter()
        self.sess.run_with_iobinding(io)
        io.synchronize_outputs()
        self.inference_time = time.perf_counter() - start
        ortvalues = dict(zip(self._out_names, io.get_outputs()))
        host_model = dict(zip(self._out_names, io.copy_outputs_to_cpu()))
        outputs = self._to_ref_names(host_model)
        new_values: dict[str, Any] = {}
        new_host: dict[str, np.ndarray] = {}
        for fb in self.contract.feedback:
            if fb.source not in outputs:
                if fb.target in state.values:
                    new_values[fb.target], new_host[fb.target] = state.values[fb.target], state.host.get(fb.target)
                continue
            host = outputs[fb.source]
            want = np.dtype(self.contract.input(fb.target).dtype)
            needs_pad = fb.padding is not None and host.shape[fb.padding.axis % host.ndim] != fb.padding.to
            if not needs_pad and host.dtype == want:
                new_values[fb.target] = ortvalues[self.contract.output(fb.source).name]
                new_host[fb.target] = host
                continue
            fixed = pad_to(host, fb.padding) if needs_pad else host
            fixed = np.ascontiguousarray(fixed.astype(want, copy=False))
            note = (f"{fb.source} → {fb.target}: padded/cast on the host (shape {list(host.shape)} {host.dtype} → "
                    f"{list(fixed.shape)} {want}); this cache makes a host round-trip each chunk")
            if note not in self.notes:
                self.notes.append(note)
            new_values[fb.target] = ort.OrtValue.ortvalue_from_numpy(fixed, self._device, self._device_id)
            new_host[fb.target] = fixed
        return outputs, DeviceState(new_values, new_host)

    # --- info ------------------------------------------------------------------------------------------------------
    def _info_impl(self) -> BackendInfo:
        import onnxruntime as ort

        from backends.gpu import cpu_name, gpu_name

        extra: dict[str, Any] = {"providers": list(self.sess.get_providers()) if self.sess else [],
                                 "io_binding": bool(getattr(self, "_io_binding", False))}
        if self.notes:
            extra["notes"] = list(self.notes)
        if self.provider == "cuda":
            actual = self.sess.get_provider_options().get("CUDAExecutionProvider", {}) if self.sess else {}
            extra["provider_options"] = dict(actual)
            search = actual.get("cudnn_conv_algo_search", self._provider_options.get("cudnn_conv_algo_search"))
            extra["cudnn_conv_algo_search"] = (f"{search}" + ("" if "cudnn_conv_algo_search" in self.options
                                                               else " (parity-inspector default)"))
            tf32 = str(actual.get("use_tf32", self._provider_options.get("use_tf32", "1"))) != "0"
            explicit = "use_tf32" in self._provider_options
            math_mode = f"tf32={'on' if tf32 else 'off'}" + ("" if explicit else " (CUDA EP default)")
            if os.environ.get("NVIDIA_TF32_OVERRIDE") == "0":
                math_mode = "tf32=off (NVIDIA_TF32_OVERRIDE=0)"
            device = gpu_name(int(self.options.get("device_id", 0))) or "cuda"
            provider = "CUDAExecutionProvider"
        else:
            math_mode = "fp32 (CPU EP, no TF32)"
            device = cpu_name()
            provider = "CPUExecutionProvider"
        return BackendInfo(
            name=self.name, runtime="onnxruntime", version=ort.__version__, device=device, provider=provider,
            precision="fp32", math_mode=math_mode, options=dict(self.options), extra=extra,
        )


def _nemo_hint(missing: list[str]) -> str:
    """A sentence when the missing names are the reference names of NeMo's own export names."""
    from contracts.check import NEMO_NAMES

    nemo = {ref: raw for raw, ref in NEMO_NAMES.items()}
    pairs = [f"{nemo[m]!r} for {m!r}" for m in missing if m in nemo]
    if not pairs:
        return ""
    return (f" If the model uses NeMo's export names ({', '.join(pairs)}), re-export with `inspector export` (which "
            "renames them) or map them in the contract (name = NeMo's, ref_name = ours).")


def _host(state: State | None) -> dict[str, np.ndarray] | None:
    if isinstance(state, DeviceState):
        return dict(state.host)
    return state

