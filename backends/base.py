"""One small interface for every runtime, a registry of them, and an availability report.

Modelled on Polygraphy's runners: construction is cheap; `activate()` acquires the session/engine/model, `run()`
executes one chunk, `deactivate()` frees everything; `with backend:` does both. Subclasses override the `*_impl`
methods only.

Names and layouts: `run()` takes and returns dicts keyed by the contract's *reference names* with arrays in the
*model's layout* (what the ONNX graph sees). The base class translates to and from the model names that `_run_impl`
works with.

Closed loop: `step()` runs one chunk with the state carried from the previous `step()` (or the given initial state)
and returns the host outputs plus an opaque `State` for the next chunk. The default keeps state as host arrays and
applies the contract's feedback map (with padding); a backend may keep state on its device (ORT IO binding, TensorRT
double buffers) by overriding `_step_impl`.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from contracts.feedback import next_state
from contracts.model import Contract


class BackendError(Exception):
    """A backend could not be opened or could not run a chunk; the message says what to do."""


class BackendUnavailable(BackendError):
    """The backend cannot run on this machine (package or GPU missing)."""


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, and if not, why and what to install."""

    available: bool
    reason: str = ""
    install: str = ""

    def __bool__(self) -> bool:
        return self.available


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is, recorded with every run so results are never ambiguous.

    Attributes:
        name: Registry name, e.g. ``ort-cuda``.
        runtime: ``onnxruntime``, ``torch``, ``tensorrt``.
        version: Runtime version.
        device: ``cpu`` or the GPU's name.
        provider: Execution provider or equivalent (``CUDAExecutionProvider``).
        precision: ``fp32``, ``fp16``, ``bf16``, ``mixed``.
        math_mode: e.g. ``tf32=off`` — every knob that changes numerics.
        options: The options the backend was opened with, after defaults.
        extra: Anything else worth recording (engine tensor dtypes, provider options …).
    """

    name: str
    runtime: str
    version: str
    device: str
    provider: str = ""
    precision: str = "fp32"
    math_mode: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "runtime": self.runtime, "version": self.version, "device": self.device,
            "provider": self.provider, "precision": self.precision, "math_mode": self.math_mode,
            "options": dict(self.options), "extra": dict(self.extra),
        }


State = Any
"""Opaque per-backend closed-loop state (host arrays by default)."""


class Backend(ABC):
    """One runtime executing one model export under one contract."""

    name: ClassVar[str] = ""
    """Registry name (``ort-cpu``)."""

    def __init__(self, model: str | Path | None, contract: Contract, options: Mapping[str, Any] | None = None):
        self.model = Path(model) if model is not None else None
        self.contract = contract
        self.options: dict[str, Any] = dict(options or {})
        self.is_active = False
        self.inference_time: float | None = None
        """Seconds the last `run`/`step` spent inside the runtime."""

    # --- class-level --------------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls) -> Availability:
        """Whether this backend can run on this machine; cheap, imports nothing heavy unless needed."""

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """What is wrong with these options (registry defaults included), checked before anything runs; one
        sentence each, naming the key and the valid choices. The default knows no option names and accepts all."""
        return []

    @classmethod
    def accepts_option(cls, key: str, options: Mapping[str, Any]) -> bool:
        """Whether `key` means something to this backend with these (registry default) options; a bare
        ``--backend-opt KEY=VALUE`` goes only to the backends of a batch that accept it."""
        return True

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def activate(self) -> None:
        if self.is_active:
            raise BackendError(f"backend {self.name} is already active")
        avail = self.availability()
        if not avail:
            raise BackendUnavailable(_unavailable_message(self.name, avail))
        self._activate_impl()
        self.is_active = True

    def deactivate(self) -> None:
        if not self.is_active:
            return
        try:
            self._deactivate_impl()
        finally:
            self.is_active = False

    def __enter__(self) -> "Backend":
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    # --- running ------------------------------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one chunk. `feeds`: every contract input, by reference name, in model layout."""
        self._require_active()
        model_feeds = {self.contract.input(ref).name: arr for ref, arr in feeds.items()}
        self.inference_time = None
        start = time.perf_counter()
        out = self._run_impl(model_feeds)
        if self.inference_time is None:  # an impl may time itself, excluding host copies
            self.inference_time = time.perf_counter() - start
        return self._to_ref_names(out)

    def step(self, stream_feeds: Mapping[str, np.ndarray], state: State | None,
             initial_state: Mapping[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], State]:
        """Run one closed-loop chunk.

        Args:
            stream_feeds: The non-state inputs (reference names, model layout).
            state: What the previous `step` returned, or None on the first chunk.
            initial_state: State inputs for the first chunk (usually the reference's chunk-0 caches).

        Returns:
            The host outputs (reference names) and the state for the next chunk.
        """
        self._require_active()
        return self._step_impl(stream_feeds, state, initial_state)

    def state_arrays(self, state: State) -> dict[str, np.ndarray]:
        """The host copy of a closed-loop state (reference input names); used by probes and diagnostics."""
        return dict(state)

    def info(self) -> BackendInfo:
        """What this backend is; valid after `activate()`."""
        return self._info_impl()

    # --- for subclasses -----------------------------------------------------------------------------------------
    @abstractmethod
    def _activate_impl(self) -> None: ...

    @abstractmethod
    def _deactivate_impl(self) -> None: ...

    @abstractmethod
    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one chunk; feeds and outputs keyed by *model* names."""

    @abstractmethod
    def _info_impl(self) -> BackendInfo: ...

    def _step_impl(self, stream_feeds: Mapping[str, np.ndarray], state: State | None,
                   initial_state: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], State]:
        carried = dict(initial_state or {}) if state is None else dict(state)
        feeds = {**carried, **stream_feeds}
        outputs = self.run(feeds)
        return outputs, next_state(self.contract, outputs, carried)

    # --- helpers ------------------------------------------------------------------------------------------------
    def _require_active(self) -> None:
        if not self.is_active:
            raise BackendError(f"backend {self.name} is not active: use it inside `with backend:`")

    def _to_ref_names(self, out: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        by_model = {spec.name: spec.ref_name for spec in self.contract.outputs}
        return {by_model.get(k, k): v for k, v in out.items()}


# --- registry ---------------------------------------------------------------------------------------------------
_REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (module, class, default options)
    "ort-cpu": ("backends.onnxrt", "OrtBackend", {"provider": "cpu"}),
    "ort-cuda": ("backends.onnxrt", "OrtBackend", {"provider": "cuda"}),
    "torch-cpu": ("backends.nemo", "NemoBackend", {"device": "cpu"}),
    "torch-cuda": ("backends.nemo", "NemoBackend", {"device": "cuda"}),
    "trt-fp32": ("backends.tensorrt", "TrtBackend", {"precision": "fp32"}),
    "trt-fp16": ("backends.tensorrt", "TrtBackend", {"precision": "fp16"}),
}


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    """The class behind a registry name; imports its module (but not its runtime)."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}. Note: valid choices are {', '.join(_REGISTRY)}.")
    module, cls, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def make_backend(name: str, model: str | Path | None, contract: Contract,
                 options: Mapping[str, Any] | None = None) -> Backend:
    """Build (not activate) a backend by registry name; `options` override the registry defaults."""
    cls = backend_class(name)
    backend = cls(model, contract, {**_REGISTRY[name][2], **(options or {})})
    backend.name = name  # instance attribute: one class serves several names
    return backend


def default_options(name: str) -> dict[str, Any]:
    """The option defaults a registry name implies (``ort-cuda`` → ``{"provider": "cuda"}``)."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}. Note: valid choices are {', '.join(_REGISTRY)}.")
    return dict(_REGISTRY[name][2])


def availability(name: str, options: Mapping[str, Any] | None = None) -> Availability:
    """Availability of a backend by name, with the option defaults of that name (e.g. ort-cuda needs a GPU) and,
    if given, the user's `options` on top."""
    cls = backend_class(name)
    opts = {**_REGISTRY[name][2], **(options or {})}
    check = getattr(cls, "availability_for", None)
    return check(opts) if check else cls.availability()


def option_problems(name: str, options: Mapping[str, Any] | None = None) -> list[str]:
    """`Backend.option_problems` for a registry name, with that name's option defaults under the user's options."""
    cls = backend_class(name)
    return cls.option_problems({**_REGISTRY[name][2], **(options or {})})


def accepts_option(name: str, key: str) -> bool:
    """`Backend.accepts_option` for a registry name (with its option defaults)."""
    cls = backend_class(name)
    return cls.accepts_option(key, dict(_REGISTRY[name][2]))


def availability_report() -> dict[str, Availability]:
    """Every registered backend and whether it can run here."""
    report = {}
    for name in _REGISTRY:
        try:
            report[name] = availability(name)
        except Exception as exc:  # a broken optional install must not break the report
            report[name] = Availability(False, f"{type(exc).__name__}: {exc}", "")
    return report


def _unavailable_message(name: str, avail: Availability) -> str:
    msg = f"Backend {name} cannot run on this machine: {avail.reason}."
    if avail.install:
        msg += f" To use it: {avail.install}."
    return msg
