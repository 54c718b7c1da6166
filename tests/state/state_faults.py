"""Planted state faults for issue 8, each with a reference "made the same way", so per-chunk comparisons pass and
only the state checks can tell.

- `force_output_zero`: an ONNX copy whose ``cache_last_channel_len_out`` is always 0 (the seed's bug: a raw length
  below zero clamped to 0), and `stuck_length_reference`: NeMo's own encoder, stepped with its length output forced to
  0 the same way, as the reference for it.
- `padded_last_chunk_store`: the demo stream with its last chunk padded (``length`` < the chunk's frames, zeros
  after), NeMo's outputs for it.
- `sorted_state_feedback`: the feedback map an inference server builds when it pairs state inputs and outputs by
  sorting their names (``cache_last_channel`` ↔ ``cache_last_channel_len`` swapped).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from contracts.model import Contract, Feedback


def force_output_zero(src: Path, dst: Path, output: str = "cache_last_channel_len_out") -> Path:
    """Copy of `src` whose graph output `output` is multiplied by 0 (same dtype, same shape)."""
    model = onnx.load(str(src))
    inner = f"{output}__before_fault"
    for node in model.graph.node:
        node.output[:] = [inner if o == output else o for o in node.output]
        node.input[:] = [inner if i == output else i for i in node.input]
    elem = next(o.type.tensor_type.elem_type for o in model.graph.output if o.name == output)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
    model.graph.initializer.append(numpy_helper.from_array(np.zeros((), dtype), f"{output}__zero"))
    model.graph.node.append(helper.make_node("Mul", [inner, f"{output}__zero"], [output], name=f"fault/{output}/zero"))
    onnx.save(model, str(dst))
    return dst


def _copy_header(src_store: Any) -> dict[str, Any]:
    header = dict((src_store.attrs or {}).get("header") or {})
    return {"header": header} if header else {}


def stuck_length_reference(model: Any, src_store: Any, dest: Path, stream: str, n_chunks: int | None = None) -> Path:
    """A reference made by NeMo's encoder (`backends.nemo.ReferenceModel.step`) with its cache length output forced
    to 0 before it is fed back, over the stream inputs (audio, length) of `src_store`'s `stream` (its first
    `n_chunks` chunks)."""
    from store import Store

    out = Store.create(dest, attrs=_copy_header(src_store))
    state = model.initial_state()
    for i in list(src_store.chunk_indices(stream))[:n_chunks]:
        view = src_store.chunk(stream, i)
        feeds = {"audio_signal": view.input("audio_signal"), "length": view.input("length"), **state}
        outputs = model.step(feeds)
        outputs["cache_last_channel_len_out"] = np.zeros_like(outputs["cache_last_channel_len_out"])
        out.write_chunk(stream, i, feeds, outputs, dict(view.meta or {}))
        state = {"cache_last_channel": outputs["cache_last_channel_out"],
                 "cache_last_time": outputs["cache_last_time_out"],
                 "cache_last_channel_len": outputs["cache_last_channel_len_out"]}
    return dest


def padded_last_chunk_store(model: Any, src_store: Any, dest: Path, stream: str, real_frames: int,
                            n_chunks: int | None = None) -> Path:
    """The stream's first `n_chunks` chunks as they are, except the last: only `real_frames` of its feature frames
    are real (``length`` says so, the rest are zeros, the tensor keeps its size), and its outputs are NeMo's for it."""
    from store import Store

    out = Store.create(dest, attrs=_copy_header(src_store))
    indices = list(src_store.chunk_indices(stream))[:n_chunks]
    for i in indices:
        view = src_store.chunk(stream, i)
        inputs, outputs = view.inputs(), view.outputs()
        if i == indices[-1]:
            audio = inputs["audio_signal"].copy()
            audio[:, :, real_frames:] = 0.0
            inputs = {**inputs, "audio_signal": audio, "length": np.array([real_frames], np.int64)}
            outputs = model.step(inputs)
        out.write_chunk(stream, i, inputs, outputs, dict(view.meta or {}))
    return dest


def sorted_state_feedback(contract: Contract) -> Contract:
    """The contract with its feedback map rebuilt the way a server that sorts state names does: the k-th state output
    by name feeds the k-th state input by name (``cache_last_channel_len_out`` sorts before
    ``cache_last_channel_out``, ``cache_last_channel`` before ``cache_last_channel_len``)."""
    targets = sorted(f.target for f in contract.feedback)
    sources = sorted(f.source for f in contract.feedback)
    return dataclasses.replace(contract, feedback=tuple(Feedback(s, t) for s, t in zip(sources, targets)))


def seed_style_contract(contract: Contract) -> Contract:
    """The demo contract with its state rules replaced by the seed team's: ``cache_last_channel_len_out == 0``."""
    from contracts.model import Invariant

    keep = tuple(inv for inv in contract.invariants if inv.kind != "state" or inv.id == "cache_full_size")
    zero = Invariant(id="cache_len_zero", check="cache_last_channel_len_out == 0", kind="state",
                     description="the seed team's rule ('chunk-isolated mode')")
    return dataclasses.replace(contract, name=f"{contract.name}-seed-rules", invariants=(*keep, zero))


def disconnect_input(src: Path, dst: Path, input_name: str = "cache_last_channel") -> Path:
    """Copy of `src` whose every consumer of graph input `input_name` reads zeros of its shape instead: the input is
    still fed (and its length still counted) but no longer used."""
    model = onnx.load(str(src))
    shape, zeros = f"{input_name}__fault_shape", f"{input_name}__fault_zeros"
    for node in model.graph.node:
        node.input[:] = [zeros if i == input_name else i for i in node.input]
    elem = next(i.type.tensor_type.elem_type for i in model.graph.input if i.name == input_name)
    fill = helper.make_tensor("value", elem, [1], [0.0] if elem == onnx.TensorProto.FLOAT else [0])
    nodes = [helper.make_node("Shape", [input_name], [shape], name="fault/disconnect/shape"),
             helper.make_node("ConstantOfShape", [shape], [zeros], value=fill, name="fault/disconnect/zeros"),
             *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(dst))
    return dst
