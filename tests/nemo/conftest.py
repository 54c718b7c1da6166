"""Fixtures of the NeMo reference tests: a tiny ASR model saved as a real `.nemo` file."""

from __future__ import annotations

from pathlib import Path

import pytest

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def save_tiny_nemo(path: Path, seed: int = 3) -> tuple[Path, object]:
    """A tiny `EncDecCTCModel` (char labels, no tokenizer) with the `tiny` preset's encoder, saved with `save_to`.

    Returns:
        The `.nemo` path and the model it was saved from.
    """
    import torch
    from omegaconf import OmegaConf

    from backends.nemo import quiet_nemo
    from backends.nemo_presets import PARAKEET_PREPROCESSOR, PRESETS

    with quiet_nemo():
        from nemo.collections.asr.models import EncDecCTCModel

        cfg = OmegaConf.create({
            "sample_rate": 16000, "labels": LABELS,
            "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                             **PARAKEET_PREPROCESSOR},
            "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", **PRESETS["tiny"].encoder},
            "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 64,
                        "num_classes": len(LABELS), "vocabulary": LABELS},
        })
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = EncDecCTCModel(cfg=cfg)
        model.eval()
        model.save_to(str(path))
    return path, model


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory: pytest.TempPathFactory):
    """(path of a tiny .nemo file, the EncDecCTCModel it was saved from)."""
    pytest.importorskip("nemo.collections.asr")
    return save_tiny_nemo(tmp_path_factory.mktemp("nemo") / "tiny_ctc.nemo")
