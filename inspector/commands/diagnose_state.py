"""`inspector diagnose state`: does the closed loop carry state? (issue 8)

A subcommand of the `diagnose` group (`inspector/commands/diagnose.py` loads it lazily from its ``SUBCOMMANDS``). Runs the backend in closed loop over a stream's chunks with the state hooks and
records nothing in the store; or, with ``--run``, re-judges a recorded closed-loop run from its chunk records.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("state")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path), help="The reference store.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The ONNX export the backend runs.")
@click.option("--contract", default=None,
              help="Contract file or shipped name (default: the store's contract).")
@click.option("--backend", default="ort-cpu", show_default=True, help="Backend registry name (`inspector backends`).")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE",
              help="Backend option, repeatable (e.g. use_tf32=0).")
@click.option("--stream", default=None, help="Stream (default: the store's only stream).")
@click.option("--chunks", default=None, help="Chunk range A:B (B exclusive), A: or :B (default: every chunk).")
@click.option("--probe-chunks", default=None,
              help="Where to probe, comma-separated: early, middle, late or chunk indices (default: the contract's "
                   "diagnostics.probe_chunks).")
@click.option("--run", "run_id", default=None,
              help="Judge this recorded closed-loop run from its chunk records instead of running the backend.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every number and the verdicts to this JSON file.")
def state(store_path: Path, model: Path | None, contract: str | None, backend: str, backend_opts: tuple[str, ...],
          stream: str | None, chunks: str | None, probe_chunks: str | None, run_id: str | None,
          json_out: Path | None) -> None:
    """Does the closed loop carry state? Records the cache length and a fingerprint of each cache per chunk,
    re-runs a few chunks with each state input zeroed or swapped for an earlier chunk's, and says in words whether
    the attention cache is carried, e.g. "attention cache never carried (cache_last_channel_len stayed 0 for 50
    chunks; zeroing cache_last_channel changes encoder_output by 0.0)".

    Exit 0 when the diagnostic ran (whatever it found), 2 for bad usage or input.
    """
    from inspector.diagnostics.chunkdata import resolve_stream
    from inspector.commands.common import resolve_contract
    from inspector.diagnostics.session import active_backend, backend_options, open_store
    from inspector.errors import InspectorError

    st = open_store(store_path)
    con = resolve_contract(st, contract, lambda m: click.echo(m, err=True))
    if run_id is not None:
        doc = _judge_recorded(st, con, run_id)
        click.echo(doc["text"])
    else:
        from inspector.state.loop import inspect_state

        the_stream = resolve_stream(st, stream)
        have = list(st.chunk_indices(the_stream))
        sel = _chunk_range(chunks, have)
        if len(sel) < 2:
            raise InspectorError(f"--chunks {chunks!r} selects {len(sel)} chunk(s) of stream {the_stream!r}; a closed "
                                 "loop needs at least 2 (the first is fed the reference's state).")
        words = _probe_words(probe_chunks)
        opts = backend_options(backend_opts, backend)
        with active_backend(backend, model, con, opts, st) as b:
            found = inspect_state(st, con, b, stream=the_stream, chunks=sel, probe_chunks=words,
                                  progress=lambda m: click.echo(f"… {m}", err=True))
        click.echo(found.render())
        doc = {**found.to_dict(), "store": str(store_path), "model": str(model) if model else None,
               "backend": backend}
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        from inspector.reports.json_report import write_strict_json

        write_strict_json({k: v for k, v in doc.items() if k != "text"}, json_out)
        click.echo(f"diagnosis written to {json_out}")


def _chunk_range(text: str | None, have: list[int]) -> list[int]:
    from inspector.errors import InspectorError

    if not text or text == ":":
        return have
    try:
        a, sep, b = text.partition(":")
        lo = int(a) if a.strip() else (have[0] if have else 0)
        hi = int(b) if sep and b.strip() else (have[-1] + 1 if sep else lo + 1)
    except ValueError:
        raise InspectorError(f"--chunks {text!r}: expected A:B (B exclusive), A:, :B or K, with integers.") from None
    return [i for i in have if lo <= i < hi]


def _probe_words(text: str | None) -> list[str | int] | None:
    from inspector.errors import InspectorError

    if text is None:
        return None
    out: list[str | int] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        if item in ("early", "middle", "late"):
            out.append(item)
        elif item.isdigit():
            out.append(int(item))
        else:
            raise InspectorError(f"--probe-chunks {text!r}: {item!r} is neither a chunk index nor one of early, "
                                 "middle, late.")
    return out


def _judge_recorded(st, con, run_id: str) -> dict:
    from inspector.errors import InspectorError
    from inspector.state.verdict import assess_state, state_verdicts

    rec = next((r for r in st.runs() if r.run_id == run_id), None)
    if rec is None:
        raise InspectorError(f"store {st.path} has no run {run_id!r}; `inspector info --store {st.path}` lists its "
                             "runs.")
    records = list(st.run(run_id).all_metrics(rec.stream).values())
    a = assess_state(records, con)
    if a.status == "undetermined" and a.trajectory is None:
        raise InspectorError(f"run {run_id!r} ({rec.mode}) holds no state trajectory: it is not closed-loop, or it "
                             "ran without the state hooks. Run `inspector diagnose state` without --run to probe now.")
    verdicts = [v for v in state_verdicts(records, con, backend=rec.backend,
                                          precision=(rec.backend_info or {}).get("precision", "fp32"))
                if v.kind in ("state_carried", "state_trajectory", "state_feedback")]
    text = "\n".join([f"run {run_id} ({rec.backend} {rec.mode}, stream {rec.stream!r})"]
                     + [f"{v.rule}: {v.status.upper()}: {v.message}" for v in verdicts])
    return {"run": run_id, "assessment": a.to_dict(), "verdicts": [v.to_dict() for v in verdicts], "text": text}
