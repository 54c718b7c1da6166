"""Reading a `.nemo` checkpoint safely: a tar of `model_config.yaml` + `model_weights.ckpt` (+ tokenizer files).

Only the two members we need are extracted, with tarfile's ``data`` filter (no absolute paths, no links out, no
device files) and an explicit check that every member stays inside the archive's folder: a `.nemo` is a file a user
downloaded, and a crafted one must never write outside a temporary directory.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from backends.base import BackendError

CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"


@dataclass(frozen=True)
class NemoArchive:
    """The two members of a `.nemo` we use, extracted into `folder`."""

    path: Path
    folder: Path
    config: Path
    weights: Path


def _member_is_safe(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return not (name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]))


def extract_nemo(path: str | Path, folder: str | Path) -> NemoArchive:
    """Extract a `.nemo` file's config and weights into `folder`.

    Args:
        path: The `.nemo` file (an uncompressed or gzip tar).
        folder: An existing, empty directory to extract into.

    Returns:
        Where the config and the weights landed.

    Raises:
        BackendError: The file is missing, not a tar, lacks a member, or has a member whose path leaves the archive
            (``../``, absolute paths, links pointing outside).
    """
    path = Path(path)
    folder = Path(folder)
    if not path.is_file():
        raise BackendError(f"{path}: no such .nemo file. Give the path of a NeMo checkpoint (a .nemo tar archive) "
                           "or a preset name (tiny, parakeet-tdt-0.6b-v3, parakeet-tdt-0.6b-v3-seed).")
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise BackendError(f"{path}: not a readable .nemo archive ({exc}). A .nemo file is a tar archive holding "
                           f"{CONFIG_NAME} and {WEIGHTS_NAME}; re-download or re-save it with NeMo's save_to.") from exc
    with tar:
        members = tar.getmembers()
        bad = [m.name for m in members if not _member_is_safe(m.name)
               or ((m.issym() or m.islnk()) and not _member_is_safe(m.linkname))]
        if bad:
            raise BackendError(f"{path}: refusing to extract this .nemo: member(s) {', '.join(map(repr, bad[:5]))} "
                               "would be written outside the archive's folder (path traversal). A checkpoint saved "
                               "by NeMo never contains such paths; do not use this file.")
        wanted = {}
        for m in members:
            base = PurePosixPath(m.name).name
            if base in (CONFIG_NAME, WEIGHTS_NAME) and m.isfile():
                # the top-level member wins over nested copies (NeMo writes ./model_config.yaml)
                if base not in wanted or len(PurePosixPath(m.name).parts) < len(PurePosixPath(wanted[base].name).parts):
                    wanted[base] = m
        missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in wanted]
        if missing:
            raise BackendError(f"{path}: the archive has no {' and no '.join(missing)} (found: "
                               f"{', '.join(m.name for m in members[:8]) or 'nothing'}). Is this a NeMo .nemo file?")
        root = folder.resolve()
        for m in wanted.values():
            tar.extract(m, folder, filter="data")
            target = (folder / m.name).resolve()
            if os.path.commonpath([root, target]) != str(root):  # belt and braces over the filter
                raise BackendError(f"{path}: member {m.name!r} resolved outside {folder}; refusing it.")
    return NemoArchive(path=path, folder=folder, config=(folder / wanted[CONFIG_NAME].name).resolve(),
                       weights=(folder / wanted[WEIGHTS_NAME].name).resolve())


def read_config(archive: NemoArchive) -> Any:
    """The model's OmegaConf config."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.load(archive.config)
    except Exception as exc:  # noqa: BLE001 — any YAML/OmegaConf failure is the file's fault
        raise BackendError(f"{archive.path}: {CONFIG_NAME} is not valid YAML ({exc}).") from exc


def encoder_state_dict(archive: NemoArchive) -> dict[str, Any]:
    """The `encoder.*` weights of the checkpoint, with the prefix stripped."""
    import torch

    try:
        state = torch.load(archive.weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise BackendError(f"{archive.path}: cannot read {WEIGHTS_NAME} ({type(exc).__name__}: {exc}).") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    enc = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    if not enc:
        raise BackendError(f"{archive.path}: {WEIGHTS_NAME} has no 'encoder.*' weights (keys start with "
                           f"{sorted({k.split('.')[0] for k in state})[:6]}). Is this an ASR model checkpoint?")
    return enc
