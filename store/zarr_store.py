"""`Store`: the Zarr v3 directory that holds reference chunks and every run's results (layout in `store.api`).

Reading is lazy: `Store.chunk` returns a `Chunk` that reads nothing until a tensor is asked for, then reads only
that tensor. Writing a reference chunk (`Store.write_chunk`, also used by `inspector convert`) commits the chunk in
one atomic directory rename, so readers never see half a chunk and a killed writer loses at most the chunk it was
writing.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from store import layout
from store.api import RunRecord, StoreCorrupt, StoreError, TensorInfo
from store.arrays import DEFAULT_CODEC, array_meta, list_array_names, read_array_at, write_arrays
from store.jsonsafe import restore_nonfinite, to_jsonable

KINDS = ("inputs", "outputs")


class Chunk:
    """One streaming chunk of the reference (implements `store.api.ChunkView`). Tensors load on first access.

    Attributes:
        stream: The stream (utterance) name.
        index: The chunk index within the stream.
        meta: The line's ``meta`` / ``metadata`` object (non-finite numbers are stored as strings and read back as
            floats, see `store.jsonsafe`).
        line: Where the chunk came from in the source JSONL (``{"number", "offset", "size"}``), or None.
    """

    def __init__(self, store: Store, stream: str, index: int, folder: Path, attrs: Mapping[str, Any]) -> None:
        self._store = store
        self._folder = folder
        self._attrs = attrs
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self.stream = stream
        self.index = index
        self.meta: Mapping[str, Any] = restore_nonfinite(attrs.get("meta") or {})
        self.line: Mapping[str, Any] | None = attrs.get("line")

    def __repr__(self) -> str:
        return f"Chunk(stream={self.stream!r}, index={self.index})"

    def _names(self, kind: str) -> tuple[str, ...]:
        names = self._attrs.get(kind)
        if names is None:  # written by something other than us: list the folder
            names = list_array_names(self._folder / kind)
        return tuple(names)

    def _array_folder(self, kind: str, name: str) -> Path:
        return layout.array_folder(self._folder, kind, name)

    def _load(self, kind: str, name: str) -> np.ndarray:
        key = (kind, name)
        if key not in self._cache:
            if name not in self._names(kind):
                raise StoreError(
                    f"stream {self.stream!r} chunk {self.index} in {self._store.path} has no {kind[:-1]} {name!r}; "
                    f"its {kind} are: {', '.join(self._names(kind)) or '(none)'}."
                )
            self._cache[key] = read_array_at(self._array_folder(kind, name))
        return self._cache[key]

    def input(self, name: str) -> np.ndarray:
        """The reference input `name` in its true shape."""
        return self._load("inputs", name)

    def output(self, name: str) -> np.ndarray:
        """The reference output `name` in its true shape."""
        return self._load("outputs", name)

    def input_names(self) -> tuple[str, ...]:
        return self._names("inputs")

    def output_names(self) -> tuple[str, ...]:
        return self._names("outputs")

    def inputs(self) -> dict[str, np.ndarray]:
        return {n: self.input(n) for n in self.input_names()}

    def outputs(self) -> dict[str, np.ndarray]:
        return {n: self.output(n) for n in self.output_names()}

    def tensor_infos(self) -> list[TensorInfo]:
        """Name, kind, shape, dtype and size of every tensor, from metadata only (no array data is read)."""
        infos = []
        for kind in KINDS:
            for name in self._names(kind):
                shape, dtype = array_meta(self._array_folder(kind, name))
                nbytes = math.prod(shape) * np.dtype(dtype).itemsize
                infos.append(TensorInfo(name=name, kind=kind, shape=shape, dtype=dtype, nbytes=nbytes))
        return infos


class Store:
    """A parity store on disk. Open with `Store.open(path, mode)`, make a new one with `Store.create(path)`.

    Attributes:
        path: The store directory.
        mode: ``"r"`` (read only) or ``"a"`` (read and write).
    """

    def __init__(self, path: Path, mode: str) -> None:
        self.path = Path(path)
        self.mode = mode

    # --- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> Store:
        """Open an existing store.

        Args:
            path: The store directory (what `inspector convert -o` wrote).
            mode: ``"r"`` to read, ``"a"`` to also write chunks and runs.

        Raises:
            StoreError: No store there, or not a parity store.
        """
        if mode not in ("r", "a"):
            raise StoreError(f"store mode must be 'r' or 'a', got {mode!r}.")
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no store at {path}: the path does not exist. Make one with `inspector convert "
                             f"REF.jsonl -o {path}` (or `inspector reference --store {path}`).")
        if not layout.is_store(path):
            meta = layout.group_meta_path(path)
            if meta.is_file():
                try:
                    layout.read_group_attrs(path)
                except StoreCorrupt as exc:
                    raise StoreCorrupt(f"{path} cannot be opened: its root metadata {exc} Without it the store's "
                                       f"format, source and conversion state are unknown; re-create the store "
                                       f"(`inspector convert REF.jsonl -o {path} --overwrite`).") from None
            raise StoreError(f"{path} is not a parity store (no zarr.json with format {layout.FORMAT!r}); "
                             f"point at the directory `inspector convert -o` wrote.")
        attrs = layout.read_group_attrs(path)
        version = attrs.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise StoreCorrupt(f"{path}/zarr.json has version {version!r}, not an integer: the store's root "
                               f"metadata was changed by something else. Re-create the store with --overwrite.")
        if version > layout.VERSION:
            raise StoreError(f"{path} is a version {attrs.get('version')} store; this inspector reads up to version "
                             f"{layout.VERSION}. Upgrade parity-inspector.")
        return cls(path, mode)

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False, codec: str = DEFAULT_CODEC,
               attrs: Mapping[str, Any] | None = None) -> Store:
        """Create an empty store (mode ``"a"``).

        Args:
            path: Directory to create.
            overwrite: Replace an existing parity store at `path` (never anything that is not a store).
            codec: Compression of the arrays, one of `store.arrays.CODECS`.
            attrs: Extra root attributes (source, header, contract …).

        Raises:
            StoreError: `path` exists (and `overwrite` is off, or it is not a parity store).
        """
        path = Path(path)
        if path.exists():
            if not layout.is_store(path):
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
                else:
                    raise StoreError(f"{path} exists and is not a parity store; refusing to touch it. Choose "
                                     f"another output path or remove it yourself.")
            elif not overwrite:
                raise StoreError(f"a store exists at {path} already; pass --overwrite to replace it, or open it.")
            else:
                shutil.rmtree(path)
        root_attrs = {"format": layout.FORMAT, "version": layout.VERSION, "codec": codec, **dict(attrs or {})}
        layout.write_group(path, to_jsonable(root_attrs))
        layout.write_group(path / layout.STREAMS, {})
        return cls(path, "a")

    # --- attributes ------------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """The root attributes (format, version, codec, source, header, contract, conversion, skipped …)."""
        return layout.read_group_attrs(self.path)

    def update_attrs(self, **fields: Any) -> None:
        """Merge `fields` into the root attributes, atomically."""
        self._require_writable()
        attrs = self.attrs
        attrs.update(to_jsonable(fields))
        layout.write_group(self.path, attrs)

    # --- the contract it was made with ---------------------------------------------------------------------------
    CONTRACT_FILE = "contract.json"

    def record_contract(self, contract: Any) -> None:
        """Keep `contract` (a `contracts.Contract`) as this store's: its whole document in ``contract.json`` at the
        store's root (so commands default to it even when the original file moved or was never shipped), its name
        in the ``contract`` attribute."""
        from contracts.load import dump_contract

        self._require_writable()
        final = self.path / self.CONTRACT_FILE
        tmp = final.with_name(final.name + ".partial")
        dump_contract(contract, tmp)
        tmp.replace(final)  # atomic: a reader never sees half a document
        self.update_attrs(contract=contract.name, contract_file=self.CONTRACT_FILE)

    def recorded_contract_file(self) -> Path | None:
        """The contract document `record_contract` kept, or None (older stores name their contract only)."""
        name = self.attrs.get("contract_file")
        path = self.path / name if isinstance(name, str) and name and "/" not in name else None
        return path if path is not None and path.is_file() else None

    def _require_writable(self) -> None:
        if self.mode != "a":
            raise StoreError(f"{self.path} was opened read-only; open it with mode='a' to write.")

    # --- reference chunks ------------------------------------------------------------------------------------
    def _stream_folder(self, stream: str) -> Path:
        folder = self.path / layout.STREAMS / layout.stream_dirname(stream)
        legacy = layout.legacy_dirname(stream)
        if legacy is not None and not folder.exists() and (self.path / layout.STREAMS / legacy).exists():
            return self.path / layout.STREAMS / legacy  # a store written before long names were shortened
        return folder

    def streams(self) -> list[str]:
        """Stream names, sorted."""
        folder = self.path / layout.STREAMS
        if not folder.is_dir():
            return []
        return sorted(layout.stream_name_of(p) for p in folder.iterdir() if (p / "zarr.json").exists()
                      or (p.is_dir() and any(layout.parse_chunk_dirname(c.name) is not None for c in p.iterdir())))

    def chunk_indices(self, stream: str) -> list[int]:
        """Indices of the stream's committed chunks, sorted (empty for an unknown stream)."""
        folder = self._stream_folder(stream)
        if not folder.is_dir():
            return []
        indices = (layout.parse_chunk_dirname(p.name) for p in folder.iterdir())
        return sorted(i for i in indices if i is not None)

    def num_chunks(self, stream: str) -> int:
        return len(self.chunk_indices(stream))

    def has_chunk(self, stream: str, index: int) -> bool:
        return (self._stream_folder(stream) / layout.chunk_dirname(index)).is_dir()

    def chunk(self, stream: str, index: int) -> Chunk:
        """One chunk, lazily (see `Chunk`).

        Raises:
            StoreError: The stream or the chunk does not exist; the message lists what does.
        """
        folder = self._stream_folder(stream) / layout.chunk_dirname(index)
        try:
            attrs = layout.read_group_attrs(folder)
        except FileNotFoundError:
            streams = self.streams()
            if stream not in streams:
                raise StoreError(f"{self.path} has no stream {stream!r}; streams: "
                                 f"{', '.join(map(repr, streams)) or '(none)'}.") from None
            indices = self.chunk_indices(stream)
            have = f"{indices[0]}..{indices[-1]} ({len(indices)} chunks)" if indices else "none"
            raise StoreError(f"stream {stream!r} of {self.path} has no chunk {index}; it has {have}.") from None
        return Chunk(self, stream, int(index), folder, attrs)

    def write_chunk(self, stream: str, index: int, inputs: Mapping[str, np.ndarray],
                    outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None, *,
                    line: Mapping[str, Any] | None = None, overwrite: bool = False) -> None:
        """Write one reference chunk and commit it atomically (all arrays first, then one directory rename).

        Args:
            stream: Stream name (any non-empty string).
            index: Chunk index within the stream.
            inputs: Input tensors by reference name, true shapes.
            outputs: Output tensors by reference name.
            meta: Free JSON metadata kept with the chunk.
            line: Where it came from in a source file (``number``, ``offset``, ``size``), if anywhere.
            overwrite: Replace the chunk if it exists (else that is an error).

        Raises:
            StoreError: The chunk exists and `overwrite` is off, or the store is read-only.
        """
        self._require_writable()
        partial = layout.new_partial_dir(self.path, f"{layout.stream_dirname(stream)}-{layout.chunk_dirname(index)}")
        try:
            write_chunk_folder(partial, inputs, outputs, meta, line=line, codec=self.attrs.get("codec", DEFAULT_CODEC))
            self.commit_chunk(partial, stream, index, overwrite=overwrite)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def commit_chunk(self, partial: Path, stream: str, index: int, *, overwrite: bool = False) -> None:
        """Rename a finished ``*.partial`` chunk folder into place (see `write_chunk_folder`)."""
        folder = self._stream_folder(stream)
        layout.ensure_group(folder, {"name": stream})
        final = folder / layout.chunk_dirname(index)
        if final.exists():
            if not overwrite:
                raise StoreError(f"stream {stream!r} chunk {index} exists already in {self.path}; pass "
                                 f"overwrite=True to replace it.")
            trash = layout.new_partial_dir(self.path, "replaced")
            final.rename(trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        layout.commit_dir(partial, final)

    def clean_partials(self) -> int:
        """Delete what killed writers left under ``tmp/`` (never anything committed)."""
        return layout.clean_partials(self.path)

    # --- runs ------------------------------------------------------------------------------------------------
    def runs(self) -> list[RunRecord]:
        """Every recorded run, oldest first (run ids sort by start time)."""
        from store.runs import list_runs

        return list_runs(self)

    def run(self, run_id: str):
        """A recorded run, read side (`store.runs.Run`)."""
        from store.runs import open_run

        return open_run(self, run_id)

    def create_run(self, record: RunRecord):
        """Start recording a new run (`store.runs.Run`); fills `record.run_id` and `started` if empty."""
        from store.runs import create_run

        self._require_writable()
        return create_run(self, record)

    def resume_run(self, run_id: str):
        """Continue an interrupted run: finished chunks stay, `done_chunks` says which to skip."""
        from store.runs import resume_run

        self._require_writable()
        return resume_run(self, run_id)

    # --- summary ---------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Everything `inspector info` shows, as JSON-ready data (see `store.info.store_info`)."""
        from store.info import store_info

        return store_info(self)


def write_chunk_folder(folder: Path, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                       meta: Mapping[str, Any] | None, *, line: Mapping[str, Any] | None = None,
                       codec: str = DEFAULT_CODEC, extra: Mapping[str, Any] | None = None) -> None:
    """Write one chunk's arrays and group metadata into `folder` (a ``*.partial`` directory, committed later)."""
    write_arrays(folder, {"inputs": inputs, "outputs": outputs}, codec)
    write_chunk_attrs(folder, list(inputs), list(outputs), meta, line=line, extra=extra)


def write_chunk_attrs(folder: Path, inputs: list[str], outputs: list[str], meta: Mapping[str, Any] | None, *,
                      line: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> None:
    """The chunk group's metadata (tensor names in order, meta, source line), once its arrays are written."""
    attrs: dict[str, Any] = {"meta": to_jsonable(dict(meta or {})), "inputs": inputs, "outputs": outputs}
    if line is not None:
        attrs["line"] = dict(line)
    if extra:
        attrs.update(to_jsonable(dict(extra)))
    layout.write_group(folder, attrs)
    for kind, names in (("inputs", inputs), ("outputs", outputs)):
        if names:
            layout.ensure_group(folder / kind, {})
