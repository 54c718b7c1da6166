"""Keeping an mmap'ed file from counting in our memory: drop pages we are done with."""

from __future__ import annotations

import mmap
from typing import Any

_PAGE = mmap.PAGESIZE


def release(buf: Any, start: int, end: int) -> None:
    """Tell the kernel we are done with buf[start:end] of an mmap, so those pages leave our RSS (they stay in the
    page cache; touching them again just maps them back). A no-op for anything but an mmap."""
    if isinstance(buf, mmap.mmap) and end > start:
        lo = (start // _PAGE) * _PAGE
        try:
            buf.madvise(mmap.MADV_DONTNEED, lo, end - lo)
        except (OSError, ValueError, AttributeError):
            pass
