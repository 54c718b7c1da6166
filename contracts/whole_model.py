"""The seed team's whole-model contract (the ASR model's encoder, predictor, joint, decoding, TensorRT set-up) →
the flat ``parakeet-tdt-0.6b-v3`` form that `contracts.seed_flat.SeedImporter` reads, plus what was found on the way
(`contracts.import_base.Prelude`: key paths in the user's file, provenance, prose, ignored and unmapped keys).

Read: ``encoder.streaming_io`` (the streaming graph's tensors ``{name, dtype, shape, layout}``),
``encoder.architecture`` (layer count, d_model), ``streaming`` (chunk/shift sizes, valid_out_len, cache sizes, padding,
length bounds and behaviour), ``trt`` (the streaming encoder's profiles, tolerance sets, precision), provenance
(``model_id``, ``hashes`` …). Listed as ignored: the other parts of the model (`OTHER_PARTS`), the offline I/O and the
other graphs' profiles. Every other key is listed as not mapped, never dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

from contracts.errors import ContractError
from contracts.import_base import Prelude, int_like, parse_shape
from contracts.schemas import is_encoder_section, join_path, nodes

# Whole-model sections that describe other parts of the model than the streaming encoder: listed as ignored.
OTHER_PARTS = {
    "predictor": "the RNN-T/TDT prediction network, not the encoder",
    "decoder": "the decoder, not the encoder",
    "joint": "the joint network, not the encoder",
    "decode": "decoding settings (greedy/beam, durations), not the encoder's numerics",
    "decoding": "decoding settings (greedy/beam, durations), not the encoder's numerics",
    "tokenizer": "the tokenizer, not the encoder",
    "vocabulary": "the vocabulary, not the encoder",
    "features": "the feature extractor (mel settings); the reference's audio_signal already holds its output",
    "preprocessor": "the feature extractor (mel settings); the reference's audio_signal already holds its output",
    "timebase": "the time base of frames (hop, subsampling), informational; the streaming sizes come from 'streaming'",
}
_PROVENANCE_KEYS = ("model_id", "model_family", "model_version", "model_name", "nemo_version", "exported_at",
                    "export_tool", "created_at", "hashes")
_MEL_UNITS = ("mel", "feature", "feat", "input", "spectrogram", "fbank")


def _find(doc: dict, names: tuple[str, ...], pred: Any = lambda v: True) -> tuple[str, Any] | None:
    """The nearest value under one of `names` (breadth first) that satisfies `pred`, as (key path, value)."""
    for path, node in nodes(doc):
        for key in names:
            if key in node and pred(node[key]):
                return join_path(path, key), node[key]
    return None



def flatten_whole_model(doc: dict, label: str) -> tuple[dict, Prelude]:
    """A whole-model contract → the flat encoder document `SeedImporter` reads, and what was found on the way.

    Raises:
        ContractError: No usable streaming encoder I/O (the one part a parity contract cannot do without).
    """
    pre = Prelude()
    consumed: set[str] = set()
    flat: dict[str, Any] = {}

    enc_at = _find(doc, ("encoder", "encoder_model", "streaming_encoder", "asr_encoder"), is_encoder_section)
    if enc_at is None:  # an encoder section under some other key
        enc_at = next(((p, n) for p, n in nodes(doc) if is_encoder_section(n) and p), None)
    enc_path, enc = enc_at if enc_at is not None else ("", doc)
    consumed.add(enc_path)
    io_path = join_path(enc_path, "streaming_io")
    io = enc.get("streaming_io")
    if not isinstance(io, dict):
        found = ", ".join(map(str, enc)) or "nothing"
        raise ContractError(
            f"contract {label}: whole-model contract without the streaming encoder's I/O: {io_path} is "
            f"{'missing' if io is None else 'not an object'} ({enc_path or 'the encoder section'} has {found}). "
            f"This tool checks the streaming graph: add {io_path} {{inputs: [{{name, dtype, shape, layout}}, ...], "
            f"outputs: [...]}} as the export has them.")
    for group in ("inputs", "outputs"):
        tensors = io.get(group)
        if not isinstance(tensors, (list, dict)) or not tensors:
            raise ContractError(
                f"contract {label}: {io_path}.{group} is {'missing' if tensors is None else 'empty or not a list'} "
                f"({io_path} has {', '.join(map(str, io)) or 'nothing'}); it must list the streaming graph's {group} "
                f"as [{{name, dtype, shape, layout}}, ...].")
        items = tensors.items() if isinstance(tensors, dict) else [(None, t) for t in tensors]
        out = []
        for i, (key, t) in enumerate(items):
            where = f"{io_path}.{group}" + (f".{key}" if key is not None else f"[{i}]")
            if not isinstance(t, dict):
                t = {"shape": t}
            t = dict(t)
            if key is not None:
                t.setdefault("name", key)
            if not isinstance(t.get("name"), str) or not t["name"]:
                raise ContractError(f"contract {label}: {where}.name is missing: every tensor of {io_path}.{group} "
                                    f"needs the ONNX graph's name (found keys: {', '.join(map(str, t))}).")
            if "shape" not in t:
                raise ContractError(f"contract {label}: {where}.shape is missing for {t['name']!r}: give the "
                                    f"symbolic shape, e.g. [\"B\", 128, \"T\"].")
            if isinstance(t["shape"], str):
                pre.mapped.append(f"{where}.shape {t['shape']!r} read as {parse_shape(t['shape'])}")
                t["shape"] = parse_shape(t["shape"])
            out.append(t)
        flat[group] = out
        pre.origin[group] = f"{io_path}.{group}"
    for k, v in io.items():
        if k not in ("inputs", "outputs"):
            pre.unmapped.append((f"{io_path}.{k}", v, "not part of a tensor list"))
    for k, v in enc.items():
        p = join_path(enc_path, k)
        if k == "streaming_io":
            continue
        if k == "offline_io":
            pre.ignored.append(f"{p}: the offline (whole-utterance) graph's I/O; this tool checks the streaming graph")
        elif k in ("type", "name", "class", "target", "_target_"):
            pre.notes.append(f"encoder {k}: {v}")
            pre.mapped.append(f"{p} -> notes")
        elif k in ("architecture", "config", "cfg") and isinstance(v, dict):
            pre.streaming_extra["architecture"] = v
            pre.mapped.append(f"{p} -> streaming.extra.architecture")
        else:
            pre.unmapped.append((p, v, "not part of what a parity contract describes"))

    _whole_model_streaming(doc, flat, pre, consumed)
    _whole_model_trt(doc, enc_path, flat, pre, consumed)
    _whole_model_provenance(doc, flat, pre, consumed)
    for path, node in nodes(doc):
        for k, v in node.items():
            p = join_path(path, str(k))
            if k in OTHER_PARTS and not any(p == c or p.startswith(c + ".") for c in consumed):
                consumed.add(p)
                pre.ignored.append(f"{p}: {OTHER_PARTS[k]}")
    _report_rest(doc, "", consumed, pre)
    return flat, pre


def _whole_model_streaming(doc: dict, flat: dict, pre: Prelude, consumed: set[str]) -> None:
    """``streaming`` (and ``encoder.architecture``'s sizes) → the flat ``streaming`` and its top-level companions
    (``mode``, ``cache_layout``, ``cache_pad``, ``cache_len_bounds``); prose about the cache length → `pre.prose`."""
    arch = pre.streaming_extra.get("architecture", {})
    stream_at = _find(doc, ("streaming", "streaming_config", "streaming_cfg", "stream"),
                      lambda v: isinstance(v, dict))
    fs: dict[str, Any] = {}
    if stream_at is not None:
        sp, s = stream_at
        consumed.add(sp)
        pre.origin["streaming"] = sp
        units = s.get("chunk_size_units", s.get("units"))
        mel_units = units is None or any(w in str(units).lower() for w in _MEL_UNITS) and not any(
            w in str(units).lower() for w in ("encoder", "subsampled", "output", "token"))
        for k, v in s.items():
            p = join_path(sp, k)
            if k in ("mode", "cache_layout", "cache_pad", "cache_len_bounds"):
                flat[k] = v
                pre.origin[k] = p
            elif k in ("cache_len_behavior", "cache_len_behaviour", "cache_behavior", "cache_behaviour"):
                if isinstance(v, str):
                    pre.prose.append((p, v, "cache_last_channel_len_out"))
                else:
                    pre.unmapped.append((p, v, "expected a sentence"))
            elif k in ("cache_valid_region", "valid_region") and isinstance(v, str):
                pre.prose.append((p, v, None))
            elif k == "cache_len_expected":
                n = int_like(v)
                if n is not None:
                    fs["cache_len_expected"] = n
                    pre.mapped.append(f"{p} {n} -> the cache size the length saturates at (checked against "
                                      f"cache.last_channel_size)")
                elif isinstance(v, str):
                    pre.prose.append((p, v, "cache_last_channel_len_out"))
                else:
                    pre.unmapped.append((p, v, "expected the cache length the stream saturates at"))
            elif k in ("chunk_size_units", "units"):
                if mel_units:
                    pre.mapped.append(f"{p} {v!r}: chunk and shift sizes are in mel (feature) frames")
                else:
                    pre.unmapped.append((p, v, "chunk_size/shift_size not in mel frames: kept in streaming.extra, "
                                               "no chunk_frames derived"))
            elif k in ("chunk_size", "shift_size") and not mel_units:
                pre.streaming_extra[k] = v
            elif k in ("cache", "caches") and isinstance(v, dict):
                names = {"last_channel_size": "cache_size", "last_channel_cache_size": "cache_size",
                         "channel_size": "cache_size", "attention_size": "cache_size", "size": "cache_size",
                         "time_context_size": "time_ctx", "last_time_size": "time_ctx", "conv_context": "time_ctx",
                         "time_size": "time_ctx", "last_channel_num": "layers", "last_time_num": "layers",
                         "num_layers": "layers", "layers": "layers"}
                for ck, cv in v.items():
                    target = names.get(ck)
                    n = int_like(cv)
                    if target is not None and n is not None:
                        if target in fs and fs[target] != n:
                            pre.unmapped.append((f"{p}.{ck}", cv, f"disagrees with {target} = {fs[target]} given "
                                                                  "elsewhere; the first is kept"))
                            continue
                        fs[target] = n
                        pre.mapped.append(f"{p}.{ck} -> streaming.{target} {n}")
                    else:
                        pre.streaming_extra.setdefault("cache", {})[ck] = cv
                        pre.unmapped.append((f"{p}.{ck}", cv, "kept in streaming.extra.cache"))
            else:
                if k in fs and int_like(v) is not None and fs[k] != int_like(v):
                    pre.unmapped.append((p, v, f"disagrees with {fs[k]} given elsewhere; the first is kept"))
                    continue
                fs[k] = v
        expected = fs.pop("cache_len_expected", None)
        if expected is not None:
            if "cache_size" not in fs:
                fs["cache_size"] = expected
            elif int_like(fs["cache_size"]) != expected:
                pre.unmapped.append((join_path(sp, "cache_len_expected"), expected,
                                     f"disagrees with the cache size {fs['cache_size']}; the cache size is kept"))
    layers, d_model = int_like(arch.get("num_layers", arch.get("n_layers"))), int_like(arch.get("d_model"))
    if layers is not None:
        fs.setdefault("layers", layers)
    if d_model is not None:
        fs.setdefault("d_model", d_model)
    if fs:
        flat["streaming"] = fs


def _whole_model_trt(doc: dict, enc_path: str, flat: dict, pre: Prelude, consumed: set[str]) -> None:
    """``trt`` → flat ``tolerances`` and ``trt_profiles`` (the streaming encoder's); its precision → notes."""
    trt_at = _find(doc, ("trt", "tensorrt", "TensorRT"), lambda v: isinstance(v, dict) and any(
        k in v for k in ("profiles", "tolerances", "precision")))  # not a tolerance set that is named "trt"
    if trt_at is not None:
        tp, trt = trt_at
        consumed.add(tp)
        for k, v in trt.items():
            p = join_path(tp, k)
            if k == "tolerances":
                flat["tolerances"] = v
                pre.origin["tolerances"] = p
            elif k == "profiles" and isinstance(v, dict):
                _whole_model_profiles(v, p, flat, pre)
            elif k == "profiles":
                flat["trt_profiles"] = v
                pre.origin["trt_profiles"] = p
            elif k == "precision":
                pre.notes.append(f"TensorRT precision: {json.dumps(v)}")
                pre.mapped.append(f"{p} -> notes (tolerance sets are chosen per run by the backend's precision)")
            else:
                pre.unmapped.append((p, v, "not part of what a parity contract describes"))
    if "tolerances" not in flat:  # tolerances outside the trt section
        tol_at = _find(doc, ("tolerances", "tolerance"), lambda v: isinstance(v, dict))
        if tol_at is not None and not (enc_path and tol_at[0].startswith(enc_path + ".")):
            flat["tolerances"] = tol_at[1]
            pre.origin["tolerances"] = tol_at[0]
            consumed.add(tol_at[0])


def _whole_model_provenance(doc: dict, flat: dict, pre: Prelude, consumed: set[str]) -> None:
    """``model_id``, ``hashes`` … → provenance (kept in the notes); the model id names the contract."""
    for key in _PROVENANCE_KEYS:
        at = _find(doc, (key,))
        if at is None or at[0] in consumed:
            continue
        consumed.add(at[0])
        pre.provenance[key] = at[1]
        pre.notes.append(f"provenance {at[0]}: {json.dumps(at[1]) if not isinstance(at[1], str) else at[1]}")
        pre.mapped.append(f"{at[0]} -> provenance (kept in the notes)")
    model_id = pre.provenance.get("model_id", pre.provenance.get("model_name"))
    if isinstance(model_id, str) and model_id:
        flat["name"] = model_id.rsplit("/", 1)[-1]
        pre.description = f" (model {model_id}" + "".join(
            f", {k.replace('model_', '')} {pre.provenance[k]}" for k in ("model_family", "model_version")
            if isinstance(pre.provenance.get(k), str)) + ")"


def _whole_model_profiles(profiles: dict, path: str, flat: dict, pre: Prelude) -> None:
    """``trt.profiles``: the streaming encoder's list → flat profiles; the other graphs' profiles are ignored."""
    for k, v in profiles.items():
        p = join_path(path, k)
        low = k.lower()
        if "stream" in low and ("encoder" in low or low.startswith("stream")):
            items = v if isinstance(v, list) else [dict(name=n, **d) if isinstance(d, dict) else d
                                                   for n, d in v.items()] if isinstance(v, dict) else v
            if not isinstance(items, list):
                pre.unmapped.append((p, v, "expected a list of {name, <input>_<dim>: {min, opt, max}, batch: ...}"))
                continue
            out = []
            for i, item in enumerate(items):
                if isinstance(item, dict) and not ("dims" in item or "shapes" in item):
                    dims = {dk: dv for dk, dv in item.items() if dk != "name"}
                    out.append({"name": str(item.get("name", f"profile{i}")), "dims": dims})
                else:
                    out.append(item)
            flat["trt_profiles"] = out
            pre.origin["trt_profiles"] = p
        elif low in ("encoder", "encoder_offline", "offline", "predictor", "decoder", "joint"):
            graph = "offline encoder" if "encoder" in low or low == "offline" else low
            pre.ignored.append(f"{p}: TensorRT profile of the {graph} graph, not the streaming encoder")
        else:
            pre.unmapped.append((p, v, "a profile for no graph this importer knows (expected encoder_streaming)"))


def _report_rest(node: dict, path: str, consumed: set[str], pre: Prelude) -> None:
    """Every key of the document outside the sections read: listed as not mapped (never dropped silently)."""
    for k, v in node.items():
        p = join_path(path, str(k))
        if p in consumed or str(k).startswith(("_", "$")):
            continue
        if any(c.startswith(p + ".") for c in consumed) and isinstance(v, dict):
            _report_rest(v, p, consumed, pre)
        elif any(c.startswith(p + "[") or c.startswith(p + ".") for c in consumed):
            continue
        else:
            pre.unmapped.append((p, v, "not part of what a parity contract describes"))
