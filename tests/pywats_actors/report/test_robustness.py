"""Bad input of every kind gives a ReportDecodeError or validation problems, never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pywats_actors.report import ReportDecodeError, decode_report, encode_report, validate

from ..._reports import COMPLETE_REPORT

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree a value can be replaced."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


PLACES = _paths(COMPLETE_REPORT)[1:]


def _decode_validate_encode(document: bytes | str) -> None:
    try:
        report = decode_report(document)
    except ReportDecodeError:
        return
    validate(report)
    assert decode_report(encode_report(report)) == report


class TestHostileInput:
    @settings(max_examples=200, deadline=None)
    @given(document=st.binary(max_size=64) | JSON_VALUES.map(json.dumps))
    def test_arbitrary_input(self, document: bytes | str) -> None:
        """Random bytes or JSON decode to an error, never to an exception of another kind."""
        _decode_validate_encode(document)

    @settings(max_examples=300, deadline=None)
    @given(place=st.sampled_from(PLACES), value=JSON_VALUES, extra_key=st.booleans())
    def test_a_report_with_one_value_replaced(
        self, place: tuple[Any, ...], value: Any, extra_key: bool
    ) -> None:
        """Any value of a valid report replaced by any JSON value (or given a sibling key) decodes
        to a report that validates and round-trips, or to a ReportDecodeError."""
        tree = json.loads(json.dumps(COMPLETE_REPORT))
        parent = tree
        for step in place[:-1]:
            parent = parent[step]
        if extra_key and isinstance(parent, dict):
            parent["zz_extra"] = value
        else:
            parent[place[-1]] = value
        _decode_validate_encode(json.dumps(tree))
