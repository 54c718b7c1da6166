"""`inspector reference`: run NeMo's streaming encoder chunk by chunk and record what went in and what came out.

Sinks: our reference JSONL (version 1, `../shared/DESIGN.md`), the seed team's JSONL (``--format seed``) or a Zarr
store directly (``--store``). Tensors are in the export's layout under reference names, exactly as the ONNX graph of
`inspector export` takes and returns them.

Features come from NeMo's own `AudioToMelSpectrogramPreprocessor` on a WAV file or on `synthetic_audio.speech_like`.
Each stream is one utterance with its own caches, streamed from zero state.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from inspector import __version__
from inspector.errors import InspectorError

FORMATS: tuple[str, ...] = ("ours", "seed")
FIRST_CHUNK_NOTES = {
    "export": "chunk 0 is chunk_size[0] frames; drop_extra_pre_encoded applied on every chunk, the first included "
              "(as the ONNX export does)",
    "nemo": "chunk 0 is chunk_size[0] frames with no pre-encoded frames dropped (NeMo's streaming buffer); later "
            "chunks drop them: differs from the export on chunk 0",
    "padded": "chunk 0 is pre_encode_cache_size[1] zero frames + chunk_size[1] frames, dropped like every other "
              "chunk (NeMo's pad_and_drop_preencoded; the export runs it consistently)",
}
HEADER_FORMAT = "parity-reference"


# --- audio -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioSource:
    """One stream's audio: a WAV file, or the synthetic signal with a seed."""

    stream: str
    wav: Path | None = None
    seed: int | None = None

    def describe(self) -> dict[str, Any]:
        if self.wav is not None:
            return {"stream": self.stream, "source": "wav", "path": str(self.wav)}
        return {"stream": self.stream, "source": "synthetic", "generator": "speech_like", "seed": self.seed}


def load_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """A WAV file as mono float32 at `sample_rate` (channels averaged, resampled if needed).

    Raises:
        InspectorError: The file is missing or not a readable WAV.
    """
    from scipy.io import wavfile

    path = Path(path)
    try:
        rate, data = wavfile.read(path)
    except (OSError, ValueError) as exc:
        raise InspectorError(f"{path}: cannot read it as a WAV file ({exc}). Give a PCM/float WAV, or use "
                             "--synthetic for a generated speech-like signal.") from exc
    if data.size == 0:
        raise InspectorError(f"{path}: the WAV file holds no samples. Give a recording, or use --synthetic.")
    if np.issubdtype(data.dtype, np.integer):  # scale PCM to [-1, 1) first: averaging channels makes it float
        info = np.iinfo(data.dtype)
        audio = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / (info.max - info.min + 1) * 2
    else:
        audio = data.astype(np.float64)
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        if bad:
            raise InspectorError(f"{path}: {bad} of its {audio.size} samples are NaN or infinite; a reference made "
                                 f"from them would be non-finite everywhere. Fix the recording (or use --synthetic).")
    if audio.ndim == 2:  # channels → mono
        audio = audio.mean(axis=1)
    if rate != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(rate), int(sample_rate))
        audio = resample_poly(audio, sample_rate // g, int(rate) // g)
    return audio.astype(np.float32)


def stream_sources(n_streams: int, seed: int, wavs: Sequence[str | Path] = ()) -> list[AudioSource]:
    """The streams to run: one per WAV when WAVs are given, else `n_streams` synthetic utterances.

    Synthetic stream k uses seed ``1000 * seed + k`` so that different model seeds also get different audio.
    """
    if wavs:
        if n_streams not in (1, len(wavs)):
            raise InspectorError(f"--streams {n_streams} with {len(wavs)} --audio file(s): each stream is one "
                                 "utterance; give one --audio per stream (or leave --streams out).")
        return [AudioSource(f"utt-{i:04d}", wav=Path(w)) for i, w in enumerate(wavs)]
    if n_streams < 1:
        raise InspectorError(f"--streams must be at least 1 (got {n_streams}).")
    return [AudioSource(f"utt-{i:04d}", seed=1000 * seed + i) for i in range(n_streams)]


def source_audio(source: AudioSource, seconds: float, sample_rate: int) -> np.ndarray:
    from inspector.synthetic_audio import speech_like

    if source.wav is not None:
        return load_wav(source.wav, sample_rate)
    return speech_like(seconds, sample_rate, seed=int(source.seed or 0))


# --- tensors and lines -----------------------------------------------------------------------------------------------
def encode_tensor(array: np.ndarray, fmt: str = "ours") -> dict[str, Any]:
    """A tensor as JSON: dtype, shape and base64 of its little-endian C-order bytes (`b64` or seed's `data_b64`)."""
    import pybase64

    arr = np.asarray(array)
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    key = "b64" if fmt == "ours" else "data_b64"
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), key: pybase64.b64encode(le.tobytes()).decode("ascii")}


def decode_tensor(obj: Mapping[str, Any]) -> np.ndarray:
    """The inverse of `encode_tensor` (either key); used by tests and the bench, not by `convert`."""
    import pybase64

    data = obj.get("b64", obj.get("data_b64"))
    dtype = np.dtype(obj["dtype"]).newbyteorder("<")
    return np.frombuffer(pybase64.b64decode(data), dtype=dtype).astype(obj["dtype"]).reshape(obj["shape"])


def chunk_line(stream: str, result: Any, fmt: str, first_chunk: str) -> dict[str, Any]:
    """One JSONL object for one `backends.nemo.ChunkResult` in our format or the seed team's."""
    meta = {**result.meta(), "first_chunk": first_chunk}
    inputs = {k: encode_tensor(v, fmt) for k, v in result.inputs.items()}
    outputs = {k: encode_tensor(v, fmt) for k, v in result.outputs.items()}
    if fmt == "ours":
        return {"stream": stream, "chunk_index": result.span.index, "inputs": inputs, "outputs": outputs,
                "meta": meta}
    meta.update(stream=stream, cache_layout="batch_first",
                schedule={"chunk_frames": meta["chunk_len"], "pre_encode_frames": meta["context_frames"]
                          + meta["zero_frames"], "drop_extra_pre_encoded": meta["drop_extra_pre_encoded"]})
    return {"chunk_idx": result.span.index, "inputs": inputs, "outputs": outputs, "metadata": meta}


# --- sinks -----------------------------------------------------------------------------------------------------------
class Sink(Protocol):
    def write(self, stream: str, result: Any) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    """Writes one line per chunk (and our header line first) to a file, atomically: `<path>.partial` → `path`."""

    def __init__(self, path: str | Path, header: Mapping[str, Any], fmt: str, first_chunk: str):
        import orjson

        self._dumps = orjson.dumps
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.fmt = fmt
        self.first_chunk = first_chunk
        self.bytes_written = 0
        self.line_bytes: list[int] = []
        self._f = open(self.partial, "wb")
        if fmt == "ours":
            self._put(dict(header))

    def _put(self, obj: Mapping[str, Any]) -> int:
        data = self._dumps(obj) + b"\n"
        self._f.write(data)
        self.bytes_written += len(data)
        return len(data)

    def write(self, stream: str, result: Any) -> None:
        self.line_bytes.append(self._put(chunk_line(stream, result, self.fmt, self.first_chunk)))

    def close(self) -> None:
        self._f.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        self._f.close()


class StoreSink:
    """Writes each chunk straight into a Zarr store (`store.Store.create` + `write_chunk`)."""

    def __init__(self, path: str | Path, header: Mapping[str, Any], first_chunk: str, overwrite: bool = False):
        try:
            from store import Store
        except ImportError as exc:  # the store package is being written in parallel
            raise InspectorError(f"--store needs the store package ({exc}); write JSONL with -o and run "
                                 "`inspector convert` instead.") from exc
        self.path = Path(path)
        attrs = {"header": dict(header),
                 "source": {"path": f"inspector reference --model {header.get('model')} (written directly, no JSONL)",
                            "size": 0, "producer": header.get("producer")}}
        contract = None
        if header.get("contract"):
            from contracts.load import load_contract

            # Loaded before the store is made: a contract that does not load is an error with nothing written.
            contract = load_contract(header["contract"])
            attrs["contract"] = header["contract"]
        self.store = Store.create(self.path, attrs=attrs, overwrite=overwrite)
        if contract is not None:
            # The whole document beside the chunks (STORE/contract.json): every later command finds it there.
            self.store.record_contract(contract)
        self.first_chunk = first_chunk
        self.bytes_written = 0
        self.line_bytes: list[int] = []
        self.chunks = 0

    def write(self, stream: str, result: Any) -> None:
        meta = {**result.meta(), "first_chunk": self.first_chunk}
        self.store.write_chunk(stream, result.span.index, result.inputs, result.outputs, meta)
        self.chunks += 1

    def close(self, status: str = "complete") -> None:
        self.store.update_attrs(conversion={"status": status, "producer": "inspector reference --store",
                                            "lines": self.chunks, "chunks": self.chunks})

    def abort(self) -> None:
        self.close("interrupted")


# --- the run ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceResult:
    """What `write_reference` produced.

    Attributes:
        path: The JSONL file or the store.
        fmt: ``ours``, ``seed`` or ``store``.
        streams: Stream names, in order.
        chunks: Chunks per stream.
        cache_lengths: Per stream, `cache_last_channel_len_out` of every chunk (what the model really did).
        encoded_lengths: Per stream, `encoded_lengths` of every chunk.
        seconds_per_chunk: Mean time of one `cache_aware_stream_step`.
        seconds: Wall time of the whole run (features, steps, writing).
        bytes_written: Bytes of JSONL written (0 for a store).
        max_line_bytes: The largest line (0 for a store).
        header: The file header.
        latency_ms: NeMo's step times (`inspector.latency.summarize`: steady p50/p95/p99/max, warm-up steps, outliers);
            chunk numbers count over the streams in order (stream k's chunk i is ``k * chunks + i``). Each chunk's
            own step time is in its metadata (``timing_ms``).
    """

    path: Path
    fmt: str
    streams: tuple[str, ...]
    chunks: int
    cache_lengths: Mapping[str, tuple[int, ...]]
    encoded_lengths: Mapping[str, tuple[int, ...]]
    seconds_per_chunk: float
    seconds: float
    bytes_written: int = 0
    max_line_bytes: int = 0
    header: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: Mapping[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]
"""progress(stream, chunks_done_in_stream, chunks_per_stream)."""


def build_header(model: Any, sources: Sequence[AudioSource], n_chunks: int, first_chunk: str,
                 fmt: str) -> dict[str, Any]:
    """The first line of our JSONL: what produced the file, so a reader never has to guess."""
    from backends.nemo import versions

    desc = model.describe()
    return {
        "format": HEADER_FORMAT, "version": 1, "producer": f"parity-inspector {__version__} (inspector reference)",
        "model": desc["model"], "preset": desc["preset"], "seed": desc["seed"], "nemo_path": desc["nemo_path"],
        "contract": desc["contract"], "first_chunk": first_chunk,
        "first_chunk_note": FIRST_CHUNK_NOTES[first_chunk],
        "layout": {"cache_last_channel": "[B, layers, cache, d_model] (batch-first, export layout)",
                   "cache_last_time": "[B, layers, d_model, time_ctx] (batch-first, export layout)"},
        "streaming": desc["streaming"], "streaming_setup": desc["streaming_setup"],
        "encoder": {k: desc[k] for k in ("n_layers", "d_model", "feat_in", "time_ctx", "n_parameters",
                                         "att_context_size", "precision", "tf32", "device")},
        "features": {"extractor": "nemo AudioToMelSpectrogramPreprocessor", **desc["preprocessor"]},
        "audio": [s.describe() for s in sources], "streams": [s.stream for s in sources], "chunks": n_chunks,
        "tensor_format": "b64" if fmt == "ours" else "data_b64",
        "versions": {**versions(), "numpy": np.__version__},
    }


def write_reference(model: Any, sink_factory: Callable[[dict[str, Any]], Any], sources: Sequence[AudioSource],
                    n_chunks: int, *, first_chunk: str | None = None, fmt: str = "ours",
                    progress: Progress | None = None) -> ReferenceResult:
    """Stream every source through the model and hand each chunk to a sink.

    Args:
        model: A `backends.nemo.ReferenceModel`.
        sink_factory: Builds the sink from the header (called once, after the header is known).
        sources: One `AudioSource` per stream.
        n_chunks: Chunks per stream (whole chunks only).
        first_chunk: ``export``, ``nemo`` or ``padded`` (`backends.nemo.FIRST_CHUNK_MODES`); None = the model's
            default (``export``, or ``padded`` where a short first chunk would leave a negative cache length).
        fmt: ``ours``, ``seed`` or ``store`` (recorded in the result).
        progress: Called after each chunk.

    Returns:
        What was written, with the cache-length sequences the model produced.
    """
    first_chunk = first_chunk or model.first_chunk
    start = time.perf_counter()
    header = build_header(model, sources, n_chunks, first_chunk, "seed" if fmt == "seed" else "ours")
    # enough audio for n_chunks whole chunks, plus a window's worth of margin for the STFT's edges
    hop = float(model.preprocessor_config.get("window_stride", 0.01))
    seconds = (model.frames_needed(n_chunks, first_chunk) + 4) * hop + 0.05
    sink = sink_factory(header)
    cache_lengths: dict[str, tuple[int, ...]] = {}
    enc_lengths: dict[str, tuple[int, ...]] = {}
    step_seconds: list[float] = []
    steps: list[Any] = []
    from inspector.latency import Step, shape_signature, summarize

    try:
        for source in sources:
            feats = model.features(source_audio(source, seconds, model.sample_rate))
            lens, elens = [], []
            for result in model.stream(feats, n_chunks, first_chunk=first_chunk):
                sink.write(source.stream, result)
                lens.append(int(result.outputs["cache_last_channel_len_out"][0]))
                elens.append(int(result.outputs["encoded_lengths"][0]))
                step_seconds.append(result.seconds)
                steps.append(Step(len(steps), result.seconds * 1e3, shape_signature(result.inputs)))
                if progress:
                    progress(source.stream, result.span.index + 1, n_chunks)
            cache_lengths[source.stream] = tuple(lens)
            enc_lengths[source.stream] = tuple(elens)
    except BaseException:
        sink.abort()
        raise
    sink.close()
    lines = list(getattr(sink, "line_bytes", []))
    return ReferenceResult(
        path=sink.path, fmt=fmt, streams=tuple(s.stream for s in sources), chunks=n_chunks,
        cache_lengths=cache_lengths, encoded_lengths=enc_lengths,
        seconds_per_chunk=float(np.mean(step_seconds)) if step_seconds else 0.0,
        seconds=time.perf_counter() - start, bytes_written=int(getattr(sink, "bytes_written", 0)),
        max_line_bytes=max(lines) if lines else 0, header=header,
        latency_ms=summarize(steps, backend="torch-" + str(header.get("encoder", {}).get("device", "cpu"))),
    )


def make_reference(model_name: str | Path, *, output: str | Path | None = None, store: str | Path | None = None,
                   seed: int = 0, n_chunks: int = 50, n_streams: int = 1, wavs: Sequence[str | Path] = (),
                   fmt: str = "ours", first_chunk: str | None = None, model: Any = None,
                   progress: Progress | None = None, device: str = "cpu",
                   streaming: Any = None, overwrite: bool = False) -> ReferenceResult:
    """Build the model (unless given), run it, and write JSONL (`output`) or a store (`store`).

    `streaming` (a `backends.nemo_presets.StreamingSetup`) overrides the preset's streaming set-up.

    Raises:
        InspectorError: Bad combination of options (both or neither of output/store, seed format with several
            streams, unknown format).
    """
    if (output is None) == (store is None):
        raise InspectorError("give exactly one of -o/--output (reference JSONL) or --store (a Zarr store).")
    if fmt not in FORMATS:
        raise InspectorError(f"unknown --format {fmt!r}. Note: valid choices are {', '.join(FORMATS)}.")
    if n_chunks < 1:
        raise InspectorError(f"--chunks must be at least 1 (got {n_chunks}).")
    sources = stream_sources(n_streams, seed, wavs)
    if fmt == "seed" and len(sources) > 1:
        raise InspectorError(f"--format seed holds one stream per file (its lines carry only chunk_idx), but "
                             f"{len(sources)} streams were asked for. Write --format ours, or one file per stream.")
    if store is not None and fmt == "seed":
        raise InspectorError("--format seed applies to JSONL output only; --store writes a store.")
    if store is not None and Path(store).exists() and not overwrite:  # before minutes of model building
        what = "a store" if (Path(store) / "zarr.json").exists() else "something"
        raise InspectorError(f"--store {store}: {what} exists there already; pass --overwrite to replace a store, or "
                             f"choose another path.")
    if model is None:
        from backends.nemo import load_reference_model

        model = load_reference_model(model_name, seed=seed, device=device, streaming=streaming)
    first_chunk = first_chunk or model.first_chunk
    if store is not None:
        return write_reference(model, lambda h: StoreSink(store, h, first_chunk, overwrite), sources, n_chunks,
                               first_chunk=first_chunk, fmt="store", progress=progress)
    return write_reference(model, lambda h: JsonlSink(output, h, fmt, first_chunk), sources, n_chunks,
                           first_chunk=first_chunk, fmt=fmt, progress=progress)


# --- progress --------------------------------------------------------------------------------------------------------
def rich_progress(total: int, label: str = "reference") -> tuple[Any, Progress]:
    """A rich progress bar on a TTY (stderr), else a no-op; returns (context manager, callback)."""
    if not sys.stderr.isatty():
        return nullcontext(), (lambda *_: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

    bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    task = bar.add_task(label, total=total)

    def update(stream: str, done: int, per_stream: int) -> None:
        bar.update(task, advance=1, description=f"{label} {stream}")

    return bar, update


def iter_lines(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse a JSONL written here, line by line (tests and bench; `store.jsonl` is the real reader)."""
    import orjson

    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)
