"""Stores damaged after conversion (deleted or truncated files, garbage metadata): `inspector info` still lists what
is intact, then names what is damaged in one paragraph and exits 2; reading a damaged tensor is a `StoreCorrupt`
naming the file, never a silent array of zeros; rerunning the same `inspector convert` after deleting a damaged
chunk folder redoes exactly that chunk."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from store_samples import write_reference

from inspector.cli import main
from store import Store, StoreError
from store.api import StoreCorrupt
from store.convert import convert


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    path, expected = write_reference(root / "ref.jsonl", n=3, streams=("s",))
    convert(path, root / "base.zarr", workers=1, progress=False)
    return root, path, expected


def _copy(converted, tmp_path):
    root, path, expected = converted
    store = tmp_path / "s.zarr"
    shutil.copytree(root / "base.zarr", store)
    return store, path, expected


def _info(store, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["info", str(store)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return exc.value.code, captured.out, captured.err


def _array(store, chunk=1, kind="outputs", name="encoder_output"):
    return store / "streams" / "s" / f"{chunk:06d}" / kind / name


DAMAGE = {
    "array_folder_deleted": lambda a: shutil.rmtree(a),
    "chunk_file_deleted": lambda a: (a / "c" / "0" / "0" / "0").unlink(),
    "chunk_file_truncated": lambda a: (a / "c" / "0" / "0" / "0").write_bytes(b"\x00" * 5),
    "array_metadata_garbage": lambda a: (a / "zarr.json").write_text("garbage{"),
    "chunk_metadata_empty": lambda a: (a.parent.parent / "zarr.json").write_text(""),
    "chunk_metadata_deleted": lambda a: (a.parent.parent / "zarr.json").unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_info_names_the_damaged_chunk_and_exits_2(converted, tmp_path, capsys, damage):
    store, _, _ = _copy(converted, tmp_path)
    DAMAGE[damage](_array(store))
    code, out, err = _info(store, capsys)
    assert code == 2
    assert "stream 's' chunk 1" in err and "is damaged" in err and "000001" in err
    assert "stream 's': 3 chunks" in out  # what is intact is still listed
    assert Store.open(store).info()["damaged"][0]["chunk"] == 1


@pytest.mark.parametrize("damage", ["chunk_file_deleted", "chunk_file_truncated", "array_metadata_garbage",
                                    "array_folder_deleted"])
def test_reading_a_damaged_tensor_is_an_error_not_zeros(converted, tmp_path, damage):
    store, _, expected = _copy(converted, tmp_path)
    DAMAGE[damage](_array(store))
    chunk = Store.open(store).chunk("s", 1)
    with pytest.raises(StoreCorrupt, match="encoder_output"):
        chunk.output("encoder_output")
    np.testing.assert_array_equal(chunk.output("encoded_lengths"), expected[("s", 1)][1]["encoded_lengths"])


def test_deleting_the_damaged_chunk_and_rerunning_convert_redoes_it(converted, tmp_path, capsys):
    store, path, expected = _copy(converted, tmp_path)
    DAMAGE["chunk_file_deleted"](_array(store))
    _, _, err = _info(store, capsys)
    assert "Delete the damaged chunk folder" in err and "inspector convert" in err
    shutil.rmtree(store / "streams" / "s" / "000001")
    result = convert(path, store, workers=1, progress=False)
    assert result.chunks_new == 1 and result.chunks_before == 2
    assert _info(store, capsys)[0] == 0
    np.testing.assert_array_equal(Store.open(store).chunk("s", 1).output("encoder_output"),
                                  expected[("s", 1)][1]["encoder_output"])
    assert convert(path, store, workers=1, progress=False).status == "up-to-date"


def test_resuming_over_a_damaged_chunk_folder_names_it(converted, tmp_path):
    store, path, _ = _copy(converted, tmp_path)
    (store / "streams" / "s" / "000001" / "zarr.json").write_text("{")
    attrs = json.loads((store / "zarr.json").read_text())
    attrs["attributes"]["conversion"]["status"] = "interrupted"
    (store / "zarr.json").write_text(json.dumps(attrs))
    with pytest.raises(StoreError, match="000001 is a damaged chunk folder"):
        convert(path, store, workers=1, progress=False)


@pytest.mark.parametrize("root_json, match", [("garbage{", "root metadata"), ("", "is empty"),
                                              (None, "version 'x'")])
def test_damaged_root_metadata_is_one_paragraph(converted, tmp_path, capsys, root_json, match):
    store, _, _ = _copy(converted, tmp_path)
    if root_json is None:
        attrs = json.loads((store / "zarr.json").read_text())
        attrs["attributes"]["version"] = "x"
        root_json = json.dumps(attrs)
    (store / "zarr.json").write_text(root_json)
    code, _, err = _info(store, capsys)
    assert code == 2 and match in err and err.count("\n") == 1


def test_a_damaged_run_record_is_reported_and_the_rest_listed(converted, tmp_path, capsys):
    store, _, _ = _copy(converted, tmp_path)
    (store / "runs" / "r1").mkdir(parents=True)
    (store / "runs" / "r1" / "zarr.json").write_text("{")
    code, out, err = _info(store, capsys)
    assert code == 2 and "run 'r1'" in err and "stream 's': 3 chunks" in out


@pytest.mark.parametrize("run_id", ["../x", "a/b", "..", ""])
def test_run_ids_are_folder_names_never_paths(converted, tmp_path, run_id):
    store, _, _ = _copy(converted, tmp_path)
    with pytest.raises(StoreError, match="run id|no run"):
        Store.open(store).run(run_id)


def test_empty_partial_and_not_a_store_each_say_so_and_exit_2(converted, tmp_path, capsys):
    """An empty store, a conversion that stopped at a bad line, a folder that is no store: the listing (where there
    is one) on stdout, then one paragraph on stderr saying what to do, exit 2; a finished store exits 0."""
    Store.create(tmp_path / "empty.zarr")
    code, out, err = _info(tmp_path / "empty.zarr", capsys)
    assert code == 2 and "runs (0)" in out and "holds no reference chunks and no runs" in err

    root, path, _ = converted
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:3] + ["{oops"] + lines[3:]) + "\n")
    with pytest.raises(StoreError):
        convert(bad, tmp_path / "partial.zarr", workers=1, progress=False)
    code, out, err = _info(tmp_path / "partial.zarr", capsys)
    assert code == 2 and "stream 's'" in out
    assert "is not finished (stopped at line 4" in err and "resumes" in err and err.count("\n") == 1

    (tmp_path / "dir").mkdir()
    code, _, err = _info(tmp_path / "dir", capsys)
    assert code == 2 and "not a parity store" in err
    assert _info(root / "base.zarr", capsys)[0] == 0


def test_a_killed_converters_dying_workers_are_waited_for_not_refused(converted, tmp_path):
    """After `kill -9` of a converter, its forked workers may hold the store's lock for a moment longer: the next
    conversion waits for them (their owner is dead) instead of refusing."""
    import multiprocessing
    import time

    from store.locks import lock_store

    store, _, _ = _copy(converted, tmp_path)
    ready = multiprocessing.get_context("fork").Event()

    def orphan() -> None:  # holds the lock, claims a long-dead owner, lets go after a moment
        f = lock_store(store)
        f.seek(0)
        f.truncate()
        f.write("pid 999999999")
        f.flush()
        ready.set()
        time.sleep(0.6)

    proc = multiprocessing.get_context("fork").Process(target=orphan)
    proc.start()
    assert ready.wait(10)
    lock = lock_store(store)  # taken while the orphan still held it: waited, not refused
    assert lock is not None
    lock.close()
    proc.join()
