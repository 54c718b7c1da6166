"""The demo's artifacts: the `tiny` NeMo encoder at seed 0, its ONNX export, a 50-chunk reference and its store.

Built once and cached on disk, keyed by everything that changes them (package, NeMo, torch and ONNX versions, the
seed, the chunk count, `DEMO_FORMAT`), so a second `inspector demo` (or test session) starts instantly. A build runs
under a file lock: concurrent builders (parallel test sessions) wait for the first and reuse its result. The
completion mark `artifacts.json` is written last, so an interrupted build is simply redone.

Default cache folder: ``$INSPECTOR_CACHE`` or ``~/.cache/parity-inspector/demo``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from inspector import __version__
from inspector.errors import InspectorError

DEMO_MODEL = "tiny"
DEMO_SEED = 0
DEMO_CHUNKS = 50
DEMO_CONTRACT = "demo_streaming"
DEMO_FORMAT = 1  # bump when the artifacts' content or layout changes
MARK = "artifacts.json"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoArtifacts:
    """Everything the demo (and the test suite) runs on.

    Attributes:
        folder: The cache folder of this build.
        onnx: The tiny encoder's ONNX export (reference names as graph I/O).
        reference_jsonl: 50-chunk reference, our JSONL format, first chunk as the export handles it.
        store: That reference converted to a Zarr store (None if `store.convert` is not available).
        contract: Path of the demo contract (``demo_streaming``), or its bare name when the file is not shipped yet.
        nemo_first_chunk_jsonl: The same reference with NeMo's own first-chunk handling (a planted fault).
        model: Preset name. seed: Weight seed. chunks: Chunks per stream.
        cache_lengths: `cache_last_channel_len_out` per chunk, as the model produced it.
        info: The build record (versions, timings, sizes).
        reused: True when this call found the artifacts already built.
    """

    folder: Path
    onnx: Path
    reference_jsonl: Path
    store: Path | None
    contract: Path | str
    nemo_first_chunk_jsonl: Path
    model: str = DEMO_MODEL
    seed: int = DEMO_SEED
    chunks: int = DEMO_CHUNKS
    cache_lengths: tuple[int, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


def default_cache_dir() -> Path:
    env = os.environ.get("INSPECTOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "parity-inspector" / "demo"


def cache_key(seed: int = DEMO_SEED, chunks: int = DEMO_CHUNKS) -> str:
    """A short hash of everything that changes the artifacts (reads package versions without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"format={DEMO_FORMAT}", f"inspector={__version__}", f"seed={seed}", f"chunks={chunks}",
             f"model={DEMO_MODEL}"]
    for dist in ("nemo_toolkit", "torch", "onnx", "numpy"):
        try:
            parts.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist}=none")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def build_demo_artifacts(cache_dir: str | Path | None = None, *, rebuild: bool = False, seed: int = DEMO_SEED,
                         chunks: int = DEMO_CHUNKS, say: Say | None = None) -> DemoArtifacts:
    """Build (or reuse) the demo artifacts.

    Args:
        cache_dir: Where to keep them (default `default_cache_dir()`); each build lives in `<cache_dir>/<key>/`.
        rebuild: Ignore a cached build and redo it.
        seed: Weight seed of the tiny model (the synthetic audio derives its seed from it).
        chunks: Chunks in the reference.
        say: Called with one progress line per step (e.g. `click.echo`).

    Returns:
        The artifacts.

    Raises:
        InspectorError: The cache folder is not writable; NeMo/torch missing (with what to install).
    """
    say = say or (lambda _msg: None)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / cache_key(seed, chunks)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(f"cannot create the demo cache folder {folder} ({exc}); pass --cache-dir or set "
                             "INSPECTOR_CACHE to a writable folder.") from exc
    with _lock(folder / ".lock"):
        if not rebuild:
            found = _load(folder)
            if found is not None:
                if found.store is None and _converter() is not None:  # the store package arrived since
                    found = _finish_store(found, say)
                say(f"Demo artifacts: reusing {folder}")
                return found
        for stale in folder.iterdir():
            if stale.name != ".lock":
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        return _build(folder, seed, chunks, say)


def _build(folder: Path, seed: int, chunks: int, say: Say) -> DemoArtifacts:
    from backends.base import BackendError
    from backends.nemo import NemoBackend

    avail = NemoBackend.availability()
    if not avail:
        raise InspectorError(f"the demo needs NeMo and torch: {avail.reason}. To install: {avail.install}.")
    from backends.nemo import load_reference_model, versions
    from backends.nemo_export import export_onnx
    from inspector.reference import make_reference

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say(f"[1/4] Building NeMo's FastConformer encoder '{DEMO_MODEL}' with seeded weights (seed {seed}) …")
    model = load_reference_model(DEMO_MODEL, seed=seed)
    timings["build_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    say(f"[2/4] Streaming {chunks} chunks of synthetic speech through it (NeMo cache_aware_stream_step) …")
    ref = make_reference(DEMO_MODEL, model=model, output=folder / "reference.jsonl", seed=seed, n_chunks=chunks)
    fault = make_reference(DEMO_MODEL, model=model, output=folder / "reference.nemo-first-chunk.jsonl", seed=seed,
                           n_chunks=chunks, first_chunk="nemo")
    timings["reference_s"] = time.perf_counter() - t

    t = time.perf_counter()
    say("[3/4] Exporting it to ONNX (cache inputs/outputs, reference names) …")
    try:
        exported = export_onnx(model, folder / "encoder_streaming.onnx")
    except BackendError as exc:
        raise InspectorError(f"demo: {exc}") from exc
    timings["export_s"] = time.perf_counter() - t

    info = {
        "model": DEMO_MODEL, "seed": seed, "chunks": chunks, "key": folder.name, "format": DEMO_FORMAT,
        "versions": {**versions(), "inspector": __version__}, "streaming": model.streaming,
        "cache_lengths": list(next(iter(ref.cache_lengths.values()))),
        "nemo_first_chunk_cache_lengths": list(next(iter(fault.cache_lengths.values()))),
        "reference_bytes": ref.bytes_written, "onnx": exported.to_dict(), "timings": timings,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    art = DemoArtifacts(folder=folder, onnx=exported.onnx, reference_jsonl=ref.path, store=None,
                        contract=_contract_path(), nemo_first_chunk_jsonl=fault.path, seed=seed, chunks=chunks,
                        cache_lengths=tuple(info["cache_lengths"]), info=info)
    _save(art)
    return _finish_store(art, say)


def _finish_store(art: DemoArtifacts, say: Say) -> DemoArtifacts:
    """Convert the reference into a store with the store package's converter (step 4), then re-mark."""
    convert = _converter()
    if convert is None:
        say("[4/4] Store conversion not available yet (store.convert missing): the store step is skipped.")
        return art
    dest = art.folder / "reference.zarr"
    if dest.exists():
        shutil.rmtree(dest)
    say("[4/4] Converting the reference into a Zarr store …")
    t = time.perf_counter()
    _call_convert(convert, art.reference_jsonl, dest)
    info = {**art.info, "timings": {**art.info.get("timings", {}), "convert_s": time.perf_counter() - t}}
    art = DemoArtifacts(**{**art.__dict__, "store": dest, "info": info})
    _save(art)
    return art


def _converter() -> Callable[..., Any] | None:
    try:
        from store import convert as mod
    except ImportError:
        return None
    return getattr(mod, "convert", None) or getattr(mod, "convert_jsonl", None)


def _call_convert(convert: Callable[..., Any], source: Path, dest: Path) -> None:
    import inspect

    params = inspect.signature(convert).parameters
    kwargs: dict[str, Any] = {}
    if "contract" in params:
        contract = _contract_path()
        kwargs["contract"] = str(contract) if isinstance(contract, Path) else contract
    if "workers" in params:
        kwargs["workers"] = 1  # tiny lines: a second process costs more than it saves
    if "progress" in params:
        kwargs["progress"] = False  # the demo prints its own step lines
    convert(source, dest, **kwargs)


def _contract_path() -> Path | str:
    shipped = Path(__file__).resolve().parent.parent / "contracts" / f"{DEMO_CONTRACT}.contract.json"
    return shipped if shipped.exists() else DEMO_CONTRACT


def _save(art: DemoArtifacts) -> None:
    files = {
        "onnx": art.onnx.name, "reference_jsonl": art.reference_jsonl.name,
        "store": art.store.name if art.store else None, "nemo_first_chunk_jsonl": art.nemo_first_chunk_jsonl.name,
    }
    record = {**art.info, "files": files}
    tmp = art.folder / (MARK + ".partial")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(art.folder / MARK)


def _load(folder: Path) -> DemoArtifacts | None:
    mark = folder / MARK
    if not mark.exists():
        return None
    try:
        rec = json.loads(mark.read_text())
    except (OSError, ValueError):
        return None
    files = rec.get("files") or {}
    try:
        paths = [folder / files["onnx"], folder / files["reference_jsonl"], folder / files["nemo_first_chunk_jsonl"]]
    except (KeyError, TypeError):
        return None
    store = folder / files["store"] if files.get("store") else None
    if not all(p.exists() for p in paths) or (store is not None and not store.exists()):
        return None
    info = {k: v for k, v in rec.items() if k != "files"}
    return DemoArtifacts(folder=folder, onnx=paths[0], reference_jsonl=paths[1], store=store,
                         contract=_contract_path(), nemo_first_chunk_jsonl=paths[2], seed=int(rec["seed"]),
                         chunks=int(rec["chunks"]), cache_lengths=tuple(rec.get("cache_lengths", ())), info=info,
                         reused=True)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX flock; a no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent demo builds are not a use case there
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
