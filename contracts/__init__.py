"""The binding contract of a streaming-encoder export, as data: load, validate, check against an ONNX graph."""

from contracts.errors import ContractError
from contracts.model import (
    Acceptance, Contract, Diagnostics, Feedback, Invariant, Padding, Profile, ShapeRange, Streaming, TensorSpec,
    Tightening, Tolerance, ToleranceSet,
)

__all__ = [
    "Acceptance", "Contract", "ContractError", "Diagnostics", "Feedback", "Invariant", "Padding", "Profile",
    "ShapeRange", "Streaming", "TensorSpec", "Tightening", "Tolerance", "ToleranceSet",
]
