"""`inspector export`: NeMo's ONNX export of the streaming encoder, I/O named as the contracts say."""

from __future__ import annotations

import click

from backends.nemo_presets import preset_names
from inspector.commands.common import streaming_setup_option


@click.command("export")
@click.option("--model", "model_name", required=True, metavar="PRESET|PATH.nemo",
              help=f"A preset ({', '.join(preset_names())}) or the path of a .nemo checkpoint.")
@click.option("--streaming-setup", "streaming_setup", default=None, metavar="CHUNK,SHIFT[,MAX_CONTEXT]",
              help="Override the streaming set-up (setup_streaming_params), e.g. 6,3,256. Default: the preset's; for "
                   "a .nemo, 6,3,256 when its attention context is unlimited, else NeMo's default.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the preset's random weights.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
@click.option("--contract", "contract_ref", default=None,
              help="Check the export against this contract (path or shipped name). Default: the preset's contract.")
@click.option("--no-check", is_flag=True, help="Skip the contract check.")
def export(model_name: str, streaming_setup: str | None, seed: int, output: str, contract_ref: str | None,
           no_check: bool) -> None:
    """Export NeMo's streaming encoder (cache inputs/outputs) to ONNX and check it against its contract."""
    from backends.nemo import load_reference_model
    from backends.nemo_export import export_onnx
    from inspector.errors import CheckFailed

    from backends.nemo_presets import PRESETS

    seeded = f" (seed {seed})" if model_name in PRESETS else " (weights from the checkpoint)"
    click.echo(f"Building {model_name}{seeded} …", err=True)
    model = load_reference_model(model_name, seed=seed, streaming=streaming_setup_option(streaming_setup))
    click.echo("Exporting (NeMo, TorchScript-based ONNX exporter) …", err=True)
    result = export_onnx(model, output)
    data = f" + {result.data.name}" if result.data else ""
    click.echo(f"Wrote {result.onnx}{data}: {result.size_bytes / 1e6:.1f} MB, IR {result.ir_version}, opset "
               f"{result.opset}, {result.seconds:.1f} s")
    click.echo(f"  inputs:  {', '.join(result.inputs)}")
    click.echo(f"  outputs: {', '.join(result.outputs)}")
    # a preset's contract describes its own set-up only
    contract_ref = contract_ref or (model.contract if streaming_setup is None else "")
    if no_check or not contract_ref:
        if not contract_ref and not no_check:
            click.echo("No contract to check against (a .nemo model): run `inspector contract check` with yours.")
        return
    problems = check_against_contract(result.onnx, contract_ref)
    if problems is None:
        return
    if problems:
        raise CheckFailed(f"{result.onnx} does not match contract {contract_ref}: " + "; ".join(problems))
    click.echo(f"Contract {contract_ref}: the export's inputs and outputs match.")


def check_against_contract(onnx_path: object, contract_ref: str) -> list[str] | None:
    """Error-level differences found by `contracts.check.check_model` (empty = pass), or None without a checker."""
    try:
        from contracts.check import check_model
        from contracts.load import load_contract
    except ImportError:
        click.echo("(contract checker not installed yet: skipping the contract check)", err=True)
        return None
    contract = load_contract(contract_ref)
    return _problems(check_model(str(onnx_path), contract))


def _problems(diffs: object) -> list[str]:
    """Messages of the error-severity differences (info ones, e.g. a dynamic axis the contract fixes, are fine)."""
    return [str(getattr(d, "message", d)) for d in (diffs or []) if getattr(d, "severity", "error") == "error"]
