"""`inspector run --batch`: the CI gate. Exit 0 when every rule holds, 1 when any fails, 2 for bad usage/input."""

from __future__ import annotations

import click

from inspector.errors import CheckFailed, InspectorError


@click.command("run")
@click.option("--batch", is_flag=True, help="Run non-interactively and exit 0 (pass) / 1 (fail) / 2 (bad input).")
@click.option("--store", "store", required=True, type=click.Path(file_okay=False), help="The store (runs are recorded in it).")
@click.option("--model", "model", required=True, type=click.Path(dir_okay=False), help="The ONNX export.")
@click.option("--contract", "contract", required=True, help="Contract file, or a shipped contract's name.")
@click.option("--backend", "backends", multiple=True, required=True, help="Backend to run; repeat for several.")
@click.option("--mode", type=click.Choice(["functional", "closed-loop", "both"]), default="functional",
              show_default=True, help="functional: reference caches every chunk; closed-loop: the backend's own.")
@click.option("--stream", default=None, help="Stream to run (default: the store's first).")
@click.option("--chunks", default=None, help="Chunk range A:B (B exclusive), A:, :B or a single K.")
@click.option("--baseline", default=None, help="Compare against this backend on the same feeds instead of the reference.")
@click.option("--save-outputs", is_flag=True, help="Also store every output tensor of every chunk.")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="[BACKEND:]KEY=VALUE",
              help="Backend option, e.g. use_tf32=0 or ort-cuda:io_binding=0; repeat for several.")
@click.option("--no-resume", is_flag=True, help="Start a new run even if an interrupted one of the same setup exists.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write JUnit XML here.")
@click.option("--markdown", type=click.Path(dir_okay=False), default=None, help="Write a Markdown summary here.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def run(batch: bool, store: str, model: str, contract: str, backends: tuple[str, ...], mode: str,
        stream: str | None, chunks: str | None, baseline: str | None, save_outputs: bool,
        backend_opts: tuple[str, ...], no_resume: bool, report: str | None, junit: str | None,
        markdown: str | None, progress: bool | None) -> None:
    """Run backends against a store's reference and judge the contract."""
    if not batch:
        raise InspectorError("`inspector run` needs --batch (the interactive runner is `inspector tui --store S`).")
    from inspector.batch import run_batch

    result = run_batch(
        store=store, model=model, contract=contract, backends=list(backends), modes=[mode], stream=stream,
        chunks=chunks, baseline=baseline, save_outputs=save_outputs, backend_options=list(backend_opts),
        report=report, junit=junit, markdown=markdown, progress=progress, resume=not no_resume,
    )
    for kind, path in result.written.items():
        click.echo(f"{kind}: {path}", err=True)
    if not result.passed:
        raise CheckFailed(result.failure_summary())
    click.echo(f"Parity passed: {len(result.runs)} run(s), every rule holds.", err=True)
