"""`inspector reference`: NeMo's streaming encoder → reference JSONL (ours or the seed team's) or a store."""

from __future__ import annotations

import click

from backends.nemo_presets import preset_names

MODEL_HELP = f"A preset ({', '.join(preset_names())}) or the path of a .nemo checkpoint."


@click.command("reference")
@click.option("--model", "model_name", required=True, metavar="PRESET|PATH.nemo", help=MODEL_HELP)
@click.option("--streaming-setup", "streaming_setup", default=None, metavar="CHUNK,SHIFT[,MAX_CONTEXT]",
              help="Override the streaming set-up (setup_streaming_params), e.g. 6,3,256. Default: the preset's; for "
                   "a .nemo, 6,3,256 when its attention context is unlimited, else NeMo's default.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the preset's random weights and of the synthetic audio.")
@click.option("--audio", "wavs", multiple=True, type=click.Path(dir_okay=False), metavar="WAV",
              help="A WAV file per stream (repeatable). Default: synthetic speech-like audio.")
@click.option("--synthetic", is_flag=True, help="Use the synthetic speech-like signal (the default without --audio).")
@click.option("--chunks", "n_chunks", type=int, default=50, show_default=True, help="Chunks per stream.")
@click.option("--streams", "n_streams", type=int, default=1, show_default=True,
              help="Streams (utterances), each with its own caches.")
@click.option("--format", "fmt", type=click.Choice(["ours", "seed"]), default="ours", show_default=True,
              help="ours: reference JSONL v1 with a header line; seed: the seed team's {chunk_idx, inputs, outputs, "
                   "metadata} lines with data_b64 tensors.")
@click.option("--first-chunk", type=click.Choice(["export", "nemo", "padded"]), default=None,
              help="export: chunk_size[0] frames, extra pre-encoded frames dropped on chunk 0 too, as the ONNX export "
                   "does; nemo: NeMo's own first-chunk handling (differs from the export: a planted fault); padded: "
                   "zeros + a full chunk, dropped like every other (NeMo's pad_and_drop_preencoded). Default: export, "
                   "or padded where a short first chunk would leave a negative cache length (the -seed preset).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The reference JSONL to write.")
@click.option("--store", "store_path", type=click.Path(file_okay=False), help="Write a Zarr store instead of JSONL.")
@click.option("--overwrite", is_flag=True, help="Replace the store given by --store if it exists.")
def reference(model_name: str, streaming_setup: str | None, seed: int, wavs: tuple[str, ...], synthetic: bool,
              n_chunks: int, n_streams: int, fmt: str, first_chunk: str | None, device: str, output: str | None,
              store_path: str | None, overwrite: bool) -> None:
    """Run NeMo's streaming encoder chunk by chunk and write what each chunk was given and produced."""
    from inspector.commands.common import streaming_setup_option
    from inspector.errors import InspectorError
    from inspector.reference import make_reference, rich_progress

    if synthetic and wavs:
        raise InspectorError("give --audio WAV or --synthetic, not both.")
    streams = len(wavs) or n_streams
    from backends.nemo_presets import PRESETS

    seeded = f" (seed {seed})" if model_name in PRESETS else " (weights from the checkpoint)"
    click.echo(f"Building {model_name}{seeded} …", err=True)
    bar, update = rich_progress(streams * n_chunks)
    with bar:
        result = make_reference(model_name, output=output, store=store_path, seed=seed, n_chunks=n_chunks,
                                n_streams=n_streams, wavs=wavs, fmt=fmt, first_chunk=first_chunk, progress=update,
                                device=device, streaming=streaming_setup_option(streaming_setup), overwrite=overwrite)
    lens = next(iter(result.cache_lengths.values()))
    shown = ", ".join(map(str, lens[:6])) + (", …" if len(lens) > 6 else "")
    size = f", {result.bytes_written / 1e6:.1f} MB" if result.bytes_written else ""
    click.echo(f"Wrote {result.path}: {len(result.streams)} stream(s) x {result.chunks} chunks ({result.fmt} "
               f"format{size}); {result.seconds_per_chunk * 1e3:.1f} ms per step; cache_last_channel_len_out "
               f"{shown}")
    if result.fmt == "store":
        click.echo(_store_contract_line(result.path, result.header.get("contract")))
    from inspector.latency import describe

    click.echo(f"NeMo step latency: {describe(result.latency_ms)}")


def _store_contract_line(path: object, name: str | None) -> str:
    """One line on the contract the store records (``STORE/contract.json``, which later commands default to)."""
    from store import Store

    recorded = Store.open(path, mode="r").recorded_contract_file()
    if recorded is not None:
        return f"Contract {name}: recorded in {recorded}; later commands use it unless --contract is given."
    return ("No contract recorded in the store (no shipped contract describes this model and set-up): pass "
            "--contract to later commands.")
