"""`JsonlError`: a reference file problem, with the file, line, stream, chunk and tensor it concerns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from store.api import StoreError


class TensorProblem(ValueError):
    """Raised by the tensor decoders; the line parser adds file/line/stream/chunk/tensor and re-raises JsonlError."""


@dataclass(frozen=True)
class Where:
    """Where in a reference file a problem is. Every field but `path` may be unknown."""

    path: str
    line: int | None = None
    stream: str | None = None
    chunk: int | None = None
    tensor: str | None = None
    kind: str | None = None  # "inputs" / "outputs"

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f", line {self.line}"
        bits = []
        if self.stream is not None:
            bits.append(f"stream {self.stream!r}")
        if self.chunk is not None:
            bits.append(f"chunk {self.chunk}")
        if self.tensor is not None:
            label = {"inputs": "input", "outputs": "output"}.get(self.kind or "", "tensor")
            bits.append(f"{label} {self.tensor!r}")
        return f"{text} ({', '.join(bits)})" if bits else text


class JsonlError(StoreError):
    """A reference JSONL file (or one of its lines) cannot be read as the format says.

    Attributes:
        where: The file/line/stream/chunk/tensor concerned.
        problem: What is wrong and what was expected.
        code: A short machine-readable kind (``invalid_json``, ``truncated``, ``gap``, ``duplicate`` …).
        hint: What to do about it.
    """

    def __init__(self, where: Where, problem: str, code: str = "invalid", hint: str = "") -> None:
        self.where = where
        self.problem = problem
        self.code = code
        self.hint = hint
        super().__init__(f"{where}: {problem}" + (f" {hint}" if hint else ""))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (crosses process boundaries and goes into the store's ``skipped`` list)."""
        return {**asdict(self.where), "problem": self.problem, "code": self.code, "hint": self.hint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JsonlError:
        fields = {k: data.get(k) for k in ("path", "line", "stream", "chunk", "tensor", "kind")}
        return cls(Where(**fields), data["problem"], data.get("code", "invalid"), data.get("hint", ""))

    def with_hint(self, hint: str) -> JsonlError:
        return JsonlError(self.where, self.problem, self.code, hint)
