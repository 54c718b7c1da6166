"""`inspector export-chunk`: one chunk's reproduction bundle (.npz + Polygraphy JSON), to re-run it anywhere."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export-chunk")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path), help="The reference store.")
@click.option("--chunk", "chunk", required=True, type=int, help="Chunk index.")
@click.option("--stream", default=None, help="Stream (default: the store's only stream).")
@click.option("--contract", default=None,
              help="Contract file or shipped name: writes model names and the model's layout (default: the store's "
                   "contract; --backend needs one).")
@click.option("--backend", default=None, help="Also run the chunk through this backend and save its outputs.")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE", help="Backend option, repeatable.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX model (run by --backend; named in the bundle's commands).")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the bundle into.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty directory.")
@click.option("--copy-model", is_flag=True,
              help="Copy the model (and its external-data files) into the bundle, so the bundle alone reproduces the "
                   "chunk wherever it is moved.")
def export_chunk(store_path: Path, chunk: int, stream: str | None, contract: str | None, backend: str | None,
                 backend_opts: tuple[str, ...], model: Path | None, output: Path, overwrite: bool,
                 copy_model: bool) -> None:
    """Write chunk K's inputs (inputs.npz, and inputs.polygraphy.json for `polygraphy run --load-inputs`), its
    reference outputs (reference_outputs.npz and .polygraphy.json for `--load-outputs`), the backend's outputs
    (backend_outputs.npz, with --backend) and meta.json into a directory. The printed reproduce command (also in the
    bundle's README.txt) names files by absolute paths and runs from any directory.
    """
    from inspector.diagnostics.bundle import export_chunk as write_bundle
    from inspector.commands.common import resolve_contract
    from inspector.diagnostics.session import active_backend, backend_options, open_store

    import json

    st = open_store(store_path)
    # the backend is fed by the contract's names, so it needs one; a bare bundle keeps the store's names
    con = resolve_contract(st, contract, lambda m: click.echo(m, err=True), required=backend is not None)
    if backend is not None and con is not None:
        with active_backend(backend, model, con, backend_options(backend_opts, backend), st) as b:
            out = write_bundle(st, chunk, output, stream=stream, contract=con, backend=b, model=model,
                               overwrite=overwrite, copy_model=copy_model)
    else:
        out = write_bundle(st, chunk, output, stream=stream, contract=con, model=model, overwrite=overwrite,
                           copy_model=copy_model)
    click.echo(f"bundle written to {out}:")
    for p in sorted(out.iterdir()):
        click.echo(f"  {p.name:<36} {p.stat().st_size:>12,} bytes")
    commands = json.loads((out / "meta.json").read_text())["commands"]
    click.echo(f"reproduce (from any directory): {commands['polygraphy_compare']}")
    if "in_bundle" in commands:
        click.echo(f"or, from inside the bundle wherever it is moved: {commands['in_bundle']}")
    if model is None:
        click.echo("(no --model given: replace MODEL.onnx with the ONNX model's path)")
