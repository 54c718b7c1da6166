"""Checks made before any chunk runs, and the arguments they turn into: backend options, availability, the model
against the contract, the model each backend runs, modes.

Used by the run API (`inspector.api`), the app's jobs and the diagnostics (which sit below the run API and so import
these from here). Each check raises one `InspectorError` (exit 2) naming every problem it found, so a batch never
half-runs on bad input.

Models per backend (`model_for`): ONNX backends (``ort-*``, ``trt-*``) run the given model. The torch backends run
NeMo itself: given a ``.nemo`` model they load it; given an ONNX model they rebuild the encoder the store's reference
was made with (the header's ``nemo_path``, or ``preset`` and ``seed``), unless ``preset``/``seed``/``nemo_path``
options say otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from inspector.errors import InspectorError

MODES = ("functional", "closed-loop")


def parse_backend_options(items: Sequence[str], backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["use_tf32=0", "ort-cuda:io_binding=0"]`` → per-backend option dicts (a bare ``K=V`` applies to all).

    Raises:
        InspectorError: An item is not ``[BACKEND:]KEY=VALUE`` or names a backend not in the batch.
    """
    from backends.base import accepts_option
    from backends.onnxrt import parse_option

    out: dict[str, dict[str, Any]] = {b: {} for b in backends}
    for item in items:
        target: str | None = None
        body = item
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            target, body = head, rest
        key, eq, value = body.partition("=")
        if not eq or not key.strip():
            raise InspectorError(f"--backend-opt {item!r}: expected KEY=VALUE or BACKEND:KEY=VALUE "
                                 "(e.g. use_tf32=0 or ort-cuda:use_tf32=0).")
        if target is not None and target not in out:
            raise InspectorError(f"--backend-opt {item!r} names backend {target!r}, which is not in this batch "
                                 f"({', '.join(backends)}).")
        key = key.strip()
        if target:
            out[target][key] = parse_option(value.strip())
            continue
        # A bare KEY=VALUE goes to every backend of the batch it means something to (use_tf32=0 is for ort-cuda,
        # not ort-cpu); a key none of them knows is reported by `check_options`.
        takers = [b for b in backends if _accepts(accepts_option, b, key)] or list(backends)
        for b in takers:
            out[b][key] = parse_option(value.strip())
    return out


def _accepts(accepts_option: Callable[[str, str], bool], backend: str, key: str) -> bool:
    try:
        return accepts_option(backend, key)
    except Exception:  # noqa: BLE001 — an unknown backend name is reported by the availability check
        return True


def check_options(names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one `InspectorError` listing every bad option of every backend, before anything runs."""
    from backends.base import option_problems

    problems = []
    for name in dict.fromkeys(names):
        try:
            found = option_problems(name, options.get(name))
        except Exception:  # noqa: BLE001 — a backend module that fails to import: `check_available` says why
            found = []
        problems += [f"{name}: {p}" for p in found]
    if problems:
        raise InspectorError("Bad --backend-opt, nothing was run: " + "; ".join(problems)
                             + ". Options are [BACKEND:]KEY=VALUE; see `inspector backends` for what runs here.")


def check_model_matches(model: Path, contract: Any, backends: Sequence[str]) -> list[str]:
    """Check the ONNX export against the contract before any chunk runs (names, dtypes, ranks, fixed sizes).

    Returns the warnings (extra outputs …) as sentences.

    Raises:
        InspectorError: The file is not an ONNX model, or differs from the contract in a way that makes the run
            meaningless (a missing or renamed tensor, another dtype or rank, a fixed size that differs).
    """
    if not any(b.startswith(("ort-", "trt-")) for b in backends) or model.suffix == ".nemo":
        return []
    from contracts.check import ModelFileError, check_model

    try:
        diffs = check_model(model, contract)
    except ModelFileError as exc:
        raise InspectorError(f"--model: {exc}") from None
    errors = [d for d in diffs if d.severity == "error"]
    if errors:
        items = [f"{d.io} {d.tensor!r}: {d.message}" + (f" ({d.hint})" if d.hint else "") for d in errors[:8]]
        more = f"; and {len(errors) - 8} more" if len(errors) > 8 else ""
        raise InspectorError(
            f"The model {model} does not match the contract {contract.name} ({len(errors)} difference"
            f"{'s' if len(errors) != 1 else ''}), nothing was run: " + "; ".join(items) + more
            + f". Fix the export or the contract; `inspector contract check {model} -c "
            f"{contract.source or contract.name}` shows them all.")
    return [f"{d.io} {d.tensor!r}: {d.message}" for d in diffs if d.severity == "warning"]


def check_available(names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one `InspectorError` listing every backend that cannot run here and what to install for it."""
    from backends.base import BackendError, availability

    problems = []
    for name in dict.fromkeys(names):
        try:
            avail = availability(name, options.get(name))
        except BackendError as exc:
            raise InspectorError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 — a broken optional install is "unavailable", with its error
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not avail:
            problems.append(f"{name}: {avail.reason}" + (f" (to use it: {avail.install})" if avail.install else ""))
    if problems:
        raise InspectorError("Backend(s) not available on this machine, nothing was run: " + "; ".join(problems)
                             + ". Run `inspector backends` to see what can run here.")


def check_backend_names(names: Sequence[str]) -> None:
    """Raise an `InspectorError` naming the backends the registry does not know (and the valid choices)."""
    from backends.base import backend_names

    known = backend_names()
    unknown = [b for b in names if b not in known]
    if unknown:
        raise InspectorError(f"unknown backend(s) {', '.join(unknown)}. Note: valid choices are "
                             f"{', '.join(known)}.")


def model_for(backend: str, model: str | Path, header: Mapping[str, Any], options: dict[str, Any]) -> str | Path | None:
    """The model a backend runs (see the module docstring); may add ``preset``/``seed`` to `options`."""
    if not backend.startswith("torch-"):
        return model
    if str(model).endswith(".nemo"):
        return model
    if not any(k in options for k in ("preset", "nemo_path")):
        if header.get("nemo_path"):
            options["nemo_path"] = header["nemo_path"]
        elif header.get("preset"):
            options["preset"] = header["preset"]
            if header.get("seed") is not None and "seed" not in options:
                options["seed"] = header["seed"]
        else:
            raise InspectorError(
                f"Backend {backend} runs NeMo itself, but the store's header says neither which preset nor which "
                ".nemo made the reference; pass --model PATH.nemo or --backend-opt preset=NAME --backend-opt seed=S.")
    return None


def parse_modes(modes: Sequence[str] | str) -> list[str]:
    """``["both"]`` → ``["functional", "closed-loop"]``; duplicates dropped, order kept.

    Raises:
        InspectorError: A mode that is none of functional, closed-loop, both.
    """
    items = [modes] if isinstance(modes, str) else list(modes)
    out: list[str] = []
    for m in items:
        for x in (MODES if m == "both" else (m,)):
            if x not in MODES:
                raise InspectorError(f"--mode {m!r}. Note: valid choices are functional, closed-loop, both.")
            if x not in out:
                out.append(x)
    return out


def plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as JSON-ready scalars (what a run records and what identifies it)."""
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in options.items()}


__all__ = [
    "MODES", "check_available", "check_backend_names", "check_model_matches", "check_options", "model_for",
    "parse_backend_options", "parse_modes", "plain_options",
]
