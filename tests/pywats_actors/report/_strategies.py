"""Hypothesis strategies and helpers shared by the builder and cross-check tests: random but
valid programs for a ReportBuilder."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st

from pywats_actors.report import (
    Chart,
    ReportBuilder,
    SequenceBuilder,
    StepStatus,
    chart_series,
    numeric_measurement,
)

CET = dt.timezone(dt.timedelta(hours=1))
REPORT_ID = uuid.UUID("5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70")


def make_builder(**changes: Any) -> ReportBuilder:
    header: dict[str, Any] = {
        "pn": "DEMO-BOARD-01",
        "sn": "SN000123",
        "rev": "B",
        "process_code": 10,
        "machine_name": "STATION-07",
        "location": "Line 2",
        "purpose": "Production",
        "operator": "operator1",
        "start": dt.datetime(2026, 3, 2, 14, 5, 0, 123456, tzinfo=CET),
        "report_id": REPORT_ID,
    }
    header.update(changes)
    return ReportBuilder(**header)


TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(str.strip)
HEADER_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=100).filter(str.strip)
NUMBER = st.floats(allow_nan=False, allow_infinity=False)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
STARTS = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=OFFSETS
)
SINGLE_OPS = ["EQ", "NE", "GT", "GE", "LT", "LE"]
DUAL_OPS = ["GTLT", "GTLE", "GELT", "GELE", "LTGT", "LTGE", "LEGT", "LEGE"]


@st.composite
def numeric_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments of numeric_measurement: any operator with limits that fit it."""
    kind = draw(st.sampled_from(["log", "single", "dual", "inferred"]))
    if kind == "log":
        return {"comp_op": "LOG"}
    if kind == "single":
        return {"comp_op": draw(st.sampled_from(SINGLE_OPS)), "limit": draw(NUMBER)}
    low, high = sorted(draw(st.tuples(NUMBER, NUMBER)))
    if kind == "dual":
        return {"comp_op": draw(st.sampled_from(DUAL_OPS)), "low": low, "high": high}
    return draw(st.sampled_from([{"low": low, "high": high}, {"low": low}, {"high": high}, {}]))


def programs(
    *, statuses: tuple[StepStatus, ...] = tuple(StepStatus), text: st.SearchStrategy[str] = TEXT
) -> st.SearchStrategy[tuple[Any, ...]]:
    """Instructions for :func:`run`: leaf steps of every kind and nested sequences.

    Args:
        statuses: the statuses an action step may be given.
        text: names of steps and measurements.
    """
    leaves = st.one_of(
        st.tuples(st.just("numeric"), text, NUMBER, numeric_kwargs(), st.none() | text),
        st.tuples(st.just("pass_fail"), text, st.booleans()),
        st.tuples(
            st.just("string"),
            text,
            st.text(max_size=8),
            st.sampled_from(["CASESENSIT", "IGNORECASE", "EQ", "NE", "IgnoreCase"]),
            st.text(max_size=8),
        ),
        st.tuples(
            st.just("multi_numeric"),
            text,
            st.lists(
                st.tuples(text, NUMBER, numeric_kwargs()),
                min_size=1,
                max_size=3,
                unique_by=lambda m: m[0],
            ),
        ),
        st.tuples(st.just("action"), text, st.sampled_from(statuses)),
        st.tuples(
            st.just("popup"), text, st.integers(0, 2**31 - 1), st.none() | st.text(max_size=8)
        ),
        st.tuples(st.just("chart"), text, st.lists(NUMBER, min_size=1, max_size=5)),
    )
    return st.recursive(
        leaves,
        lambda children: st.tuples(st.just("sequence"), text, st.lists(children, max_size=4)),
        max_leaves=25,
    )


def run(seq: SequenceBuilder, program: tuple[Any, ...]) -> None:
    """Apply one generated instruction to a sequence builder."""
    match program:
        case ("numeric", name, value, kwargs, unit):
            seq.numeric(name, value, unit=unit, **kwargs)
        case ("pass_fail", name, passed):
            seq.pass_fail(name, passed)
        case ("string", name, value, op, limit):
            seq.string(name, value, comp_op=op, limit=limit)
        case ("multi_numeric", name, measurements):
            seq.multi_numeric(
                name, [numeric_measurement(v, name=n, **kw) for n, v, kw in measurements]
            )
        case ("action", name, status):
            seq.action(name, status=status)
        case ("popup", name, button, response):
            seq.message_popup(name, button=button, response=response)
        case ("chart", name, values):
            seq.chart(name, Chart(series=(chart_series(name, values, range(len(values))),)))
        case ("sequence", name, children):
            child = seq.sequence(name)
            for instruction in children:
                run(child, instruction)
