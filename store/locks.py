"""The store's conversion lock: one `inspector convert` per store at a time, and who holds it now.

Its own module so the writer (`store.convert`) and the readers that report it (`store.info`) share it without
importing each other.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from store.api import StoreError

LOCK_NAME = ".convert.lock"  # in the store root; zarr readers ignore it


def lock_store(out: Path, wait_for_orphans: float = 15.0) -> Any:
    """An exclusive lock on the store for one conversion, or a `StoreError` when another one holds it.

    Two conversions into one store would each clean the other's work in progress and commit each other's chunks;
    the second is refused instead. It is an flock, which forked workers inherit: the store counts as busy until
    the converter *and* its workers are gone. The OS drops it when they end, even by ``kill -9``; a converter that
    was killed leaves workers that die within moments (they are tied to it), so a lock whose owner is no longer
    alive is waited for, briefly, instead of refused.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (documented: run one conversion per store)
        return None
    f = open(out / LOCK_NAME, "a+")
    deadline = time.monotonic() + wait_for_orphans
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            if holder_alive(holder) or time.monotonic() >= deadline:
                f.close()
                who = holder or "another process"
                raise StoreError(f"{out} is being written by another `inspector convert` ({who}). Wait for it to "
                                 f"finish (or stop it), then run this command again: it resumes where that one "
                                 f"stopped, and nothing either of them converted is lost.") from None
            time.sleep(0.05)  # the owner died: its workers are about to follow
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}")
    f.flush()
    return f


def holder_alive(holder: str) -> bool:
    """Whether the process named in a lock file (``pid N``) is alive (unknown → assume it is)."""
    try:
        pid = int(holder.split()[-1])
    except (ValueError, IndexError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def converting_now(path: Path) -> str | None:
    """``"pid N"`` when an `inspector convert` holds the store's lock right now, else None."""
    lock = Path(path) / LOCK_NAME
    if not lock.is_file():
        return None
    try:
        import fcntl
    except ImportError:
        return None
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            return (holder or "another process") if holder_alive(holder) else None
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


__all__ = ["LOCK_NAME", "converting_now", "holder_alive", "lock_store"]
