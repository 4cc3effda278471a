"""Tests of the comparison operators: all 15 numeric ones, the string ones, and limit placement."""

from __future__ import annotations

import pytest

from pywats_actors.report import (
    LimitUse,
    MeasurementStatus,
    NumericCompOp,
    StringCompOp,
    compare_numeric,
    compare_string,
    limit_use,
)

P, F = MeasurementStatus.PASSED, MeasurementStatus.FAILED

# (operator, value, lowLimit, highLimit, expected): every operator on and around its limits.
NUMERIC_CASES = [
    ("LOG", 1e300, None, None, P),
    ("EQ", 5.0, 5.0, None, P),
    ("EQ", 5.000001, 5.0, None, F),
    ("NE", 5.0, 5.0, None, F),
    ("NE", 4.0, 5.0, None, P),
    ("GT", 5.0, 5.0, None, F),
    ("GT", 5.1, 5.0, None, P),
    ("GE", 5.0, 5.0, None, P),
    ("GE", 4.9, 5.0, None, F),
    ("LT", 5.0, 5.0, None, F),
    ("LT", 4.9, 5.0, None, P),
    ("LE", 5.0, 5.0, None, P),
    ("LE", 5.1, 5.0, None, F),
    ("GTLT", 1.0, 1.0, 3.0, F),
    ("GTLT", 2.0, 1.0, 3.0, P),
    ("GTLT", 3.0, 1.0, 3.0, F),
    ("GTLE", 1.0, 1.0, 3.0, F),
    ("GTLE", 3.0, 1.0, 3.0, P),
    ("GELT", 1.0, 1.0, 3.0, P),
    ("GELT", 3.0, 1.0, 3.0, F),
    ("GELE", 1.0, 1.0, 3.0, P),
    ("GELE", 3.0, 1.0, 3.0, P),
    ("GELE", 3.5, 1.0, 3.0, F),
    ("LTGT", 0.5, 1.0, 3.0, P),
    ("LTGT", 1.0, 1.0, 3.0, F),
    ("LTGT", 3.0, 1.0, 3.0, F),
    ("LTGT", 3.5, 1.0, 3.0, P),
    ("LTGE", 1.0, 1.0, 3.0, F),
    ("LTGE", 3.0, 1.0, 3.0, P),
    ("LEGT", 1.0, 1.0, 3.0, P),
    ("LEGT", 3.0, 1.0, 3.0, F),
    ("LEGE", 1.0, 1.0, 3.0, P),
    ("LEGE", 3.0, 1.0, 3.0, P),
    ("LEGE", 2.0, 1.0, 3.0, F),
]


class TestNumericComparison:
    @pytest.mark.parametrize(("op", "value", "low", "high", "expected"), NUMERIC_CASES)
    def test_operator_decides_pass_or_fail(
        self, op: str, value: float, low: float | None, high: float | None, expected: str
    ) -> None:
        """Each operator passes exactly on its side of its limits, bounds included or not."""
        assert compare_numeric(op, value, low, high) == expected

    def test_the_cases_cover_all_fifteen_operators(self) -> None:
        """The table above exercises every numeric operator WSJF defines."""
        assert {case[0] for case in NUMERIC_CASES} == set(NumericCompOp)
        assert len(NumericCompOp) == 15

    def test_operator_names_are_read_in_any_case(self) -> None:
        """``gele`` is GELE, as the server reads it."""
        assert compare_numeric("gele", 2.0, 1.0, 3.0) == P

    @pytest.mark.parametrize(
        ("op", "low", "high"), [("GE", None, None), ("GELE", 1.0, None), ("LTGT", None, 2.0)]
    )
    def test_missing_limit_is_an_error(
        self, op: str, low: float | None, high: float | None
    ) -> None:
        """An operator without the limits it reads cannot be evaluated."""
        with pytest.raises(ValueError, match="needs"):
            compare_numeric(op, 1.0, low, high)

    def test_unknown_operator_is_an_error(self) -> None:
        """A name outside the 15 operators is refused."""
        with pytest.raises(ValueError, match="unknown numeric"):
            compare_numeric("BETWEEN", 1.0, 0.0, 2.0)


class TestLimitUse:
    @pytest.mark.parametrize("op", list(NumericCompOp))
    def test_limit_fields_follow_the_operator(self, op: NumericCompOp) -> None:
        """LOG reads no limit, the six single-limit operators only lowLimit, the rest both."""
        expected = (
            LimitUse.NONE if op == "LOG" else LimitUse.LOW_ONLY if len(op) == 2 else LimitUse.BOTH
        )
        assert limit_use(op) is expected


class TestStringComparison:
    @pytest.mark.parametrize(
        ("op", "value", "limit", "expected"),
        [
            ("LOG", "anything", None, P),
            ("CASESENSIT", "TestValue", "TestValue", P),
            ("CASESENSIT", "TestValue", "testvalue", F),
            ("IGNORECASE", "TestValue", "testvalue", P),
            ("IgnoreCase", "Straße", "STRASSE", P),
            ("IGNORECASE", "TestValue", "other", F),
            ("EQ", "a", "a", P),
            ("EQ", "a", "A", F),
            ("NE", "a", "b", P),
            ("NE", "a", "a", F),
        ],
    )
    def test_operator_decides_pass_or_fail(
        self, op: str, value: str, limit: str | None, expected: str
    ) -> None:
        """String operators compare exactly, case-folded, or not at all."""
        assert compare_string(op, value, limit) == expected

    def test_all_string_operators_are_known(self) -> None:
        """The five documented string operators exist."""
        assert set(StringCompOp) == {"LOG", "EQ", "NE", "CASESENSIT", "IGNORECASE"}

    def test_comparing_without_limit_is_an_error(self) -> None:
        """A comparing operator needs the expected string."""
        with pytest.raises(ValueError, match="needs a limit"):
            compare_string("CASESENSIT", "a")
