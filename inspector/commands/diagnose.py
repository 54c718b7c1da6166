"""`inspector diagnose`: diagnostics on one chunk. A group, so other diagnostics join it as subcommands:
``inspector diagnose cache-time …`` lives here; others are modules listed in `SUBCOMMANDS` and imported only when
used (issue 8's state probe: create ``inspector/commands/diagnose_state.py`` exposing a click command ``state``)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import click

# subcommand -> (module, attribute): loaded lazily, listed only when the module exists
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "state": ("inspector.commands.diagnose_state", "state"),
}


class _DiagnoseGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [n for n, (mod, _) in SUBCOMMANDS.items() if importlib.util.find_spec(mod) is not None]
        return sorted({*super().list_commands(ctx), *lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in SUBCOMMANDS:
            return found
        module, attr = SUBCOMMANDS[cmd_name]
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), attr)


@click.group("diagnose", cls=_DiagnoseGroup)
def diagnose() -> None:
    """Diagnostics on one chunk of a store: why a tensor differs, and whether it matters."""


@diagnose.command("cache-time")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path), help="The reference store.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX export the backend runs.")
@click.option("--contract", default=None,
              help="Contract file or shipped name (default: the store's contract).")
@click.option("--backend", default="ort-cpu", show_default=True, help="Backend registry name (`inspector backends`).")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE",
              help="Backend option, repeatable (e.g. use_tf32=0).")
@click.option("--chunk", "chunk", required=True, type=int, help="Chunk index K to diagnose.")
@click.option("--stream", default=None, help="Stream (default: the store's only stream).")
@click.option("--run", "run_id", default=None,
              help="Take chunk K's backend outputs from this recorded run (saved with --save-outputs) instead of "
                   "running it; checks (3) and (4) still run the backend when --model is given.")
@click.option("--propagation-chunks", default=3, show_default=True, type=click.IntRange(0, 1000),
              help="Later chunks the propagation check runs in closed loop.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the perturbation noise.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every number and the verdict to this JSON file (a CI artefact).")
def cache_time(store_path: Path, model: Path | None, contract: str | None, backend: str, backend_opts: tuple[str, ...],
               chunk: int, stream: str | None, run_id: str | None, propagation_chunks: int, seed: int,
               json_out: Path | None) -> None:
    """The cache_last_time diagnostic on chunk K: (1) where along the cache's time axis and over layers the error
    of cache_last_time_out sits, (2) whether it sits where the reference is significant, (3) whether the
    cache_last_time input is used at all (perturbed through the backend), (4) whether the error reaches
    encoder_output of the next chunks in closed loop; then one verdict in words.

    Exit 0 when the diagnostic ran (whatever it found), 2 for bad usage or input.
    """
    from inspector.diagnostics.cache_time import diagnose_cache_time
    from inspector.diagnostics.chunkdata import resolve_stream, to_model_layout
    from inspector.commands.common import resolve_contract
    from inspector.diagnostics.session import active_backend, backend_options, open_store
    from inspector.errors import InspectorError

    st = open_store(store_path)
    con = resolve_contract(st, contract, lambda m: click.echo(m, err=True))
    stream = resolve_stream(st, stream)
    recorded = None
    if run_id is not None:
        try:
            outs = st.run(run_id).outputs(stream, chunk)
        except Exception as exc:  # the store raises StoreError with its own message
            raise InspectorError(f"run {run_id!r} of store {store_path}: {exc}") from exc
        if outs is None:
            raise InspectorError(f"run {run_id!r} has no saved outputs for chunk {chunk} of stream {stream!r}: "
                                 "re-run it with --save-outputs, or drop --run to run the chunk now.")
        recorded = {k: to_model_layout(con, k, v) for k, v in outs.items()}

    def say(msg: str) -> None:
        click.echo(f"… {msg}", err=True)

    if model is None and run_id is not None:
        report = diagnose_cache_time(st, con, None, chunk, stream=stream, backend_outputs=recorded, seed=seed,
                                     progress=say)
    else:
        opts = backend_options(backend_opts, backend)
        with active_backend(backend, model, con, opts, st) as b:
            report = diagnose_cache_time(st, con, b, chunk, stream=stream, backend_outputs=recorded,
                                         propagation_chunks=propagation_chunks, seed=seed, progress=say)
    click.echo(report.render())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = {**report.to_dict(), "store": str(store_path), "model": str(model) if model else None,
               "run": run_id}
        from inspector.reports.json_report import write_strict_json

        write_strict_json(doc, json_out)
        click.echo(f"diagnosis written to {json_out}")
