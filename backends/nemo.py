"""NeMo's FastConformer encoder as the reference model: presets, `.nemo` loading, the streaming step, a backend.

Everything runs through NeMo's own streaming API (`setup_streaming_params`, `get_initial_cache_state`,
`cache_aware_stream_step`) in FP32 with TF32 off, in eval mode. Tensors leave this module in the *export's* layout
and under the *reference names* (see `REF_INPUTS`/`REF_OUTPUTS`): caches batch-first, lengths int64, exactly what
`inspector export`'s ONNX graph takes and returns, so a reference file written here needs no `ref_perm`.

First chunk: the exported graph drops `drop_extra_pre_encoded` (2) pre-encoded frames on *every* chunk, the first
included; the reference does the same (``first_chunk="export"``). NeMo's own streaming buffer drops nothing on the
first chunk (``first_chunk="nemo"``): that differs from the export by ~0.8 on chunk 0 and lingers, which makes it a
realistic planted fault. Where a short first chunk would leave a negative cache length (the seed set-up: 577 frames
keep 73 - 2 - 72 = -1), the default is ``padded``: zeros + a full chunk, dropped like every other.

torch and NeMo are imported inside functions only (`from nemo.collections.asr.modules import ConformerEncoder`
takes ~10 s).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np

from backends.base import Availability, Backend, BackendError, BackendInfo, BackendUnavailable
from backends.nemo_presets import PARAKEET_STREAMING, PRESETS, Preset, StreamingSetup

REF_INPUTS: tuple[str, ...] = (
    "audio_signal", "length", "cache_last_channel", "cache_last_time", "cache_last_channel_len",
)
REF_OUTPUTS: tuple[str, ...] = (
    "encoder_output", "encoded_lengths", "cache_last_channel_out", "cache_last_time_out",
    "cache_last_channel_len_out",
)
FIRST_CHUNK_MODES: tuple[str, ...] = ("export", "nemo", "padded")
"""How chunk 0 is fed. ``export``: `chunk_size[0]` frames, pre-encoded frames dropped as on every chunk (what the
ONNX graph does to whatever it is given). ``nemo``: the same frames, nothing dropped (NeMo's streaming buffer; differs
from the export: a planted fault). ``padded``: `pre_encode_cache_size[1]` zeros + `chunk_size[1]` frames, dropped as
on every chunk (NeMo's ``pad_and_drop_preencoded``): the only consistent choice where the short first chunk leaves a
negative cache length (the seed set-up, see `default_first_chunk`)."""
INSTALL_HINT = 'pip install torch==2.13.0 && pip install "nemo_toolkit[asr]"   (or: pip install -e ".[nemo]")'


# --- numerics and environment -------------------------------------------------------------------------------------
def configure_numerics() -> None:
    """FP32 everywhere: TF32 off for matmul and cuDNN, deterministic cuDNN (the reference must be reproducible)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")


def versions() -> dict[str, str]:
    """nemo_toolkit and torch versions (imports both)."""
    import torch

    import nemo

    return {"nemo": getattr(nemo, "__version__", "?"), "torch": torch.__version__}


@contextlib.contextmanager
def quiet_nemo(level: int = logging.ERROR) -> Iterator[None]:
    """Silence NeMo's INFO/WARNING chatter (streaming-config notes, export banners) and Python warnings."""
    from nemo.utils import logging as nemo_logging

    old = nemo_logging.getEffectiveLevel()
    nemo_logging.setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        nemo_logging.setLevel(old)


def _conformer_class() -> Any:
    with quiet_nemo():
        from nemo.collections.asr.modules import ConformerEncoder

    return ConformerEncoder


# --- the model ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkSpan:
    """Where one streaming chunk's mel frames come from.

    Attributes:
        index: Chunk index (0-based).
        start: First *new* frame of the chunk in the utterance (the chunk also takes `context` frames before it).
        stop: One past its last frame.
        context: Frames of left context taken from before `start` (the pre-encode cache).
        zeros: Zero frames put in front when the utterance has fewer than `context` frames before `start`.
    """

    index: int
    start: int
    stop: int
    context: int
    zeros: int = 0

    @property
    def frames(self) -> int:
        """Frames the encoder is given (context + zeros + new)."""
        return self.stop - self.start + self.context + self.zeros


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def chunk_schedule(streaming: Mapping[str, Any], n_frames: int | None = None,
                   n_chunks: int | None = None, first_chunk: str = "export") -> list[ChunkSpan]:
    """Split a feature sequence into the export's chunks, as NeMo's `CacheAwareStreamingAudioBuffer` does.

    The first chunk is `chunk_size[0]` frames (41 for parakeet's set-up) with no left context; every later chunk
    takes `pre_encode_cache_size[1]` frames of left context plus `chunk_size[1]` frames (9 + 48 = 57), and the start
    advances by `shift_size[0]` after the first chunk and `shift_size[1]` after each later one (chunks overlap: the
    overlap is the look-ahead whose outputs `cache_drop_size` discards). Only whole chunks are scheduled. With
    ``first_chunk="padded"`` chunk 0 is shaped like the others: `pre_encode_cache_size[1]` zero frames in front of
    `chunk_size[1]` frames, then the start advances by `shift_size[1]`.

    Args:
        streaming: `streaming_cfg` as a dict (chunk_size, shift_size, pre_encode_cache_size).
        n_frames: Frames available; None = unlimited (then `n_chunks` is required).
        n_chunks: At most this many chunks.
        first_chunk: One of `FIRST_CHUNK_MODES`.

    Returns:
        The chunk spans, in order.
    """
    if n_frames is None and n_chunks is None:
        raise ValueError("give n_frames or n_chunks")
    chunk, shift, pre = (_pair(streaming[k]) for k in ("chunk_size", "shift_size", "pre_encode_cache_size"))
    spans: list[ChunkSpan] = []
    start = 0
    padded = first_chunk == "padded"
    while n_chunks is None or len(spans) < n_chunks:
        first = not spans and not padded
        size = chunk[0] if first else chunk[1]
        context = pre[0] if first else pre[1]
        if n_frames is not None and start + size > n_frames:
            break
        taken = min(context, start)
        spans.append(ChunkSpan(len(spans), start, start + size, taken, context - taken))
        start += shift[0] if first else shift[1]
    return spans


def frames_needed(streaming: Mapping[str, Any], n_chunks: int, first_chunk: str = "export") -> int:
    """Mel frames an utterance needs for `n_chunks` whole chunks."""
    return chunk_schedule(streaming, None, n_chunks, first_chunk)[-1].stop


@dataclass
class ReferenceModel:
    """A NeMo `ConformerEncoder` set up for streaming, with the feature extractor that goes with it.

    Attributes:
        encoder: The torch module (eval, FP32, on `device`).
        preprocessor: NeMo's `AudioToMelSpectrogramPreprocessor` (eval, CPU).
        source: Where it came from: ``{"model", "preset", "seed", "nemo_path"}``.
        setup: The `setup_streaming_params` arguments used.
        device: ``cpu`` or ``cuda[:n]``.
        contract: The shipped contract its export matches (presets only; ``""`` otherwise).
        preprocessor_config: The preprocessor's keyword arguments (recorded in file headers).
        first_chunk: The default first-chunk mode (`FIRST_CHUNK_MODES`): the preset's, else ``export``.
    """

    encoder: Any
    preprocessor: Any
    source: dict[str, Any]
    setup: StreamingSetup
    device: str = "cpu"
    contract: str = ""
    preprocessor_config: dict[str, Any] = field(default_factory=dict)
    first_chunk: str = "export"
    _subsampled: dict[int, int] = field(default_factory=dict, repr=False)

    # --- facts -----------------------------------------------------------------------------------------------------
    @property
    def streaming(self) -> dict[str, Any]:
        """NeMo's `streaming_cfg` as a plain dict (chunk_size, shift_size, cache_drop_size, valid_out_len …)."""
        cfg = self.encoder.streaming_cfg
        keys = ("chunk_size", "shift_size", "cache_drop_size", "last_channel_cache_size", "valid_out_len",
                "pre_encode_cache_size", "drop_extra_pre_encoded")
        return {k: _plain(getattr(cfg, k)) for k in keys}

    @property
    def n_layers(self) -> int:
        return len(self.encoder.layers)

    @property
    def d_model(self) -> int:
        return int(self.encoder.d_model)

    @property
    def feat_in(self) -> int:
        return int(self.encoder._feat_in)

    @property
    def time_ctx(self) -> int:
        return int(self.encoder.conv_context_size[0])

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters())

    @property
    def sample_rate(self) -> int:
        return int(self.preprocessor_config.get("sample_rate", 16000))

    def describe(self) -> dict[str, Any]:
        """Everything a file header needs to say what produced it."""
        return {
            **self.source, "device": self.device, "streaming_setup": self.setup.to_dict(),
            "streaming": self.streaming, "n_layers": self.n_layers, "d_model": self.d_model,
            "feat_in": self.feat_in, "time_ctx": self.time_ctx, "n_parameters": self.n_parameters,
            "att_context_size": _plain(self.encoder.att_context_size), "precision": "fp32", "tf32": False,
            "preprocessor": dict(self.preprocessor_config), "contract": self.contract,
        }

    # --- running ---------------------------------------------------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        """Mel features `[feat_in, T]` (float32) of a mono float waveform at `sample_rate`, by NeMo's preprocessor."""
        import torch

        signal = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        length = torch.tensor([signal.shape[-1]], dtype=torch.int64)
        with torch.inference_mode():
            feats, flen = self.preprocessor(input_signal=signal, length=length)
        return feats[0, :, : int(flen[0])].numpy().astype(np.float32, copy=True)

    def initial_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        """`get_initial_cache_state` (zeros), in the export layout, by reference input name."""
        ch, tm, ln = self.encoder.get_initial_cache_state(batch_size=batch, device="cpu")
        return {
            "cache_last_channel": ch.transpose(0, 1).contiguous().numpy(),
            "cache_last_time": tm.transpose(0, 1).contiguous().numpy(),
            "cache_last_channel_len": ln.numpy().astype(np.int64),
        }

    def step(self, feeds: Mapping[str, np.ndarray], drop_extra_pre_encoded: int | None = None) -> dict[str, np.ndarray]:
        """One `cache_aware_stream_step`, in and out in the export's layout under reference names.

        Args:
            feeds: The five reference inputs (export layout: caches batch-first; lengths int64).
            drop_extra_pre_encoded: Pre-encoded frames to drop; None = the streaming config's (what the export does).

        Returns:
            The five reference outputs as host arrays (float32 / int64), export layout.
        """
        import torch

        missing = [n for n in REF_INPUTS if n not in feeds]
        if missing:
            raise BackendError(f"NeMo reference step: missing input(s) {', '.join(missing)}; it needs all of "
                               f"{', '.join(REF_INPUTS)} (reference names, export layout).")
        dev = self.device

        def t(name: str, dtype: Any) -> Any:
            return torch.as_tensor(np.ascontiguousarray(feeds[name]), dtype=dtype).to(dev)

        drop = self.encoder.streaming_cfg.drop_extra_pre_encoded if drop_extra_pre_encoded is None \
            else int(drop_extra_pre_encoded)
        with torch.inference_mode():
            out = self.encoder.cache_aware_stream_step(
                processed_signal=t("audio_signal", torch.float32),
                processed_signal_length=t("length", torch.int64),
                cache_last_channel=t("cache_last_channel", torch.float32).transpose(0, 1),
                cache_last_time=t("cache_last_time", torch.float32).transpose(0, 1),
                cache_last_channel_len=t("cache_last_channel_len", torch.int64),
                keep_all_outputs=False,  # as forward_for_export: keep valid_out_len frames
                drop_extra_pre_encoded=drop,
            )
        enc, enc_len, ch, tm, ln = out
        return {
            "encoder_output": _host(enc, np.float32),
            "encoded_lengths": _host(enc_len, np.int64),
            "cache_last_channel_out": _host(ch.transpose(0, 1), np.float32),
            "cache_last_time_out": _host(tm.transpose(0, 1), np.float32),
            "cache_last_channel_len_out": _host(ln, np.int64),
        }

    def schedule(self, n_frames: int | None = None, n_chunks: int | None = None,
                 first_chunk: str | None = None) -> list[ChunkSpan]:
        return chunk_schedule(self.streaming, n_frames, n_chunks, first_chunk or self.first_chunk)

    def frames_needed(self, n_chunks: int, first_chunk: str | None = None) -> int:
        return frames_needed(self.streaming, n_chunks, first_chunk or self.first_chunk)

    def chunk_input(self, features: np.ndarray, span: ChunkSpan) -> np.ndarray:
        """The `audio_signal` `[1, feat_in, frames]` of one chunk: zeros, left context, then the chunk's frames."""
        piece = features[:, span.start - span.context: span.stop]
        if span.zeros:
            piece = np.concatenate([np.zeros((features.shape[0], span.zeros), np.float32), piece], axis=1)
        return np.ascontiguousarray(piece[None], dtype=np.float32)

    def first_chunk_drop(self, mode: str, index: int) -> int:
        """Pre-encoded frames dropped on chunk `index` under a first-chunk mode (``export`` or ``nemo``)."""
        if mode not in FIRST_CHUNK_MODES:
            raise BackendError(f"unknown first-chunk mode {mode!r}. Note: valid choices are "
                               f"{', '.join(FIRST_CHUNK_MODES)}.")
        drop = int(self.encoder.streaming_cfg.drop_extra_pre_encoded)
        return 0 if (mode == "nemo" and index == 0) else drop

    def _negative_length_message(self, index: int, mode: str, state: Mapping[str, np.ndarray]) -> str:
        value = int(np.min(state["cache_last_channel_len"]))
        cfg = self.streaming
        return (f"chunk {index} returned cache_last_channel_len_out = {value}: with this streaming set-up "
                f"(chunk_size {cfg['chunk_size']}, cache_drop_size {cfg['cache_drop_size']}, "
                f"drop_extra_pre_encoded {cfg['drop_extra_pre_encoded']}) and first-chunk mode {mode!r}, the step "
                "keeps fewer frames than it drops, and a negative length cannot be fed to the next step (NeMo and "
                "ONNX Runtime both fail on it; exporters that clamp it to 0 stop carrying state). Use --first-chunk "
                "padded (chunk 0 = zeros + a full chunk, dropped like every other: NeMo's pad_and_drop_preencoded) "
                "or --first-chunk nemo.")

    def stream(self, features: np.ndarray, n_chunks: int | None = None,
               first_chunk: str | None = None) -> Iterator["ChunkResult"]:
        """Run one utterance chunk by chunk, carrying NeMo's own caches from each step to the next.

        Args:
            features: `[feat_in, T]` mel features of the whole utterance.
            n_chunks: Stop after this many chunks (None: every whole chunk the features hold).
            first_chunk: One of `FIRST_CHUNK_MODES`; None = the model's default (`self.first_chunk`).

        Yields:
            One `ChunkResult` per chunk: the exact inputs given and the outputs produced.

        Raises:
            BackendError: Too few frames for `n_chunks`; or a step left a negative cache length that the next step
                cannot consume (NeMo and ONNX Runtime both fail on it), with what to do instead.
        """
        mode = first_chunk or self.first_chunk
        self.first_chunk_drop(mode, 0)  # validates the mode
        spans = self.schedule(features.shape[1], n_chunks, mode)
        if n_chunks is not None and len(spans) < n_chunks:
            need = self.frames_needed(n_chunks, mode)
            raise BackendError(f"the utterance has {features.shape[1]} feature frames: enough for {len(spans)} "
                               f"chunk(s), not {n_chunks} (needs {need} frames, {need / 100:.1f} s). Use a longer "
                               "recording or fewer --chunks.")
        state = self.initial_state()
        for span in spans:
            if int(np.min(state["cache_last_channel_len"])) < 0:
                raise BackendError(self._negative_length_message(span.index - 1, mode, state))
            audio = self.chunk_input(features, span)
            feeds = {"audio_signal": audio, "length": np.array([audio.shape[-1]], np.int64), **state}
            drop = self.first_chunk_drop(mode, span.index)
            t0 = time.perf_counter()
            outputs = self.step(feeds, drop_extra_pre_encoded=drop)
            elapsed = time.perf_counter() - t0
            yield ChunkResult(span=span, inputs=feeds, outputs=outputs, drop_extra_pre_encoded=drop,
                              seconds=elapsed, cache_keep=self._cache_keep(audio.shape[-1], drop))
            state = {
                "cache_last_channel": outputs["cache_last_channel_out"],
                "cache_last_time": outputs["cache_last_time_out"],
                "cache_last_channel_len": outputs["cache_last_channel_len_out"],
            }

    def _cache_keep(self, frames: int, drop: int) -> int:
        """Frames this step adds to the attention cache before NeMo clamps the length to the cache size.

        NeMo: ``len_out = min(len_in + (T' - drop - cache_drop_size), cache_size)`` where T' is the frame count after
        subsampling. Recorded as ``cache_len_out_raw_value`` (a negative raw value is how a length gets stuck).
        """
        if frames not in self._subsampled:
            self._subsampled[frames] = _subsampled(self.encoder, frames)
        return self._subsampled[frames] - drop - int(self.encoder.streaming_cfg.cache_drop_size)


@dataclass(frozen=True)
class ChunkResult:
    """One reference step: what went in and what came out (reference names, export layout)."""

    span: ChunkSpan
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    drop_extra_pre_encoded: int
    seconds: float
    cache_keep: int

    def meta(self) -> dict[str, Any]:
        """Per-chunk facts worth keeping next to the tensors (JSON-safe)."""
        len_in = int(self.inputs["cache_last_channel_len"][0])
        len_out = int(self.outputs["cache_last_channel_len_out"][0])
        return {
            "chunk_len": int(self.inputs["audio_signal"].shape[-1]),
            "start_frame": self.span.start, "stop_frame": self.span.stop,
            "context_frames": self.span.context, "zero_frames": self.span.zeros,
            "drop_extra_pre_encoded": self.drop_extra_pre_encoded,
            "encoded_len": int(self.outputs["encoded_lengths"][0]),
            "cache_len_in": len_in, "cache_len_out_value": len_out,
            "cache_len_out_raw_value": len_in + self.cache_keep,
            "timing_ms": round(self.seconds * 1e3, 3),
        }


def _subsampled(encoder: Any, frames: int) -> int:
    """Frames after the pre-encoder (subsampling) for `frames` mel frames."""
    import torch

    with torch.inference_mode():
        dev = next(encoder.parameters()).device
        x = torch.zeros(1, frames, encoder._feat_in, device=dev)
        _, n = encoder.pre_encode(x=x, lengths=torch.tensor([frames], dtype=torch.int64, device=dev))
    return int(n[0])


def _host(tensor: Any, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu").numpy()).astype(dtype, copy=False)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


# --- building -------------------------------------------------------------------------------------------------------
def load_reference_model(model: str | Path, *, seed: int = 0, device: str = "cpu",
                         streaming: StreamingSetup | None = None) -> ReferenceModel:
    """Build the reference encoder from a preset (seeded random weights) or a `.nemo` checkpoint.

    Args:
        model: A preset name (``tiny``, ``parakeet-tdt-0.6b-v3``, ``parakeet-tdt-0.6b-v3-seed``) or a `.nemo` path.
        seed: Seed of the random weights (presets only). Same seed → bit-identical weights.
        device: ``cpu`` or ``cuda[:n]``.
        streaming: Override of the streaming set-up (default: the preset's; for a `.nemo`, parakeet's stateful
            set-up when the encoder has unlimited attention context, else NeMo's own default).

    Returns:
        The model, in eval mode, FP32, TF32 off, streaming configured.

    Raises:
        BackendError: Unknown preset, unreadable or unsafe `.nemo`, a device that is not there.
    """
    configure_numerics()
    name = str(model)
    if name in PRESETS:
        return _from_preset(PRESETS[name], seed, device, streaming)
    path = Path(name)
    if path.suffix == ".nemo" or path.exists():
        return _from_nemo(path, device, streaming)
    raise BackendError(f"unknown model {name!r}: give a preset ({', '.join(PRESETS)}) or the path of a .nemo "
                       "checkpoint.")


def _from_preset(preset: Preset, seed: int, device: str, streaming: StreamingSetup | None) -> ReferenceModel:
    import torch

    cls = _conformer_class()
    with torch.random.fork_rng(devices=[]), quiet_nemo():
        torch.manual_seed(int(seed))
        encoder = cls(**dict(preset.encoder))
    setup = streaming or preset.streaming
    # the preset's contract describes the preset's own streaming set-up only
    contract = preset.contract if setup == preset.streaming else ""
    return _finish(encoder, dict(preset.preprocessor), setup, device,
                   {"model": preset.name, "preset": preset.name, "seed": int(seed), "nemo_path": None}, contract)


def _from_nemo(path: Path, device: str, streaming: StreamingSetup | None) -> ReferenceModel:
    from backends.nemo_checkpoint import encoder_state_dict, extract_nemo, read_config

    cls = _conformer_class()
    with tempfile.TemporaryDirectory(prefix="inspector-nemo-") as tmp:
        archive = extract_nemo(path, tmp)
        cfg = read_config(archive)
        weights = encoder_state_dict(archive)
    if "encoder" not in cfg:
        raise BackendError(f"{path}: model_config.yaml has no 'encoder' section; is this an ASR model?")
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        enc_cfg = OmegaConf.to_container(cfg.encoder, resolve=True)
        pre_cfg = OmegaConf.to_container(cfg.preprocessor, resolve=True) if "preprocessor" in cfg else {}
    except OmegaConfBaseException as exc:
        raise BackendError(f"{path}: model_config.yaml cannot be resolved ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0]}); an interpolation such as ${{...}} points at a key the file "
                           f"does not have. Fix the config or re-save the model with NeMo's save_to.") from None
    if not isinstance(enc_cfg, dict) or not isinstance(pre_cfg, dict):
        raise BackendError(f"{path}: model_config.yaml's encoder/preprocessor sections are not mappings.")
    target = str(enc_cfg.pop("_target_", "ConformerEncoder"))
    if not target.endswith("ConformerEncoder"):
        raise BackendError(f"{path}: the encoder is {target}, not NeMo's ConformerEncoder (FastConformer); only "
                           "Conformer/FastConformer encoders stream with cache-aware steps.")
    for key in [k for k in enc_cfg if k.startswith("dropout")]:
        enc_cfg[key] = 0.0
    with quiet_nemo():
        try:
            encoder = cls(**enc_cfg)
        except TypeError as exc:
            raise BackendError(f"{path}: NeMo could not build the encoder from cfg.encoder ({exc}).") from exc
        result = encoder.load_state_dict(weights, strict=False)
    if result.missing_keys:
        raise BackendError(f"{path}: the checkpoint lacks encoder weights {result.missing_keys[:5]} "
                           f"({len(result.missing_keys)} missing); it does not match its own config.")
    pre_target = str(pre_cfg.pop("_target_", "AudioToMelSpectrogramPreprocessor"))
    if not pre_target.endswith("AudioToMelSpectrogramPreprocessor"):
        raise BackendError(f"{path}: the model's preprocessor is {pre_target}; the reference computes features with "
                           f"NeMo's AudioToMelSpectrogramPreprocessor only (the feature extractor of parakeet and "
                           f"every FastConformer ASR model). Features from another extractor would not be the "
                           f"model's.")
    if streaming is None:
        att = list(enc_cfg.get("att_context_size") or [-1, -1])
        unlimited = att and isinstance(att[0], int) and att[0] < 0
        streaming = PARAKEET_STREAMING if unlimited else StreamingSetup()
    return _finish(encoder, pre_cfg or {"features": encoder._feat_in}, streaming, device,
                   {"model": str(path), "preset": None, "seed": None, "nemo_path": str(path)}, "")


def _finish(encoder: Any, pre_cfg: dict[str, Any], setup: StreamingSetup, device: str,
            source: dict[str, Any], contract: str) -> ReferenceModel:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable("torch cannot see a CUDA GPU here (torch.cuda.is_available() is False); use "
                                 "device cpu, or install a CUDA build of torch 2.13.0 on a GPU machine.")
    encoder = encoder.float().eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    with quiet_nemo():
        encoder.setup_streaming_params(**setup.kwargs())
        from nemo.collections.asr.modules import AudioToMelSpectrogramPreprocessor

        try:
            pre = AudioToMelSpectrogramPreprocessor(**pre_cfg).eval()
        except (TypeError, ValueError) as exc:
            raise BackendError(f"{source.get('model')}: NeMo could not build the preprocessor from its config "
                               f"({exc}). Its keys: {', '.join(sorted(pre_cfg)) or 'none'}.") from None
    encoder = encoder.to(device)
    model = ReferenceModel(encoder=encoder, preprocessor=pre, source=source, setup=setup, device=device,
                           contract=contract, preprocessor_config=dict(pre_cfg))
    model.first_chunk = default_first_chunk(model)
    return model


def default_first_chunk(model: ReferenceModel) -> str:
    """``export``, unless a short first chunk would leave a negative cache length (then ``padded``).

    NeMo keeps ``T' - drop_extra_pre_encoded - cache_drop_size`` frames of a step in the attention cache (T' = frames
    after subsampling). For parakeet's stateful set-up chunk 0 keeps 6 - 2 - 3 = 1; for the seed set-up (577 frames,
    cache_drop_size 72) it keeps 73 - 2 - 72 = -1, which no later step can consume.
    """
    cfg = model.streaming
    first = _pair(cfg["chunk_size"])[0] + _pair(cfg["pre_encode_cache_size"])[0]
    return "padded" if model._cache_keep(first, int(cfg["drop_extra_pre_encoded"])) < 0 else "export"


# --- the backend ----------------------------------------------------------------------------------------------------
class NemoBackend(Backend):
    """The NeMo reference run live (``torch-cpu`` / ``torch-cuda``): one chunk in, the export's outputs out.

    Model: a `.nemo` path, or None with ``options["preset"]`` (default ``tiny``) and ``options["seed"]`` (0).
    Options: ``device`` (``cpu``/``cuda``), ``preset``, ``seed``, ``nemo_path``, ``first_chunk`` (``export``;
    ``nemo`` drops nothing on a first chunk, recognised by its frame count `chunk_size[0]` and zero length).
    Feeds and outputs are keyed by the contract's names in the export's layout, as for the ONNX backends.
    """

    name: ClassVar[str] = "torch-cpu"

    @classmethod
    def availability(cls) -> Availability:
        return cls.availability_for({"device": "cpu"})

    @classmethod
    def availability_for(cls, options: Mapping[str, Any]) -> Availability:
        """Whether torch and NeMo are installed, and for ``device=cuda`` whether torch sees a GPU."""
        for mod, what in (("torch", "torch"), ("nemo", "nemo_toolkit")):
            if importlib.util.find_spec(mod) is None:
                return Availability(False, f"{what} is not installed", INSTALL_HINT)
        if importlib.util.find_spec("nemo.collections.asr") is None:
            return Availability(False, "nemo_toolkit is installed without its ASR collection", INSTALL_HINT)
        if str(options.get("device", "cpu")).startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                build = "a CPU-only build" if "+cpu" in torch.__version__ else f"torch {torch.__version__}"
                return Availability(False, f"torch cannot see a CUDA GPU ({build})",
                                    "on a machine with an NVIDIA GPU: pip install torch==2.13.0 from PyPI (its Linux "
                                    "wheel is the CUDA build; the +cpu wheel is not)")
        return Availability(True)

    def _activate_impl(self) -> None:
        avail = self.availability_for(self.options)
        if not avail:
            raise BackendUnavailable(f"Backend {self.name} cannot run on this machine: {avail.reason}. "
                                     f"To use it: {avail.install}.")
        source = self.options.get("nemo_path") or (str(self.model) if self.model is not None else None)
        if source and Path(source).suffix != ".nemo" and not Path(source).is_dir() and str(source) not in PRESETS:
            raise BackendError(f"backend {self.name}: model {source} is not a .nemo checkpoint; the torch backend "
                               "runs NeMo itself. Give --model PATH.nemo, or options preset=NAME seed=S.")
        model = source or self.options.get("preset", "tiny")
        self.ref = load_reference_model(model, seed=int(self.options.get("seed", 0)),
                                        device=str(self.options.get("device", "cpu")))
        self._first_chunk = str(self.options.get("first_chunk", self.ref.first_chunk))
        self.ref.first_chunk_drop(self._first_chunk, 0)  # validates the mode
        self._in_ref = {s.name: s.ref_name for s in self.contract.inputs}
        self._out_model = {s.ref_name: s.name for s in self.contract.outputs}

    def _deactivate_impl(self) -> None:
        del self.ref

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        by_ref = {self._in_ref.get(k, k): v for k, v in feeds.items()}
        drop = None
        if self._first_chunk == "nemo":
            first = _pair(self.ref.streaming["chunk_size"])[0] + _pair(self.ref.streaming["pre_encode_cache_size"])[0]
            if by_ref["audio_signal"].shape[-1] == first and int(np.max(by_ref["cache_last_channel_len"])) == 0:
                drop = 0
        import torch

        sync = torch.cuda.synchronize if self.ref.device.startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = self.ref.step(by_ref, drop_extra_pre_encoded=drop)
        sync()
        self.inference_time = time.perf_counter() - t0
        return {self._out_model.get(k, k): v for k, v in out.items()}

    def _info_impl(self) -> BackendInfo:
        import torch

        dev = self.ref.device
        device_name = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") else "cpu"
        return BackendInfo(
            name=self.name, runtime="torch", version=torch.__version__, device=device_name,
            provider=f"nemo_toolkit {versions()['nemo']} cache_aware_stream_step", precision="fp32",
            math_mode="tf32=off", options=dict(self.options),
            extra={"model": self.ref.source, "streaming": self.ref.streaming, "first_chunk": self._first_chunk},
        )
