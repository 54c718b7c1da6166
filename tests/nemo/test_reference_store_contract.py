"""`inspector reference --store` records the whole contract (``STORE/contract.json``), not only its name, so every
later command finds it in the store itself."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("nemo.collections.asr", reason="the reference needs nemo_toolkit[asr]")

from contracts.load import contract_to_dict, load_contract  # noqa: E402
from inspector.cli import main  # noqa: E402
from inspector.commands.common import resolve_contract  # noqa: E402
from store import Store  # noqa: E402


def test_reference_store_records_the_whole_contract(tmp_path, capsys):
    path = tmp_path / "ref.zarr"
    with pytest.raises(SystemExit) as exit_info:
        main(["reference", "--model", "tiny", "--chunks", "2", "--store", str(path)])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    store = Store.open(path, mode="r")
    recorded = store.recorded_contract_file()
    assert recorded is not None and recorded == path / "contract.json"
    assert f"Contract demo_streaming: recorded in {recorded}" in out
    # the whole document, equal to the shipped one it was made with
    assert json.loads(recorded.read_text()) == json.loads(json.dumps(contract_to_dict(load_contract("demo_streaming"))))
    said: list[str] = []
    contract = resolve_contract(path, None, said.append)
    assert contract is not None and contract.name == "demo_streaming"
    assert said == [f"contract: demo_streaming, the store's ({recorded}); --contract overrides it."]
