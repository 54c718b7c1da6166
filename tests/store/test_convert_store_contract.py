"""`inspector convert REF -o STORE` into a store that already records a contract checks the lines against that
contract (said in one line); `--contract` that differs from the store's is used, and said in one line.

The references here are all consistent with themselves (every line's `length` is int32), so only a contract that
says int64 can stop them: a conversion that silently skipped the store's contract would pass.
"""

from __future__ import annotations

import pytest
from store_samples import chunk_tensors, ours_line, sample_contract, write_lines

from contracts.load import dump_contract, load_contract
from contracts.model import Contract
from inspector.cli import main
from store import Store

def _contract(name: str, length_dtype: str) -> Contract:
    return sample_contract(name, length_dtype)


def _reference(path, length_dtype: str, n: int = 3):
    lines = []
    for i in range(n):
        ins, outs = chunk_tensors(i)
        ins["length"] = ins["length"].astype(length_dtype)
        lines.append(ours_line("default", i, ins, outs))
    return write_lines(path, lines)


def _store_recording(path, contract: Contract) -> Store:
    """A store with no reference yet that records `contract`, as `inspector import-run` leaves one."""
    store = Store.create(path)
    store.record_contract(contract)
    return store


def _convert(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", *args, "--workers", "1", "-q"])
    return exit_info.value.code, capsys.readouterr().err


def _lines_with(err: str, text: str) -> list[str]:
    return [line for line in err.splitlines() if text in line]


def test_lines_are_checked_against_the_contract_the_store_records(tmp_path, capsys):
    _store_recording(tmp_path / "s.zarr", _contract("tiny-int64", "int64"))
    ref = _reference(tmp_path / "ref.jsonl", "int32")
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"))
    assert code == 2, err
    assert "dtype int32; the contract says int64" in err and "line 1" in err
    said = _lines_with(err, "contract: tiny-int64, the store's")
    assert len(said) == 1 and "contract.json" in said[0]


def test_a_store_contract_that_fits_converts_and_says_which_it_used(tmp_path, capsys):
    _store_recording(tmp_path / "s.zarr", _contract("tiny-int32", "int32"))
    ref = _reference(tmp_path / "ref.jsonl", "int32")
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"))
    assert code == 0, err
    assert len(_lines_with(err, "contract: tiny-int32, the store's")) == 1
    assert Store.open(tmp_path / "s.zarr").chunk_indices("default") == [0, 1, 2]


def test_resuming_without_contract_still_checks_against_the_recorded_one(tmp_path, capsys):
    """A conversion stopped by `--contract` and resumed without it must not let the same lines through."""
    contract_file = dump_contract(_contract("tiny-int64", "int64"), tmp_path / "tiny.contract.json")
    ref = _reference(tmp_path / "ref.jsonl", "int32")
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"), "--contract", str(contract_file))
    assert code == 2 and "the contract says int64" in err
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"))
    assert code == 2, err
    assert "the contract says int64" in err and len(_lines_with(err, "contract: tiny-int64, the store's")) == 1
    assert Store.open(tmp_path / "s.zarr").chunk_indices("default") == []


def test_a_differing_contract_option_is_used_and_said_in_one_line(tmp_path, capsys):
    store = _store_recording(tmp_path / "s.zarr", _contract("tiny-int64", "int64"))
    other = dump_contract(_contract("tiny-int32", "int32"), tmp_path / "other.contract.json")
    ref = _reference(tmp_path / "ref.jsonl", "int32")
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"), "--contract", str(other))
    assert code == 0, err  # checked against --contract (int32), not the store's (int64)
    said = _lines_with(err, "differs from the store's contract")
    assert len(said) == 1 and "tiny-int32" in said[0] and "tiny-int64" in said[0]
    assert Store.open(tmp_path / "s.zarr").chunk_indices("default") == [0, 1, 2]
    assert load_contract(store.recorded_contract_file()).name == "tiny-int64"  # the store's own stays


def test_the_same_contract_option_is_not_remarked_on(tmp_path, capsys):
    contract = _contract("tiny-int32", "int32")
    _store_recording(tmp_path / "s.zarr", contract)
    same = dump_contract(contract, tmp_path / "same.contract.json")
    ref = _reference(tmp_path / "ref.jsonl", "int32")
    code, err = _convert(capsys, str(ref), "-o", str(tmp_path / "s.zarr"), "--contract", str(same))
    assert code == 0, err
    assert not _lines_with(err, "contract")
