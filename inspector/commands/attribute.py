"""`inspector attribute`: precision or bug? Re-run a failing chunk under stricter math, one change at a time."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("attribute")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path), help="The reference store.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX export the run used (a .nemo, or nothing, for the torch backends).")
@click.option("--contract", default=None, help="Contract file or shipped name (default: the store's contract).")
@click.option("--backend", required=True, help="The backend the run used: ort-cpu, ort-cuda, trt-fp32, trt-fp16, "
                                               "torch-cpu, torch-cuda.")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE",
              help="The run's backend options, repeatable (they pick the recorded run and the as-run step).")
@click.option("--chunk", "chunk", required=True, type=int, help="The failing chunk K.")
@click.option("--stream", default=None, help="Stream (default: the store's only stream).")
@click.option("--mode", type=click.Choice(["closed-loop", "functional"]), default="closed-loop", show_default=True,
              help="closed-loop: the chunk gets the state each step's own loop feeds it; functional: the "
                   "reference's inputs.")
@click.option("--no-bisect", is_flag=True, help="Skip the layer bisection of a 16-bit precision verdict.")
@click.option("--max-probes", default=64, show_default=True, type=click.IntRange(1, 10_000),
              help="Chunk runs the layer bisection may spend.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the upcast and probe models here (default: a temporary folder, removed afterwards).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every step's figures and the verdict to this JSON file.")
def attribute(store_path: Path, model: Path | None, contract: str | None, backend: str, backend_opts: tuple[str, ...],
              chunk: int, stream: str | None, mode: str, no_bisect: bool, max_probes: int, work_dir: Path | None,
              json_out: Path | None) -> int:
    """Re-run chunk K down a ladder of stricter math — the backend's reduced-precision switch off (ORT CUDA
    use_tf32=0, an FP32 TensorRT engine for trt-fp16), the model upcast to FP32, the same model on ort-cpu — each step
    judged by the contract against the NeMo reference, and say whether the failure is precision (naming the switch),
    a bug, or both. A 16-bit precision failure also gets the nodes that must stay FP32.

    Exit 0 when the failure could be attributed (or the chunk passes), 2 for bad usage or input, 3 when a step the
    verdict needs could not run (undetermined).
    """
    from inspector.attribution.attribute import attribute_chunk
    from inspector.commands.common import resolve_contract
    from inspector.diagnostics.session import backend_options, open_store

    st = open_store(store_path)
    con = resolve_contract(st, contract, lambda m: click.echo(m, err=True))
    opts = backend_options(backend_opts, backend)
    report = attribute_chunk(st, con, model, backend, chunk, stream=stream, options=opts, mode=mode,
                             bisect=not no_bisect, max_probes=max_probes, work_dir=work_dir,
                             store_path=str(store_path), contract_ref=contract or con.source,
                             say=lambda m: click.echo(f"… {m}", err=True))
    click.echo(report.render())
    if json_out is not None:
        from inspector.reports.json_report import write_strict_json

        write_strict_json(report.to_dict(), json_out)
        click.echo(f"attribution written to {json_out}")
    return report.exit_code
