"""What makes two runs the same run: content, not names.

A recorded run may be continued (resume) or re-judged (reuse) only when what produced its per-chunk records is the
same today: the contract's content, the model file's bytes, the backend's options and the tool's version. Names are
not enough: a contract edited in place keeps its name and path, a re-exported model keeps its file name.

Two digests of the contract, because not every edit makes the recorded chunks stale:

- ``judging_digest``: everything a chunk record depends on (tensors, layouts, tolerances, tightening, invariants,
  feedback, streaming rules, diagnostics). When it differs, the recorded per-chunk figures and pass/fail marks are
  stale and the run must be made again.
- ``contract_digest``: the whole contract. When only this differs (acceptance rules, thresholds, descriptions), the
  stored per-chunk figures suffice: the run is re-judged from them.

Digests are taken over the loaded `Contract` (its dataclass repr, without the file path), so reformatting a file
changes nothing and any field a later version adds is covered without being listed here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from contracts.model import Contract

SAVE_MODES = ("failing", "all", "none")


def _digest(obj: Any) -> str:
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def contract_digest(contract: Contract) -> str:
    """Digest of the whole contract's content (not its path)."""
    return _digest(dataclasses.replace(contract, source=""))


def judging_digest(contract: Contract) -> str:
    """Digest of what per-chunk records depend on: the contract without acceptance rules and prose."""
    return _digest(dataclasses.replace(contract, source="", acceptance=(), description="", notes=()))


def save_mode(value: bool | str | None) -> str:
    """``True`` → ``all``, ``False``/None → ``none``; ``failing``/``all``/``none`` as they are.

    Raises:
        ValueError: Any other value.
    """
    if value is True:
        return "all"
    if value is False or value is None:
        return "none"
    if value in SAVE_MODES:
        return str(value)
    raise ValueError(f"save_outputs {value!r}: expected one of {', '.join(SAVE_MODES)} (or True/False).")


@dataclass(frozen=True)
class RunIdentity:
    """What a run's records were made with (stored as ``environment["identity"]`` of its record)."""

    contract_digest: str
    judging_digest: str
    model_sha256: str
    options: Mapping[str, Any]
    inspector: str

    def to_dict(self) -> dict[str, Any]:
        return {"contract_digest": self.contract_digest, "judging_digest": self.judging_digest,
                "model_sha256": self.model_sha256, "options": dict(self.options), "inspector": self.inspector}

    @classmethod
    def of(cls, contract: Contract, model_sha256: str, options: Mapping[str, Any]) -> "RunIdentity":
        from inspector import __version__

        return cls(contract_digest(contract), judging_digest(contract), model_sha256, dict(options), __version__)


def compare(recorded: Mapping[str, Any] | None, now: RunIdentity) -> tuple[str, str]:
    """How a recorded run relates to a run about to start: ``("same", "")``, ``("rejudge", why)`` (its chunk
    records still hold, its verdicts must be made again) or ``("stale", why)`` (its chunk records must not be used).

    A run recorded before identities were kept (no ``identity``) is stale: nothing shows what it was made with.
    """
    if not recorded:
        return "stale", "it was recorded without a content identity (an older version of the tool)"
    if recorded.get("model_sha256", "") != now.model_sha256:
        return "stale", "it was made with another model file, or this file changed since (the sha256 differs)"
    if recorded.get("inspector", "") != now.inspector:
        return "stale", f"it was made by inspector {recorded.get('inspector') or '?'}, this is {now.inspector}"
    if {k: str(v) for k, v in dict(recorded.get("options") or {}).items()} != {
            k: str(v) for k, v in now.options.items()}:
        return "stale", "the backend options differ"
    if recorded.get("judging_digest", "") != now.judging_digest:
        return "stale", ("the contract's tensors, tolerances, invariants or streaming rules changed since "
                         "(its per-chunk verdicts were judged with the old ones)")
    if recorded.get("contract_digest", "") != now.contract_digest:
        return "rejudge", "the contract's acceptance rules changed since (its per-chunk figures still hold)"
    return "same", ""


__all__ = ["RunIdentity", "SAVE_MODES", "compare", "contract_digest", "judging_digest", "save_mode"]
