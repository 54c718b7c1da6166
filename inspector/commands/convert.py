"""`inspector convert REF.jsonl -o STORE.zarr`: reference JSONL → Zarr store (parallel, resumable)."""

from __future__ import annotations

from pathlib import Path

import click


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _contract_for(output: Path, option: str | None, overwrite: bool) -> object:
    """What the lines are checked against: `option` (``--contract``) when given, else the contract `output` already
    records (a resumed conversion, or a reference joining imported runs, is checked like the lines before it); either
    is said in one line (`resolve_contract`). With --overwrite the old store, and its contract, is replaced.

    Raises:
        contracts.ContractError: `option`, or the store's own ``contract.json``, is not a valid contract (exit 2).
    """
    from store import layout

    from inspector.commands.common import resolve_contract

    if overwrite or not layout.is_store(output):
        return option  # a new (or replaced) store: store.convert loads --contract, if any, and records it
    return resolve_contract(output, option, lambda line: click.echo(line, err=True), required=False)


@click.command("convert")
@click.argument("reference", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Store directory to write (or to resume).")
@click.option("--contract", "contract", default=None,
              help="Contract file or shipped name: check every tensor's presence, dtype and shape against it "
                   "(default: the contract the output store already records, unless --overwrite).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores; 1 = parse in this process).")
@click.option("--overwrite", is_flag=True, help="Start over even if the output holds a store already.")
@click.option("--skip-invalid", is_flag=True,
              help="Convert every valid line, list the bad ones (also kept in the store), instead of stopping.")
@click.option("--codec", type=click.Choice(["blosc-lz4", "blosc-zstd", "zstd", "none"]), default="blosc-lz4",
              show_default=True, help="Compression of the stored arrays (new stores only).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def convert(reference: Path, output: Path, contract: str | None, workers: int | None, overwrite: bool,
            skip_invalid: bool, codec: str, quiet: bool) -> None:
    """Convert a reference JSONL (ours or the seed team's format) into a Zarr store.

    One line = one chunk; every tensor keeps its true shape, non-finite values survive. Interrupted at any
    moment (even kill -9), the same command resumes where it stopped; on a complete store it does nothing.
    Exit 2 on a bad line (chunks converted before it are kept). Into a store that already records a contract
    (an earlier `convert --contract`, `import-run`, `reference --store`), lines are checked against that one unless
    --contract is given.
    """
    from store.convert import convert as run_convert

    chosen = _contract_for(output, contract, overwrite)
    result = run_convert(reference, output, contract=chosen, workers=workers, overwrite=overwrite,
                         skip_invalid=skip_invalid, codec=codec, progress=not quiet)
    if result.status == "up-to-date":
        click.echo(f"{output}: already complete ({result.chunks_total} chunks in {len(result.streams)} "
                   f"stream(s) from {reference}); nothing to do. Pass --overwrite to convert again.")
    else:
        resumed = f", {result.chunks_before} were already there (resumed)" if result.chunks_before else ""
        click.echo(f"{output}: {result.chunks_new} chunks converted{resumed}; {result.chunks_total} chunks in "
                   f"{len(result.streams)} stream(s) from {result.lines} lines; {_mb(result.bytes)} parsed in "
                   f"{result.seconds:.2f} s ({result.mb_per_s:.0f} MB/s, {result.workers} worker(s)).")
    if result.warnings:
        click.echo(f"{len(result.warnings)} warning(s) (chunks kept):", err=True)
        for w in result.warnings:
            click.echo(f"  line {w.get('line')}: {w.get('problem')}", err=True)
    if result.skipped:
        click.echo(f"{len(result.skipped)} line(s) skipped (listed in the store's 'skipped' attribute too):",
                   err=True)
        for s in result.skipped:
            where = ", ".join(f"{k} {s[k]!r}" for k in ("stream", "chunk", "tensor") if s.get(k) is not None)
            click.echo(f"  line {s.get('line')}{f' ({where})' if where else ''}: {s.get('problem')}", err=True)
