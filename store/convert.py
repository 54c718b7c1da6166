"""`convert`: reference JSONL → Zarr store, on all cores, resumable after any interruption (even ``kill -9``).

How it works:

* The main process finds line boundaries with byte search in a reused buffer (constant memory) and hands byte
  ranges to worker processes. Each worker parses its line from its own mmap of the file and writes the chunk's
  arrays into a private ``tmp/*.partial`` folder (`store.convert_worker`).
* The main process takes the results back in file order, runs the cross-line checks (`store.validate`) and
  commits each accepted chunk with one atomic directory rename. A chunk folder with its final name is complete by
  construction; it records the line it came from.
* Resuming: the committed chunks' line numbers say which lines are done; every other line is redone, and
  ``*.partial`` leftovers are deleted. The source file's size and sampled fingerprint are kept in the store's attrs;
  a different file is refused unless ``overwrite``. A rerun on a complete store does nothing and says so.
* Bad lines stop the conversion with a `JsonlError` (everything committed before them stays) or, with
  ``skip_invalid``, are left out and listed in the store's ``skipped`` attr (gaps and disorder, which do not lose
  the line, in ``warnings``).
"""

from __future__ import annotations

import collections
import os
import shutil
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from contracts.model import Contract
from store import layout
from store.api import StoreError
from store.arrays import DEFAULT_CODEC
from store.convert_worker import LineResult, close_worker, convert_line, init_worker
from store.errors import JsonlError, Where
from store.jsonl import check_source, fingerprint, iter_line_spans
from store.locks import lock_store
from store.progress import Progress
from store.validate import ContractRules, LineChecker, LineSummary

HINT_STOP = ("Everything before it is kept in {store} ({chunks} chunks); fix or remove the line and run the same "
             "command again to continue, or pass --skip-invalid to convert the other lines and list the bad ones.")


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion did.

    Attributes:
        store: The store directory.
        status: ``"complete"`` (this run finished the file) or ``"up-to-date"`` (nothing was left to do).
        lines: Non-blank lines in the file.
        chunks_new: Chunks committed by this run.
        chunks_before: Chunks that were already there (resumed conversion).
        chunks_total: Chunks in the store now.
        skipped: Lines left out (``--skip-invalid``), as error dicts with line/stream/chunk/tensor/problem.
        warnings: Problems that did not lose the line (gaps, disorder in chunk_index).
        seconds: Wall time of this run.
        bytes: Bytes of the source parsed by this run.
        workers: Worker processes used (1 = in the main process).
    """

    store: Path
    status: str
    lines: int = 0
    chunks_new: int = 0
    chunks_before: int = 0
    chunks_total: int = 0
    skipped: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0
    bytes: int = 0
    workers: int = 1
    streams: tuple[str, ...] = field(default_factory=tuple)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _rules(contract: Any) -> tuple[ContractRules | None, str]:
    if contract is None:
        return None, ""
    if isinstance(contract, ContractRules):
        return contract, contract.name
    if isinstance(contract, (str, os.PathLike)):
        from contracts.load import load_contract

        contract = load_contract(contract)
    return ContractRules.from_contract(contract), getattr(contract, "name", "")


def _load_contract(contract: Any) -> Any:
    from contracts.load import load_contract

    return load_contract(contract)


def _open_store(out: Path, source: Path, source_id: dict[str, Any], overwrite: bool, codec: str,
                contract_name: str) -> Any:
    """The store to convert into: fresh, or the existing one when it was made from the same file.

    An unfinished conversion (stopped at a bad line, killed) may continue from an edited file (e.g. with the bad
    line fixed, as the stop message suggests) when every line it already converted is still byte-for-byte where it
    was (offset, size, sampled hash); a complete store from another file, or one whose converted lines changed, is
    refused unless `overwrite`.
    """
    from store.zarr_store import Store

    attrs = {"source": source_id, "contract": contract_name, "conversion": {"status": "running"}}
    if overwrite or not out.exists():
        return Store.create(out, overwrite=overwrite, codec=codec, attrs=attrs)
    if not layout.is_store(out):
        return Store.create(out, codec=codec, attrs=attrs)  # raises unless it is an empty directory
    store = Store.open(out, mode="a")
    old = store.attrs.get("source") or {}
    if not old and not store.streams():
        # a store with runs and no reference yet (`inspector import-run` made it): the reference joins the runs
        store.update_attrs(source=source_id, conversion={"status": "running"},
                           **({"contract": contract_name} if contract_name and not store.attrs.get("contract")
                              else {}))
        return store
    if not old:
        raise StoreError(f"{out} holds a store that was not converted from a file (written by `inspector reference "
                         f"--store`?); pass --overwrite to replace it, or choose another output path.")
    if old.get("size") != source_id["size"] or old.get("fingerprint") != source_id["fingerprint"]:
        different = (f"{out} was converted from a different file ({old.get('path')}, {old.get('size')} bytes) than "
                     f"{source_id['path']} ({source_id['size']} bytes, or the same size with other content)")
        advice = "Pass --overwrite to start over from the new file, or choose another output path."
        if (store.attrs.get("conversion") or {}).get("status") == "complete":
            raise StoreError(f"{different}. {advice}")
        changed = _first_changed_line(store, source)
        if changed is not None:
            raise StoreError(f"{different}: line {changed}, converted already, is not the same any more. {advice}")
        store.update_attrs(source=source_id)  # only lines not converted yet changed: continue with the new file
    return store


def _first_changed_line(store: Any, source: Path) -> int | None:
    """The first already-converted line that is not byte-identical (sampled) in `source` any more, else None."""
    from store.jsonl import LineSpan, ReferenceFile

    with ReferenceFile(source) as ref:
        for number, (_, line) in sorted(_done_lines(store).items()):
            offset, size, sample = line.get("offset"), line.get("size"), line.get("sample")
            if offset is None or size is None or sample is None or offset + size > ref.size:
                return number
            if ref.line_sample(LineSpan(number, offset, size)) != sample:
                return number
    return None


def _done_lines(store: Any) -> dict[int, tuple[LineSummary, dict[str, Any]]]:
    """The committed chunks of a store, by the source line they came from: summary and recorded line info."""
    done: dict[int, tuple[LineSummary, dict[str, Any]]] = {}
    streams = Path(store.path) / layout.STREAMS
    if not streams.is_dir():
        return done
    for stream_dir in streams.iterdir():
        if not stream_dir.is_dir():
            continue
        for chunk_dir in stream_dir.iterdir():
            index = layout.parse_chunk_dirname(chunk_dir.name)
            if index is None:
                continue
            try:
                attrs = layout.read_group_attrs(chunk_dir)
            except (FileNotFoundError, StoreError) as exc:
                problem = str(exc) if isinstance(exc, StoreError) else f"{chunk_dir}/zarr.json is missing."
                raise StoreError(f"{chunk_dir} is a damaged chunk folder: {problem} Delete that folder and run "
                                 f"the same command again: the chunk is redone from the source file.") from None
            info = attrs.get("line") or {}
            line = info.get("number")
            if line is None:
                continue
            done[int(line)] = (LineSummary(int(line), "chunk", attrs.get("format", ""),
                                           attrs.get("stream", layout.stream_name(stream_dir.name)),
                                           int(attrs.get("chunk_index", index)), attrs.get("dtypes") or {}), info)
    return done


class _InlineExecutor:
    """`submit` runs the job at once in this process (the 1-worker case: no pickling, no process start)."""

    def __init__(self, source: str, root: str, rules: ContractRules | None, codec: str) -> None:
        init_worker(source, root, rules, codec, in_child=False)

    def submit(self, fn: Any, *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 — delivered through the future like a pool would
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        close_worker()


def _executor(n_workers: int, source: str, root: str, rules: ContractRules | None, codec: str) -> Any:
    """The worker pool. Workers are forked when this process runs a single thread (a fork costs milliseconds, a
    spawned interpreter ~0.5 s, which matters for a 3 s conversion); otherwise spawned, as forking a threaded
    process is unsafe."""
    if n_workers == 1:
        return _InlineExecutor(source, root, rules, codec)
    import multiprocessing
    import threading

    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    executor = ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context(method),
                                   initializer=init_worker, initargs=(source, root, rules, codec))
    executor.submit(int).result()  # start the workers now
    return executor


def convert(source: str | os.PathLike, out: str | os.PathLike, *, contract: Any = None, workers: int | None = None,
            overwrite: bool = False, skip_invalid: bool = False, codec: str = DEFAULT_CODEC,
            progress: bool | Progress = True, on_chunk: Callable[[str, int], None] | None = None) -> ConvertResult:
    """Convert a reference JSONL file into a store (see the module docstring).

    Args:
        source: The JSONL file (ours or the seed team's format).
        out: The store directory to create or resume.
        contract: A contract (object, path or shipped name) to validate every tensor against, or None.
        workers: Worker processes (default: all cores); 1 parses in this process.
        overwrite: Start over even if `out` holds a store (from this file or another).
        skip_invalid: Leave bad lines out and list them, instead of stopping at the first.
        codec: Array compression (`store.arrays.CODECS`).
        progress: Show progress (bar on a TTY, log lines otherwise), or a ready `Progress`.
        on_chunk: Called with (stream, chunk index) right after each chunk is committed (readable in the store),
            in the converting thread; the app uses it to list chunks as they land. An exception it raises stops
            the conversion like an interruption (committed chunks stay; the next run resumes).

    Returns:
        What was done.

    Raises:
        JsonlError: A bad line (unless `skip_invalid`) or a bad file; committed chunks stay.
        StoreError: `out` cannot be used (another file's store, not a store, …).
    """
    t0 = time.monotonic()
    path = check_source(source)
    out = Path(out)
    rules, contract_name = _rules(contract)
    source_id = fingerprint(path)
    lock = lock_store(out) if layout.is_store(out) else None  # before --overwrite may delete anything
    try:
        store = _open_store(out, path, source_id, overwrite, codec, contract_name)
        whole = _load_contract(contract) if isinstance(contract, (str, os.PathLike)) else contract
        if isinstance(whole, Contract) and store.recorded_contract_file() is None and \
                store.attrs.get("contract") in (None, "", contract_name):
            store.record_contract(whole)  # the whole contract beside the data: commands default to it
        if lock is None or overwrite:  # a new store (or a replaced one): lock it before writing chunks
            previous, lock = lock, lock_store(out)
            if previous is not None:
                previous.close()
        return _convert_into(store, out, path, source_id, rules, contract_name, workers, skip_invalid, codec,
                             progress, t0, on_chunk)
    finally:
        if lock is not None:
            lock.close()


def _convert_into(store: Any, out: Path, path: Path, source_id: dict[str, Any], rules: ContractRules | None,
                  contract_name: str, workers: int | None, skip_invalid: bool, codec: str,
                  progress: bool | Progress, t0: float,
                  on_chunk: Callable[[str, int], None] | None = None) -> ConvertResult:
    """The conversion proper, in a store this process has locked (see `convert`)."""
    attrs = store.attrs
    conversion = attrs.get("conversion") or {}
    if conversion.get("status") == "complete":
        total = sum(store.num_chunks(s) for s in store.streams())
        if isinstance(conversion.get("chunks"), int) and total < conversion["chunks"]:
            # chunk folders were deleted since (e.g. damaged ones, as `inspector info` advises): redo just those
            skip_invalid = skip_invalid or bool(conversion.get("skip_invalid"))
            store.update_attrs(conversion={**conversion, "status": "repairing"})
            conversion = store.attrs.get("conversion") or {}
    if conversion.get("status") == "complete":
        return ConvertResult(out, "up-to-date", lines=conversion.get("lines", 0), chunks_before=total,
                             chunks_total=total, skipped=tuple(attrs.get("skipped") or ()),
                             warnings=tuple(attrs.get("warnings") or ()), seconds=time.monotonic() - t0,
                             streams=tuple(store.streams()))
    store.clean_partials()
    done = _done_lines(store)
    header_line = attrs.get("header_line")
    codec = attrs.get("codec", codec)
    n_workers = max(1, workers or default_workers())
    if rules is not None and not attrs.get("contract"):
        store.update_attrs(contract=contract_name)
    executor = _executor(n_workers, str(path), str(out), rules, codec)  # before the progress bar's thread starts
    if isinstance(progress, Progress):
        bar = progress
    else:
        bar = Progress(source_id["size"], label=f"convert {path.name}", enabled=bool(progress))
    state = _Run(store=store, checker=LineChecker(str(path), with_contract=rules is not None),
                 skip_invalid=skip_invalid, bar=bar, chunks_before=len(done), on_chunk=on_chunk)
    try:
        state.feed(executor, iter_line_spans(path), done, header_line, limit=1 if n_workers == 1 else 2 * n_workers)
        if state.checker.data_lines == 0:
            raise JsonlError(Where(str(path)), "has no chunk lines (only blank lines, a header or lines left out): "
                                               "nothing to convert.", "empty")
    except JsonlError as exc:
        state.stop("stopped", exc)
        raise exc.with_hint(HINT_STOP.format(store=out, chunks=state.committed_total())) from None
    except BaseException:
        state.stop("interrupted", None)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        store.clean_partials()
    seconds = time.monotonic() - t0
    store.update_attrs(
        conversion={"status": "complete", "lines": state.lines, "chunks": state.committed_total(),
                    "workers": n_workers, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "skip_invalid": skip_invalid},
        skipped=state.skipped, warnings=state.warnings,
    )
    return ConvertResult(out, "complete", lines=state.lines, chunks_new=state.committed,
                         chunks_before=len(done), chunks_total=state.committed_total(),
                         skipped=tuple(state.skipped), warnings=tuple(state.warnings), seconds=seconds,
                         bytes=state.parsed_bytes, workers=n_workers, streams=tuple(store.streams()))


@dataclass
class _Run:
    """The main process's side of one conversion: ordered results, checks, commits, bookkeeping."""

    store: Any
    checker: LineChecker
    skip_invalid: bool
    bar: Progress
    chunks_before: int = 0
    on_chunk: Callable[[str, int], None] | None = None
    committed: int = 0
    lines: int = 0
    parsed_bytes: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    source_format_known: bool = False

    def committed_total(self) -> int:
        return self.chunks_before + self.committed

    def feed(self, executor: Any, spans: Iterable[Any], done: dict[int, tuple[LineSummary, dict[str, Any]]],
             header_line: int | None, limit: int) -> None:
        self.source_format_known = bool(self.store.attrs.get("source_format"))
        queue: collections.deque = collections.deque()
        in_flight = 0
        for span in spans:
            if span.blank:
                self.bar.advance(span.size + 1, 0)
                continue
            self.lines += 1
            if span.number in done:
                summary, line = done[span.number]
                if (line.get("offset"), line.get("size")) != (span.offset, span.size):
                    raise StoreError(f"line {span.number} of {self.checker.path} is not where it was when it was "
                                     f"converted (offset {line.get('offset')}, {line.get('size')} bytes; now "
                                     f"{span.offset}, {span.size}): the file changed. Pass --overwrite to start over.")
                queue.append((span, summary, None))
            elif span.number == header_line:
                queue.append((span, LineSummary(span.number, "header"), None))
            else:
                queue.append((span, None, executor.submit(convert_line, span)))
                in_flight += 1
            while queue and (queue[0][2] is None or in_flight >= limit):
                in_flight -= self._take(queue.popleft())
        while queue:
            self._take(queue.popleft())

    def _take(self, item: tuple[Any, LineSummary | None, Future | None]) -> int:
        """Handle the oldest line; returns 1 if it was in flight."""
        span, summary, future = item
        if future is None:  # committed by an earlier run: only the cross-line checks see it again
            assert summary is not None
            verdict = self.checker.check(summary)
            self.warnings.extend(p.to_dict() for p in verdict.problems)
            self.bar.advance(span.size + 1)
            return 0
        result: LineResult = future.result()
        self.parsed_bytes += span.size + 1
        try:
            if result.error is not None:
                self._problem(JsonlError.from_dict(result.error), lost=True)
            else:
                assert result.summary is not None
                verdict = self.checker.check(result.summary)
                if verdict.problems and not self.skip_invalid:
                    raise verdict.problems[0]
                for problem in verdict.problems:
                    self._problem(problem, lost=not verdict.accept)
                if verdict.accept:
                    self._commit(result)
        finally:
            if result.partial and Path(result.partial).exists():
                shutil.rmtree(result.partial, ignore_errors=True)
        self.bar.advance(span.size + 1)
        return 1

    def _problem(self, problem: JsonlError, *, lost: bool) -> None:
        if not self.skip_invalid:
            raise problem
        (self.skipped if lost else self.warnings).append(problem.to_dict())
        self.bar.note(f"{'skipped' if lost else 'warning'}: {problem}")

    def _commit(self, result: LineResult) -> None:
        summary = result.summary
        assert summary is not None
        if summary.kind == "header":
            self.store.update_attrs(header=dict(summary.header or {}), header_line=summary.number)
            return
        if not self.source_format_known:
            self.store.update_attrs(source_format=summary.format)
            self.source_format_known = True
        try:
            self.store.commit_chunk(Path(result.partial), summary.stream, summary.chunk)
        except StoreError:
            raise JsonlError(Where(str(self.checker.path), summary.number, summary.stream, summary.chunk),
                             "is a chunk the store already holds from another line of a file with the same "
                             "fingerprint; pass --overwrite to convert from scratch.", "duplicate") from None
        self.committed += 1
        if self.on_chunk is not None:
            self.on_chunk(summary.stream, summary.chunk)

    def stop(self, status: str, error: JsonlError | None) -> None:
        """Record why the conversion ended early (best effort: never hides the original error)."""
        try:
            self.store.update_attrs(
                conversion={"status": status, "lines_seen": self.lines, "chunks": self.committed_total(),
                            "error": error.to_dict() if error else None},
                skipped=self.skipped, warnings=self.warnings,
            )
        except Exception:  # noqa: BLE001
            pass
