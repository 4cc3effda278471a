"""Tests of the model's own behaviour: step kinds, tree navigation, timestamps, immutability."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from pywats_actors.report import (
    STEP_KINDS,
    UNSET,
    Step,
    StepKind,
    UURReport,
    UUTReport,
    format_timestamp,
    parse_timestamp,
    step_kind,
    timestamp_ticks,
    value_or_none,
)


def _step(step_id: int, *children: Step, step_type: str = "SequenceCall") -> Step:
    return Step(
        id=step_id,
        group="M",
        step_type=step_type,
        name=f"s{step_id}",
        status="P",
        steps=children or UNSET,
    )


class TestStepKinds:
    @pytest.mark.parametrize(
        ("step_type", "kind"),
        [
            ("SequenceCall", StepKind.SEQUENCE_CALL),
            ("WATS_SeqCall", StepKind.SEQUENCE_CALL),
            ("ET_NLT", StepKind.NUMERIC_LIMIT),
            ("NumericLimitTest", StepKind.NUMERIC_LIMIT),
            ("ET_MNLT", StepKind.MULTI_NUMERIC_LIMIT),
            ("ET_PFT", StepKind.PASS_FAIL),
            ("PassFailTest", StepKind.PASS_FAIL),
            ("ET_MPFT", StepKind.MULTI_PASS_FAIL),
            ("ET_SVT", StepKind.STRING_VALUE),
            ("ET_MSVT", StepKind.MULTI_STRING_VALUE),
            ("WATS_XYGMNLT", StepKind.CHART),
            ("ET_A", StepKind.ACTION),
            ("Action", StepKind.ACTION),
            ("MessagePopup", StepKind.MESSAGE_POPUP),
            ("CallExecutable", StepKind.CALL_EXECUTABLE),
            ("NI_Wait", StepKind.FLOW),
            ("NI_Flow_If", StepKind.FLOW),
            ("Label", StepKind.FLOW),
            ("MyCo_Calibrate", StepKind.GENERIC),
            ("et_nlt", StepKind.GENERIC),
        ],
    )
    def test_type_names_map_to_kinds(self, step_type: str, kind: StepKind) -> None:
        """Known TestStand and WATS type names have their kind; any other name is generic."""
        assert step_kind(step_type) is kind
        assert _step(1, step_type=step_type).kind is kind

    def test_catalogue_is_read_only(self) -> None:
        """The type catalogue cannot be changed by accident."""
        with pytest.raises(TypeError):
            STEP_KINDS["X"] = StepKind.ACTION  # type: ignore[index]


class TestStepTree:
    def test_walk_is_depth_first_in_document_order(self) -> None:
        """walk() yields a step, then its children's subtrees in order."""
        root = _step(1, _step(2, _step(3), _step(4)), _step(5))
        assert [step.id for step in root.walk()] == [1, 2, 3, 4, 5]

    def test_children_of_a_leaf_are_empty(self) -> None:
        """A step without ``steps`` (absent or null) has no children."""
        assert _step(1).children == ()
        assert msgspec.structs.replace(_step(1), steps=None).children == ()

    def test_structs_are_frozen(self) -> None:
        """Model objects cannot be changed in place; use msgspec.structs.replace."""
        step = _step(1)
        with pytest.raises(AttributeError):
            step.name = "other"  # type: ignore[misc]

    def test_report_classes_name_their_type(self) -> None:
        """The report type letter is available on the class."""
        assert (UUTReport.type, UURReport.type) == ("T", "R")


class TestTimestamps:
    def test_parse_keeps_the_offset(self) -> None:
        """A WSJF timestamp becomes an aware datetime (ticks beyond microseconds dropped)."""
        moment = parse_timestamp("2026-01-30T22:01:41.4707353+01:00")
        assert moment == dt.datetime(
            2026, 1, 30, 22, 1, 41, 470735, tzinfo=dt.timezone(dt.timedelta(hours=1))
        )

    def test_ticks_compare_instants_exactly(self) -> None:
        """The same instant in two spellings has the same ticks, to 100 ns."""
        local = timestamp_ticks("2026-01-30T22:01:41.4707353+01:00")
        assert local == timestamp_ticks("2026-01-30T21:01:41.4707353Z")
        assert local + 1 == timestamp_ticks("2026-01-30T21:01:41.4707354Z")

    def test_format_writes_local_and_utc_forms(self) -> None:
        """format_timestamp writes the datetime's own offset, or UTC with Z."""
        moment = dt.datetime(2026, 3, 2, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        assert format_timestamp(moment) == "2026-03-02T14:05:00.000000+01:00"
        assert format_timestamp(moment, utc=True) == "2026-03-02T13:05:00.000000Z"

    @pytest.mark.parametrize(
        "moment",
        [
            dt.datetime(2026, 3, 2, 14, 5),
            dt.datetime(2026, 3, 2, tzinfo=dt.timezone(dt.timedelta(minutes=9, seconds=21))),
        ],
    )
    def test_format_refuses_what_wsjf_cannot_say(self, moment: dt.datetime) -> None:
        """A naive datetime, or an offset with seconds, has no WSJF spelling."""
        with pytest.raises(ValueError):
            format_timestamp(moment)

    @pytest.mark.parametrize("text", ["2026-03-02", "2026-13-02T00:00:00Z", "yesterday"])
    def test_parse_refuses_non_timestamps(self, text: str) -> None:
        """Text that is not a real WSJF date-time is refused."""
        with pytest.raises(ValueError):
            parse_timestamp(text)


class TestMaybe:
    def test_value_or_none_folds_absent_and_null(self) -> None:
        """UNSET and None both become None; a value stays."""
        assert value_or_none(UNSET) is None
        assert value_or_none(None) is None
        assert value_or_none(0.0) == 0.0
