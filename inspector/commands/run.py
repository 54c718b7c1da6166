"""`inspector run --batch`: the CI gate. Exit 0 when every required rule passes, 1 when any fails, 2 for bad
usage/input, 3 when nothing failed but a required rule (or a whole run) could not be decided."""

from __future__ import annotations

import click

from inspector.errors import CheckFailed, CheckUndetermined, InspectorError


@click.command("run")
@click.option("--batch", is_flag=True,
              help="Run non-interactively; exit 0 (pass) / 1 (fail) / 2 (bad input) / 3 (undetermined).")
@click.option("--store", "store", required=True, type=click.Path(file_okay=False), help="The store (runs are recorded in it).")
@click.option("--model", "model", required=True, type=click.Path(dir_okay=False), help="The ONNX export.")
@click.option("--contract", "contract", default=None,
              help="Contract file, or a shipped contract's name (default: the store's contract).")
@click.option("--backend", "backends", multiple=True, required=True, help="Backend to run; repeat for several.")
@click.option("--mode", type=click.Choice(["functional", "closed-loop", "both"]), default="functional",
              show_default=True, help="functional: reference caches every chunk; closed-loop: the backend's own.")
@click.option("--stream", "streams", multiple=True,
              help="Stream to run; repeat for several (default: every stream of the store).")
@click.option("--chunks", default=None, help="Chunk range A:B (B exclusive), A:, :B or a single K, in every stream.")
@click.option("--baseline", default=None, help="Compare against this backend on the same feeds instead of the reference.")
@click.option("--save-outputs/--no-save-outputs", "save_outputs", default=None,
              help="Store the output tensors of every chunk / of none. Default: of the failing chunks (so the app "
                   "can show where they are wrong); the disk they take is reported.")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="[BACKEND:]KEY=VALUE",
              help="Backend option, e.g. use_tf32=0 or ort-cuda:io_binding=0; repeat for several.")
@click.option("--no-resume", is_flag=True, help="Start new runs even if interrupted ones of the same setup exist.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write JUnit XML here.")
@click.option("--markdown", type=click.Path(dir_okay=False), default=None, help="Write a Markdown summary here.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.option("--allow-undetermined", "allow_undetermined", multiple=True, metavar="RULE",
              help="Accept this rule being undetermined (repeatable; 'all' for every rule); the reports record it.")
@click.option("--executor", default="local", show_default=True, metavar="local|ray|ray:ADDRESS",
              help="Where the units (backend × mode × stream) run: in this process, on Ray actors started here "
                   "(`ray`), or on a cluster (`ray:auto`, `ray:ray://HOST:10001`). With Ray the store must be on a "
                   "filesystem every node sees at the same path (checked before any unit runs).")
@click.option("--workers", type=int, default=1, show_default=True, help="Ray actors to start (each holds one "
                                                                         "backend session).")
@click.option("--gpus-per-worker", "gpus_per_worker", type=float, default=0.0, show_default=True,
              help="GPU share of each Ray actor: 1 = a GPU each, 0.5 = two actors share a GPU, 0 = CPU backends.")
@click.option("--attribute", is_flag=True, help="Attribute the first failing chunk of each failing run (precision "
                                                 "or bug, as `inspector attribute`); the verdict goes into every "
                                                 "report.")
def run(batch: bool, store: str, model: str, contract: str | None, backends: tuple[str, ...], mode: str,
        streams: tuple[str, ...], chunks: str | None, baseline: str | None, save_outputs: bool | None,
        backend_opts: tuple[str, ...], no_resume: bool, report: str | None, junit: str | None,
        markdown: str | None, progress: bool | None, attribute: bool,
        allow_undetermined: tuple[str, ...] = (), executor: str = "local", workers: int = 1,
        gpus_per_worker: float = 0.0) -> None:
    """Run backends against a store's reference and judge the contract: every backend × mode × stream."""
    if not batch:
        raise InspectorError("`inspector run` needs --batch (the interactive runner is `inspector tui --store S`).")
    from inspector.api import run_batch

    from inspector.commands.common import resolve_contract

    contract = resolve_contract(store, contract, lambda m: click.echo(m, err=True))  # the store's by default
    result = run_batch(
        store=store, model=model, contract=contract, backends=list(backends), modes=[mode], streams=list(streams),
        chunks=chunks, baseline=baseline, save_outputs="failing" if save_outputs is None else save_outputs,
        backend_options=list(backend_opts), report=report, junit=junit, markdown=markdown, progress=progress,
        resume=not no_resume, attribute=attribute, allow_undetermined=list(allow_undetermined),
        executor=executor, workers=workers, gpus_per_worker=gpus_per_worker,
    )
    for kind, path in result.written.items():
        click.echo(f"{kind}: {path}", err=True)
    if result.status == "fail":
        raise CheckFailed(result.failure_summary() + f" ({result.coverage_text()}.)")
    if result.status == "undetermined":
        from inspector.reports.json_report import accept_hint

        raise CheckUndetermined(result.failure_summary() + f" ({result.coverage_text()}.)" + accept_hint(result.report))
    click.echo(f"Parity passed: {result.coverage_text()}; every required rule holds.", err=True)
