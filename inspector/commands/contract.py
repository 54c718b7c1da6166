"""`inspector contract`: check an ONNX model against a contract, show/validate a contract, import other formats."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("contract")
def contract() -> None:
    """Contracts: check a model against one, show one, import the seed team's formats."""


@contract.command("check")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--contract", "-c", "contract_ref", required=True, metavar="PATH|NAME",
              help="A *.contract.json file or a shipped contract's name (demo_streaming, encoder_streaming, "
                   "parakeet-tdt-0.6b-v3).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the differences as JSON here.")
def check(model: str, contract_ref: str, json_out: str | None) -> None:
    """Compare MODEL.onnx's inputs and outputs with a contract (names, dtypes, ranks, fixed sizes).

    Exit 0 when they match, 1 when they differ, 2 on bad input (missing file, invalid contract, not ONNX).
    """
    from contracts.check import check_model, read_model_io
    from contracts.load import load_contract
    from inspector.errors import CheckFailed

    spec = load_contract(contract_ref)
    io = read_model_io(model)
    diffs = check_model(model, spec)
    _print_table(io, spec, diffs)
    errors = [d for d in diffs if d.severity == "error"]
    if json_out:
        Path(json_out).write_text(json.dumps({
            "model": model, "contract": spec.name, "contract_source": spec.source, "match": not errors,
            "differences": [d.__dict__ for d in diffs]}, indent=2) + "\n", encoding="utf-8")
    if errors:
        raise CheckFailed(f"{model} does not match contract {spec.name}: {len(errors)} difference"
                          f"{'s' if len(errors) != 1 else ''} (listed above). Fix the export or the contract.")
    click.echo(f"{model} matches contract {spec.name}.")


def _print_table(io, spec, diffs) -> None:  # noqa: ANN001 - types from contracts.check, imported lazily
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    by_tensor: dict[tuple[str, str], list] = {}
    for d in diffs:
        by_tensor.setdefault((d.io, d.tensor), []).append(d)
    table = Table(title=f"{io.path} vs contract {spec.name}", title_justify="left")
    for col in ("", "tensor", "contract", "model", "status"):
        table.add_column(col)
    rows = [("input", s) for s in spec.inputs] + [("output", s) for s in spec.outputs]
    for kind, s in rows:
        decl = io.find(s.name)
        found = by_tensor.pop((kind, s.name), [])
        status = _status(found)
        model_text = f"{decl.dtype} {decl.shape_text()}" if decl is not None else "absent"
        contract_text = f"{s.dtype} [{', '.join(map(str, s.shape))}]"
        name = s.name if s.ref_name == s.name else f"{s.name} ({s.ref_name})"
        table.add_row(kind, Text(name), Text(contract_text), Text(model_text), status)
    for (kind, name), found in by_tensor.items():  # extra tensors
        decl = io.find(name)
        table.add_row(kind, Text(name), "absent", Text(f"{decl.dtype} {decl.shape_text()}" if decl else "?"),
                      _status(found))
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:  # logs and pipes: wide enough that names and shapes never wrap
        console = Console(highlight=False, soft_wrap=False, width=160)
    console.print(table)
    for d in diffs:
        if d.severity == "info":
            continue
        console.print(f"  {d.severity}: {d.message}" + (f"\n    hint: {d.hint}" if d.hint else ""), markup=False)


def _status(found: list) -> str:
    if any(d.severity == "error" for d in found):
        return "[red]differs[/red]"
    if any(d.severity == "warning" for d in found):
        return "[yellow]warning[/yellow]"
    if found:
        return "[green]ok[/green] (compatible)"
    return "[green]ok[/green]"


@contract.command("show")
@click.argument("contract_ref", metavar="PATH|NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised contract document instead.")
def show(contract_ref: str, as_json: bool) -> None:
    """Validate a contract and print what it says (exit 2 with every problem if it is invalid)."""
    from contracts.load import contract_to_dict, load_contract

    spec = load_contract(contract_ref)
    if as_json:
        click.echo(json.dumps(contract_to_dict(spec), indent=2))
        return
    click.echo(f"{spec.name}  ({spec.source})")
    if spec.description:
        click.echo(f"  {spec.description}")
    for kind, specs in (("inputs", spec.inputs), ("outputs", spec.outputs)):
        click.echo(f"{kind}:")
        for s in specs:
            ref = f" (ref {s.ref_name})" if s.ref_name != s.name else ""
            click.echo(f"  {s.name}{ref}: {s.dtype} [{', '.join(map(str, s.shape))}] {s.role}")
    if spec.feedback:
        click.echo("feedback: " + ", ".join(f"{f.source} -> {f.target}" for f in spec.feedback))
    for p in spec.profiles:
        click.echo(f"profile {p.name}: " + "; ".join(f"{k} {list(r.min)}..{list(r.max)}" for k, r in p.shapes.items()))
    for i in spec.invariants:
        click.echo(f"invariant {i.id} [{i.severity}]: {i.check}")
    for ts in spec.tolerances:
        scope = ",".join(ts.applies_to) or "any backend"
        prec = ",".join(ts.precisions) or "any precision"
        tols = ", ".join(f"{k} atol {t.atol:g}" + (f" rtol {t.rtol:g}" if t.rtol else "") for k, t in
                         ts.per_output.items())
        click.echo(f"tolerances {ts.name} ({scope}; {prec}): {tols}")
    if spec.tightening:
        click.echo(f"tightened when {' or '.join(spec.tightening.when)}: " + ", ".join(
            f"{k} atol {t.atol:g}" for k, t in spec.tightening.per_output.items()))
    for a in spec.acceptance:
        click.echo(f"acceptance {a.id}: {a.kind}" + (f" {a.tensor}" if a.tensor else "")
                   + (f" q{a.q:g} {a.metric} < {a.threshold:g}" if a.kind == "quantile" else ""))


@contract.command("import")
@click.argument("theirs", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write our contract here (default: print it).")
@click.option("--name", default=None, help="Name of the new contract (default: taken from the file).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_(theirs: str, output: str | None, name: str | None, force: bool) -> None:
    """Convert another team's contract JSON into ours: a whole-model contract (encoder streaming_io, streaming, trt),
    or the seed team's encoder_streaming or parakeet-tdt-0.6b-v3 schema, detected by content wherever it is nested.

    Everything that could not be mapped is listed (prose assertions are kept as notes), and so is what was ignored
    (a whole-model contract's predictor, joint, decode, tokenizer, features).
    """
    from contracts.importers import import_contract_file
    from contracts.load import contract_to_dict, dump_contract
    from inspector.errors import InspectorError

    if output and Path(output).exists() and not force:
        raise InspectorError(f"{output} exists; pass --force to overwrite it, or choose another -o path.")
    result = import_contract_file(theirs, name=name)
    where = f", found under {result.located!r}" if result.located else ""
    if output:
        dump_contract(result.contract, output)
        click.echo(f"Imported {theirs} ({result.schema} schema{where}) -> {output}")
    else:
        click.echo(json.dumps(contract_to_dict(result.contract), indent=2))
    click.echo(f"Mapped: {len(result.mapped)} items.", err=True)
    if result.provenance:
        click.echo("Provenance (kept in the contract's notes): " + ", ".join(
            f"{k} {v}" if not isinstance(v, dict) else f"{k} {{{', '.join(f'{a}: {b}' for a, b in v.items())}}}"
            for k, v in result.provenance.items()), err=True)
    if result.ignored:
        click.echo(f"Ignored ({len(result.ignored)}): other parts of the model, not the streaming encoder:", err=True)
        for item in result.ignored:
            click.echo(f"  - {item}", err=True)
    if result.unmapped:
        click.echo(f"Not mapped ({len(result.unmapped)}): kept as notes where they carry meaning:", err=True)
        for item in result.unmapped:
            click.echo(f"  - {item}", err=True)
    else:
        click.echo("Everything was mapped.", err=True)

