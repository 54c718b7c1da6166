"""Peak memory of a run: host RSS of this process and device memory, sampled while the run lasts.

``ru_maxrss`` is the process's peak since it started, not the run's, so a sampler thread reads the current RSS
(``/proc/self/statm``) every `INTERVAL_S` and keeps the maximum; the figure is a lower bound of the true peak
(a spike shorter than the interval can be missed), which the report says. Device memory: this process's use where
NVML lists it (``nvmlDeviceGetComputeRunningProcesses``; in a container NVML may list host PIDs, so this process is
never seen there), else the device's used memory above what was in use when the run started (``device-delta``:
other processes' allocations count too), else torch's allocator peak; which one is recorded.
"""

from __future__ import annotations

import os
import threading
from typing import Any

INTERVAL_S = 0.05


def current_rss_mb() -> float | None:
    """This process's resident set now, in MiB (None where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class _Nvml:
    """This process's device memory through NVML, or the device-wide used memory (None: no NVML, no GPU)."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._nvml: Any = None
        self._base = 0.0
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no NVML here: device memory is reported as not measured, with why
            self._handles = []
        if self._handles:
            self._base = self._used()

    def _own(self) -> float | None:
        pid = os.getpid()
        total, seen = 0.0, False
        for h in self._handles:
            try:
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(h)
            except Exception:  # noqa: BLE001 - per-process figures unsupported (e.g. in a sandbox): fall back
                return None
            for p in procs:
                if p.pid == pid and p.usedGpuMemory is not None:
                    total += p.usedGpuMemory / 2**20
                    seen = True
        return total if seen else None

    def _used(self) -> float:
        return sum(self._nvml.nvmlDeviceGetMemoryInfo(h).used for h in self._handles) / 2**20

    def read(self) -> tuple[float | None, float | None]:
        """(this process's device memory if NVML lists it, device used memory above the start), MiB."""
        if not self._handles:
            return None, None
        return self._own(), max(0.0, self._used() - self._base)


class PeakMemory:
    """Context manager sampling host RSS and device memory; `to_dict()` gives the run's ``memory`` document."""

    def __init__(self, device: bool = True) -> None:
        self.peak_rss_mb: float | None = None
        self.start_rss_mb = current_rss_mb()
        self.peak_device_mb: float | None = None
        self._peak_delta_mb: float | None = None
        self._measured_device = device
        self._device = _Nvml() if device else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        rss = current_rss_mb()
        if rss is not None:
            self.peak_rss_mb = rss if self.peak_rss_mb is None else max(self.peak_rss_mb, rss)
        if self._device is not None:
            own, delta = self._device.read()
            if own is not None:
                self.peak_device_mb = own if self.peak_device_mb is None else max(self.peak_device_mb, own)
            if delta is not None:
                self._peak_delta_mb = delta if self._peak_delta_mb is None else max(self._peak_delta_mb, delta)

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sample()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
            "start_rss_mb": None if self.start_rss_mb is None else round(self.start_rss_mb, 1),
            "peak_device_mb": None if self.peak_device_mb is None else round(self.peak_device_mb, 1),
            "sampled_every_ms": int(INTERVAL_S * 1e3),
        }
        torch_peak = _torch_peak_mb() if self._measured_device else None
        if self.peak_device_mb is not None:
            doc["device_method"] = "NVML, this process"
        elif self._peak_delta_mb is not None:
            doc["peak_device_mb"] = round(self._peak_delta_mb, 1)
            doc["device_method"] = ("NVML, device used memory above the run's start (NVML does not list this "
                                    "process; other processes' allocations count too)")
        elif torch_peak is not None:
            doc["peak_device_mb"] = round(torch_peak, 1)
            doc["device_method"] = "torch allocator peak (other runtimes' allocations not counted)"
        elif not self._measured_device:
            doc["device_method"] = "not measured: the run computes on the CPU"
        else:
            doc["device_method"] = "not measured (no NVML and no CUDA torch in this process)"
        return doc


def _torch_peak_mb() -> float | None:
    import sys

    torch = sys.modules.get("torch")  # only if the run already imported it: never import torch for this
    if torch is None:
        return None
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except RuntimeError:
        return None
    return None
