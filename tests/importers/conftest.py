"""Fixtures for the importer tests: an empty store and the CLI run in-process (samples live in data/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """An empty store: imported runs need no reference tensors."""
    from store import Store

    path = tmp_path / "runs.zarr"
    Store.create(path)
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `inspector ARGS…` in-process through the real entry point (exit codes included)."""
    from inspector.cli import main

    def run(*args: Any) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(int(exc.value.code or 0), captured.out, captured.err)

    return run
