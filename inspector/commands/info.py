"""`inspector info STORE`: streams, chunks, tensors, metadata keys, source, skipped lines and recorded runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def _shape(shape: list[int] | None) -> str:
    return "[" + ", ".join(map(str, shape)) + "]" if shape is not None else "?"


def _chunks(first: int, last: int) -> str:
    return f"chunk {first}" if first == last else f"chunks {first}..{last}"


def _tensor_line(t: dict[str, Any], width: int) -> str:
    per_chunk = t["nbytes"] / max(1, t["chunks"])
    dtype = t["dtype"] if len(t["dtypes"]) == 1 else "/".join(t["dtypes"])
    if t["shape_varies"]:
        shapes = "; ".join(f"{_shape(r['shape'])} {_chunks(r['first'], r['last'])}" for r in t["shapes"][:4])
        more = f"; … ({len(t['shapes'])} runs of shapes)" if len(t["shapes"]) > 4 else ""
        shape = f"varies: {shapes}{more}"
    else:
        shape = _shape(t["shape"])
    return f"    {t['name']:<{width}}  {dtype:<8}  {shape}  {_size(per_chunk)}/chunk, {_size(t['nbytes'])} total"


def _ranges(indices: list[int], limit: int = 20) -> str:
    """``1..4, 9, 12..13`` for up to `limit` runs of consecutive chunk indices."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:limit])


def damage_paragraph(info: dict[str, Any]) -> str:
    """One paragraph naming the damaged chunks of a store and what to do about them."""
    damaged = info.get("damaged") or []
    chunks = [d for d in damaged if "chunk" in d]
    runs = [d for d in damaged if "run" in d]
    parts = []
    if chunks:
        shown = "; ".join(f"stream {d['stream']!r} chunk {d['chunk']} ({d['problem']})" for d in chunks[:3])
        more = f"; and {len(chunks) - 3} more" if len(chunks) > 3 else ""
        folders = sorted({d["folder"] for d in chunks})
        converted = bool((info.get("source") or {}).get("fingerprint"))
        fix = (f"Delete the damaged chunk folder(s) ({', '.join(folders[:3])}{' …' if len(folders) > 3 else ''}) and "
               f"run the same `inspector convert {(info.get('source') or {}).get('path', 'REF.jsonl')} -o "
               f"{info['path']}` again: it redoes exactly the missing chunks from the unchanged source file."
               if converted else
               "This store was not converted from a file (written by `inspector reference --store`?): re-create it.")
        parts.append(f"{len(chunks)} reference chunk(s) cannot be read: {shown}{more}. {fix}")
    if runs:
        shown = "; ".join(f"run {d['run']!r} ({d['problem']})" for d in runs[:3])
        parts.append(f"{len(runs)} run record(s) cannot be read and are left out of the list above: {shown}. Delete "
                     f"those run folders (or rerun what made them).")
    return (f"{info['path']} is damaged: " + " ".join(parts) + " Everything else listed above is intact and "
            "nothing was changed.")


def unfinished_paragraph(info: dict[str, Any]) -> str:
    """One paragraph when the store is not (yet) a finished one: a conversion stopped, interrupted or running
    right now, or nothing in it at all; "" for a finished store."""
    path, conv = info["path"], info.get("conversion") or {}
    status = conv.get("status")
    src = (info.get("source") or {}).get("path") or "REF.jsonl"
    have = f"The {info['total_chunks']} chunk(s) listed above are complete and readable"
    if info.get("converting_now"):
        return (f"{path} is being converted right now ({info['converting_now']}): what is listed above is a "
                f"snapshot; run `inspector info {path}` again when the conversion has finished.")
    if status in ("stopped", "interrupted", "running", "repairing"):
        error = conv.get("error") or {}
        why = (f"stopped at line {error.get('line')}: {error.get('problem')}" if status == "stopped" and error
               else "interrupted" if status in ("interrupted", "running") else "some chunks were deleted")
        if not (info.get("source") or {}).get("fingerprint"):
            return (f"{path} was not finished by the command that wrote it ({why}). {have}; write the store again "
                    f"to have every chunk.")
        return (f"the conversion of {src} into {path} is not finished ({why}). {have}; run `inspector convert "
                f"{src} -o {path}` to convert the rest: it resumes where it stopped (add --skip-invalid to leave bad "
                f"lines out and list them).")
    if not info["streams"] and not info.get("runs"):
        return (f"{path} holds no reference chunks and no runs yet: convert a reference into it (`inspector convert "
                f"REF.jsonl -o {path} --overwrite`) or record runs in it (`inspector import-run REPORT.json --store "
                f"{path}`).")
    return ""


def render(info: dict[str, Any]) -> str:
    """The human-readable text of `Store.info()`."""
    lines = [f"store   {info['path']}  ({info['format']} v{info['version']}, codec {info['codec']}, "
             f"{_size(info['disk_bytes'])} on disk for {_size(info['tensor_bytes'])} of tensors)"]
    src = info.get("source")
    if src:
        fmt = {"seed": "seed team's format", "parity": "parity-reference format"}.get(info.get("source_format") or "", "")
        lines.append(f"source  {src.get('path')}  ({_size(src.get('size', 0))}{', ' + fmt if fmt else ''})")
    conv = info.get("conversion") or {}
    if conv:
        text = f"conversion {conv.get('status')}"
        if conv.get("status") == "complete":
            text += f": {conv.get('lines')} lines → {conv.get('chunks')} chunks"
        elif conv.get("error"):
            text += f" at line {conv['error'].get('line')}: {conv['error'].get('problem')} (rerun convert to resume)"
        else:
            text += " (rerun the same convert command to resume)"
        lines.append(text)
    if info.get("contract"):
        lines.append(f"contract {info['contract']}")
    if info.get("header"):
        lines.append(f"header  {json.dumps(info['header'], sort_keys=True)[:300]}")
    if not info["streams"] and info.get("runs"):
        lines.append(f"reference none: this store holds runs only (imported reports carry their own figures); "
                     f"`inspector convert REF.jsonl -o {info['path']}` adds the reference chunks and keeps the runs")
    for s in info["streams"]:
        span = f" ({s['first']}..{s['last']})" if s["chunks"] else ""
        n_missing = s.get("missing_count", len(s["missing"]))
        missing = (f", missing {_ranges(s['missing'])}" + (f" … ({n_missing:,} in all)" if n_missing > len(s["missing"])
                                                            or n_missing > 20 else "")) if n_missing else ""
        lines.append(f"stream {s['name']!r}: {s['chunks']} chunks{span}{missing}")
        width = min(40, max((len(t["name"]) for t in s["tensors"]), default=8))
        for kind in ("inputs", "outputs"):
            tensors = [t for t in s["tensors"] if t["kind"] == kind]
            if tensors:
                lines.append(f"  {kind}")
                lines.extend(_tensor_line(t, width) for t in tensors)
        if s["meta_keys"]:
            lines.append(f"  metadata keys: {', '.join(s['meta_keys'])}")
        if s.get("meta_summary"):
            kw = min(30, max(len(k) for k in s["meta_summary"]))
            lines.extend(f"    {k:<{kw}}  {v}" for k, v in s["meta_summary"].items())
    if info.get("skipped"):
        lines.append(f"skipped lines ({len(info['skipped'])}):")
        for sk in info["skipped"][:50]:
            lines.append(f"  line {sk.get('line')}: {sk.get('problem')}")
    if info.get("warnings"):
        lines.append(f"warnings ({len(info['warnings'])}):")
        for w in info["warnings"][:50]:
            lines.append(f"  line {w.get('line')}: {w.get('problem')}")
    runs = info.get("runs") or []
    lines.append(f"runs ({len(runs)})" + (":" if runs else ": none recorded yet"))
    if runs:
        width = max(len(r["run_id"]) for r in runs)
        lines.append(f"  {'run id':<{width}}  {'backend':<12} {'mode':<11} {'status':<11} {'chunks':>9}  verdict")
        for r in runs:
            chunks = f"{r['chunks_done']}/{r['chunks_planned']}"
            lines.append(f"  {r['run_id']:<{width}}  {r['backend']:<12} {r['mode']:<11} {r['status']:<11} "
                         f"{chunks:>9}  {r['verdict'] if r['verdict'] is not None else '-'}")
    return "\n".join(lines)


@click.command("info")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON.")
def info(store_path: Path, as_json: bool) -> None:
    """Show a store's streams, chunk counts, tensors (shapes, dtypes, sizes), metadata keys, source file,
    skipped lines and recorded runs."""
    from store import Store
    from store.jsonsafe import dumps

    from store import StoreError

    data = Store.open(store_path).info()
    if as_json:
        click.echo(dumps(data, indent=True).decode())
    else:
        click.echo(render(data))
    unfinished = unfinished_paragraph(data)
    if data.get("damaged"):
        raise StoreError(damage_paragraph(data) + (f" Also: {unfinished}" if unfinished else ""))
    if unfinished:
        raise StoreError(unfinished)
