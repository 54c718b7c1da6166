"""`inspector import-run`: record another tool's parity report or streaming summary as a run, and judge it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("import-run")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", "store_path", default=None, type=click.Path(path_type=Path),
              help="The store to add the run to; created when it does not exist, as a store of runs with no reference "
                   "(default: ./<the report's folder>.zarr, said in the output).")
@click.option("--contract", default=None,
              help="Contract file or shipped name to judge with (default: the store's contract).")
@click.option("--kind", type=click.Choice(["auto", "report", "summary"]), default="auto", show_default=True,
              help="What SOURCE is: a parity report (ORT or TensorRT schema) or a streaming summary (JSONL).")
@click.option("--stream", default=None, help="Stream to record the run under (default: the file's, the store's only "
                                             "stream, or 'default').")
@click.option("--backend", default=None, help="Override the backend name read from the file (summaries name none).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the verdict and the figures behind it to this JSON file.")
@click.option("--allow-undetermined", "allow_undetermined", multiple=True, metavar="RULE",
              help="Accept this rule being undetermined (repeatable; 'all' for every rule). The verdict records it.")
@click.option("--strict", is_flag=True, hidden=True,
              help="Accepted for old scripts and ignored: an undetermined verdict now exits 3 by default.")
def import_run(source: Path, store_path: Path | None, contract: str | None, kind: str, stream: str | None,
               backend: str | None, json_out: Path | None, strict: bool,
               allow_undetermined: tuple[str, ...] = ()) -> None:
    """Import SOURCE, the seed team's parity report (.json) or streaming summary (.jsonl), into a store as a run.

    The run is judged by the contract's acceptance rules (pass rate, P95/P100 of encoder_output max-abs, growth over
    chunks) or, for a summary, by its state invariants and the cache-length trajectory. Importing the same file
    again changes nothing. Exit 0 when every required rule passes, 1 when one fails, 2 for a bad file, store or
    contract, 3 when nothing failed but a required rule cannot be decided from the file (e.g. state_carried: a
    parity report holds no cache lengths and no probe) or no contract judged it. --allow-undetermined RULE accepts
    one explicitly (recorded in the verdict). --strict is accepted and ignored (its behaviour is now the default).
    """
    import json

    from inspector.commands.common import import_store
    from inspector.importers.record import import_file

    target = import_store(source, store_path, contract, lambda m: click.echo(m, err=True))
    store_path, contract = target.path, (target.contract.source if target.contract is not None else None)
    import_file = target.guard(import_file)  # a store made here is removed again if the import fails

    if strict:
        click.echo("note: --strict is the default now (an undetermined verdict exits 3); the flag is ignored.",
                   err=True)
    result = import_file(source, store_path, contract=contract, kind=kind, stream=stream, backend=backend,  # type: ignore[arg-type]
                         allow_undetermined=list(allow_undetermined))
    for line in result.lines:
        click.echo(line)
    if json_out is not None:
        doc = {"run_id": result.run_id, "store": str(store_path), "already_imported": result.already,
               **result.summary}
        doc.pop("lines", None)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        click.echo(f"verdict written to {json_out}")
    if result.outcome == "fail":
        from inspector.errors import CheckFailed

        failing = [v["rule"] for v in result.summary.get("verdicts", [])
                   if v.get("status") == "fail" and v.get("required", True)]
        raise CheckFailed(f"{source.name}: verdict FAIL"
                          + (f" ({', '.join(failing)})" if failing else "") + f"; the run is kept as {result.run_id}.")
    if result.outcome != "pass":
        from inspector.errors import CheckUndetermined

        raise CheckUndetermined(_undetermined_message(source, result))


def _undetermined_message(source: Path, result: object) -> str:
    """Exit 3: which required rules the file cannot decide, what to run instead, how to accept them."""
    summary = getattr(result, "summary", {})
    if getattr(result, "outcome", "") == "not judged":
        return (f"{source.name}: verdict NOT JUDGED: no contract judged it (pass --contract NAME), so nothing was "
                f"checked; the run is kept as {getattr(result, 'run_id', '')} with its figures.")
    open_rules = [v for v in summary.get("verdicts", []) if v.get("status") == "undetermined"
                  and v.get("required", True) and not v.get("accepted_by")]
    state = next((v for v in open_rules if v.get("kind") == "state_carried"), None)
    text = (f"{source.name}: verdict UNDETERMINED: nothing failed, but {len(open_rules)} required rule(s) cannot be "
            f"decided from this file: {', '.join(v['rule'] for v in open_rules[:8])}"
            + (" …" if len(open_rules) > 8 else "") + ".")
    if state is not None:
        text += (" To show that state is carried, run `inspector run --batch --mode closed-loop` on the export (it "
                 "probes whether each cache is used).")
    return (text + " Accept a rule explicitly with --allow-undetermined RULE (or 'all'); the run is kept as "
            f"{getattr(result, 'run_id', '')}.")
