"""`inspector tui [PATH]`: open the Textual inspector on a reference JSONL (converted while you browse), a store, a
parity report or streaming summary (imported into its store), or, with no PATH, a picker over the folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("tui")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--store", "store_path", type=click.Path(path_type=Path), default=None,
              help="For a reference JSONL: the store to convert into (default: beside it, ref.jsonl -> ref.zarr). "
                   "For a report or summary: the store (or the reference JSONL) to import it into.")
@click.option("--skip-invalid", is_flag=True,
              help="Converting: leave bad lines out (listed in the app and the store) instead of stopping at the "
                   "first.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Converting: worker processes (default: all cores).")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX export: needed to run backends from the app (R), for the diagnostics on a chunk "
                   "(d: cache_last_time checks, i: first diverging node) and for backend outputs in bundles (b); "
                   "not needed to browse recorded runs.")
@click.option("--contract", "contract_ref", default=None, metavar="PATH|NAME",
              help="Contract file or shipped name (default: the one the store names). Gives axis labels, "
                   "tolerances and thresholds; a conversion checks every tensor against it.")
@click.option("--stream", default=None, help="Stream to open (default: the first).")
@click.option("--run", "run_id", default=None, help="Run id to show (default: the newest run that saved outputs).")
@click.option("--chunk", type=int, default=None, help="Chunk to open at (default: the first).")
@click.option("--tensor", default=None, help="Output tensor to show first (default: the frames output).")
@click.option("--poll", type=float, default=5.0, show_default=True,
              help="Seconds between checks for new results written into the store (0: never).")
def tui(path: Path | None, store_path: Path | None, skip_invalid: bool, workers: int | None, model: Path | None,
        contract_ref: str | None, stream: str | None, run_id: str | None, chunk: int | None, tensor: str | None,
        poll: float) -> None:
    """Open the Textual inspector on PATH: a reference JSONL (ours or the seed team's; it converts into a store
    beside it while you browse, and a later open resumes an unfinished conversion), a store, or a parity report /
    streaming summary (imported into its store as `import-run` does). Without PATH: a picker over this folder.

    In the app: step through chunks, see each run's error heatmaps, plots, state trajectory and contract verdicts;
    run backends, diagnostics and reproduction bundles on a chunk. Press ? for its keys. Exit 2 when the conversion
    stopped at a bad line or the file could not be opened (the message is printed when the app closes).
    """
    from inspector.errors import InspectorError
    from inspector.tui.app import OpenRequest, make_open_app, run_checked
    from inspector.tui.opening import plan_open
    from inspector.tui.screens.main import StartAt

    if model is not None and not model.exists():
        raise InspectorError(f"--model {model}: no such file.")
    if path is not None:
        plan_open(path, store_path)  # a bad path or a report without a store: one paragraph, exit 2, no app
    elif store_path is not None:
        raise InspectorError("--store needs a PATH: the reference JSONL to convert or the report to import.")
    contract = None
    from store import layout

    shown = plan_open(path, store_path).store if path is not None else None  # the store the app will show
    opened = shown if shown is not None and layout.is_store(shown) else None
    if contract_ref or opened is not None:
        from inspector.commands.common import resolve_contract

        # the store's contract by default, --contract overrides (one line when they differ); a ContractError names
        # the key and the CLI maps it to exit 2
        contract = resolve_contract(opened, contract_ref, lambda m: click.echo(m, err=True), required=False)
        contract_ref = contract_ref or (contract.source if contract is not None else None)
    request = OpenRequest(path=path, store=store_path, skip_invalid=skip_invalid, workers=workers, contract=contract,
                          contract_ref=contract_ref, model=model,
                          start=StartAt(stream=stream, run=run_id, chunk=chunk, tensor=tensor))
    app = make_open_app(request, poll_interval=poll)
    try:
        run_checked(app)  # an app that stopped on an error exits non-zero (AppStopped), never 0
    finally:
        _wait_for_conversion(app)
    conversion = app.conversion
    if conversion is not None and conversion.crash is not None:
        raise conversion.crash
    if app.user_error:
        raise InspectorError(app.user_error)
    if conversion is not None and conversion.status.state == "cancelled":
        status = conversion.status
        click.echo(f"{status.store}: conversion stopped with {status.chunks} chunks kept; `inspector tui "
                   f"{status.source}` resumes it.", err=True)
    from inspector.tui.app import exit_now

    exit_now()  # a clean quit: skip Python's 3-6 s teardown once a job loaded torch (see there)


def _wait_for_conversion(app: object) -> None:
    """A conversion stops at its next line once the app quits; wait for it to record what it committed."""
    conversion = getattr(app, "conversion", None)
    if conversion is None or conversion.finished.is_set():
        return
    click.echo("Stopping the conversion (every converted chunk is kept) …", err=True)
    conversion.cancel()
    conversion.finished.wait(timeout=120)
