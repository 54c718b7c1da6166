"""`reuse_complete`: a rerun of the same configuration re-judges the recorded run instead of running again."""

from __future__ import annotations

import shutil

from inspector.batch import run_batch
from store import Store


def test_reuse_complete_rejudges_without_a_new_run(demo_artifacts, tmp_path):
    store = tmp_path / "s.zarr"
    shutil.copytree(demo_artifacts.store, store)
    kwargs = dict(store=store, model=demo_artifacts.onnx, contract=demo_artifacts.contract, backends=("ort-cpu",),
                  modes=("functional", "closed-loop"), chunks="0:8", save_outputs=True, progress=False,
                  log=lambda m: None)
    first = run_batch(**kwargs)
    runs_before = {r.run_id for r in Store.open(store).runs()}
    again = run_batch(**kwargs, reuse_complete=True)
    runs_after = {r.run_id for r in Store.open(store).runs()}

    assert runs_after == runs_before  # nothing new recorded
    assert bool(first) and bool(again)
    verdicts = lambda res: sorted((v["rule"], v["status"]) for run in res.report["runs"] for v in run["verdicts"])
    assert verdicts(again) == verdicts(first)

    fresh = run_batch(**kwargs)  # without the flag a complete run is not reused: a new one is recorded
    assert len({r.run_id for r in Store.open(store).runs()}) == len(runs_before) + 2
    assert bool(fresh)
