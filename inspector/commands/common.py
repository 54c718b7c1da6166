"""What several commands share: the contract to use for a store (the store's own by default, `--contract` overrides).

A store keeps the contract it was converted (or first judged) with: the whole document in ``STORE/contract.json``
(`store.Store.record_contract`), and its name in the ``contract`` attribute (older stores have the name only; a
shipped contract's name or a path still loads). Every command that needs a contract (`run`, `diagnose`, `triage`,
`attribute`, `export-chunk`, `tui`, `import-run`, and `convert` into an existing store) resolves it
here, so they all agree on the default and all say, in one line, when `--contract` differs from the store's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from contracts.model import Contract
from inspector.errors import InspectorError

Say = Callable[[str], None]


def store_contract(store: Any) -> tuple[Contract | None, str]:
    """The contract a store records, and where it came from (``"STORE/contract.json"`` or ``"named 'x' by the
    store"``); ``(None, why)`` when it records none or the one it names cannot be loaded.

    Raises:
        contracts.ContractError: The store's own ``contract.json`` is not a valid contract (damaged or edited).
    """
    from contracts.errors import ContractError
    from contracts.load import load_contract

    if store is None:
        return None, "no store"
    recorded = store.recorded_contract_file() if hasattr(store, "recorded_contract_file") else None
    if recorded is not None:
        return load_contract(recorded), str(recorded)
    named = (getattr(store, "attrs", {}) or {}).get("contract")
    if isinstance(named, dict):
        named = named.get("path") or named.get("name")
    if not isinstance(named, str) or not named:
        return None, f"the store {store.path} records no contract"
    try:
        return load_contract(named), f"named {named!r} by the store"
    except ContractError as exc:
        return None, (f"the store {store.path} names contract {named!r}, which is neither a file nor a shipped "
                      f"contract ({exc})")


def resolve_contract(store: Any, option: str | Path | None, say: Say, *, required: bool = True) -> Contract | None:
    """The contract a command uses with `store`: `option` (``--contract``) when given, else the store's.

    Args:
        store: An open `store.Store`, a store path (opened read-only), or None (no store yet).
        option: The ``--contract`` value (path or shipped name), or None.
        say: Where the one-line notes go (the store's contract is used; `option` differs from the store's).
        required: Raise when there is no contract at all (else return None).

    Raises:
        InspectorError: `required` and neither `option` nor the store gives one (exit 2, saying what to pass).
        contracts.ContractError: `option` (or the store's own contract file) is not a valid contract.
    """
    from contracts.load import load_contract

    st = _open(store)
    theirs, where = store_contract(st) if st is not None else (None, f"{store} is not a store")
    if option is not None:
        chosen = load_contract(option)
        if theirs is not None and _digest(theirs) != _digest(chosen):
            say(f"note: using --contract {option} ({chosen.name}), which differs from the store's contract "
                f"{theirs.name} ({where}).")
        return chosen
    if theirs is not None:
        say(f"contract: {theirs.name}, the store's ({where}); --contract overrides it.")
        return theirs
    if st is not None and (st.attrs or {}).get("contract") and not required:
        say(f"note: {where}; going on without a contract.")  # named but unloadable: never dropped silently
    if required:
        raise InspectorError(f"no contract: {where}, and no --contract was given. Pass --contract PATH|NAME (a "
                             f"*.contract.json file or a shipped name such as parakeet-tdt-0.6b-v3); `inspector "
                             f"convert REF.jsonl -o STORE --contract C` records one in the store for next time.")
    return None


@dataclass(frozen=True)
class ImportStore:
    """Where `inspector import-run` records a run: the store path, whether this command created it, the contract."""

    path: Path
    created: bool
    contract: Contract | None

    def guard(self, importer: Callable[..., Any]) -> Callable[..., Any]:
        """`importer`, removing the store again when this command created it and the import failed (a bad report
        leaves no empty store behind); the error itself is raised as it was."""
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return importer(*args, **kwargs)
            except BaseException:
                if self.created:
                    import shutil

                    shutil.rmtree(self.path, ignore_errors=True)
                raise

        return run


def import_store(source: Path, store_path: Path | None, option: str | Path | None, say: Say) -> ImportStore:
    """The store an imported report goes into, created when it does not exist (a store of runs with no reference
    chunks: a report carries its own figures); by default ``./<the report's folder>.zarr``, said in one line.

    Raises:
        store.StoreError: The path exists and is not a store.
        contracts.ContractError: `option` is not a valid contract.
    """
    from store import Store, layout

    if store_path is None:
        folder = source.resolve().parent.name or "reports"
        store_path = Path(f"{folder}.zarr")
        say(f"store: {store_path.resolve()} (named after the report's folder {folder!r}; --store chooses another)")
    if layout.is_store(store_path):
        chosen = resolve_contract(store_path, option, say, required=False)
        st = Store.open(store_path, "a")
        if chosen is not None and not st.attrs.get("contract"):
            st.record_contract(chosen)  # the first contract a store is judged with becomes its default
        return ImportStore(store_path, False, chosen)
    chosen = None
    if option is not None:
        from contracts.load import load_contract

        chosen = load_contract(option)  # a bad --contract is reported before anything is created
    st = Store.create(store_path, attrs={"created_by": "inspector import-run"})
    if chosen is not None:
        st.record_contract(chosen)
    say(f"created store {store_path}: runs only, no reference chunks (convert a reference into it later with "
        f"`inspector convert REF.jsonl -o {store_path}`; the runs stay).")
    return ImportStore(store_path, True, chosen)


def _open(store: Any) -> Any:
    if store is None or hasattr(store, "attrs"):
        return store
    from store import Store
    from store import layout

    p = Path(store)
    return Store.open(p, mode="r") if layout.is_store(p) else None


def _digest(contract: Contract) -> str:
    from inspector.importers.record import contract_digest

    return contract_digest(contract)


def streaming_setup_option(text: str | None) -> object:
    """``--streaming-setup CHUNK,SHIFT[,MAX_CONTEXT]`` (of `export` and `reference`) parsed, or None when not given;
    a malformed value is a usage error naming the option (exit 2)."""
    if text is None:
        return None
    from backends.nemo_presets import parse_streaming_setup

    try:
        return parse_streaming_setup(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--streaming-setup") from exc
