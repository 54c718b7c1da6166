"""What NVIDIA GPU this machine has, asked of the CUDA driver directly (ctypes, no CUDA Python package needed).

Used by availability reports (cheap: loading libcuda and counting devices takes milliseconds) and by backend info
(the GPU's name goes into every run record and into TensorRT engine-cache keys).
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache


@lru_cache(maxsize=1)
def _driver() -> ctypes.CDLL | None:
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if lib.cuInit(0) == 0:
            return lib
        return None
    return None


def gpu_count() -> int:
    """Number of CUDA devices the driver sees (0 without a driver or GPU, or with CUDA_VISIBLE_DEVICES empty)."""
    lib = _driver()
    if lib is None:
        return 0
    n = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(n)) != 0:
        return 0
    return int(n.value)


def gpu_name(index: int = 0) -> str:
    """The name of CUDA device `index` (e.g. ``NVIDIA H100 80GB HBM3``), or "" if there is none."""
    lib = _driver()
    if lib is None or index >= gpu_count():
        return ""
    dev = ctypes.c_int(0)
    if lib.cuDeviceGet(ctypes.byref(dev), index) != 0:
        return ""
    buf = ctypes.create_string_buffer(256)
    if lib.cuDeviceGetName(buf, 256, dev) != 0:
        return ""
    return buf.value.decode(errors="replace")


def no_gpu_reason() -> str:
    """Why `gpu_count()` is 0, in words."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return "CUDA_VISIBLE_DEVICES is empty"
    if _driver() is None:
        return "no NVIDIA driver (libcuda.so.1) was found or it failed to initialise"
    return "the NVIDIA driver reports no GPU"


def cpu_name() -> str:
    """The processor's model name, for run records."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
