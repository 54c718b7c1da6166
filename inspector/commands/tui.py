"""`inspector tui STORE.zarr`: open the Textual inspector on a store."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("tui")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX export: needed to run backends from the app (R), for the diagnostics on a chunk "
                   "(d: cache_last_time checks, i: first diverging node) and for backend outputs in bundles (b); "
                   "not needed to browse recorded runs.")
@click.option("--contract", "contract_ref", default=None, metavar="PATH|NAME",
              help="Contract file or shipped name (default: the one the store names). Gives axis labels, "
                   "tolerances and thresholds.")
@click.option("--stream", default=None, help="Stream to open (default: the first).")
@click.option("--run", "run_id", default=None, help="Run id to show (default: the newest run that saved outputs).")
@click.option("--chunk", type=int, default=None, help="Chunk to open at (default: the first).")
@click.option("--tensor", default=None, help="Output tensor to show first (default: the frames output).")
@click.option("--poll", type=float, default=5.0, show_default=True,
              help="Seconds between checks for new results written into the store (0: never).")
def tui(store: Path, model: Path | None, contract_ref: str | None, stream: str | None, run_id: str | None,
        chunk: int | None, tensor: str | None, poll: float) -> None:
    """Open the Textual inspector on STORE: step through chunks, see each run's error heatmaps, plots, state
    trajectory and contract verdicts; run backends, diagnostics and reproduction bundles on a chunk. Press ? in the
    app for its keys."""
    from inspector.errors import InspectorError

    if not store.exists():
        raise InspectorError(f"{store}: no such store. Make one with `inspector convert REF.jsonl {store}` "
                             "(or `inspector demo`).")
    if model is not None and not model.exists():
        raise InspectorError(f"--model {model}: no such file.")
    contract = None
    if contract_ref:
        from contracts.load import load_contract

        contract = load_contract(contract_ref)  # a ContractError names the key; the CLI maps it to exit 2
    from inspector.tui.app import make_app

    app = make_app(store, contract=contract, model=model, stream=stream, run=run_id, chunk=chunk, tensor=tensor,
                   poll_interval=poll)
    app.run()
