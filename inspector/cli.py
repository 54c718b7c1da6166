"""The `inspector` command: every subcommand lives in `inspector/commands/<name>.py` and is imported lazily,
so `inspector --help` and `inspector convert` start without loading torch, NeMo, ONNX Runtime or Textual."""

from __future__ import annotations

import importlib
import sys

import click

from inspector import __version__

# command name -> (module, attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("inspector.commands.demo", "demo", "Build the tiny model, its export and reference; check parity; open the inspector."),
    "convert": ("inspector.commands.convert", "convert", "Convert a reference JSONL into a Zarr store (resumable)."),
    "info": ("inspector.commands.info", "info", "Show a store's streams, chunks, tensors and recorded runs."),
    "contract": ("inspector.commands.contract", "contract", "Check a model against a contract; import other contract formats."),
    "reference": ("inspector.commands.reference", "reference", "Run NeMo's streaming encoder and write reference JSONL (or a store)."),
    "export": ("inspector.commands.export", "export", "Export NeMo's streaming encoder to ONNX with cache inputs/outputs."),
    "run": ("inspector.commands.run", "run", "Run backends against a store and judge the contract (`--batch` is the CI gate)."),
    "backends": ("inspector.commands.backends", "backends", "List backends and whether each can run on this machine."),
    "diagnose": ("inspector.commands.diagnose", "diagnose", "Diagnostics on one chunk (cache-time checks, state probe)."),
    "triage": ("inspector.commands.triage", "triage", "Find the first ONNX node whose error diverges from a baseline."),
    "attribute": ("inspector.commands.attribute", "attribute", "Precision or bug? Re-run a failing chunk under stricter math."),
    "export-chunk": ("inspector.commands.export_chunk", "export_chunk", "Write a chunk's reproduction bundle (.npz + Polygraphy JSON)."),
    "import-run": ("inspector.commands.import_run", "import_run", "Import another tool's parity report as a run and judge it."),
    "tui": ("inspector.commands.tui", "tui", "Open the Textual inspector on a reference JSONL (converted as you browse), a store or a report."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inspector")
def cli() -> None:
    """parity-inspector: prove that a streaming encoder exported to ONNX/TensorRT computes what its PyTorch
    original computes, chunk by chunk, caches included, and find out why when it does not."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one paragraph on stderr and a non-zero exit, never a traceback."""
    from inspector.errors import InspectorError

    try:
        # With standalone_mode=False click returns a command's `ctx.exit(code)` instead of exiting.
        result = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted: everything finished so far is kept; run the same command again to resume.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 — map our packages' errors to exit codes, re-raise the rest
        code = _user_error_code(exc)
        if code is None:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else 0)


def _user_error_code(exc: Exception) -> int | None:
    from inspector.errors import InspectorError

    if isinstance(exc, InspectorError):
        return exc.exit_code
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"ContractError", "StoreError", "BackendError", "JsonlError"}:
        return 2
    return None


if __name__ == "__main__":
    main()
