"""Tests of the WSXF value spellings: XML Schema lexical forms read strictly, written so they read
back the same."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pywats_actors.report._wsxf_values import (
    BOOLEAN,
    DOUBLE,
    GUID,
    INTEGER,
    MEASUREMENT_RESULT,
    REPORT_RESULT,
    STEP_GROUP,
    STEP_RESULT,
    TIMESTAMP,
    ValueKind,
)


class TestRead:
    @pytest.mark.parametrize(
        ("kind", "text", "value"),
        [
            (INTEGER, "-42", -42),
            (INTEGER, " +7\n", 7),
            (DOUBLE, "28.9230769230769", 28.9230769230769),
            (DOUBLE, ".5", 0.5),
            (DOUBLE, "1E-3", 0.001),
            (DOUBLE, "-INF", -math.inf),
            (BOOLEAN, "1", True),
            (BOOLEAN, " false ", False),
            (TIMESTAMP, "2026-01-30T22:01:41.4707353+01:00", "2026-01-30T22:01:41.4707353+01:00"),
            (
                GUID,
                "33A2D408-3FC8-480B-B554-6866C77FD91C",
                uuid.UUID(int=0x33A2D4083FC8480BB5546866C77FD91C),
            ),
            (STEP_RESULT, "Unknown", "U"),
            (STEP_GROUP, "Cleanup", "C"),
            (MEASUREMENT_RESULT, "Skipped", "S"),
            (REPORT_RESULT, "Terminated", "T"),
        ],
    )
    def test_valid(self, kind: ValueKind, text: str, value: object) -> None:
        """Each XML Schema spelling reads as the model's value (whitespace around numbers,
        booleans and dates is ignored, as the schema types collapse it)."""
        assert kind.read(text) == value

    @pytest.mark.parametrize(
        ("kind", "text"),
        [
            (INTEGER, "1_000"),
            (INTEGER, "\u0663"),
            (INTEGER, "1.0"),
            (INTEGER, "9" * 21),
            (INTEGER, ""),
            (DOUBLE, "infinity"),
            (DOUBLE, "inf"),
            (DOUBLE, "1_0"),
            (DOUBLE, "0x10"),
            (DOUBLE, "1,5"),
            (BOOLEAN, "True"),
            (BOOLEAN, "yes"),
            (TIMESTAMP, "2026-02-30T00:00:00Z"),
            (TIMESTAMP, "2026-01-30 22:01:41"),
            (TIMESTAMP, "2026-01-30T22:01:41.12345678Z"),
            (GUID, "33a2d4083fc8480bb5546866c77fd91c"),
            (GUID, "urn:uuid:33a2d408-3fc8-480b-b554-6866c77fd91c"),
            (STEP_RESULT, "passed"),
            (STEP_RESULT, "P"),
            (REPORT_RESULT, "Done"),
        ],
    )
    def test_invalid(self, kind: ValueKind, text: str) -> None:
        """What an XML Schema reader refuses is refused, even where Python's int() or float()
        would accept it."""
        with pytest.raises(ValueError):
            kind.read(text)

    def test_long_values_are_shortened_in_messages(self) -> None:
        """A hostile value does not flood the error message."""
        with pytest.raises(ValueError) as caught:
            DOUBLE.read("x" * 100_000)
        assert len(str(caught.value)) < 200


class TestWrite:
    @given(st.floats())
    def test_doubles_read_back_the_same(self, value: float) -> None:
        """Every double, signed zeros and the infinities included, is written in a form that
        reads back as the same double; NaN reads back as NaN (xs:double has one NaN)."""
        back = DOUBLE.read(DOUBLE.write(value))
        if math.isnan(value):
            assert math.isnan(back)
        else:
            assert (back, math.copysign(1, back)) == (value, math.copysign(1, value))

    @given(st.integers(-(2**63), 2**64))
    def test_integers_read_back_the_same(self, value: int) -> None:
        """Integers in the 64-bit range are written and read back."""
        assert INTEGER.read(INTEGER.write(value)) == value

    @pytest.mark.parametrize(
        ("kind", "value"),
        [
            (INTEGER, True),
            (INTEGER, 10**25),
            (INTEGER, 1.5),
            (DOUBLE, "1"),
            (BOOLEAN, 1),
            (GUID, "33a2d408-3fc8-480b-b554-6866c77fd91c"),
            (TIMESTAMP, " 2026-01-30T22:01:41Z"),
            (TIMESTAMP, "yesterday"),
            (STEP_RESULT, "Passed"),
            (STEP_GROUP, None),
        ],
    )
    def test_unwritable(self, kind: ValueKind, value: object) -> None:
        """A value of the wrong type, or one the reader would refuse, is not written."""
        with pytest.raises(ValueError):
            kind.write(value)
