"""Jobs started from the inspector's keys, on real data: the demo store (tiny NeMo encoder, its ONNX export, ONNX
Runtime CPU), the synthetic store, and runs imported with `inspector.importers`.

- d: the real `cache_last_time` diagnosis, its verdict in the diagnostics panel, the full report (o);
- i: first-diverging-node triage against an export with one edited weight;
- b: the reproduction bundle;
- R: a closed-loop ort-cpu run from the run dialog lands in the store and in the chunk list, with its state
  trajectory (p) and state verdicts; backends that cannot run here are greyed with their reason;
- what each job needs (--model, --contract) is said exactly when it is missing;
- imported runs: undecided chunks are unknown (never pass), a summary's trajectory is plotted.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

SIZE = (160, 50)


def _flat(text: str) -> str:
    """Lines joined with single spaces: panels wrap sentences to their width."""
    return " ".join(text.split())


def panel_text(app) -> str:
    """The contract panel's whole text, flattened (it scrolls, so the screen shows only part of it)."""
    shown = app.main.query_one("#contract")._shown
    return _flat(shown.plain) if shown is not None else ""


def diagnostics_text(app) -> str:
    """The diagnostics panel's whole text, flattened."""
    return _flat(str(app.main.query_one("#diag-body").render()))


@pytest.fixture(scope="module")
def demo(demo_artifacts, tmp_path_factory):
    """A copy of the demo store (runs from the app write into it), its model and contract."""
    pytest.importorskip("onnxruntime")
    if demo_artifacts.store is None:
        pytest.skip("the demo artifacts carry no store")
    folder = tmp_path_factory.mktemp("tui-jobs")
    store = folder / "demo.zarr"
    shutil.copytree(demo_artifacts.store, store)
    return demo_artifacts, store


@pytest.fixture
def fresh_demo(demo, tmp_path):
    """A copy of the demo store for one test (runs from the app write into it; other tests must not see them)."""
    artifacts, store = demo
    copy = tmp_path / "demo.zarr"
    shutil.copytree(store, copy)
    return artifacts, copy


def _factory(artifacts, store):
    from inspector.tui.app import make_app

    def make(**kwargs):
        kwargs.setdefault("poll_interval", 0)
        kwargs.setdefault("model", artifacts.onnx)
        kwargs.setdefault("contract", artifacts.contract)
        return make_app(store, **kwargs)

    return make


@pytest.fixture
def demo_app(demo):
    """`make_app` on the shared demo store (tests that only read it or write beside it)."""
    return _factory(*demo)


@pytest.fixture
def fresh_demo_app(fresh_demo):
    """`make_app` on this test's own copy of the demo store."""
    return _factory(*fresh_demo)


def edited_export(src: Path, dst: Path, node: str = "/layers.1/feed_forward1/linear1/MatMul") -> str:
    """Copy of the export with one weight of `node` scaled by 1.5 (a planted export fault); returns its name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(src)
    target = next(n for n in model.graph.node if n.name == node)
    inits = {t.name: t for t in model.graph.initializer}
    weight = next(i for i in target.input if i in inits)
    arr = numpy_helper.to_array(inits[weight]).copy() * np.float32(1.5)
    inits[weight].CopyFrom(numpy_helper.from_array(arr, weight))
    onnx.save(model, dst)
    return weight


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_cache_time_diagnosis_from_a_key(demo_app, settle, shown) -> None:
    """d on chunk 3 runs the real checks through ONNX Runtime; the panel shows the three verdict codes with their
    numbers and the verdict in words; o opens the full report."""
    from inspector.tui.screens.job_dialogs import ReportScreen

    app = demo_app(chunk=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        panel = app.main.diagnostics
        diagnosis = panel.last
        assert diagnosis is not None and diagnosis.kind == "cache-time" and diagnosis.chunk == 3
        assert diagnosis.backend == "ort-cpu"
        report = diagnosis.report
        # ORT CPU reproduces the NeMo reference: nothing significant in the cache, the input is used, and the tiny
        # difference reaches the next chunks' frames (harmlessly)
        assert dict(report.verdict) == {"nature": "none", "activity": "active", "effect": "propagating"}
        assert report.max_abs < 1e-5 and report.cache_len_in == 7 and report.cache_len_out == 10
        assert panel.verdict == "no significant error · propagating (harmless)"
        body = diagnostics_text(app)
        for words in ("nature none", "activity active", "effect propagating", "cache len in 7 → out 10",
                      "verdict no significant error"):
            assert words in body
        assert "no significant error · propagating" in shown(app)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert "cache_last_time diagnostic — stream 'utt-0000', chunk 3, backend ort-cpu" in app.screen.text
        await pilot.press("escape")
        await settle(pilot)


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_triage_finds_the_edited_weight(demo, demo_app, settle, tmp_path) -> None:
    """i asks what to compare against (the same runtime on the same model compares nothing: it says so); against
    an export with one edited weight, the first diverging node is the one that reads it."""
    from inspector.tui.screens.job_dialogs import TriageDialog

    artifacts, _ = demo
    bad = tmp_path / "edited.onnx"
    weight = edited_export(artifacts.onnx, bad)
    app = demo_app(chunk=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, TriageDialog)
        assert "compares nothing" in str(dialog.query_one("#triage-hint").render())
        await pilot.press("enter")  # refused: the dialog stays
        await settle(pilot)
        assert app.screen is dialog
        app.copy_to_clipboard(str(bad))
        await pilot.press("ctrl+v")  # the field's text is selected on focus: pasting replaces it
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, TriageDialog)
        diagnosis = app.main.diagnostics.last
        assert diagnosis is not None and diagnosis.kind == "triage"
        first = diagnosis.report.first
        assert first is not None and first.name == "/layers.1/feed_forward1/linear1/MatMul"
        assert weight in first.weights
        assert app.main.diagnostics.verdict == f"first diverging: #{first.index} MatMul"
        body = diagnostics_text(app)
        assert "worst nodes" in body and f"weights differ: {weight}" in body


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_bundle_from_a_key(demo, demo_app, settle) -> None:
    """b writes the chunk's reproduction bundle next to the store, with the backend's outputs."""
    from inspector.diagnostics.bundle import load_bundle
    from inspector.tui.screens.job_dialogs import BundleDialog

    _, store = demo
    app = demo_app(chunk=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, BundleDialog)
        await pilot.press("enter")
        await settle(pilot)
        folder = store.parent / "bundles" / "demo-utt-0000-chunk0005"
        bundle = load_bundle(folder)
        assert bundle.meta["chunk"] == 5 and bundle.meta["backend"] == "ort-cpu"
        assert bundle.backend_outputs is not None and "encoder_output" in bundle.backend_outputs
        assert app.main.diagnostics.verdict == "bundle written"
        assert str(folder) in diagnostics_text(app).replace(" ", "")


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_closed_loop_run_from_the_app(fresh_demo, fresh_demo_app, settle, shown) -> None:
    """R → ort-cpu, closed-loop, chunks 0:4: the run is recorded in the store with its outputs; the chunk list shows
    it as it arrives and selects it; p plots its state trajectory; the panels show the state it carried and the
    state verdicts in words."""
    from store import Store

    from inspector.tui.screens.run_dialog import RunDialog

    _, store = fresh_demo
    app = fresh_demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        await pilot.press("tab", "right", "space")  # mode: closed-loop (Enter would run at once)
        await pilot.press("tab", "tab", *"0:4")  # chunks: typing a range picks "range A:B"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, RunDialog)
        runs = [r for r in Store.open(store).runs() if r.backend == "ort-cpu" and r.mode == "closed-loop"]
        assert len(runs) == 1 and runs[0].status == "complete" and list(runs[0].chunks) == [0, 1, 2, 3]
        screen = app.main
        assert screen.run_id == runs[0].run_id  # followed as it arrived
        assert [screen.chunk_list.status(i) for i in range(6)] == ["pass"] * 4 + ["missing"] * 2
        # 4 chunks are too few to judge error growth: nothing failed, but the run cannot pass
        assert "UNDETERMINED — ort-cpu" in shown(app) and "undetermined: no_growth" in shown(app)
        assert screen.heatmap.pair.has_backend  # saved outputs: the error heatmap of the chunk shown
        await pilot.press("p")
        await settle(pilot)
        plot = screen.plot
        assert plot.kind == "state" and plot.trajectory is not None
        assert plot.trajectory.cache_len_out == (1, 4, 7, 10)
        assert "carried ✓" in plot.state_title
        await pilot.press("j")
        await settle(pilot)
        text = panel_text(app)
        assert "state carried" in text and "cache len 1 → 4" in text
        assert "state carried: cache_last_channel_len_out 1 → 10" in text  # the state_carried verdict, in words
        assert "chunk 1 (2/50) · pass · state 1→4" in shown(app)


async def test_unavailable_backends_are_greyed_with_their_reason(make_inspector, settle, shown) -> None:
    """Every registered backend is listed; one that cannot run here is disabled and says why and what to install."""
    from backends.base import availability, backend_names
    from textual.widgets import OptionList

    from inspector.tui.screens.run_dialog import RunDialog

    missing = {n: availability(n) for n in backend_names() if not availability(n)}
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, RunDialog)
        options = app.screen.query_one(OptionList)
        prompts = {}
        for i in range(options.option_count):
            option = options.get_option_at_index(i)
            prompts[option.id.removeprefix("backend-")] = option
        assert list(prompts) == list(backend_names())
        if not missing:
            pytest.skip("every backend can run on this machine")
        text = shown(app)
        for name, avail in missing.items():
            assert prompts[name].disabled
            assert avail.reason in str(prompts[name].prompt)
            assert f"{name}  not available: {avail.reason[:30]}" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RunDialog)


async def test_jobs_say_what_to_pass(synthetic_store, settle, shown) -> None:
    """Without --model, triage and ONNX runs say to pass it; the cache_last_time checks fall back to the selected
    run's recorded outputs and say what checks (3)-(4) need; without a contract, every job says to pass one."""
    from inspector.tui.app import make_app
    from inspector.tui.screens.run_dialog import RunDialog

    app = make_app(synthetic_store.path, poll_interval=0, chunk=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert app.main.diagnostics.verdict == "could not run"
        assert f"inspector tui {synthetic_store.path} --model PATH.onnx" in diagnostics_text(app)
        await pilot.press("d")
        await settle(pilot)
        diagnosis = app.main.diagnostics.last
        assert diagnosis.report.activity is None and diagnosis.report.verdict["nature"] == "none"
        assert "checks (3) activity and (4) propagation need a backend" in diagnostics_text(app)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, RunDialog)
        await pilot.press("enter")  # run ort-cpu with the defaults
        await settle(pilot)
        assert isinstance(app.screen, RunDialog)
        assert "--model PATH.onnx" in str(app.screen.query_one("#run-error").render())
    no_contract = make_app(synthetic_store.path, poll_interval=0, contract="/nonexistent.contract.json")
    async with no_contract.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "--contract PATH|NAME" in diagnostics_text(no_contract)


async def test_imported_run_undecided_chunks_are_unknown(imported_store, settle, shown) -> None:
    """The report lists only failures with figures: the other chunks are undecided, shown as unknown (never pass);
    only the listed chunks count as failing."""
    from inspector.tui.app import make_app

    path, report_run, _ = imported_store
    app = make_app(path, poll_interval=0, run=report_run)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        assert screen.run_id == report_run
        assert [screen.chunk_list.status(i) for i in range(12)] == ["unknown"] * 3 + ["fail"] + ["unknown"] * 7 + [
            "fail"]
        assert screen.chunk_list.failing() == [3, 11]
        text = panel_text(app)
        chunk_part = text.split("run ·")[0]
        assert "✓" not in chunk_part and "✗" not in chunk_part
        assert "? encoder_output unknown / 1.00e-04 not decided: passed at atol=0.001 rtol=0.001" in chunk_part
        assert "chunk 0 · unknown" in shown(app)
        await pilot.press("n")
        await settle(pilot)
        assert screen.chunk == 3 and screen.chunk_list.status(3) == "fail"


async def test_imported_summary_trajectory(imported_store, settle) -> None:
    """A streaming summary carries the state per chunk at the top level: the plot and panels show it."""
    from inspector.tui.app import make_app

    path, _, summary_run = imported_store
    app = make_app(path, poll_interval=0, run=summary_run, chunk=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        traj = app.main.plot.trajectory
        assert traj is not None and traj.cache_len_out[:4] == (1, 4, 7, 10)
        text = panel_text(app)
        assert "cache len 4 → 7" in text
        assert "attention cache carried: starts at 1 after chunk 0, grows by 3 per chunk" in text


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_cancelling_a_run_keeps_its_chunks(fresh_demo, fresh_demo_app, settle, shown) -> None:
    """c stops a run after the chunk being written: the run is left interrupted with its committed chunks, and the
    same run started again resumes it; quitting the app during a run stops it the same way."""
    from store import Store

    _, store = fresh_demo
    app = fresh_demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        # the defaults: functional, every chunk of every stream (the demo store has one)
        app.screen.submit()  # Run (a key press would wait for the app to go idle: for the whole run)
        for _ in range(1000):  # until the first chunk is committed
            await asyncio.sleep(0.005)
            if app.main.run_progress and app.main.run_progress[0] >= 1:
                break
        await pilot.press("c")
        for _ in range(1000):  # the worker stops after the chunk it is writing
            await pilot.pause(0.01)
            if not app.main._run_running:
                break
        await settle(pilot)
        run = next(r for r in Store.open(store).runs() if r.backend == "ort-cpu" and r.mode == "functional")
        done = Store.open(store).run(run.run_id).done_chunks("utt-0000")
        assert run.status == "interrupted" and 1 <= len(done) < 50
        assert "run cancelled" in shown(app)
        await pilot.press("R")  # the dialog starts on the selected run's backend and mode: same run again
        await settle(pilot)
        await pilot.press("enter")  # the defaults again: functional, every chunk
        await settle(pilot)
        again = Store.open(store).run(run.run_id)
        assert again.record.status == "complete" and len(again.done_chunks("utt-0000")) == 50
        assert app.main.run_id == run.run_id

        await pilot.press("R")  # quitting while a run goes stops it as c does (the app does not wait for the run)
        await settle(pilot)
        await pilot.press("tab", "right", "space")  # closed-loop, every chunk (the default)
        app.screen.submit()
        for _ in range(1000):
            await asyncio.sleep(0.005)
            if app.main.run_progress and app.main.run_progress[0] >= 1:
                break
        await pilot.press("q")
    for _ in range(1000):  # the run's thread stops at its next chunk (a real app's exit waits for it)
        closed = next(r for r in Store.open(store).runs() if r.mode == "closed-loop")
        if closed.status != "running":
            break
        await asyncio.sleep(0.01)
    assert closed.status == "interrupted" and len(Store.open(store).run(closed.run_id).done_chunks("utt-0000")) < 50


@pytest.mark.slow  # the demo artifacts (NeMo), ONNX Runtime
async def test_a_run_from_the_app_covers_every_stream_with_its_options(demo, tmp_path, settle, shown) -> None:
    """R on a store of two streams, with the defaults: one run per stream (as `inspector run --batch`), each with the
    backend options typed in the dialog; an option the backend does not take is refused in the dialog."""
    from store import Store

    from inspector.tui.app import make_app
    from inspector.tui.screens.run_dialog import RunDialog

    artifacts, source = demo
    src = Store.open(source)
    first = src.streams()[0]
    store = tmp_path / "two.zarr"
    st = Store.create(store, attrs={"header": dict((src.attrs or {}).get("header") or {})})
    for name in ("utt-a", "utt-b"):
        for k in range(6):
            view = src.chunk(first, k)
            st.write_chunk(name, k, view.inputs(), view.outputs(), dict(view.meta or {}))
    app = make_app(store, poll_interval=0, model=artifacts.onnx, contract=artifacts.contract)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        assert "all 2" in shown(app)  # streams: all, by default
        dialog.query_one("#run-options").value = "use_tf32=0"  # an ort-cuda option: not for ort-cpu
        dialog.submit()
        await settle(pilot)
        assert isinstance(app.screen, RunDialog)
        assert "unknown option(s) use_tf32" in str(dialog.query_one("#run-error").render())
        dialog.query_one("#run-options").value = "intra_op_threads=1"
        dialog.submit()
        await settle(pilot)
        assert not isinstance(app.screen, RunDialog)
        runs = Store.open(store).runs()
        assert sorted(r.stream for r in runs) == ["utt-a", "utt-b"]
        assert all(r.status == "complete" and r.options == {"intra_op_threads": 1} for r in runs)
        progress = str(app.main.chunk_list.query_one("#run-progress").render())
        assert _flat(progress) == "PASS — ort-cpu functional: 12/12 chunks pass over 2 streams"
