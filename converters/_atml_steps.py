"""The ATML converter's step tree: ``TestGroup``, ``Test`` and ``SessionAction`` as WSJF steps.

A ``TestGroup`` is a sequence call; a ``SessionAction`` a step without measurements, typed by
its ``ts:StepType``; a ``Test`` a measured step chosen by its ``ts:StepType``
(``NumericLimitTest``, ``NI_MultipleNumericLimitTest``, ``PassFailTest``, ``StringValueTest``
and the WATS AddOn's ``ET_*`` types), or by what its ``TestResult`` elements hold for any other
type. Every status is the file's own ``Outcome`` (import mode); only what the file leaves out
is computed. ``docs/converters.md`` (the ``atml`` section) lists the rules.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import msgspec
from msgspec import UNSET, UnsetType

from pywats_actors.report import (
    BooleanMeasurement,
    CallExecutableInfo,
    LoopInfo,
    MessagePopupInfo,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StepStatus,
    StringMeasurement,
    format_timestamp,
)

from ._atml_measure import (
    boolean_meas,
    collected,
    numeric_meas,
    string_meas,
    unique_numeric,
)
from ._atml_values import (
    TEXT_LIMIT,
    cut,
    datum_kind,
    datum_number,
    datum_text,
    label,
    number,
    outcome_status,
)
from ._atml_xml import AtmlNode

__all__ = ["StepContext", "caller_name", "sequence_step", "settled", "split_sequence"]

_WORST_FIRST = (StepStatus.TERMINATED, StepStatus.ERROR, StepStatus.FAILED)
_GROUPS = {"setup": "S", "main": "M", "cleanup": "C"}
_SEQUENCE_TYPES = frozenset({"SequenceCall", "WATS_SeqCall"})
_KINDS = {
    "NumericLimitTest": "numeric",
    "ET_NLT": "numeric",
    "NI_MultipleNumericLimitTest": "multi_numeric",
    "MultiNumericLimitTest": "multi_numeric",
    "ET_MNLT": "multi_numeric",
    "WATS_XYGMNLT": "multi_numeric",
    "PassFailTest": "pass_fail",
    "ET_PFT": "pass_fail",
    "ET_MPFT": "multi_pass_fail",
    "MultiBooleanTest": "multi_pass_fail",
    "StringValueTest": "string",
    "ET_SVT": "string",
    "ET_MSVT": "multi_string",
    "MultiStringTest": "multi_string",
}
_STEP_TYPES = {
    "numeric": "ET_NLT",
    "multi_numeric": "ET_MNLT",
    "pass_fail": "ET_PFT",
    "multi_pass_fail": "ET_MPFT",
    "string": "ET_SVT",
    "multi_string": "ET_MSVT",
}


def split_sequence(name: str) -> tuple[str, str]:
    """``C:\\x\\file.seq#Main`` as ``(C:\\x\\file.seq, Main)``; without ``#``, twice the name."""
    path, hashed, sequence = name.rpartition("#")
    return (path, sequence) if hashed and path else (name, name)


@dataclass
class StepContext:
    """What every step needs: the zone in which times without an offset are read."""

    tz: dt.tzinfo | None

    def moment(self, text: str | None) -> dt.datetime | None:
        """An ATML ``dateTime`` as an aware datetime (its own offset, else ``tz``), or None."""
        if not text:
            return None
        text = text.strip()
        head, dot, tail = text.partition(".")
        if dot:  # at most 6 fraction digits for fromisoformat
            digits = len(tail) - len(tail.lstrip("0123456789"))
            tail = tail[: min(digits, 6)] + tail[digits:]
            text = f"{head}.{tail}"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is not None:
            return moment
        return moment.replace(tzinfo=self.tz) if self.tz is not None else moment.astimezone()


def _props(node: AtmlNode) -> AtmlNode | None:
    return node.find("Extension", "TSStepProperties")


def _prop_text(props: AtmlNode | None, tag: str) -> str | None:
    found = props.find(tag) if props is not None else None
    if found is None:
        return None
    return (found.attrib.get("value") or found.text).strip() or None


def _data_items(node: AtmlNode) -> dict[str, AtmlNode]:
    """The ``Data/Collection/Item`` Datums of a step, by item name."""
    collection = node.find("Data", "Collection")
    found: dict[str, AtmlNode] = {}
    for item in collection.findall("Item") if collection is not None else ():
        datum = item.find("Datum")
        if datum is not None:
            found.setdefault(item.attrib.get("name", ""), datum)
    return found


def _base(node: AtmlNode, ctx: StepContext, step_type: str, status: str) -> Step:
    """A step with what every kind shares: name, group, start, duration, GUID, failure flag."""
    props = _props(node)
    start = ctx.moment(node.attrib.get("startDateTime"))
    total = number(_prop_text(props, "TotalTime"))
    if total is None:
        end = ctx.moment(node.attrib.get("endDateTime"))
        if start is not None and end is not None:
            total = (end - start).total_seconds()
    caused = (_prop_text(props, "StepCausedSequenceFailure") or "").lower() == "true"
    guid = node.attrib.get("testReferenceID") or _prop_text(props, "StepId")
    group = _GROUPS.get((_prop_text(props, "StepGroup") or "").lower(), "M")
    name = (
        node.attrib.get("callerName") or caller_name(node) or node.attrib.get("name") or step_type
    )
    return Step(
        id=0,
        group=group,
        step_type=step_type,
        name=cut(name),
        status=status,
        start=UNSET if start is None else format_timestamp(start),
        tot_time=UNSET if total is None or not math.isfinite(total) or total < 0 else total,
        ts_guid=UNSET if not guid else cut(guid),
        caused_seq_failure=True if caused and status != StepStatus.PASSED else UNSET,
        loop=_loop(props.find("LoopingProperties") if props is not None else None),
    )


def _loop(looping: AtmlNode | None) -> LoopInfo | UnsetType:
    """``ts:LoopingProperties``: a looped step's summary (counts) or one iteration (index)."""
    if looping is None:
        return UNSET

    def count(tag: str) -> int | UnsetType:
        found = number(_prop_text(looping, tag))
        ok = found is not None and math.isfinite(found) and 0 <= found < 2**31
        return int(found) if ok and found is not None else UNSET

    loop = LoopInfo(
        idx=count("LoopIndex"),
        num=count("NumLoops"),
        ending_index=count("EndingLoopIndex"),
        passed=count("NumPassed"),
        failed=count("NumFailed"),
    )
    return UNSET if loop == LoopInfo() else loop


def caller_name(node: AtmlNode) -> str | None:
    """The calling step's name from 2.02's ``userDefinedType="SequenceCallStepName = 'X'"``."""
    key, equals, quoted = node.attrib.get("userDefinedType", "").partition("=")
    if not equals or key.strip() != "SequenceCallStepName":
        return None
    return quoted.strip().strip("'\"") or None


def _roll_up(children: list[Step]) -> str:
    seen = {child.status for child in children}
    return next((s.value for s in _WORST_FIRST if s in seen), StepStatus.PASSED.value)


def sequence_step(node: AtmlNode, ctx: StepContext, version: str | None = None) -> Step:
    """A ``TestGroup`` (or the ``ResultSet``) and everything below it as a sequence call."""
    children = [_child(child, ctx) for child in node.children]
    steps = [step for step in children if step is not None]
    own = outcome_status(node.find("Outcome"))
    status = own.value if own is not None else _roll_up(steps)
    path, sequence = split_sequence(node.attrib.get("name", ""))
    for result in node.findall("TestResult"):
        datum = result.find("TestData", "Datum")
        if label(result) == "SeqFileVersion" and datum is not None and version is None:
            version = datum_text(datum).strip() or None
    base = _base(node, ctx, _prop_text(_props(node), "StepType") or "SequenceCall", status)
    if base.step_type not in _SEQUENCE_TYPES:
        base = msgspec.structs.replace(base, step_type="SequenceCall")
    if not node.attrib.get("callerName") and caller_name(node) is None and sequence:
        base = msgspec.structs.replace(base, name=cut(sequence))
    info = SequenceCallInfo(
        path=cut(path, 500) if path else UNSET,
        name=cut(sequence) if sequence else UNSET,
        version=UNSET if version is None else cut(version),
    )
    return settled(msgspec.structs.replace(base, seq_call=info, steps=tuple(steps)))


def settled(sequence: Step) -> Step:
    """``sequence`` as is, or, when it passed, without its children's ``causedSeqFailure``
    flags (a file may say a step caused a failure of a sequence it also says passed)."""
    if sequence.status != StepStatus.PASSED:
        return sequence
    if not any(child.caused_seq_failure is True for child in sequence.children):
        return sequence
    children = tuple(
        msgspec.structs.replace(child, caused_seq_failure=UNSET) for child in sequence.children
    )
    return msgspec.structs.replace(sequence, steps=children)


def _child(node: AtmlNode, ctx: StepContext) -> Step | None:
    if node.tag == "TestGroup":
        return sequence_step(node, ctx)
    if node.tag == "SessionAction":
        return _action(node, ctx)
    if node.tag == "Test":
        return _test(node, ctx)
    return None


def _action(node: AtmlNode, ctx: StepContext) -> Step:
    """A ``SessionAction`` (or a ``MessagePopup``/``CallExecutable`` ``Test``): a step of its
    ``ts:StepType``, done unless its outcome says otherwise."""
    step_type = cut(_prop_text(_props(node), "StepType") or "Action")
    status = outcome_status(node.find("ActionOutcome") or node.find("Outcome"))
    step = _base(node, ctx, step_type, (status or StepStatus.DONE).value)
    items = _data_items(node)
    for result in node.findall("TestResult"):
        datum = result.find("TestData", "Datum")
        if datum is not None:
            items.setdefault(label(result), datum)
    text = datum_text(items["ReportText"]).strip() if "ReportText" in items else ""
    if text:
        step = msgspec.structs.replace(step, report_text=cut(text, TEXT_LIMIT))
    exit_code = datum_number(items.get("ExitCode"))
    if step_type == "CallExecutable" and exit_code is not None and math.isfinite(exit_code):
        step = msgspec.structs.replace(step, call_exe=CallExecutableInfo(exit_code=exit_code))
    button = datum_number(items.get("ButtonHit"))
    if step_type == "MessagePopup" and button is not None and math.isfinite(button):
        response = datum_text(items["Response"]) if "Response" in items else None
        popup = MessagePopupInfo(button=int(button), response=response or UNSET)
        step = msgspec.structs.replace(step, message_popup=popup)
    return step


@dataclass
class _Found:
    """A ``Test``'s results sorted: measurement candidates by kind, report texts, the rest."""

    numeric: list[AtmlNode] = field(default_factory=list)
    string: list[AtmlNode] = field(default_factory=list)
    boolean: list[AtmlNode] = field(default_factory=list)
    collections: list[AtmlNode] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def _sort(node: AtmlNode) -> _Found:
    found = _Found()
    for result in node.findall("TestResult"):
        data = result.find("TestData")
        datum = data.find("Datum") if data is not None else None
        if datum is None:
            if data is not None and data.find("Collection") is not None:
                found.collections.append(result)
            continue
        if label(result) == "ReportText":
            found.texts.append(datum_text(datum).strip())
            continue
        kind = datum_kind(datum)
        if kind == "number":
            found.numeric.append(result)
        elif kind == "string":
            found.string.append(result)
        elif kind == "boolean":
            found.boolean.append(result)
    items = _data_items(node)
    if "ReportText" in items:
        found.texts.append(datum_text(items["ReportText"]).strip())
    return found


def _test(node: AtmlNode, ctx: StepContext) -> Step:
    """A ``Test`` as a measured step (or a sequence call that did not run, or a generic step)."""
    said_type = _prop_text(_props(node), "StepType")
    ts_type = said_type or "Test"
    own = outcome_status(node.find("Outcome"))
    if ts_type in _SEQUENCE_TYPES:
        status = (own or StepStatus.SKIPPED).value
        sequence = split_sequence(node.attrib.get("name", ""))[1]
        step = _base(node, ctx, ts_type, status)
        info = SequenceCallInfo(name=cut(sequence) if sequence else UNSET)
        return msgspec.structs.replace(step, seq_call=info, steps=())
    if ts_type in ("MessagePopup", "CallExecutable"):
        return _action(node, ctx)
    found = _sort(node)
    kind = _KINDS.get(ts_type) or _guess(found)
    if kind is None and said_type is None and own in (StepStatus.PASSED, StepStatus.FAILED):
        kind = "pass_fail"  # an untyped Test (not TestStand's) judged by its outcome alone
    notes: list[str] = []
    made: list[NumericMeasurement | None] = []
    strings: tuple[StringMeasurement, ...] = ()
    booleans: tuple[BooleanMeasurement, ...] = ()
    used: list[AtmlNode] = []
    if kind == "numeric":
        chosen = _prefer(found.numeric, "Numeric")
        used = chosen[:1]
        made = [numeric_meas(r, own, notes, named=False) for r in used]
    elif kind == "multi_numeric":
        used = found.numeric
        passed = own if own == StepStatus.PASSED else None  # then every measurement passed
        made = [numeric_meas(r, passed, notes, named=True) for r in used]
    elif kind == "string":
        used = _prefer(found.string, "String")[:1]
        strings = tuple(string_meas(r, own, notes) for r in used)
    elif kind == "pass_fail":
        used = _prefer(found.boolean, "PassFail")[:1]
        booleans = (boolean_meas(used[0] if used else None, own),)
    elif kind in ("multi_pass_fail", "multi_string"):
        booleans, strings = collected(found.collections, kind)
    numeric = unique_numeric(tuple(m for m in made if m is not None))
    extra = [r for r in found.numeric + found.string + found.boolean if r not in used]
    for result in extra:
        datum = result.find("TestData", "Datum")
        if datum is not None:
            notes.append(f"{label(result)}: {datum_text(datum).strip()}")
    measured = [m.status for m in numeric] + [m.status for m in strings]
    measured += [m.status for m in booleans]
    status = own.value if own is not None else _measured_status(measured)
    if status == StepStatus.PASSED and "F" in measured:  # a measurement says it failed
        status = StepStatus.FAILED.value
    step_type = _STEP_TYPES.get(kind or "", cut(ts_type))
    step = _base(node, ctx, step_type, status)
    text = "\n".join(t for t in (*found.texts, *notes) if t)
    return msgspec.structs.replace(
        step,
        report_text=cut(text, TEXT_LIMIT) if text else UNSET,
        numeric_meas=numeric or UNSET,
        string_meas=strings or UNSET,
        boolean_meas=booleans or UNSET,
    )


def _guess(found: _Found) -> str | None:
    """The kind of an unknown step type from its results (None: no measurement)."""
    if found.numeric and not found.string and not found.boolean:
        return "numeric" if len(found.numeric) == 1 else "multi_numeric"
    if len(found.string) == 1 and not found.numeric and not found.boolean:
        return "string"
    if len(found.boolean) == 1 and not found.numeric and not found.string:
        return "pass_fail"
    return None


def _prefer(results: list[AtmlNode], wanted: str) -> list[AtmlNode]:
    """``results`` with the one labelled ``wanted`` first."""
    return sorted(results, key=lambda r: label(r) != wanted)


def _measured_status(statuses: list[str]) -> str:
    if "F" in statuses:
        return StepStatus.FAILED.value
    if statuses and set(statuses) == {"S"}:
        return StepStatus.SKIPPED.value
    return StepStatus.PASSED.value if statuses else StepStatus.DONE.value
