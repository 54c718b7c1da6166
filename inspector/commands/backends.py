"""`inspector backends`: every backend and whether it can run on this machine (and if not, what to install)."""

from __future__ import annotations

import click


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def backends(as_json: bool) -> None:
    """List backends and whether each can run here."""
    from backends.base import availability_report

    report = availability_report()
    if as_json:
        import orjson

        click.echo(orjson.dumps({k: {"available": v.available, "reason": v.reason, "install": v.install}
                                 for k, v in report.items()}, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(n) for n in report)
    for name, avail in report.items():
        if avail:
            click.echo(f"{name:<{width}}  available")
        else:
            hint = f" — to use it: {avail.install}" if avail.install else ""
            click.echo(f"{name:<{width}}  not available: {avail.reason}{hint}")
