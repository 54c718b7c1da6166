"""Reports without a reference: `import-run` creates the store (runs only), by default named after the report's
folder; `info` says what it holds; a reference converted into it later joins the runs; the store's contract is the
default for the next import."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CONTRACT = DATA / "seed_trt_test.contract.json"
sys.path.insert(0, str(Path(__file__).parents[1] / "store"))


def _runs(path: Path) -> list:
    from store import Store

    return [r for r in Store.open(path).runs() if r.mode == "imported"]


def test_import_run_creates_a_store_that_did_not_exist(cli, tmp_path: Path) -> None:
    store = tmp_path / "new.zarr"
    res = cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", CONTRACT,
              "--json", tmp_path / "v.json")
    assert res.code == 1, res.text  # judged: the seed's FP16 engine fails P95 < 5e-4
    assert "created store" in res.err and "no reference chunks" in res.err
    (run,) = _runs(store)
    assert run.backend == "trt-fp16" and json.loads((tmp_path / "v.json").read_text())["outcome"] == "fail"
    from store import Store

    st = Store.open(store)
    assert st.streams() == [] and st.attrs["contract"] == "seed-trt-acceptance-test"
    assert st.recorded_contract_file() is not None


def test_default_store_is_named_after_the_reports_folder(cli, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    folder = tmp_path / "reports" / "trt_fp16_run"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "trt_fp16.json", folder / "report.json")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = cli("import-run", folder / "report.json", "--contract", CONTRACT)
    assert res.code == 1, res.text
    assert f"store: {work / 'trt_fp16_run.zarr'}" in res.err and "named after the report's folder" in res.err
    assert len(_runs(work / "trt_fp16_run.zarr")) == 1
    # the next report of that folder goes into the same store, judged by the contract it recorded
    shutil.copy(DATA / "trt_fp32_growing.json", folder / "report2.json")
    res = cli("import-run", folder / "report2.json")
    assert "created store" not in res.err
    assert "contract: seed-trt-acceptance-test, the store's" in res.err
    assert res.code == 1 and "verdict: FAIL" in res.out, res.text
    assert len(_runs(work / "trt_fp16_run.zarr")) == 2


def test_info_says_runs_only_and_lists_the_verdicts(cli, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", CONTRACT)
    res = cli("info", store)
    assert res.code == 0, res.text
    assert "reference none: this store holds runs only" in res.out
    (line,) = [ln for ln in res.out.splitlines() if "trt-fp16" in ln and "imported" in ln]
    assert line.rstrip().endswith("fail")


def test_a_reference_converted_later_joins_the_runs(cli, tmp_path: Path) -> None:
    from store_samples import write_reference

    store = tmp_path / "s.zarr"
    cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", CONTRACT)
    ref, _ = write_reference(tmp_path / "ref.jsonl", n=4)
    res = cli("convert", ref, "-o", store)  # checked against the store's contract (the seed's sizes): refused
    assert res.code == 2 and "contract: seed-trt-acceptance-test, the store's" in res.err, res.text
    assert "the contract says" in res.err and len(_runs(store)) == 1
    from contracts.load import dump_contract
    from store_samples import sample_contract

    fits = dump_contract(sample_contract(), tmp_path / "sample.contract.json")
    res = cli("convert", ref, "-o", store, "--contract", fits)  # a contract the sample fits
    assert res.code == 0, res.text
    assert "differs from the store's contract" in res.err
    from store import Store

    st = Store.open(store)
    assert st.streams() == ["default"] and st.num_chunks("default") == 4
    assert len(_runs(store)) == 1 and st.attrs["contract"] == "seed-trt-acceptance-test"
    info = cli("info", store).out
    assert "4 chunks" in info and "reference none" not in info and "trt-fp16" in info
    # a second convert of another file into the now-referenced store is still refused
    other, _ = write_reference(tmp_path / "other.jsonl", n=2)
    assert cli("convert", other, "-o", store).code == 2


def test_a_bad_report_leaves_no_store_behind(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": "world"}')
    store = tmp_path / "never.zarr"
    res = cli("import-run", bad, "--store", store)
    assert res.code == 2 and not store.exists(), res.text


def test_a_bad_contract_creates_nothing(cli, tmp_path: Path) -> None:
    store = tmp_path / "never.zarr"
    res = cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", tmp_path / "missing.json")
    assert res.code == 2 and "no such file" in res.err and not store.exists()


def test_a_contract_other_than_the_stores_is_said_in_one_line(cli, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", CONTRACT)
    edited = json.loads(CONTRACT.read_text())
    edited["description"] = "edited: another threshold"
    other = tmp_path / "other.contract.json"
    other.write_text(json.dumps(edited))
    res = cli("import-run", DATA / "trt_fp32_growing.json", "--store", store, "--contract", other)
    differs = [ln for ln in res.err.splitlines() if "differs from the store's contract" in ln]
    assert len(differs) == 1 and str(other) in differs[0], res.text


def test_a_path_that_is_not_a_store_is_refused(cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    res = cli("import-run", DATA / "trt_fp16.json", "--store", junk, "--contract", CONTRACT)
    assert res.code == 2 and "not a parity store" in res.err
    assert (junk / "notes.txt").read_text() == "mine"


def test_the_app_says_runs_only_and_shows_the_verdicts(cli, tmp_path: Path) -> None:
    import asyncio

    from inspector.tui.app import make_app

    store = tmp_path / "s.zarr"
    cli("import-run", DATA / "trt_fp16.json", "--store", store, "--contract", CONTRACT)

    async def opened() -> tuple[str, list]:
        app = make_app(store)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause(1.0)
            return app.screen.banner_text, app.screen.data.runs()

    text, runs = asyncio.run(opened())
    assert "no reference chunks" in text.lower() and "runs only" in text
    assert [(r.backend, r.mode) for r in runs] == [("trt-fp16", "imported")]


def test_an_existing_store_without_a_contract_keeps_the_first_one_it_is_judged_with(cli, store_path: Path) -> None:
    from store import Store

    assert not Store.open(store_path).attrs.get("contract")
    cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", CONTRACT)
    assert Store.open(store_path).attrs["contract"] == "seed-trt-acceptance-test"
    res = cli("import-run", DATA / "trt_fp32_growing.json", "--store", store_path)
    assert "contract: seed-trt-acceptance-test, the store's" in res.err and "verdict: FAIL" in res.out, res.text


def test_a_store_naming_a_contract_that_cannot_be_loaded_is_said(cli, store_path: Path) -> None:
    from store import Store

    Store.open(store_path, "a").update_attrs(contract="their-own-name")  # not shipped, not a file
    res = cli("import-run", DATA / "trt_fp16.json", "--store", store_path)
    assert "names contract 'their-own-name'" in res.err and res.code == 3, res.text  # not judged: undetermined
