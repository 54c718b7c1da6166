"""Reproduction bundle: one chunk's inputs and outputs, written so the chunk can be re-run outside this tool.

`export_chunk` writes into a directory:

- ``inputs.npz`` — every model input of the chunk under its *model* name, in the model's layout and dtype, i.e.
  exactly the feed dict the ONNX graph takes;
- ``reference_outputs.npz`` — the reference outputs (model names, model layout);
- ``backend_outputs.npz`` — the backend's outputs for the same feeds (only when a backend is given);
- ``inputs.polygraphy.json`` — the same inputs in Polygraphy's JSON data format, a list with one feed dict, each
  array encoded as Polygraphy's `polygraphy.json` encoder does: ``{"array": base64(np.save bytes),
  "polygraphy_class": "ndarray"}`` (read from Polygraphy's ``polygraphy/json/serde.py``), so
  ``polygraphy run model.onnx --onnxrt --load-inputs inputs.polygraphy.json`` runs this very chunk;
- ``reference_outputs.polygraphy.json`` — the reference outputs as a Polygraphy ``RunResults`` (runner
  ``reference``), so ``--load-outputs reference_outputs.polygraphy.json`` compares any runtime against them;
- ``meta.json`` — where it came from (store, stream, chunk, contract, model, backend and its info), the name and
  layout map (reference name ↔ model name, shapes, dtypes), the cache lengths, and the commands above;
- ``README.txt`` — those commands, for whoever receives the bundle;
- with ``copy_model``: the ONNX model itself (and its external-data files), beside the inputs.

The commands name every file by its absolute path, so they run as printed from any directory on this machine; with
``copy_model`` the bundle also carries commands relative to itself (``cd BUNDLE && polygraphy run model.onnx …``),
which keep working wherever the bundle is moved.
"""

from __future__ import annotations

import base64
import io
import json
import math
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from contracts.model import Contract
from inspector.diagnostics.chunkdata import load_chunk, model_feeds, resolve_stream, scalar_or_list
from inspector.errors import InspectorError

FORMAT = "parity-chunk-bundle"
VERSION = 1
POLYGRAPHY_TYPE_MARKER = "polygraphy_class"
"""`polygraphy.constants.TYPE_MARKER`: the key naming the encoded type."""


@dataclass(frozen=True)
class Bundle:
    """A bundle read back from disk (`load_bundle`)."""

    path: Path
    inputs: dict[str, np.ndarray]
    reference_outputs: dict[str, np.ndarray]
    backend_outputs: dict[str, np.ndarray] | None
    meta: Mapping[str, Any] = field(default_factory=dict)


# --- Polygraphy's JSON data format ---------------------------------------------------------------------------------
def encode_ndarray(array: np.ndarray) -> dict[str, Any]:
    """One array as Polygraphy's JSON encoder writes it (`np.save` bytes, base64, no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return {"array": base64.b64encode(buf.getvalue()).decode(), POLYGRAPHY_TYPE_MARKER: "ndarray"}


def decode_ndarray(obj: Mapping[str, Any]) -> np.ndarray:
    """The inverse of `encode_ndarray` (as Polygraphy's decoder reads it)."""
    data = base64.b64decode(obj["array"].encode(), validate=True)
    return np.load(io.BytesIO(data), allow_pickle=False)


def polygraphy_inputs_json(feed_dicts: list[Mapping[str, np.ndarray]]) -> str:
    """`List[Dict[str, np.ndarray]]` — one feed dict per iteration — as Polygraphy's ``save_json`` writes it."""
    return json.dumps([{name: encode_ndarray(arr) for name, arr in feeds.items()} for feeds in feed_dicts],
                      indent=4)


def polygraphy_run_results_json(runner: str, outputs: Mapping[str, np.ndarray], runtime: float = 0.0) -> str:
    """One iteration of outputs as a Polygraphy ``RunResults`` (``--load-outputs``)."""
    iteration = {
        "outputs": {name: {"values": encode_ndarray(arr), POLYGRAPHY_TYPE_MARKER: "LazyArray"}
                    for name, arr in outputs.items()},
        "runtime": float(runtime), "runner_name": runner, POLYGRAPHY_TYPE_MARKER: "IterationResult",
    }
    return json.dumps({"lst": [[runner, [iteration]]], POLYGRAPHY_TYPE_MARKER: "RunResults"}, indent=4)


def decode_polygraphy_json(text: str) -> Any:
    """Decode Polygraphy JSON the way `polygraphy.json.from_json` does for the types used here: an object whose
    ``polygraphy_class`` is ``ndarray`` becomes an array, ``LazyArray`` its values, ``IterationResult`` a dict with
    ``outputs``/``runner_name``/``runtime``, ``RunResults`` a list of ``(runner, [iterations])``."""
    def hook(pairs: list[tuple[str, Any]]) -> Any:
        d = dict(pairs)
        kind = d.pop(POLYGRAPHY_TYPE_MARKER, None)
        if kind is None:
            return d
        if kind == "ndarray":
            return decode_ndarray(d)
        if kind == "LazyArray":
            return d["values"]
        if kind == "IterationResult":
            return {"outputs": d["outputs"], "runner_name": d["runner_name"], "runtime": d["runtime"]}
        if kind == "RunResults":
            return [tuple(x) for x in d["lst"]]
        raise ValueError(f"unknown polygraphy_class {kind!r}")

    return json.loads(text, object_pairs_hook=hook)


# --- writing and reading bundles -----------------------------------------------------------------------------------
def export_chunk(store: Any, chunk: int, out_dir: str | Path, *, stream: str | None = None,
                 contract: Contract | None = None, backend: Any | None = None, model: str | Path | None = None,
                 overwrite: bool = False, copy_model: bool = False) -> Path:
    """Write the reproduction bundle of one chunk into `out_dir` (see the module docstring).

    Args:
        store: An open store.
        chunk: Chunk index.
        out_dir: Directory to write (created; must be empty unless `overwrite`).
        stream: Stream name (default: the store's only stream).
        contract: Maps reference names to model names and layouts; without one, names and layout stay as stored.
        backend: An *active* backend whose outputs for the chunk go into ``backend_outputs.npz``.
        model: The ONNX model path, for meta.json and the commands.
        overwrite: Replace files of an existing bundle.
        copy_model: Copy `model` (and its external-data files) into the bundle.

    Returns:
        The bundle directory.
    """
    out = Path(out_dir)
    if copy_model and model is None:
        raise InspectorError("--copy-model needs --model: the ONNX model to put beside the inputs.")
    if model is not None and not Path(model).is_file():
        raise InspectorError(f"--model {model}: no such file.")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InspectorError(f"{out} exists and is not empty: choose another -o directory or pass --overwrite.")
    out.mkdir(parents=True, exist_ok=True)
    # the model first: a model that cannot be copied stops before any file of the bundle is written
    copied = _copy_model(Path(model), out) if copy_model and model is not None else None
    stream = resolve_stream(store, stream)
    data = load_chunk(store, contract, stream, chunk)
    if contract is not None:
        ref_feeds = model_feeds(contract, data)
        to_model = {s.ref_name: s.name for s in (*contract.inputs, *contract.outputs)}
    else:
        ref_feeds = dict(data.inputs)
        to_model = {}
    feeds = {to_model.get(k, k): v for k, v in ref_feeds.items()}
    reference = {to_model.get(k, k): v for k, v in data.outputs.items()}
    backend_out = None
    info: dict[str, Any] = {}
    runtime = 0.0
    if backend is not None:
        if contract is None:
            raise InspectorError("export-chunk with a backend needs the contract (--contract) to feed it.")
        start = time.perf_counter()
        got = backend.run(ref_feeds)
        runtime = time.perf_counter() - start
        backend_out = {to_model.get(k, k): np.asarray(v) for k, v in got.items()}
        try:
            info = backend.info().to_dict()
        except Exception:  # noqa: BLE001 — decoration only
            info = {"name": backend.name}

    np.savez(out / "inputs.npz", **feeds)
    np.savez(out / "reference_outputs.npz", **reference)
    if backend_out is not None:
        np.savez(out / "backend_outputs.npz", **backend_out)
    (out / "inputs.polygraphy.json").write_text(polygraphy_inputs_json([feeds]))
    (out / "reference_outputs.polygraphy.json").write_text(polygraphy_run_results_json("reference", reference))

    where = out.resolve()
    model_abs = where / copied if copied else Path(model).resolve() if model is not None else None
    commands = _commands(str(model_abs) if model_abs else "MODEL.onnx", str(where) + "/")
    if copied:  # relative to the bundle: valid wherever the bundle is moved
        commands["in_bundle"] = _commands(copied, "")["polygraphy_compare"]
    names = []
    for ref_name, arr in ref_feeds.items():
        names.append({"kind": "input", "reference_name": ref_name, "model_name": to_model.get(ref_name, ref_name),
                      "shape": list(arr.shape), "dtype": str(arr.dtype)})
    for ref_name, arr in data.outputs.items():
        names.append({"kind": "output", "reference_name": ref_name, "model_name": to_model.get(ref_name, ref_name),
                      "shape": list(arr.shape), "dtype": str(arr.dtype)})
    dg = contract.diagnostics if contract is not None else None
    meta = {
        "format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "store": str(Path(store.path).resolve()) if hasattr(store, "path") else "", "stream": stream, "chunk": chunk,
        "contract": contract.name if contract is not None else None,
        "layout": "model" if contract is not None else "reference (no contract given)",
        "model": str(model_abs) if model_abs is not None else None,
        "model_copied": copied,
        "backend": getattr(backend, "name", None), "backend_info": info, "backend_seconds": runtime,
        "tensors": names,
        "cache_last_channel_len": {
            "in": scalar_or_list(data.inputs.get(dg.cache_len_input if dg else "cache_last_channel_len")),
            "out_reference": scalar_or_list(data.outputs.get(dg.cache_len_output if dg
                                                             else "cache_last_channel_len_out")),
        },
        "chunk_meta": _jsonable(dict(data.meta)),
        "files": sorted(p.name for p in out.iterdir()) + ["meta.json", "README.txt"],
        "commands": commands,
    }
    (out / "meta.json").write_text(json.dumps(_jsonable(meta), indent=2, allow_nan=False))
    (out / "README.txt").write_text(_readme(meta))
    return out


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle written by `export_chunk`."""
    p = Path(path)
    if not (p / "inputs.npz").exists():
        raise InspectorError(f"{p} is not a chunk bundle: it has no inputs.npz (write one with "
                             "`inspector export-chunk`).")
    meta = json.loads((p / "meta.json").read_text()) if (p / "meta.json").exists() else {}
    with np.load(p / "inputs.npz") as z:
        inputs = {k: z[k] for k in z.files}
    with np.load(p / "reference_outputs.npz") as z:
        reference = {k: z[k] for k in z.files}
    backend = None
    if (p / "backend_outputs.npz").exists():
        with np.load(p / "backend_outputs.npz") as z:
            backend = {k: z[k] for k in z.files}
    return Bundle(p, inputs, reference, backend, meta)


def _commands(model: str, prefix: str) -> dict[str, str]:
    """The reproduce commands for `model`, with the bundle's files under `prefix` (absolute, or "" inside it)."""
    q = shlex.quote
    inputs, outputs, npz = (q(f"{prefix}inputs.polygraphy.json"), q(f"{prefix}reference_outputs.polygraphy.json"),
                            f"{prefix}inputs.npz")
    return {
        "polygraphy_run": f"polygraphy run {q(model)} --onnxrt --load-inputs {inputs}",
        "polygraphy_compare": (f"polygraphy run {q(model)} --onnxrt --load-inputs {inputs} --load-outputs {outputs} "
                               "--atol 1e-4 --rtol 0"),
        "python": "python -c " + q(f"import numpy as np, onnxruntime as ort; f = dict(np.load({json.dumps(npz)})); "
                                   f"s = ort.InferenceSession({json.dumps(model)}); out = dict(zip([o.name for o in "
                                   "s.get_outputs()], s.run(None, f))); print({k: v.shape for k, v in out.items()})"),
    }


def _copy_model(model: Path, out: Path) -> str:
    """Copy the ONNX model and the external-data files it names into `out`; the copy's name (relative to `out`)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: a file that is not ONNX is bad input
        raise InspectorError(f"--copy-model: {model} is not an ONNX model onnx can read ({type(exc).__name__}: "
                             f"{exc}).") from exc
    locations = set()
    tensors = list(proto.graph.initializer) + [a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")]
    for t in tensors:
        if uses_external_data(t):
            locations |= {e.value for e in t.external_data if e.key == "location"}
    for loc in sorted(locations):
        rel = Path(loc)
        if rel.is_absolute() or ".." in rel.parts or not (model.parent / rel).is_file():
            raise InspectorError(f"--copy-model: {model} keeps weights in {loc!r}, which is not a file inside its "
                                 f"folder; copy the model and that file into the bundle yourself, or drop "
                                 f"--copy-model (the commands then name the model by its absolute path).")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(model.parent / rel, out / rel)
    shutil.copy2(model, out / model.name)
    return model.name


def _readme(meta: Mapping[str, Any]) -> str:
    c = meta["commands"]
    text = (
        f"Chunk {meta['chunk']} of stream {meta['stream']!r} from {meta['store']} "
        f"(contract {meta['contract']}, backend {meta['backend']}).\n\n"
        "Feeds: inputs.npz (model input names, model layout). Expected: reference_outputs.npz"
        + (", backend_outputs.npz" if meta.get("backend") else "") + ".\n\n"
        "These commands name every file by its absolute path: run them from any directory.\n"
        + ("" if meta.get("model") else "No model was given: replace MODEL.onnx with the path to the ONNX model.\n")
        + f"\nRe-run with Polygraphy:\n  {c['polygraphy_run']}\n"
        f"Compare with the reference:\n  {c['polygraphy_compare']}\n"
        f"Or in Python:\n  {c['python']}\n"
    )
    if "in_bundle" in c:
        text += f"\nThe model is in this bundle: wherever the bundle is moved, run from its folder:\n  {c['in_bundle']}\n"
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.generic,)):
        return _jsonable(value.item())  # a NaN numpy scalar is still NaN after .item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value
