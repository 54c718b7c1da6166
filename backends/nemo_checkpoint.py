"""Reading a `.nemo` checkpoint safely: a tar of `model_config.yaml` + `model_weights.ckpt` (+ tokenizer files).

Only the two members we need are extracted, with tarfile's ``data`` filter (no absolute paths, no links out, no
device files) and an explicit check that every member stays inside the archive's folder: a `.nemo` is a file a user
downloaded, and a crafted one must never write outside a temporary directory.
"""

from __future__ import annotations

import os
import tarfile
import zlib
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
    if path.is_dir():
        return _extracted_folder(path)
    if not path.is_file():
        raise BackendError(f"{path}: no such .nemo file. Give the path of a NeMo checkpoint (a .nemo tar archive, or "
                           "the folder it was extracted to) or a preset name (tiny, parakeet-tdt-0.6b-v3, "
                           "parakeet-tdt-0.6b-v3-seed).")
    if path.stat().st_size == 0:
        raise BackendError(f"{path}: the file is empty (an interrupted download?). A .nemo file is a tar archive "
                           f"holding {CONFIG_NAME} and {WEIGHTS_NAME}; download or save it again.")
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        first = str(exc).splitlines()[0].rstrip(":")
        raise BackendError(f"{path}: not a readable .nemo archive ({first}). A .nemo file is a tar archive holding "
                           f"{CONFIG_NAME} and {WEIGHTS_NAME}; re-download or re-save it with NeMo's save_to.") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise BackendError(f"{path}: the archive is damaged or cut short ({type(exc).__name__}: {exc}); download "
                               f"or save it again.") from None
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
            try:
                tar.extract(m, folder, filter="data")
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                raise BackendError(f"{path}: member {m.name!r} cannot be extracted ({type(exc).__name__}: {exc}); the "
                                   f"archive is damaged or unsafe.") from None
            target = (folder / m.name).resolve()
            if os.path.commonpath([root, target]) != str(root):  # belt and braces over the filter
                raise BackendError(f"{path}: member {m.name!r} resolved outside {folder}; refusing it.")
    return NemoArchive(path=path, folder=folder, config=(folder / wanted[CONFIG_NAME].name).resolve(),
                       weights=(folder / wanted[WEIGHTS_NAME].name).resolve())


def _extracted_folder(path: Path) -> NemoArchive:
    """A `.nemo` already extracted into a folder (``tar xf model.nemo -C DIR``): use its two files where they are."""
    found = {}
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        direct = path / name
        nested = sorted(path.glob(f"*/{name}"))
        target = direct if direct.is_file() else (nested[0] if len(nested) == 1 else None)
        if target is None:
            raise BackendError(f"{path}: a folder, but not an extracted .nemo: it has no {name}"
                               + (f" (several nested copies: {', '.join(map(str, nested[:3]))})" if nested else "")
                               + f". Give the .nemo file itself, or the folder holding {CONFIG_NAME} and "
                                 f"{WEIGHTS_NAME}.")
        found[name] = target.resolve()
    return NemoArchive(path=path, folder=path, config=found[CONFIG_NAME], weights=found[WEIGHTS_NAME])


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
