"""`inspector triage`: the first ONNX node whose error clearly rises above its inputs' error, against a baseline."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("triage")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path), help="The reference store.")
@click.option("--model", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The ONNX model M the backend runs.")
@click.option("--contract", default=None,
              help="Contract file or shipped name (maps names and layouts; default: the store's contract).")
@click.option("--chunk", "chunk", required=True, type=int, help="The chunk whose inputs both sides run.")
@click.option("--backend", default="ort-cpu", show_default=True, help="Runtime under test: ort-cpu, ort-cuda, "
                                                                       "trt-fp32, trt-fp16.")
@click.option("--baseline", default="ort-cpu", show_default=True, help="Runtime to compare against.")
@click.option("--baseline-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model M2 the baseline runs (default: M). Same runtime, two models: finds where an edited or "
                   "suspect export departs from a good one.")
@click.option("--stream", default=None, help="Stream (default: the store's only stream).")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE", help="Option of --backend.")
@click.option("--baseline-opt", "baseline_opts", multiple=True, metavar="KEY=VALUE", help="Option of --baseline.")
@click.option("--factor", default=10.0, show_default=True, type=float,
              help="A node diverges when its output rel-L2 error exceeds FACTOR × its inputs' largest error …")
@click.option("--floor", default=1e-5, show_default=True, type=float, help="… and exceeds FLOOR.")
@click.option("--batch-mb", default=512, show_default=True, type=click.IntRange(1),
              help="Target MB of exposed intermediate tensors per slice and side (memory bound).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the per-node figures and the verdict to this JSON file.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when a node diverges (for scripts).")
def triage(store_path: Path, model: Path, contract: str | None, chunk: int, backend: str, baseline: str,
           baseline_model: Path | None, stream: str | None, backend_opts: tuple[str, ...],
           baseline_opts: tuple[str, ...], factor: float, floor: float, batch_mb: int, json_out: Path | None,
           exit_code: bool) -> None:
    """Run chunk K through BACKEND on M and BASELINE on M2 with every intermediate tensor exposed, compare node by
    node in topological order, and report the first node whose error clearly rises above the error of its inputs
    (output rel-L2 error > FACTOR × max input error and > FLOOR), with the ten worst nodes.

    Exit 0 when triage ran (1 with --exit-code when a node diverges), 2 for bad usage or input.
    """
    from inspector.preflight import parse_backend_options
    from inspector.commands.common import resolve_contract
    from inspector.diagnostics.session import open_store
    from inspector.diagnostics.triage import triage_chunk
    from inspector.errors import CheckFailed

    st = open_store(store_path)
    con = resolve_contract(st, contract, lambda m: click.echo(m, err=True))
    opts_a = parse_backend_options(backend_opts, [backend])[backend]
    opts_b = parse_backend_options(baseline_opts, [baseline])[baseline]
    report = triage_chunk(st, con, chunk, model, stream=stream, backend=backend, baseline=baseline,
                          baseline_model=baseline_model, backend_options=opts_a, baseline_options=opts_b,
                          factor=factor, floor=floor, batch_bytes=batch_mb << 20,
                          progress=lambda m: click.echo(f"… {m}", err=True))
    click.echo(report.render())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        from inspector.reports.json_report import write_strict_json

        write_strict_json({**report.to_dict(), "store": str(store_path)}, json_out)
        click.echo(f"triage written to {json_out}")
    if exit_code and report.first is not None:
        raise CheckFailed(report.summary)
