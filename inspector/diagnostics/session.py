"""What the diagnostic commands share: opening the store, the contract and one backend, with the CLI's errors."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from contracts.model import Contract
from inspector.errors import InspectorError


def open_store(path: str | Path) -> Any:
    """Open a store read-only, with a clear error when it is not one."""
    from store import Store

    p = Path(path)
    if not p.exists():
        raise InspectorError(f"store {p} does not exist: convert a reference first (`inspector convert REF.jsonl "
                             f"--store {p}`).")
    return Store.open(p, mode="r")


def open_contract(name_or_path: str | Path) -> Contract:
    """`contracts.load.load_contract` (a path, or a shipped name such as ``demo_streaming``)."""
    from contracts.load import load_contract

    return load_contract(name_or_path)


def backend_options(items: Sequence[str], backend: str) -> dict[str, Any]:
    """``--backend-opt KEY=VALUE`` items for one backend (``BACKEND:KEY=VALUE`` items for others are rejected)."""
    from inspector.preflight import parse_backend_options

    return parse_backend_options(items, [backend])[backend]


@contextmanager
def active_backend(name: str, model: str | Path | None, contract: Contract, options: dict[str, Any],
                   store: Any | None = None) -> Iterator[Any]:
    """Build, check and activate one backend; deactivate it on exit.

    Raises:
        InspectorError: The backend is unknown or cannot run here (with what to install), or needs a model.
    """
    from backends.base import make_backend
    from inspector.preflight import check_available, model_for

    check_available([name], {name: options})
    header = dict((getattr(store, "attrs", {}) or {}).get("header") or {}) if store is not None else {}
    if model is None and not name.startswith("torch-"):
        raise InspectorError(f"backend {name} needs the ONNX model: pass --model PATH.onnx.")
    target = model_for(name, model if model is not None else "", header, options)
    backend = make_backend(name, target, contract, options)
    with backend:
        yield backend
