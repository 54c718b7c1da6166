"""`inspector import-run`: record another tool's parity report or streaming summary as a run, and judge it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("import-run")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path),
              help="The store to add the run to (it must exist: `inspector convert` or `reference --store` made it).")
@click.option("--contract", default=None,
              help="Contract file or shipped name to judge with (default: the store's contract).")
@click.option("--kind", type=click.Choice(["auto", "report", "summary"]), default="auto", show_default=True,
              help="What SOURCE is: a parity report (ORT or TensorRT schema) or a streaming summary (JSONL).")
@click.option("--stream", default=None, help="Stream to record the run under (default: the file's, the store's only "
                                             "stream, or 'default').")
@click.option("--backend", default=None, help="Override the backend name read from the file (summaries name none).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the verdict and the figures behind it to this JSON file.")
@click.option("--strict", is_flag=True, help="Exit 1 also when a rule cannot be decided from the file's data.")
def import_run(source: Path, store_path: Path, contract: str | None, kind: str, stream: str | None,
               backend: str | None, json_out: Path | None, strict: bool) -> None:
    """Import SOURCE, the seed team's parity report (.json) or streaming summary (.jsonl), into a store as a run.

    The run is judged by the contract's acceptance rules (pass rate, P95/P100 of encoder_output max-abs, growth over
    chunks) or, for a summary, by its state invariants and the cache-length trajectory. Importing the same file
    again changes nothing. Exit 0 when the verdict passes (or cannot be decided, unless --strict), 1 when it fails,
    2 for a bad file, store or contract.
    """
    import json

    from inspector.importers.record import import_file

    result = import_file(source, store_path, contract=contract, kind=kind, stream=stream, backend=backend)  # type: ignore[arg-type]
    for line in result.lines:
        click.echo(line)
    if json_out is not None:
        doc = {"run_id": result.run_id, "store": str(store_path), "already_imported": result.already,
               **result.summary}
        doc.pop("lines", None)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        click.echo(f"verdict written to {json_out}")
    if result.outcome == "fail" or (strict and result.outcome in ("undetermined", "not judged")):
        from inspector.errors import CheckFailed

        failing = [v["rule"] for v in result.summary.get("verdicts", []) if v.get("status") == "fail"]
        raise CheckFailed(f"{source.name}: verdict {result.outcome.upper()}"
                          + (f" ({', '.join(failing)})" if failing else "") + f"; the run is kept as {result.run_id}.")
