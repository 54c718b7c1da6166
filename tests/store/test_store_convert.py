"""`inspector convert`: both formats, several streams, parallel workers, no-op reruns, changed sources, and
resuming after a real SIGKILL with exactly the file's chunks in the end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_samples import assert_store_matches, b64, nested, write_reference, write_seed_reference

from inspector.cli import main
from store import Store, StoreError
from store.convert import convert


def test_ours_with_streams_and_header_and_seed_format_convert_exactly(tmp_path):
    path, expected = write_reference(tmp_path / "r.jsonl", n=3, streams=("utt-a", "utt-b"), encode=nested)
    result = convert(path, tmp_path / "r.zarr", workers=1, progress=False)
    store = Store.open(tmp_path / "r.zarr")
    assert_store_matches(store, expected)
    assert result.status == "complete" and result.chunks_new == 6 and result.lines == 7
    assert store.attrs["header"]["model"] == "tiny" and store.attrs["source_format"] == "parity"
    assert store.chunk("utt-b", 2).meta == {"chunk": 2}

    seed, expected = write_seed_reference(tmp_path / "seed.jsonl", n=3)
    convert(seed, tmp_path / "seed.zarr", workers=1, progress=False)
    store = Store.open(tmp_path / "seed.zarr")
    assert_store_matches(store, expected)
    assert store.attrs["source_format"] == "seed"
    assert store.chunk("default", 1).meta["schedule"] == "stateful"
    assert store.info()["streams"][0]["meta_keys"] == ["chunk_len", "schedule", "timing_ms"]


def test_two_workers_give_the_same_store(tmp_path):
    path, expected = write_reference(tmp_path / "r.jsonl", n=5, streams=("a", "b"), encode=b64)
    result = convert(path, tmp_path / "two.zarr", workers=2, progress=False)
    assert result.workers == 2
    assert_store_matches(Store.open(tmp_path / "two.zarr"), expected)
    assert not any((tmp_path / "two.zarr" / "tmp").iterdir())  # no partials left


def test_rerun_is_a_noop_and_a_changed_source_is_refused(tmp_path, capsys):
    path, _ = write_reference(tmp_path / "r.jsonl", n=2)
    args = ["convert", str(path), "-o", str(tmp_path / "r.zarr"), "--workers", "1", "-q"]
    for expected_text in ("2 chunks converted", "already complete (2 chunks"):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 0 and expected_text in capsys.readouterr().out
    write_reference(tmp_path / "r.jsonl", n=3)
    with pytest.raises(StoreError, match="converted from a different file"):
        convert(path, tmp_path / "r.zarr", workers=1, progress=False)
    assert Store.open(tmp_path / "r.zarr").num_chunks("default") == 2  # refused: nothing touched
    result = convert(path, tmp_path / "r.zarr", workers=1, progress=False, overwrite=True)
    assert result.chunks_new == 3 and Store.open(tmp_path / "r.zarr").num_chunks("default") == 3


def test_plain_progress_lines_when_not_a_terminal(tmp_path):
    from store.progress import Progress

    class Sink(list):
        def write(self, text):
            self.append(text)

        def flush(self):
            pass

    sink = Sink()
    path, _ = write_reference(tmp_path / "r.jsonl", n=3)
    bar = Progress(path.stat().st_size, label="convert r.jsonl", stream=sink, interval=0)
    convert(path, tmp_path / "r.zarr", workers=1, progress=bar)
    text = "".join(sink)
    assert "convert r.jsonl: 1 lines" in text and "MB/s, ETA" in text and "(100%)" in text


def _chunks_on_disk(store: Path) -> int:
    streams = store / "streams"
    return sum(1 for s in streams.iterdir() if s.is_dir() for c in s.iterdir() if c.name.isdigit()) \
        if streams.is_dir() else 0


def _convert_and_kill(path: Path, out: Path, workers: int, after_chunks: int, extra_delay: float) -> bool:
    """Start `inspector convert` in a subprocess, SIGKILL it once `after_chunks` chunks are committed."""
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli", "convert", str(path), "-o", str(out), "-q",
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if out.exists() and _chunks_on_disk(out) >= after_chunks:
            time.sleep(extra_delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False  # finished before we could kill it


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_any_moment_then_resume_ends_with_exactly_the_files_chunks(tmp_path, workers):
    # ~24 lines of ~0.7 MB: long enough to be killed several times mid-way
    path, expected = write_reference(tmp_path / "r.jsonl", n=12, streams=("a", "b"), encode=nested, cache=64,
                                     d_model=64)
    out = tmp_path / "r.zarr"
    kills = 0
    for after, delay in ((2, 0.0), (7, 0.013), (13, 0.031)):
        kills += _convert_and_kill(path, out, workers, after, delay)
        if out.exists():
            store = Store.open(out)
            # whatever survived a kill is complete and correct
            partial = {k: v for k, v in expected.items() if k[1] in store.chunk_indices(k[0])}
            assert_store_matches(store, partial)
    assert kills >= 1, "the conversion finished before it could be killed"
    done_before = _chunks_on_disk(out)
    result = subprocess.run([sys.executable, "-m", "inspector.cli", "convert", str(path), "-o", str(out),
                             "--workers", str(workers), "-q"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # A kill can land after the last commit (then the store is already complete), or anywhere before it.
    assert (f"{done_before} were already there (resumed)" in result.stdout or done_before == 0
            or (done_before == len(expected) and "already complete" in result.stdout)), result.stdout
    store = Store.open(out)
    assert_store_matches(store, expected)  # none lost, none twice, all bit-identical
    assert store.attrs["conversion"]["status"] == "complete"
    assert not [p for p in (out / "tmp").iterdir() if p.name.endswith(".partial")]
    again = subprocess.run([sys.executable, "-m", "inspector.cli", "convert", str(path), "-o", str(out), "-q"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already complete" in again.stdout


def test_info_cli_text_and_json(tmp_path, capsys):
    path, _ = write_reference(tmp_path / "r.jsonl", n=3)
    convert(path, tmp_path / "r.zarr", workers=1, progress=False)
    with pytest.raises(SystemExit):
        main(["info", str(tmp_path / "r.zarr")])
    out = capsys.readouterr().out
    assert "stream 'default': 3 chunks (0..2)" in out
    assert "audio_signal" in out and "varies: [1, 4, 9] chunk 0; [1, 4, 13] chunks 1..2" in out
    assert "cache_last_channel" in out and "[1, 2, 16, 8]" in out and "metadata keys: chunk" in out
    assert "source" in out and "r.jsonl" in out and "runs (0): none recorded yet" in out
    with pytest.raises(SystemExit):
        main(["info", str(tmp_path / "r.zarr"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["total_chunks"] == 3 and data["streams"][0]["tensors"][0]["name"] == "audio_signal"
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "nope.zarr")])
    assert exit_info.value.code == 2


def test_fixing_the_bad_line_and_rerunning_continues_but_editing_converted_lines_is_refused(tmp_path):
    from store_samples import chunk_tensors, ours_line, write_lines

    from store.errors import JsonlError

    good = [ours_line("default", i, *chunk_tensors(i)) for i in range(4)]
    path = write_lines(tmp_path / "r.jsonl", [good[0], good[1], "{broken", good[3]])
    with pytest.raises(JsonlError, match="line 3"):
        convert(path, tmp_path / "r.zarr", workers=1, progress=False)
    write_lines(path, good)  # the user fixes line 3, as the message says, and runs the same command again
    result = convert(path, tmp_path / "r.zarr", workers=1, progress=False)
    assert result.chunks_before == 2 and result.chunks_new == 2
    assert_store_matches(Store.open(tmp_path / "r.zarr"), {("default", i): chunk_tensors(i) for i in range(4)})

    path2 = write_lines(tmp_path / "r2.jsonl", [good[0], good[1], "{broken"])
    with pytest.raises(JsonlError):
        convert(path2, tmp_path / "r2.zarr", workers=1, progress=False)
    edited = dict(good[1], meta={"edited": True})
    write_lines(path2, [good[0], edited, good[2]])  # a converted line changed too: refused
    with pytest.raises(StoreError, match="line 2, converted already, is not the same"):
        convert(path2, tmp_path / "r2.zarr", workers=1, progress=False)
