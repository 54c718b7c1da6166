"""Runners that expose a model's intermediate tensors, a slice at a time, for node-by-node triage.

A *tap* runs one chunk through a model with some of its intermediate tensors (node outputs) made graph outputs and
returns them. Triage asks for slices of the graph's tensors in topological order, compares each slice between two
taps and throws the arrays away before asking for the next, so memory holds one slice, never all intermediates.

- `OrtTap` (``ort-cpu``, ``ort-cuda``): for each slice, a copy of the graph pruned to the nodes that slice needs, with
  the slice's tensors as its only outputs (types from ONNX shape inference where it has them; ONNX Runtime accepts
  untyped outputs otherwise), loaded into a fresh session. ONNX Runtime keeps every graph output of a run alive until
  the run ends even when only some are fetched (measured: 60 exposed 20 MB tensors, one fetched, peaked at 1.2 GB),
  so slicing must happen in the graph, not in the fetch list. The pruned copy is loaded from bytes; weights in
  external data files are read from the original model's folder (ONNX Runtime's
  ``session.model_external_initializers_file_folder_path``), never copied.
- `TrtTap` (``trt-fp32``, ``trt-fp16``): marks the slice's tensors as network outputs of a TensorRT network parsed
  from the ONNX file and builds an engine for exactly this chunk's input shapes. TensorRT fuses layers, so a tensor
  inside a fused kernel may not exist: it is reported missing, not compared. Needs TensorRT and a GPU; it has not been
  run in this workplace (no TensorRT here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from inspector.errors import InspectorError


class Tap(Protocol):
    """Runs the model on feeds and returns the requested intermediate tensors (missing ones are left out)."""

    label: str

    def available(self) -> set[str]: ...
    def run(self, feeds: Mapping[str, np.ndarray], tensors: list[str]) -> dict[str, np.ndarray]: ...
    def close(self) -> None: ...


class GraphIndex:
    """A model's graph without its weights: node order, producers, consumers, initializer names and inferred types."""

    def __init__(self, path: Path):
        import onnx

        self.path = Path(path)
        if not self.path.exists():
            raise InspectorError(f"model {self.path} does not exist: pass an ONNX file with --model/--baseline-model.")
        try:
            self.model = onnx.load(str(self.path), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError and friends
            raise InspectorError(f"{self.path} is not a readable ONNX model: {exc}") from exc
        g = self.model.graph
        self.nodes = list(g.node)
        self.initializers = {t.name for t in g.initializer}
        self.graph_inputs = [i.name for i in g.input if i.name not in self.initializers]
        self.graph_outputs = [o.name for o in g.output]
        self.producer: dict[str, int] = {}
        for idx, node in enumerate(self.nodes):
            for out in node.output:
                if out:
                    self.producer[out] = idx
        self.node_inputs = [[i for i in _node_inputs(n) if i] for n in self.nodes]
        self.value_types = self._infer_types()

    def tensors_in_order(self) -> list[str]:
        """Every node output, in the graph's (topological) node order."""
        return [o for n in self.nodes for o in n.output if o]

    def _infer_types(self) -> dict[str, Any]:
        """Tensor name → TypeProto from shape inference (elem type only is used); empty where inference fails."""
        import onnx

        types: dict[str, Any] = {}
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model, strict_mode=False)
        except Exception:  # noqa: BLE001 — inference is a convenience; untyped outputs work with ONNX Runtime
            inferred = self.model
        for vi in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
                types[vi.name] = vi.type.tensor_type.elem_type
        return types

    def static_bytes(self, feeds: Mapping[str, np.ndarray]) -> dict[str, int]:
        """Bytes of each tensor whose shape shape inference resolves once the graph inputs are fixed to the shapes of
        `feeds` (ONNX Runtime's symbolic inference, else ONNX's with data propagation); unresolved ones are left
        out."""
        import onnx
        from onnx import helper

        m = self._skeleton()
        for vi in m.graph.input:
            if vi.name in feeds:
                dims = vi.type.tensor_type.shape.dim
                shape = np.shape(feeds[vi.name])
                if len(dims) == len(shape):
                    for d, v in zip(dims, shape):
                        d.ClearField("dim_param")
                        d.dim_value = int(v)
        inferred = None
        try:  # ONNX Runtime's symbolic inference resolves Shape→Gather→Reshape chains that ONNX's does not
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

            inferred = SymbolicShapeInference.infer_shapes(m, auto_merge=True, guess_output_rank=True)
        except Exception:  # noqa: BLE001 — fall back to ONNX's inference with data propagation
            pass
        if inferred is None:
            try:
                inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
            except Exception:  # noqa: BLE001 — sizes only steer slicing; measured sizes take over
                return {}
        sizes = {}
        for vi in (*inferred.graph.value_info, *inferred.graph.output):
            tt = vi.type.tensor_type
            if not tt.elem_type or not tt.HasField("shape"):
                continue
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
            if any(d < 0 for d in dims):
                continue
            try:
                item = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize
            except Exception:  # noqa: BLE001 — exotic types: unknown size
                continue
            sizes[vi.name] = int(np.prod(dims, dtype=np.int64)) * item
        return sizes

    def _skeleton(self) -> Any:
        """The model with its large initializers reduced to their metadata (dims, type) — enough for shape
        inference; small ones (shape constants that data propagation reads) keep their values."""
        import onnx

        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for t in m.graph.initializer:
            if int(np.prod(t.dims, dtype=np.int64)) < 4096 and t.data_location != 1:
                continue
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.ClearField("int64_data")
            t.ClearField("int32_data")
            t.ClearField("double_data")
            t.ClearField("external_data")
            t.data_location = 0
        return m

    def pruned(self, outputs: list[str]) -> Any:
        """A copy of the graph that computes exactly `outputs` (as its graph outputs) and nothing after them."""
        import onnx
        from onnx import helper

        need = set(outputs)
        keep = []
        for idx in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[idx]
            if any(o in need for o in node.output if o):
                keep.append(idx)
                need.update(self.node_inputs[idx])
        keep.reverse()
        g = self.model.graph
        # A fresh model rather than a copy of the whole one: inline weights are copied only where needed.
        m = onnx.ModelProto()
        m.ir_version = self.model.ir_version
        m.opset_import.extend(self.model.opset_import)
        m.functions.extend(self.model.functions)
        m.graph.name = g.name
        m.graph.node.extend(self.nodes[i] for i in keep)
        m.graph.initializer.extend(t for t in g.initializer if t.name in need)
        m.graph.sparse_initializer.extend(t for t in g.sparse_initializer if t.values.name in need)
        m.graph.input.extend(i for i in g.input if i.name in need and i.name not in self.initializers)
        for name in outputs:
            elem = self.value_types.get(name)
            m.graph.output.append(helper.make_tensor_value_info(name, elem, None) if elem
                                  else onnx.ValueInfoProto(name=name))
        return m

    def external_files(self) -> set[str]:
        """Relative paths of the external data files the initializers live in."""
        files = set()
        for t in self.model.graph.initializer:
            if t.data_location == 1:  # TensorProto.EXTERNAL
                for entry in t.external_data:
                    if entry.key == "location":
                        files.add(entry.value)
        return files


def _node_inputs(node: Any) -> list[str]:
    """A node's inputs plus names its subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    names = list(node.input)
    for attr in node.attribute:
        graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
        for sub in graphs:
            local = {i.name for i in sub.input} | {t.name for t in sub.initializer}
            for n in sub.node:
                local.update(o for o in n.output)
            for n in sub.node:
                names.extend(i for i in _node_inputs(n) if i and i not in local)
    return names


class OrtTap:
    """ONNX Runtime with a pruned, re-outputted graph per slice (see the module docstring)."""

    def __init__(self, index: GraphIndex, provider: str = "cpu", options: Mapping[str, Any] | None = None,
                 label: str = ""):
        import onnxruntime as ort

        self.index = index
        self.provider = provider
        self.options = dict(options or {})
        self.label = label or f"ort-{provider}"
        if provider == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            from backends.base import BackendUnavailable

            raise BackendUnavailable(f"Backend {self.label} cannot run on this machine: the installed onnxruntime "
                                     f"has no CUDA execution provider. To use it: install onnxruntime-gpu on a "
                                     f"machine with an NVIDIA GPU.")
        self._external = bool(index.external_files())

    def available(self) -> set[str]:
        return set(self.index.tensors_in_order())

    def _session(self, outputs: list[str]) -> Any:
        import onnxruntime as ort

        from backends.onnxrt import parse_option

        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.use_deterministic_compute = bool(parse_option(self.options.get("deterministic", 1)))
        so.intra_op_num_threads = int(parse_option(self.options.get("intra_op_threads", 0)))
        levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        so.graph_optimization_level = levels.get(str(self.options.get("graph_optimization", "all")),
                                                 ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        own = {"provider", "deterministic", "intra_op_threads", "inter_op_threads", "graph_optimization",
               "io_binding"}
        if self.provider == "cuda":
            popts = {k: str(int(v) if isinstance(v, bool) else v) for k, v in self.options.items() if k not in own}
            providers: list[Any] = [("CUDAExecutionProvider", popts), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        model = self.index.pruned(outputs)
        if self._external:
            # The pruned graph is loaded from bytes; its initializers' external data still live next to the
            # original model (ONNX Runtime refuses data paths that leave this folder, links included).
            so.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                        str(self.index.path.parent.resolve()))
        return ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=providers)

    def run(self, feeds: Mapping[str, np.ndarray], tensors: list[str]) -> dict[str, np.ndarray]:
        wanted = [t for t in tensors if t in self.index.producer]
        if not wanted:
            return {}
        sess = self._session(wanted)
        names = {i.name for i in sess.get_inputs()}
        values = sess.run(wanted, {k: v for k, v in feeds.items() if k in names})
        del sess
        return dict(zip(wanted, values))

    def close(self) -> None:
        pass


class TrtTap:
    """TensorRT with the slice's tensors marked as network outputs; one engine per slice, built for this chunk's
    input shapes (min = opt = max). Not run in this workplace: TensorRT cannot be installed here."""

    def __init__(self, index: GraphIndex, precision: str = "fp32", options: Mapping[str, Any] | None = None,
                 label: str = ""):
        from backends.base import BackendUnavailable

        self.index = index
        self.precision = precision
        self.options = dict(options or {})
        self.label = label or f"trt-{precision}"
        try:
            import tensorrt  # noqa: F401
            import torch
        except ImportError as exc:
            raise BackendUnavailable(f"Backend {self.label} cannot run on this machine: {exc.name} is not installed. "
                                     "To use it: pip install 'parity-inspector[tensorrt]' on a machine with an NVIDIA "
                                     "GPU.") from exc
        if not torch.cuda.is_available():
            raise BackendUnavailable(f"Backend {self.label} cannot run on this machine: no CUDA GPU is visible.")

    def available(self) -> set[str]:
        return set(self.index.tensors_in_order())

    def run(self, feeds: Mapping[str, np.ndarray], tensors: list[str]) -> dict[str, np.ndarray]:
        import tensorrt as trt
        import torch

        from backends.trt_plan import binding_plan

        logger = trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(self.index.path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise InspectorError(f"TensorRT could not parse {self.index.path}: {errors}")
        wanted = set(tensors)
        marked = []
        for li in range(network.num_layers):
            layer = network.get_layer(li)
            for oi in range(layer.num_outputs):
                t = layer.get_output(oi)
                if t.name in wanted and not t.is_network_output:
                    network.mark_output(t)
                    marked.append(t.name)
        config = builder.create_builder_config()
        if self.precision == "fp32":
            if hasattr(trt.BuilderFlag, "TF32"):
                config.clear_flag(trt.BuilderFlag.TF32)
        elif hasattr(trt.BuilderFlag, "FP16"):
            config.set_flag(trt.BuilderFlag.FP16)
        else:  # an "FP16" tap that silently computed in FP32 would triage the wrong engine
            raise InspectorError(f"{self.label}: TensorRT {trt.__version__} has no FP16 builder flag (strongly typed "
                                 "only), so this tap cannot build an FP16 engine; triage the FP16 ONNX "
                                 "(backends.fp16_onnx) with trt-fp32 instead.")
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            inp = network.get_input(i)
            shape = tuple(np.asarray(feeds[inp.name]).shape)
            if inp.is_shape_tensor:
                values = tuple(int(v) for v in np.asarray(feeds[inp.name]).reshape(-1))
                profile.set_shape_input(inp.name, values, values, values)
            else:
                profile.set_shape(inp.name, shape, shape, shape)
        config.add_optimization_profile(profile)
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise InspectorError(f"TensorRT could not build an engine exposing {len(marked)} tensors of "
                                 f"{self.index.path}.")
        engine = trt.Runtime(logger).deserialize_cuda_engine(blob)
        context = engine.create_execution_context()
        stream = torch.cuda.Stream()
        keep: dict[str, Any] = {}
        io: dict[str, tuple[bool, str]] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            io[name] = (is_input, np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name)
            if is_input:
                t = torch.from_numpy(np.ascontiguousarray(feeds[name])).cuda()
                if not context.set_input_shape(name, tuple(t.shape)):
                    raise InspectorError(f"{self.label}: TensorRT rejected input shape {list(t.shape)} for {name!r}.")
                keep[name] = t
                context.set_tensor_address(name, t.data_ptr())
        # Every input fed and every output shape known (a data-dependent one is a clear error, not a crash).
        plan = binding_plan(io, {n: tuple(t.shape) for n, t in keep.items()},
                            {n: tuple(context.get_tensor_shape(n)) for n, (inp, _) in io.items() if not inp})
        outs: dict[str, Any] = {}
        for b in plan.outputs:
            t = torch.empty(b.shape, dtype=torch.from_numpy(np.zeros(0, b.dtype)).dtype, device="cuda")
            outs[b.name] = t
            context.set_tensor_address(b.name, t.data_ptr())
        stream.wait_stream(torch.cuda.current_stream())  # the inputs were copied on the default stream
        if not context.execute_async_v3(stream.cuda_stream):
            raise InspectorError(f"{self.label}: execute_async_v3 failed on {self.index.path} (see TensorRT's log).")
        stream.synchronize()
        return {n: t.cpu().numpy() for n, t in outs.items() if n in wanted}

    def close(self) -> None:
        pass


def make_tap(backend: str, model: Path, options: Mapping[str, Any] | None = None,
             index: GraphIndex | None = None) -> Tap:
    """The tap for a backend registry name.

    Raises:
        InspectorError: The backend has no ONNX graph to tap (``torch-*``) or is unknown.
        BackendUnavailable: The runtime cannot run here.
    """
    index = index or GraphIndex(model)
    if backend in ("ort-cpu", "ort-cuda"):
        return OrtTap(index, provider=backend.split("-")[1], options=options, label=backend)
    if backend in ("trt-fp32", "trt-fp16"):
        return TrtTap(index, precision=backend.split("-")[1], options=options, label=backend)
    raise InspectorError(f"triage cannot tap backend {backend!r}: it needs an ONNX graph runtime. Note: valid choices "
                         f"are ort-cpu, ort-cuda, trt-fp32, trt-fp16.")
