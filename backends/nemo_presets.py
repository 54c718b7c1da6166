"""Named NeMo encoder set-ups: the architecture, the streaming set-up and the feature extractor of each preset.

Pure data (no torch, no NeMo): `inspector reference --help`, the contracts and the bench read these without loading
anything heavy. The numbers are those of `../shared/DESIGN.md` ("NeMo's streaming encoder, checked here").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# parakeet-tdt-0.6b-v3's FastConformer encoder, as in its model_config.yaml (dropouts 0: we only ever run eval).
_PARAKEET_ENCODER: dict[str, Any] = {
    "feat_in": 128,
    "n_layers": 24,
    "d_model": 1024,
    "n_heads": 8,
    "subsampling": "dw_striding",
    "subsampling_factor": 8,
    "subsampling_conv_channels": 256,
    "ff_expansion_factor": 4,
    "self_attention_model": "rel_pos",
    "att_context_size": [-1, -1],
    "conv_kernel_size": 9,
    "conv_norm_type": "batch_norm",
    "dropout": 0.0,
    "dropout_pre_encoder": 0.0,
    "dropout_emb": 0.0,
    "dropout_att": 0.0,
}

# parakeet's AudioToMelSpectrogramPreprocessor (dither only applies in training mode, so eval is deterministic).
PARAKEET_PREPROCESSOR: dict[str, Any] = {
    "sample_rate": 16000,
    "normalize": "per_feature",
    "window_size": 0.025,
    "window_stride": 0.01,
    "window": "hann",
    "features": 128,
    "n_fft": 512,
    "log": True,
    "frame_splicing": 1,
    "dither": 1e-5,
    "pad_to": 0,
}


@dataclass(frozen=True)
class StreamingSetup:
    """Arguments of `ConformerEncoder.setup_streaming_params` (None = NeMo's default for the encoder)."""

    chunk_size: int | None = None
    shift_size: int | None = None
    max_context: int = 10000

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_context": self.max_context}
        if self.chunk_size is not None:
            out["chunk_size"] = self.chunk_size
            out["shift_size"] = self.shift_size if self.shift_size is not None else self.chunk_size
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_size": self.chunk_size, "shift_size": self.shift_size, "max_context": self.max_context}


# The seed team's final (stateful) set-up: first chunk 41 mel frames, later 57, 3 frames out, cache 256.
PARAKEET_STREAMING = StreamingSetup(chunk_size=6, shift_size=3, max_context=256)
# The configuration the seed report cleared: 577/593 mel frames, one frame out per chunk.
SEED_STREAMING = StreamingSetup(chunk_size=73, shift_size=1, max_context=256)


@dataclass(frozen=True)
class Preset:
    """One named encoder: architecture, streaming set-up, feature extractor and the contract that describes it.

    Attributes:
        name: What `--model` accepts.
        encoder: Keyword arguments of NeMo's `ConformerEncoder`.
        streaming: Arguments of `setup_streaming_params`.
        preprocessor: Keyword arguments of NeMo's `AudioToMelSpectrogramPreprocessor`.
        contract: The shipped contract (bare name for `contracts.load.load_contract`) its export satisfies.
        description: One line for `--help` and file headers.
    """

    name: str
    encoder: Mapping[str, Any]
    streaming: StreamingSetup
    preprocessor: Mapping[str, Any] = field(default_factory=lambda: dict(PARAKEET_PREPROCESSOR))
    contract: str = ""
    description: str = ""


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        encoder={**_PARAKEET_ENCODER, "n_layers": 2, "d_model": 64, "n_heads": 4, "subsampling_conv_channels": 64},
        streaming=PARAKEET_STREAMING,
        contract="demo_streaming",
        description="parakeet's encoder structure and streaming set-up at 2 layers x d_model 64 (runs in seconds)",
    ),
    "parakeet-tdt-0.6b-v3": Preset(
        name="parakeet-tdt-0.6b-v3",
        encoder=dict(_PARAKEET_ENCODER),
        streaming=PARAKEET_STREAMING,
        contract="parakeet-tdt-0.6b-v3",
        description="parakeet-tdt-0.6b-v3's encoder (24 x 1024), stateful streaming set-up (41/57 frames, 3 out)",
    ),
    "parakeet-tdt-0.6b-v3-seed": Preset(
        name="parakeet-tdt-0.6b-v3-seed",
        encoder=dict(_PARAKEET_ENCODER),
        streaming=SEED_STREAMING,
        contract="encoder_streaming",
        description="the same encoder in the seed report's set-up (577/593 frames, 1 frame out per chunk)",
        # A 577-frame first chunk with 2 pre-encoded frames dropped keeps 73 - 2 - 72 = -1 frames: the cache length
        # goes to -1 and the next step fails in NeMo and in ONNX Runtime. `backends.nemo` therefore defaults this
        # set-up to a padded first chunk (9 zeros + 584 frames), which the export runs consistently (1, 2, 3, …).
    ),
}


def parse_streaming_setup(text: str) -> StreamingSetup:
    """``"6,3,256"`` → `StreamingSetup(chunk_size=6, shift_size=3, max_context=256)` (max_context optional).

    Raises:
        ValueError: Not two or three positive integers.
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3) or any(n < 1 for n in nums):
        raise ValueError(f"streaming set-up {text!r}: expected CHUNK,SHIFT[,MAX_CONTEXT] as positive integers "
                         "(setup_streaming_params arguments), e.g. 6,3,256 (parakeet) or 73,1,256 (the seed's).")
    return StreamingSetup(chunk_size=nums[0], shift_size=nums[1], max_context=nums[2] if len(nums) == 3 else 10000)


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def is_preset(model: str) -> bool:
    return str(model) in PRESETS
