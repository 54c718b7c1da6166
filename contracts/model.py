"""The binding contract of one streaming-encoder export, as typed frozen dataclasses.

A contract is data: `contracts.load` builds these objects from a `*.contract.json` document and validates it;
nothing here is ever evaluated as code. The JSON schema (version 1) is documented in `contracts/SCHEMA.md`.

Naming: every tensor has a *model name* (the ONNX graph's input/output name, what a backend feeds and returns) and a
*reference name* (its name in reference files and in the store; defaults to the model name). Everything the engine,
metrics, reports and the TUI show uses reference names; only backends see model names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

Dim = int | str
"""One dimension of a symbolic shape: a fixed size or a symbol such as ``"B"`` or ``"T"``."""

Severity = Literal["error", "warning", "info"]
Mode = Literal["functional", "closed-loop"]
MODES: tuple[Mode, ...] = ("functional", "closed-loop")

DTYPES: tuple[str, ...] = (
    "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool",
)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output.

    Attributes:
        name: The ONNX graph's name for it.
        ref_name: Its name in reference files and in the store.
        dtype: numpy-style dtype name (``float32``, ``int64`` …).
        shape: Symbolic shape, e.g. ``("B", 128, "T")``.
        role: For inputs: ``"stream"`` (comes from the reference every chunk) or ``"state"`` (fed back in closed
            loop). For outputs: ``"frames"`` (encoder frames), ``"length"``, ``"state"`` or ``"other"``.
        axes: Optional axis labels, e.g. ``("batch", "layer", "time", "channel")``; used for heatmap layer
            selectors and per-position diagnostics.
        ref_perm: Permutation that turns the reference file's layout into the model's (``np.transpose(ref,
            ref_perm)``), e.g. ``(1, 0, 2, 3)`` when the file holds layer-first caches and the model batch-first.
        frame_axis: For ``role == "frames"``: the axis that indexes output frames.
        description: Free text.
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    ref_name: str = ""
    role: str = "other"
    axes: tuple[str, ...] | None = None
    ref_perm: tuple[int, ...] | None = None
    frame_axis: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.ref_name:
            object.__setattr__(self, "ref_name", self.name)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def axis(self, label: str) -> int | None:
        """The index of the axis labelled `label`, or None."""
        if self.axes is None or label not in self.axes:
            return None
        return self.axes.index(label)


@dataclass(frozen=True)
class Padding:
    """How a dynamic-size cache output is padded back to the input's fixed size before it is fed back."""

    axis: int
    to: int
    side: Literal["left", "right"] = "left"
    value: float = 0.0


@dataclass(frozen=True)
class Feedback:
    """On the next chunk, output `source` (reference name) becomes input `target` (reference name)."""

    source: str
    target: str
    padding: Padding | None = None


@dataclass(frozen=True)
class ShapeRange:
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """One TensorRT optimization profile: a min/opt/max shape for each dynamic input (model names)."""

    name: str
    shapes: Mapping[str, ShapeRange]


@dataclass(frozen=True)
class Invariant:
    """A declarative check on every chunk, e.g. ``encoded_lengths == 1``.

    `check` is parsed by `contracts.rules` (a small expression language, never Python's eval); `modes` limits it to
    some run modes; `kind` groups it for reports (``"invariant"``, ``"state"``, ``"alarm"``).
    """

    id: str
    check: str
    severity: Severity = "error"
    description: str = ""
    modes: tuple[Mode, ...] = MODES
    kind: str = "invariant"


@dataclass(frozen=True)
class Tolerance:
    """Element-wise closeness for one output: |a - b| <= atol + rtol * |b|."""

    atol: float
    rtol: float = 0.0


EXACT_TOLERANCE = Tolerance(atol=0.0, rtol=0.0)
"""The tolerance of an output no set mentions: exact equality (lengths, integer outputs)."""


@dataclass(frozen=True)
class ToleranceSet:
    """A named set of per-output tolerances, chosen by backend and precision.

    Attributes:
        name: e.g. ``"default"``, ``"ort"``, ``"trt-fp16"``.
        per_output: reference name → Tolerance; the key ``"*"`` is the default for outputs not listed.
        applies_to: backend-name globs this set is for (``["trt-*"]``), empty for any.
        precisions: precisions this set is for (``["fp16"]``), empty for any.
        acceptance_overrides: acceptance rule id → threshold, e.g. ``{"encoder_output_p95": 2e-3}``.
    """

    name: str
    per_output: Mapping[str, Tolerance]
    applies_to: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    acceptance_overrides: Mapping[str, float] = field(default_factory=dict)

    def for_output(self, ref_name: str) -> Tolerance | None:
        return self.per_output.get(ref_name, self.per_output.get("*"))


@dataclass(frozen=True)
class Tightening:
    """Conditions under which stricter tolerances apply (the seed report's re-validation triggers).

    Each entry of `when` is a rule expression evaluated per chunk (e.g. ``cache_last_channel_len > 0``); once any
    holds, the run is judged against `per_output` from that chunk on and an alarm is reported.
    """

    when: tuple[str, ...]
    per_output: Mapping[str, Tolerance]
    description: str = ""


@dataclass(frozen=True)
class Acceptance:
    """A verdict over a whole run.

    kind:
        ``"quantile"``: the `q`-quantile (0..100) of per-chunk `metric` of `tensor` must be < `threshold`.
        ``"pass_rate"``: the share (0..1) of chunks whose `tensor` passes its tolerance (or `atol`, when given)
            must be >= `threshold` (0: reported only).
        ``"no_growth"``: no monotonic growth of per-chunk `metric` over chunk index (closed loop).
        ``"state_carried"``: the closed loop must really carry state (probe + trajectory).
        ``"invariants"``: every error-severity invariant holds on every chunk.

    Every rule is required (the run passes only if it passes) unless `informational` is set: then its figure is
    reported as ``info`` and does not gate the run. A ``pass_rate`` with threshold 0 is informational by nature;
    ``state_carried`` can never be informational.
    """

    id: str
    kind: Literal["quantile", "pass_rate", "no_growth", "state_carried", "invariants"]
    tensor: str = ""
    metric: str = "max_abs"
    q: float = 100.0
    threshold: float = 0.0
    modes: tuple[Mode, ...] = MODES
    description: str = ""
    atol: float | None = None
    """For ``pass_rate``: judge each chunk at this absolute tolerance instead of the tolerance set's."""
    informational: bool = False
    """Reported, not required: its outcome is ``info`` (with its figure) and never decides the run."""


@dataclass(frozen=True)
class Streaming:
    """What the export expects of the chunking (all optional; used by alarms, reference generation, profiles)."""

    layers: int | None = None
    cache_size: int | None = None
    time_ctx: int | None = None
    chunk_frames_first: int | None = None
    chunk_frames: int | None = None
    shift_frames: int | None = None
    valid_out_len: int | None = None
    cache_drop_size: int | None = None
    pre_encode_cache_size: int | None = None
    drop_extra_pre_encoded: int | None = None
    first_chunk: Literal["padded", "separate", "short"] | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnostics:
    """Settings for the diagnostics (cache_last_time checks, state probe, triage)."""

    cache_time_input: str = "cache_last_time"
    cache_time_output: str = "cache_last_time_out"
    cache_channel_input: str = "cache_last_channel"
    cache_len_input: str = "cache_last_channel_len"
    cache_len_output: str = "cache_last_channel_len_out"
    frames_output: str = "encoder_output"
    noise_scales: tuple[float, ...] = (1e-3, 1e-1, 1.0)
    significance_threshold: float = 1e-3
    probe_chunks: tuple[str | int, ...] = ("early", "middle", "late")
    growth_min_ratio: float = 2.0
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Contract:
    """The whole contract of one export."""

    name: str
    version: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    feedback: tuple[Feedback, ...] = ()
    profiles: tuple[Profile, ...] = ()
    invariants: tuple[Invariant, ...] = ()
    tolerances: tuple[ToleranceSet, ...] = ()
    tightening: Tightening | None = None
    acceptance: tuple[Acceptance, ...] = ()
    streaming: Streaming = field(default_factory=Streaming)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    description: str = ""
    notes: tuple[str, ...] = ()
    source: str = ""

    # --- lookups -------------------------------------------------------------------------------------------------
    def input(self, ref_name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.ref_name == ref_name:
                return spec
        raise KeyError(ref_name)

    def output(self, ref_name: str) -> TensorSpec:
        for spec in self.outputs:
            if spec.ref_name == ref_name:
                return spec
        raise KeyError(ref_name)

    def tensor(self, ref_name: str) -> TensorSpec:
        """An input or output by reference name."""
        for spec in (*self.inputs, *self.outputs):
            if spec.ref_name == ref_name:
                return spec
        raise KeyError(ref_name)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.ref_name for s in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.ref_name for s in self.outputs)

    @property
    def state_inputs(self) -> tuple[str, ...]:
        return tuple(f.target for f in self.feedback)

    @property
    def frames_output(self) -> TensorSpec | None:
        for spec in self.outputs:
            if spec.role == "frames":
                return spec
        return None

    def feedback_for(self, target: str) -> Feedback | None:
        for fb in self.feedback:
            if fb.target == target:
                return fb
        return None

    # --- the one tolerance resolver: the engine, the diagnostics and the app's plot all ask these ----------------
    def tolerance_sets_for(self, backend: str = "", precision: str = "") -> tuple[ToleranceSet, ...]:
        """The tolerance sets that apply to a backend and precision, most specific first (a set naming both the
        backend and the precision, then the backend, then the precision, then neither; ties in file order)."""
        from fnmatch import fnmatch

        scored = []
        for i, ts in enumerate(self.tolerances):
            if ts.applies_to and not any(fnmatch(backend, pat) for pat in ts.applies_to):
                continue
            if ts.precisions and precision not in ts.precisions:
                continue
            scored.append(((2 if ts.applies_to else 0) + (1 if ts.precisions else 0), -i, ts))
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return tuple(ts for *_, ts in scored)

    def tolerance_set(self, backend: str = "", precision: str = "") -> ToleranceSet:
        """The most specific tolerance set for a backend and precision (an empty ``none`` set when none applies).
        To judge a tensor use `tolerance_for`, which also falls back to less specific sets."""
        sets = self.tolerance_sets_for(backend, precision)
        return sets[0] if sets else ToleranceSet(name="none", per_output={})

    def tolerance_for(self, tensor: str, backend: str = "", precision: str = "",
                      tightened: bool = False) -> Tolerance:
        """The tolerance one output is judged with.

        Order: the tightened tolerance (if `tightened` and the contract's tightening lists the output or ``"*"``);
        else the most specific tolerance set matching `backend`/`precision` that lists the output (or ``"*"``),
        falling back to less specific matching sets; else `EXACT_TOLERANCE` (the identical object, so a caller can
        tell "the contract gives no tolerance" with ``is``).

        Args:
            tensor: The output's reference name.
            backend: Backend registry name, e.g. ``trt-fp16`` (matched against each set's ``applies_to`` globs).
            precision: ``fp32``, ``fp16`` …
            tightened: The chunk's context: whether a tightening trigger has fired on this run by this chunk.
        """
        if tightened and self.tightening is not None:
            per = self.tightening.per_output
            tol = per.get(tensor, per.get("*"))
            if tol is not None:
                return tol
        for ts in self.tolerance_sets_for(backend, precision):
            tol = ts.for_output(tensor)
            if tol is not None:
                return tol
        return EXACT_TOLERANCE

    def threshold_for(self, rule: str, backend: str = "", precision: str = "") -> float:
        """An acceptance rule's threshold, after the overrides of the most specific matching tolerance set that
        overrides it.

        Raises:
            KeyError: `rule` is not an acceptance id of this contract.
        """
        for ts in self.tolerance_sets_for(backend, precision):
            if rule in ts.acceptance_overrides:
                return float(ts.acceptance_overrides[rule])
        for acc in self.acceptance:
            if acc.id == rule:
                return float(acc.threshold)
        raise KeyError(rule)
