"""The step tree: one wire-shaped ``Step`` and the payloads a step can carry.

The server has one step object whose ``stepType`` is free text ("textual description of step");
what gets stored is decided by the payload arrays (``numericMeas``, ``stringMeas``...). The model
follows that: a single frozen :class:`Step` with every documented field, so a step type nobody has
seen before (any TestStand type, a custom ``MyCo_Calibrate``) decodes, validates and round-trips
exactly like a known one. :attr:`Step.kind` classifies the known type names into a
:class:`StepKind`; unknown names are :attr:`StepKind.GENERIC`, never an error.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

import msgspec
from msgspec import UNSET

from ._base import Maybe, Timestamp, WsjfObject
from ._data import AdditionalData, Attachment

__all__ = [
    "BooleanMeasurement",
    "CallExecutableInfo",
    "Chart",
    "ChartSeries",
    "LoopInfo",
    "MessagePopupInfo",
    "NumericMeasurement",
    "SequenceCallInfo",
    "Step",
    "StepKind",
    "StringMeasurement",
    "step_kind",
]


class StepKind(enum.Enum):
    """What a step's type name says it is; see :func:`step_kind`."""

    SEQUENCE_CALL = "sequence call"
    NUMERIC_LIMIT = "numeric limit test"
    MULTI_NUMERIC_LIMIT = "multiple numeric limit test"
    PASS_FAIL = "pass/fail test"
    MULTI_PASS_FAIL = "multiple pass/fail test"
    STRING_VALUE = "string value test"
    MULTI_STRING_VALUE = "multiple string value test"
    CHART = "chart (XY graph) test"
    ACTION = "action"
    MESSAGE_POPUP = "message popup"
    CALL_EXECUTABLE = "call executable"
    FLOW = "flow control or utility"
    GENERIC = "any other step type"


_FLOW_TYPES = (
    "Label",
    "Goto",
    "Statement",
    "DoWhile",
    "NI_Flow_If",
    "NI_Flow_ElseIf",
    "NI_Flow_Else",
    "NI_Flow_End",
    "NI_Flow_For",
    "NI_Flow_ForEach",
    "NI_Flow_Break",
    "NI_Flow_Continue",
    "NI_Flow_DoWhile",
    "NI_Flow_While",
    "NI_Flow_Select",
    "NI_Flow_Case",
    "NI_Wait",
    "NI_Lock",
    "NI_Rendezvous",
    "NI_Queue",
    "NI_Notification",
    "NI_Batch_Sync",
    "NI_AutoSchedule",
    "NI_UseResource",
    "NI_ThreadPriority",
    "NI_Semaphore",
    "NI_BatchSpec",
    "NI_OpenDatabase",
    "NI_OpenSQLStatement",
    "NI_CloseSQLStatement",
    "NI_CloseDatabase",
    "NI_DataOperation",
    "NI_FTPFiles",
    "NI_IVIDmm",
    "NI_IVIFgen",
    "NI_IVIPowerSupply",
    "NI_IVIScope",
    "NI_IVITools",
    "NI_Switch",
    "NI_LV_CheckSystemStatus",
    "NI_LV_RunVIAsynchronously",
)

STEP_KINDS: MappingProxyType[str, StepKind] = MappingProxyType(
    {
        "SequenceCall": StepKind.SEQUENCE_CALL,
        "WATS_SeqCall": StepKind.SEQUENCE_CALL,
        "ET_NLT": StepKind.NUMERIC_LIMIT,
        "NumericLimitTest": StepKind.NUMERIC_LIMIT,
        "ET_MNLT": StepKind.MULTI_NUMERIC_LIMIT,
        "MultiNumericLimitTest": StepKind.MULTI_NUMERIC_LIMIT,
        "ET_PFT": StepKind.PASS_FAIL,
        "PassFailTest": StepKind.PASS_FAIL,
        "ET_MPFT": StepKind.MULTI_PASS_FAIL,
        "MultiBooleanTest": StepKind.MULTI_PASS_FAIL,
        "ET_SVT": StepKind.STRING_VALUE,
        "StringValueTest": StepKind.STRING_VALUE,
        "ET_MSVT": StepKind.MULTI_STRING_VALUE,
        "MultiStringTest": StepKind.MULTI_STRING_VALUE,
        "WATS_XYGMNLT": StepKind.CHART,
        "ET_A": StepKind.ACTION,
        "Action": StepKind.ACTION,
        "MessagePopup": StepKind.MESSAGE_POPUP,
        "CallExecutable": StepKind.CALL_EXECUTABLE,
        **dict.fromkeys(_FLOW_TYPES, StepKind.FLOW),
    }
)
"""Known ``stepType`` names (TestStand, the WATS add-on, their aliases) and their kind."""


def step_kind(step_type: str) -> StepKind:
    """Classify a ``stepType`` name; names not in :data:`STEP_KINDS` are ``GENERIC``."""
    return STEP_KINDS.get(step_type, StepKind.GENERIC)


class SequenceCallInfo(WsjfObject, frozen=True, kw_only=True):
    """The sequence a ``SequenceCall`` step ran (``seqCall``).

    Attributes:
        path: sequence file path (or a logical name).
        name: sequence name.
        version: sequence file version.
    """

    path: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    version: Maybe[str] = UNSET


class LoopInfo(WsjfObject, frozen=True, kw_only=True):
    """Loop bookkeeping (``loop``).

    A looped step appears as a run of sibling steps with the same name: first a summary step
    (``idx`` null; ``num``, ``ending_index``, ``passed``, ``failed`` set), then one step per
    iteration (``idx`` 0..n-1, the rest null).

    Attributes:
        idx: iteration index of this step.
        num: number of iterations (summary step).
        ending_index: index the loop ended at (summary step).
        passed: iterations that passed (summary step).
        failed: iterations that failed (summary step).
    """

    idx: Maybe[int] = UNSET
    num: Maybe[int] = UNSET
    ending_index: Maybe[int] = UNSET
    passed: Maybe[int] = UNSET
    failed: Maybe[int] = UNSET


class NumericMeasurement(WsjfObject, frozen=True, kw_only=True):
    """One numeric measurement (``numericMeas[]``).

    Attributes:
        status: ``P``, ``F`` or ``S`` (:class:`MeasurementStatus`).
        comp_op: comparison operator (:class:`NumericCompOp`).
        name: required when the step has several measurements, else null/absent.
        unit: unit text, e.g. ``V``.
        value: the measured value.
        low_limit: the low limit, and the only limit of a single-limit operator (even LT/LE).
        high_limit: the high limit of a two-limit operator.
        value_format, low_limit_format, high_limit_format: TestStand numeric formats.
    """

    status: str
    comp_op: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    unit: Maybe[str] = UNSET
    value: Maybe[float] = UNSET
    value_format: Maybe[str] = UNSET
    low_limit: Maybe[float] = UNSET
    low_limit_format: Maybe[str] = UNSET
    high_limit: Maybe[float] = UNSET
    high_limit_format: Maybe[str] = UNSET


class StringMeasurement(WsjfObject, frozen=True, kw_only=True):
    """One string measurement (``stringMeas[]``).

    Attributes:
        status: ``P``, ``F`` or ``S``.
        comp_op: comparison operator (:class:`StringCompOp`; read case-insensitively).
        name: required when the step has several measurements.
        value: the measured string.
        limit: the expected string.
    """

    status: str
    comp_op: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    value: Maybe[str] = UNSET
    limit: Maybe[str] = UNSET


class BooleanMeasurement(WsjfObject, frozen=True, kw_only=True):
    """One pass/fail measurement (``booleanMeas[]``); WSJF stores no value, only the status.

    Attributes:
        status: ``P``, ``F`` or ``S``.
        name: required when the step has several measurements.
    """

    status: str
    name: Maybe[str] = UNSET


class ChartSeries(WsjfObject, frozen=True, kw_only=True):
    """One series of a chart.

    Attributes:
        data_type: ``XYG``.
        name: series name.
        xdata: x values, semicolon-separated, e.g. ``"0;1;2"``.
        ydata: y values, semicolon-separated.
    """

    data_type: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    xdata: Maybe[str] = UNSET
    ydata: Maybe[str] = UNSET


class Chart(WsjfObject, frozen=True, kw_only=True):
    """An XY chart attached to a step (``chart``).

    Attributes:
        chart_type: axis style, e.g. ``Line`` (:class:`ChartType`).
        label: chart title.
        x_label, x_unit, y_label, y_unit: axis captions.
        series: the data series.
    """

    chart_type: Maybe[str] = UNSET
    label: Maybe[str] = UNSET
    x_label: Maybe[str] = UNSET
    x_unit: Maybe[str] = UNSET
    y_label: Maybe[str] = UNSET
    y_unit: Maybe[str] = UNSET
    series: Maybe[tuple[ChartSeries, ...]] = UNSET


class CallExecutableInfo(WsjfObject, frozen=True, kw_only=True):
    """What a ``CallExecutable`` step returned (``callExe``)."""

    exit_code: Maybe[float] = UNSET
    exit_code_format: Maybe[str] = UNSET


class MessagePopupInfo(WsjfObject, frozen=True, kw_only=True):
    """What the operator answered to a ``MessagePopup`` step (``messagePopup``).

    Attributes:
        response: text the operator typed.
        button: number of the button pressed.
    """

    response: Maybe[str] = UNSET
    button: Maybe[int] = UNSET
    button_format: Maybe[str] = UNSET


class Step(WsjfObject, frozen=True, kw_only=True):
    """One step of a UUT report, with its children.

    Attributes:
        id: unique within the report; exports number depth-first from the root's 1.
        group: ``S``, ``M`` or ``C`` (:class:`StepGroup`).
        step_type: TestStand step type name; free text (see :attr:`kind`).
        name: step name.
        status: :class:`StepStatus` letter.
        start: when the step started, with offset.
        tot_time: duration in seconds.
        error_code, error_message: the step's error, if any.
        report_text: free step comment.
        ts_guid: TestStand's step id, e.g. ``ID#:AZur12wMdkuCxIdLZoEPbA``.
        caused_seq_failure: this step made its sequence fail.
        caused_uut_failure: this step made the UUT fail.
        interactive_exe_num: TestStand interactive execution number.
        loop: loop bookkeeping, for looped steps.
        seq_call: the sequence a sequence-call step ran.
        numeric_meas, string_meas, boolean_meas: the measurements.
        chart: an XY chart.
        call_exe: a CallExecutable step's exit code.
        message_popup: a MessagePopup step's answer.
        attachment: one attached file.
        additional_results: free-form results.
        steps: child steps (sequence calls; also seen on ``NI_Wait``).
    """

    id: int
    group: str
    step_type: str
    name: str
    status: str
    start: Maybe[Timestamp] = UNSET
    tot_time: Maybe[float] = UNSET
    tot_time_format: Maybe[str] = UNSET
    error_code: Maybe[int] = UNSET
    error_code_format: Maybe[str] = UNSET
    error_message: Maybe[str] = UNSET
    report_text: Maybe[str] = UNSET
    ts_guid: Maybe[str] = UNSET
    caused_seq_failure: Maybe[bool] = UNSET
    caused_uut_failure: Maybe[bool] = msgspec.field(default=UNSET, name="causedUUTFailure")
    interactive_exe_num: Maybe[int] = UNSET
    interactive_exe_num_format: Maybe[str] = UNSET
    loop: Maybe[LoopInfo] = UNSET
    seq_call: Maybe[SequenceCallInfo] = UNSET
    numeric_meas: Maybe[tuple[NumericMeasurement, ...]] = UNSET
    string_meas: Maybe[tuple[StringMeasurement, ...]] = UNSET
    boolean_meas: Maybe[tuple[BooleanMeasurement, ...]] = UNSET
    chart: Maybe[Chart] = UNSET
    call_exe: Maybe[CallExecutableInfo] = UNSET
    message_popup: Maybe[MessagePopupInfo] = UNSET
    attachment: Maybe[Attachment] = UNSET
    additional_results: Maybe[tuple[AdditionalData, ...]] = UNSET
    steps: Maybe[tuple[Step, ...]] = UNSET

    @property
    def kind(self) -> StepKind:
        """The :class:`StepKind` named by :attr:`step_type` (``GENERIC`` when unknown)."""
        return step_kind(self.step_type)

    @property
    def children(self) -> tuple[Step, ...]:
        """The child steps; empty when ``steps`` is absent or null."""
        return self.steps or ()

    def walk(self) -> tuple[Step, ...]:
        """Return this step and all its descendants, depth-first in document order."""
        found: list[Step] = []
        pending = [self]
        while pending:
            step = pending.pop()
            found.append(step)
            pending.extend(reversed(step.children))
        return tuple(found)
