"""`check_model` and `inspector contract check` on real (small) ONNX files built with onnx.helper."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from contracts.check import ModelFileError, check_model, matches
from contracts.load import load_contract
from inspector.cli import main

F, I64 = TensorProto.FLOAT, TensorProto.INT64

# The demo contract's I/O as our export writes it (symbolic where NeMo's export is dynamic).
DEMO_INPUTS = [
    ("audio_signal", F, ["B", 128, "T"]),
    ("length", I64, ["B"]),
    ("cache_last_channel", F, ["B", 2, "C", 64]),
    ("cache_last_time", F, ["B", 2, 64, "K"]),
    ("cache_last_channel_len", I64, ["B"]),
]
DEMO_OUTPUTS = [
    ("encoder_output", F, ["B", 64, "T_out"]),
    ("encoded_lengths", I64, ["B"]),
    ("cache_last_channel_out", F, ["B", 2, "C", 64]),
    ("cache_last_time_out", F, ["B", 2, 64, "K"]),
    ("cache_last_channel_len_out", I64, ["B"]),
]


def make_model(path: Path, inputs: list, outputs: list) -> Path:
    """A valid ONNX model whose graph declares `inputs`/`outputs` (each output an Identity of an input)."""
    vi_in = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    vi_out = [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs]
    nodes = [helper.make_node("Identity", [inputs[i % len(inputs)][0]], [o[0]], name=f"id{i}")
             for i, o in enumerate(outputs)]
    graph = helper.make_graph(nodes, "g", vi_in, vi_out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def replace(items: list, target: str, **kw) -> list:  # noqa: ANN003
    out = []
    for n, t, s in items:
        if n == target:
            n, t, s = kw.get("name", n), kw.get("type", t), kw.get("shape", s)
        out.append((n, t, s))
    return out


@pytest.fixture(scope="module")
def demo():  # noqa: ANN201
    return load_contract("demo_streaming")


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return make_model(tmp_path / "good.onnx", DEMO_INPUTS, DEMO_OUTPUTS)


class TestCheckModel:
    def test_matching_model(self, good: Path, demo) -> None:  # noqa: ANN001
        diffs = check_model(good, demo)
        assert matches(diffs)
        # dynamic cache axes where the contract fixes 256 / 4: compatible notes, not errors
        assert {d.severity for d in diffs} == {"info"}
        assert any(d.tensor == "cache_last_channel" and "fixes 256" in d.message for d in diffs)

    def test_dtype_rank_and_dim(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        ins = replace(DEMO_INPUTS, "length", type=TensorProto.INT32)
        ins = replace(ins, "audio_signal", shape=["B", 80, "T"])
        outs = replace(DEMO_OUTPUTS, "encoder_output", shape=["B", 64])
        diffs = check_model(make_model(tmp_path / "m.onnx", ins, outs), demo)
        errors = {(d.tensor, d.what): d for d in diffs if d.severity == "error"}
        assert set(errors) == {("length", "dtype"), ("audio_signal", "dim"), ("encoder_output", "rank")}
        assert errors[("length", "dtype")].message == "input 'length' is int32 in the model but int64 in the contract"
        assert "axis 1 (feature) is 80 in the model but 128 in the contract" in errors[("audio_signal", "dim")].message

    def test_fixed_in_model_but_symbolic_in_contract(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        ins = replace(DEMO_INPUTS, "audio_signal", shape=["B", 128, 57])
        diffs = check_model(make_model(tmp_path / "m.onnx", ins, DEMO_OUTPUTS), demo)
        [err] = [d for d in diffs if d.severity == "error"]
        assert err.tensor == "audio_signal" and "fixed to 57" in err.message and "'T'" in err.message

    def test_missing_and_extra(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        ins = [x for x in DEMO_INPUTS if x[0] != "cache_last_time"] + [("cache_time", F, ["B", 2, 64, 4])]
        outs = DEMO_OUTPUTS + [("debug", F, [1])]
        diffs = check_model(make_model(tmp_path / "m.onnx", ins, outs), demo)
        by = {(d.tensor, d.what): d for d in diffs}
        assert by[("cache_last_time", "missing")].severity == "error"
        assert by[("cache_time", "extra")].severity == "error"  # nothing would feed it
        assert by[("debug", "extra")].severity == "warning"  # an extra output is harmless

    def test_nemo_names_hint(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        outs = replace(DEMO_OUTPUTS, "encoder_output", name="outputs")
        outs = replace(outs, "cache_last_channel_out", name="cache_last_channel_next")
        diffs = check_model(make_model(tmp_path / "nemo.onnx", DEMO_INPUTS, outs), demo)
        missing = {d.tensor: d for d in diffs if d.what == "missing"}
        assert set(missing) == {"encoder_output", "cache_last_channel_out"}
        assert "'outputs', NeMo's export name" in missing["encoder_output"].hint
        assert not any(d.what == "extra" for d in diffs)  # folded into the hints

    def test_swapped_names_hint(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        """An inference server sorted state names and swapped cache_last_channel and cache_last_channel_len."""
        ins = [(n, t, s) for n, t, s in DEMO_INPUTS]
        i, j = 2, 4
        ins[i], ins[j] = (ins[i][0], ins[j][1], ins[j][2]), (ins[j][0], ins[i][1], ins[i][2])
        diffs = check_model(make_model(tmp_path / "swap.onnx", ins, DEMO_OUTPUTS), demo)
        errs = [d for d in diffs if d.severity == "error"]
        assert errs and all("look swapped" in d.hint for d in errs)
        assert {d.tensor for d in errs} == {"cache_last_channel", "cache_last_channel_len"}

    def test_external_data_not_loaded(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        """A model with external weights checks without reading them (a 2.4 GB export is fine)."""
        import numpy as np
        from onnx import numpy_helper

        vi_in = [helper.make_tensor_value_info(n, t, s) for n, t, s in DEMO_INPUTS]
        vi_out = [helper.make_tensor_value_info(n, t, s) for n, t, s in DEMO_OUTPUTS]
        w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
        nodes = [helper.make_node("Identity", [DEMO_INPUTS[k % 5][0]], [o[0]]) for k, o in enumerate(DEMO_OUTPUTS)]
        model = helper.make_model(helper.make_graph(nodes, "g", vi_in, vi_out, [w]))
        onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                  location="ext.data", size_threshold=0)
        (tmp_path / "ext.data").unlink()  # would break a full load
        assert matches(check_model(tmp_path / "ext.onnx", demo))

    def test_bad_files(self, tmp_path: Path, demo) -> None:  # noqa: ANN001
        with pytest.raises(ModelFileError, match="no such file"):
            check_model(tmp_path / "nope.onnx", demo)
        junk = tmp_path / "junk.onnx"
        junk.write_bytes(b"this is not a protobuf \x00\xff\x13")
        with pytest.raises(ModelFileError, match="not an ONNX model"):
            check_model(junk, demo)


class TestCli:
    def run(self, argv: list[str], capsys) -> tuple[int, str, str]:  # noqa: ANN001
        with pytest.raises(SystemExit) as info:
            main(argv)
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    def test_match_exit_0(self, good: Path, capsys, tmp_path: Path) -> None:  # noqa: ANN001
        code, out, _ = self.run(["contract", "check", str(good), "--contract", "demo_streaming",
                                 "--json", str(tmp_path / "r.json")], capsys)
        assert code == 0
        assert "matches contract demo_streaming" in out and "cache_last_channel_len_out" in out
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["match"] is True

    def test_mismatch_exit_1(self, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        model = make_model(tmp_path / "m.onnx", replace(DEMO_INPUTS, "length", type=TensorProto.INT32), DEMO_OUTPUTS)
        code, out, err = self.run(["contract", "check", str(model), "--contract", "demo_streaming"], capsys)
        assert code == 1
        assert "int32 in the model but int64" in out
        assert "does not match contract demo_streaming: 1 difference" in err

    def test_bad_input_exit_2(self, good: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        code, _, err = self.run(["contract", "check", str(tmp_path / "none.onnx"), "--contract", "demo_streaming"],
                                capsys)
        assert code == 2 and "no such file" in err
        bad = tmp_path / "bad.contract.json"
        bad.write_text('{"format": "parity-contract", "version": 1, "name": "x", "inputs": [], "outputs": []}')
        code, _, err = self.run(["contract", "check", str(good), "--contract", str(bad)], capsys)
        assert code == 2 and "inputs: must list at least one tensor" in err
        junk = tmp_path / "junk.onnx"
        junk.write_text("hello")
        code, _, err = self.run(["contract", "check", str(junk), "--contract", "demo_streaming"], capsys)
        assert code == 2 and "not an ONNX model" in err

    def test_show(self, capsys) -> None:  # noqa: ANN001
        code, out, _ = self.run(["contract", "show", "encoder_streaming"], capsys)
        assert code == 0 and "cache_last_channel_len_out == 0" in out
