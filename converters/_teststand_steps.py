"""TestStand results to WSJF steps: one ``TEResult`` per step, sequence calls nesting their own.

Each ``TEResult`` of a ``ResultList`` becomes one step with the result's own ``Status``; what it
carries decides its type: a ``TS.SequenceCall`` (or a post action's ``ResultList``) a sequence
call, a ``Measurement`` array a multiple numeric/string/pass-fail step (with a ``Chart``: a chart
step), ``Numeric``/``PassFail``/``String`` the single-measurement tests, ``ButtonHit`` a message
popup, ``ExitCode`` a call-executable step, anything else a step of its ``TS.StepType``. Each
result becomes its step the moment its end tag is read (:class:`StepMaker`), and its elements
are let go; ids are numbered depth-first once the tree is complete (:func:`numbered`), when the
first failed step that is not a sequence call is marked as the cause of a failed UUT.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import msgspec
from msgspec import UNSET, UnsetType

from pywats_actors.report import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    LoopInfo,
    MessagePopupInfo,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StepKind,
    StringMeasurement,
    boolean_measurement,
    format_timestamp,
    step_kind,
)

from ._errors import FileRejected
from ._junit_xml import Node
from ._teststand_extras import chart, extras, xml_string
from ._teststand_measure import measurement_array, numeric, string
from ._teststand_props import (
    cut,
    element_props,
    flag,
    number,
    prop,
    text,
)

__all__ = ["STEP_STATUS", "StepMaker", "is_result", "numbered", "relative_start"]

STEP_STATUS = {
    "passed": "P",
    "failed": "F",
    "error": "E",
    "terminated": "T",
    "skipped": "S",
    "done": "D",
}
_TEXT_LIMIT = 2000
_INT32 = (-(2**31), 2**31 - 1)
_WORST_FIRST = ("T", "E", "F")
_MAX_SECONDS = 10 * 365 * 86400  # an engine running longer than this is a wrong number


def is_result(node: Node) -> bool:
    """``node`` is a TestStand result object (``<Prop Type='TEResult'>``)."""
    return node.tag == "Prop" and node.attrib.get("Type") == "TEResult"


def results_of(result: Node) -> list[Node]:
    """The ``TEResult`` objects a result holds: its sequence call's ``ResultList`` (or its own,
    for a top-level result without a sequence call) and its post action's ``ResultList``."""
    return [found for listed in _lists(result) for found in element_props(listed)]


class StepMaker:
    """Turns each ``TEResult`` into its step as soon as the parser has read it, and lets its
    elements go, so that memory holds steps, not the file's tree.

    A result's end tag comes after those of the results it holds, so a sequence call finds its
    children's steps made. Steps are made with id 0: :func:`numbered` gives the ids once the
    whole tree is there.
    """

    def __init__(self) -> None:
        self._made: dict[int, tuple[Node, Step]] = {}
        self.engine_start: dt.datetime | None = None
        """When the TestStand engine started (the AddOn's ``ReportInfo EngineStarted``): each
        result's ``TS.StartTime`` counts seconds from it. Unknown in native reports."""

    def finish(self, result: Node) -> None:
        """Make the step of ``result`` (an element of a ``ResultList``) and drop its subtree.

        Raises:
            FileRejected: values that make no valid step; ``where`` names the result's line.
        """
        step = self._step(result)
        result.children.clear()
        self._made[id(result)] = (result, step)  # the node is kept: its id stays unique

    def collect(self, top: Node) -> list[Step]:
        """The steps of a top-level result's ``ResultList`` (the main sequence's steps), whose
        elements are then dropped; the result's own props stay."""
        steps = self._take(results_of(top))
        for listed in _lists(top):
            listed.children.clear()
        return steps

    def _take(self, results: list[Node]) -> list[Step]:
        """The steps made for ``results``, in order (each is handed out once)."""
        taken: list[Step] = []
        for result in results:
            entry = self._made.pop(id(result), None)
            if entry is not None and entry[0] is result:
                taken.append(entry[1])
        return taken

    def _step(self, result: Node) -> Step:
        name = cut(text(result, "TS", "StepName") or "step")
        source = STEP_STATUS.get((text(result, "Status") or "").lower())
        base = _base(name, result, self.engine_start)
        call = prop(result, "TS", "SequenceCall")
        if call is not None or prop(result, "TS", "PostAction", "ResultList") is not None:
            children = tuple(self._take(results_of(result)))
            info = SequenceCallInfo(
                path=cut(text(call, "SequenceFile") or name, 500),
                name=cut(text(call, "Sequence") or name),
                version=cut(text(call, "SequenceFileVersion") or "", 30) or UNSET,
            )
            status = source or _worst(child.status for child in children)
            return _with(
                base, step_type="SequenceCall", status=status, seq_call=info, steps=children
            )
        try:
            return _leaf(base, result, source)
        except ValueError as exc:
            raise FileRejected(f"step {name!r}: {exc}", where=f"line {result.line}") from None


def numbered(steps: list[Step], *, mark_failure: bool) -> tuple[list[Step], int | None]:
    """``steps`` with ids depth-first from 2 (the root is 1) and, when ``mark_failure``, the
    first failed step that is not a sequence call marked as the cause of the UUT failure;
    also that step's id."""
    ids = itertools.count(2)
    failed: list[int] = []

    def number(step: Step) -> Step:
        own = next(ids)
        if isinstance(step.seq_call, SequenceCallInfo):
            return _with(step, id=own, steps=tuple(number(child) for child in step.children))
        if step.status == "F" and mark_failure and not failed:
            failed.append(own)
            return _with(step, id=own, caused_uut_failure=True)
        return _with(step, id=own)

    return [number(step) for step in steps], failed[0] if failed else None


def _lists(result: Node) -> list[Node]:
    """The ``ResultList`` arrays a result holds (its sequence call's or its own, and its post
    action's)."""
    call = prop(result, "TS", "SequenceCall") or prop(result, "SequenceCall")
    found = [prop(call, "ResultList") if call is not None else prop(result, "ResultList")]
    found.append(prop(result, "TS", "PostAction", "ResultList"))
    return [listed for listed in found if listed is not None]


def _with(step: Step, **changes: object) -> Step:
    return msgspec.structs.replace(step, **changes)


def _base(name: str, result: Node, engine_start: dt.datetime | None) -> Step:
    """The step's identity and bookkeeping: group, start and time, text, error, TestStand id,
    loop."""
    group = (text(result, "TS", "StepGroup") or "Main")[:1].upper()
    total = number(result, "TS", "TotalTime")
    error = prop(result, "Error")
    code = number(error, "Code")
    occurred = flag(error, "Occurred") is True or (code is not None and code != 0)
    message = text(error, "Msg") if occurred else None
    report_text = text(result, "ReportText")
    return Step(
        id=0,
        group=group if group in ("S", "M", "C") else "M",
        step_type=cut(text(result, "TS", "StepType") or "Action", 50),
        name=name,
        status="D",
        start=relative_start(engine_start, number(result, "TS", "StartTime")),
        tot_time=total if total is not None and total >= 0 else UNSET,
        error_code=_int32(code) if occurred else UNSET,
        error_message=cut(message, _TEXT_LIMIT) if message else UNSET,
        report_text=cut(report_text, _TEXT_LIMIT) if report_text else UNSET,
        ts_guid=cut(text(result, "TS", "StepId") or "", 50) or UNSET,
        loop=_loop(result),
    )


def relative_start(engine_start: dt.datetime | None, seconds: float | None) -> str | UnsetType:
    """The step's start: the engine's start plus ``TS.StartTime`` seconds, when both are known."""
    if engine_start is None or seconds is None or not 0 <= seconds < _MAX_SECONDS:
        return UNSET
    try:
        return format_timestamp(engine_start + dt.timedelta(seconds=seconds))
    except (ValueError, OverflowError):
        return UNSET


def _int32(raw: float | None) -> int | UnsetType:
    if raw is None or not raw.is_integer() or not _INT32[0] <= raw <= _INT32[1]:
        return UNSET
    return int(raw)


def _loop(result: Node) -> LoopInfo | UnsetType:
    """TestStand's loop bookkeeping (``TS.NumLoops``... ``TS.LoopIndex``), when present."""
    counts = [
        number(result, "TS", key)
        for key in ("NumLoops", "NumPassed", "NumFailed", "EndingLoopIndex", "LoopIndex")
    ]
    num, passed, failed, ending, idx = (
        int(v) if v is not None and 0 <= v < _INT32[1] else UNSET for v in counts
    )
    if all(v is UNSET for v in (num, passed, failed, ending, idx)):
        return UNSET
    return LoopInfo(num=num, passed=passed, failed=failed, ending_index=ending, idx=idx)


def _leaf(base: Step, result: Node, source: str | None) -> Step:
    """A step that is not a sequence call, typed by what the result carries.

    Raises:
        ValueError: a measurement whose limits do not fit its operator.
    """
    additional = extras(result)
    notes: list[str] = []
    payload: dict[str, object] = {}
    numerics: list[NumericMeasurement] = []
    strings: list[StringMeasurement] = []
    booleans: list[BooleanMeasurement] = []
    step_type = base.step_type
    if source == "S":
        pass  # a skipped step's values were never measured (TestStand keeps the defaults)
    elif (array := prop(result, "Measurement")) is not None and array.attrib.get("Type") == "Array":
        numerics, strings, booleans, notes = measurement_array(array)
        step_type = _multi_type(base.step_type, numerics, strings, booleans)
    elif prop(result, "Numeric") is not None:
        made = numeric(result, "Numeric", notes)
        if made is not None:
            numerics.append(made)
            step_type = "ET_NLT"
    elif prop(result, "PassFail") is not None:
        passed = flag(result, "PassFail")
        booleans.append(boolean_measurement(passed if passed is not None else source == "P"))
        step_type = "ET_PFT"
    elif prop(result, "String") is not None:
        strings.append(string(result, "String", ("Limits", "String"), notes))
        step_type = "ET_SVT"
    elif prop(result, "ButtonHit") is not None:
        button = number(result, "ButtonHit")
        response = text(result, "Response")
        payload["message_popup"] = MessagePopupInfo(
            button=int(button) if button is not None and abs(button) < _INT32[1] else UNSET,
            response=cut(response, _TEXT_LIMIT) if response else UNSET,
        )
        step_type = "MessagePopup"
    elif prop(result, "ExitCode") is not None:
        code = number(result, "ExitCode")
        if code is not None:
            payload["call_exe"] = CallExecutableInfo(exit_code=code)
            step_type = "CallExecutable"
    if source != "S" and (found := prop(result, "Chart")) is not None:
        payload["chart"] = chart(found, notes)
        step_type = "WATS_XYGMNLT"
        strings, booleans = [], []  # a chart step carries numeric measurements only
    if "chart" not in payload and step_kind(step_type) is StepKind.CHART:
        payload["chart"] = Chart()  # a chart step type with no chart recorded (skipped...)
    statuses = [m.status for m in numerics] + [m.status for m in strings]
    status = _measured(source, statuses + [m.status for m in booleans])
    if notes:
        own = base.report_text if isinstance(base.report_text, str) else ""
        payload["report_text"] = cut("\n".join(filter(None, [own, *notes])), _TEXT_LIMIT)
    attachment = xml_string(result)
    return _with(
        base,
        step_type=step_type,
        status=status,
        numeric_meas=tuple(numerics) or UNSET,
        string_meas=tuple(strings) or UNSET,
        boolean_meas=tuple(booleans) or UNSET,
        additional_results=tuple(additional) or UNSET,
        attachment=attachment or UNSET,
        **payload,
    )


def _multi_type(
    given: str,
    numerics: list[NumericMeasurement],
    strings: list[StringMeasurement],
    booleans: list[BooleanMeasurement],
) -> str:
    """ET_MNLT, ET_MSVT or ET_MPFT for one kind of measurement; a mixed array keeps the
    TestStand step type (or a generic name when that type expects one kind)."""
    kinds = [bool(numerics), bool(strings), bool(booleans)]
    if kinds == [True, False, False]:
        return "ET_MNLT"
    if kinds == [False, True, False]:
        return "ET_MSVT"
    if kinds == [False, False, True]:
        return "ET_MPFT"
    if sum(kinds) > 1 and step_kind(given) is not StepKind.GENERIC:
        return "MultipleMeasurementTest"
    return given


def _measured(source: str | None, statuses: list[str]) -> str:
    """The step's status: the file's, except that a step with a failed measurement failed;
    without one, failed/skipped/passed from the measurements (done when there are none)."""
    if "F" in statuses and source in (None, "P", "D", "S"):
        return "F"
    if source is not None:
        return source
    if not statuses:
        return "D"
    return "S" if set(statuses) == {"S"} else "P"


def _worst(statuses: Iterator[str] | list[str]) -> str:
    seen = set(statuses)
    return next((s for s in _WORST_FIRST if s in seen), "P")
