"""``SequenceBuilder``: the steps of one sequence, with WSJF's bookkeeping done for them.

Each step-adding method takes what a test executive knows (a value, limits, a unit) and stores a
finished leaf step: limits placed where WSJF wants them, measurement statuses computed, the step's
status from its measurements (failed if any failed, skipped if all were, else passed). Sequences are
finished at build time, when ids are numbered depth-first and each sequence takes its worst child
outcome (terminated, then error, then failed, else passed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, TypedDict, TypeVar, Unpack

import msgspec
from msgspec import UNSET, UnsetType

from ._base import format_timestamp
from ._data import Attachment
from ._enums import MeasurementStatus, StepGroup, StepStatus
from ._measure import boolean_measurement, numeric_measurement, string_measurement
from ._steps import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    MessagePopupInfo,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StringMeasurement,
)

__all__ = ["SequenceBuilder", "StepOptions", "opt"]

T = TypeVar("T")
M = TypeVar("M", NumericMeasurement, StringMeasurement, BooleanMeasurement)
_WORST_FIRST = (StepStatus.TERMINATED, StepStatus.ERROR, StepStatus.FAILED)


class StepOptions(TypedDict, total=False):
    """Keyword options every step-adding method accepts.

    Attributes:
        group: TestStand step group (default ``M``, main).
        start: when the step started (an aware datetime).
        tot_time: how long it took, in seconds.
        report_text: free comment shown with the step.
        attachment: one file attached to the step (see ``attachment_from_bytes``).
    """

    group: StepGroup | str
    start: dt.datetime
    tot_time: float
    report_text: str
    attachment: Attachment


class SequenceBuilder:
    """Collects the steps of one sequence; get one from :attr:`ReportBuilder.root` or
    :meth:`sequence`. Steps appear in the report in the order they were added."""

    def __init__(
        self,
        name: str,
        *,
        path: str | None = None,
        version: str | None = None,
        step_type: str = "SequenceCall",
        **options: Unpack[StepOptions],
    ) -> None:
        self.name = name
        self._info = SequenceCallInfo(
            path=name if path is None else path,
            name=name,
            version=UNSET if version is None else version,
        )
        self._step_type = step_type
        self._options = options
        self._children: list[SequenceBuilder | Step] = []

    def sequence(
        self,
        name: str,
        *,
        path: str | None = None,
        version: str | None = None,
        **options: Unpack[StepOptions],
    ) -> SequenceBuilder:
        """Add a sequence call and return its builder, to add its steps to.

        Args:
            name: sequence name (also the step name).
            path: sequence file or logical location (default: the name).
            version: sequence version.
        """
        child = SequenceBuilder(name, path=path, version=version, **options)
        self._children.append(child)
        return child

    def numeric(
        self,
        name: str,
        value: float,
        *,
        unit: str | None = None,
        low: float | None = None,
        high: float | None = None,
        limit: float | None = None,
        comp_op: str | None = None,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a numeric limit test (``ET_NLT``); see :func:`numeric_measurement` for the limits.

        Raises:
            ValueError: a non-finite number or limits that do not fit the operator.
        """
        measurement = numeric_measurement(
            value, unit=unit, low=low, high=high, limit=limit, comp_op=comp_op
        )
        self._add_measured("ET_NLT", name, numeric=(measurement,), **options)

    def multi_numeric(
        self, name: str, measurements: Iterable[NumericMeasurement], **options: Unpack[StepOptions]
    ) -> None:
        """Add a multiple numeric limit test (``ET_MNLT``) of uniquely named measurements.

        Raises:
            ValueError: a measurement without a name, or two with the same name.
        """
        self._add_measured("ET_MNLT", name, numeric=_named(measurements), **options)

    def pass_fail(self, name: str, passed: bool, **options: Unpack[StepOptions]) -> None:
        """Add a pass/fail test (``ET_PFT``)."""
        self._add_measured("ET_PFT", name, boolean=(boolean_measurement(passed),), **options)

    def multi_pass_fail(
        self, name: str, measurements: Iterable[BooleanMeasurement], **options: Unpack[StepOptions]
    ) -> None:
        """Add a multiple pass/fail test (``ET_MPFT``) of uniquely named measurements.

        Raises:
            ValueError: a measurement without a name, or two with the same name.
        """
        self._add_measured("ET_MPFT", name, boolean=_named(measurements), **options)

    def string(
        self,
        name: str,
        value: str,
        *,
        limit: str | None = None,
        comp_op: str | None = None,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a string value test (``ET_SVT``); see :func:`string_measurement`.

        Raises:
            ValueError: an unknown operator, or a limit that does not fit it.
        """
        measurement = string_measurement(value, limit=limit, comp_op=comp_op)
        self._add_measured("ET_SVT", name, string=(measurement,), **options)

    def multi_string(
        self, name: str, measurements: Iterable[StringMeasurement], **options: Unpack[StepOptions]
    ) -> None:
        """Add a multiple string value test (``ET_MSVT``) of uniquely named measurements.

        Raises:
            ValueError: a measurement without a name, or two with the same name.
        """
        self._add_measured("ET_MSVT", name, string=_named(measurements), **options)

    def chart(
        self,
        name: str,
        chart: Chart,
        measurements: Iterable[NumericMeasurement] = (),
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a chart step (``WATS_XYGMNLT``): a chart and any numeric measurements (named
        when there are several).

        Raises:
            ValueError: several measurements without unique names.
        """
        numeric = tuple(measurements)
        if len(numeric) > 1:
            numeric = _named(numeric)
        self._add_measured("WATS_XYGMNLT", name, numeric=numeric, chart=chart, **options)

    def action(
        self,
        name: str,
        *,
        status: StepStatus | str = StepStatus.DONE,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add an action step (``Action``), done unless ``status`` says otherwise."""
        self.generic("Action", name, status=status, **options)

    def message_popup(
        self,
        name: str,
        *,
        button: int,
        response: str | None = None,
        status: StepStatus | str = StepStatus.DONE,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a message popup step: the button the operator pressed and any text typed."""
        popup = MessagePopupInfo(button=button, response=UNSET if response is None else response)
        self._add("MessagePopup", name, status, options, message_popup=popup)

    def call_executable(
        self,
        name: str,
        *,
        exit_code: int,
        status: StepStatus | str = StepStatus.DONE,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a call-executable step with the program's exit code."""
        call_exe = CallExecutableInfo(exit_code=float(exit_code))
        self._add("CallExecutable", name, status, options, call_exe=call_exe)

    def generic(
        self,
        step_type: str,
        name: str,
        *,
        status: StepStatus | str = StepStatus.DONE,
        **options: Unpack[StepOptions],
    ) -> None:
        """Add a step of any type that carries no measurement (a flow step, a custom type...)."""
        self._add(step_type, name, status, options)

    def _add_measured(
        self,
        step_type: str,
        name: str,
        *,
        numeric: tuple[NumericMeasurement, ...] = (),
        string: tuple[StringMeasurement, ...] = (),
        boolean: tuple[BooleanMeasurement, ...] = (),
        chart: Chart | None = None,
        **options: Unpack[StepOptions],
    ) -> None:
        statuses = [m.status for m in numeric] + [m.status for m in string]
        statuses += [m.status for m in boolean]
        self._add(
            step_type,
            name,
            _measured_status(statuses),
            options,
            numeric_meas=numeric or UNSET,
            string_meas=string or UNSET,
            boolean_meas=boolean or UNSET,
            chart=UNSET if chart is None else chart,
        )

    def _add(
        self,
        step_type: str,
        name: str,
        status: StepStatus | str,
        options: StepOptions,
        **payload: Any,
    ) -> None:
        """Add a leaf step; its id is given at build time."""
        step = _new_step(0, step_type, name, status, options)
        self._children.append(msgspec.structs.replace(step, **payload) if payload else step)

    def _build(self, ids: Iterator[int], first_failure: list[int]) -> Step:
        """Make this sequence's step: ids depth-first, status rolled up from the children."""
        step_id = next(ids)
        children: list[Step] = []
        for child in self._children:
            if isinstance(child, SequenceBuilder):
                children.append(child._build(ids, first_failure))
                continue
            child_id = next(ids)
            caused = child.status == StepStatus.FAILED and not first_failure
            if caused:
                first_failure.append(child_id)
            children.append(
                msgspec.structs.replace(child, id=child_id, caused_uut_failure=caused or UNSET)
            )
        status = _sequence_status(step.status for step in children)
        step = _new_step(step_id, self._step_type, self.name, status, self._options)
        return msgspec.structs.replace(step, seq_call=self._info, steps=tuple(children))


def opt(value: T | None) -> T | UnsetType:
    """``None`` (not given) becomes ``UNSET`` (key left out)."""
    return UNSET if value is None else value


def _new_step(
    step_id: int, step_type: str, name: str, status: StepStatus | str, options: StepOptions
) -> Step:
    start = options.get("start")
    tot_time = options.get("tot_time")
    return Step(
        id=step_id,
        group=StepGroup(options.get("group", StepGroup.MAIN)).value,
        step_type=step_type,
        name=name,
        status=StepStatus(status).value,
        start=UNSET if start is None else format_timestamp(start),
        tot_time=UNSET if tot_time is None else float(tot_time),
        report_text=opt(options.get("report_text")),
        attachment=opt(options.get("attachment")),
    )


def _named(measurements: Iterable[M]) -> tuple[M, ...]:
    """The measurements of a multiple-measurement step, each with its own name."""
    found = tuple(measurements)
    names = [m.name for m in found]
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("every measurement of a multiple-measurement step needs a name")
    if len(set(names)) != len(names):
        raise ValueError(f"measurement names must be unique within a step: {names}")
    return found


def _measured_status(statuses: Iterable[str]) -> StepStatus:
    """A measured step failed if any measurement failed, was skipped if all were, else passed."""
    seen = set(statuses)
    if MeasurementStatus.FAILED in seen:
        return StepStatus.FAILED
    if seen and seen <= {MeasurementStatus.SKIPPED}:
        return StepStatus.SKIPPED
    return StepStatus.PASSED


def _sequence_status(statuses: Iterable[str]) -> StepStatus:
    """A sequence takes its worst child outcome (terminated, error, failed), else it passed."""
    seen = set(statuses)
    for worst in _WORST_FIRST:
        if worst in seen:
            return worst
    return StepStatus.PASSED
