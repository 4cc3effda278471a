"""Tests of the WSXF mapping tables: every model field is either mapped or known not to be
carried, so a field added to the model cannot be lost through WSXF unnoticed."""

from __future__ import annotations

import msgspec
import pytest

from pywats_actors.report import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    ChartSeries,
    LoopInfo,
    MessagePopupInfo,
    MiscInfo,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StringMeasurement,
    SubUnit,
    UUTInfo,
    UUTReport,
)
from pywats_actors.report import _wsxf_names as names

from ._wsxf import NOT_CARRIED

# Each model class: the attribute tables that hold its fields, and the fields carried as child
# elements or element text instead.
MAPPED: dict[type[msgspec.Struct], tuple[tuple[names.Attribute, ...], frozenset[str]]] = {
    UUTReport: (
        names.REPORT + names.PROCESS,
        frozenset({"uut", "misc_infos", "sub_units", "root"}),
    ),
    UUTInfo: (names.UUT, frozenset({"comment"})),
    MiscInfo: (names.MISC_INFO, frozenset({"text"})),
    SubUnit: (names.SUB_UNIT, frozenset()),
    Step: (
        names.STEP,
        frozenset(
            {
                "report_text",
                "loop",
                "seq_call",
                "numeric_meas",
                "string_meas",
                "boolean_meas",
                "chart",
                "message_popup",
                "call_exe",
                "steps",
            }
        ),
    ),
    LoopInfo: (names.LOOP, frozenset()),
    SequenceCallInfo: (names.SEQUENCE_CALL, frozenset()),
    NumericMeasurement: (names.NUMERIC_MEASUREMENT, frozenset()),
    StringMeasurement: (names.STRING_MEASUREMENT, frozenset()),
    BooleanMeasurement: (names.BOOLEAN_MEASUREMENT, frozenset()),
    Chart: (names.CHART, frozenset({"series"})),
    ChartSeries: (names.CHART_SERIES, frozenset({"xdata", "ydata"})),
    MessagePopupInfo: (names.MESSAGE_POPUP, frozenset()),
    CallExecutableInfo: (names.CALL_EXECUTABLE, frozenset()),
}


class TestMapping:
    @pytest.mark.parametrize("cls", list(MAPPED), ids=lambda cls: cls.__name__)
    def test_every_field_is_mapped_or_known_lost(self, cls: type[msgspec.Struct]) -> None:
        """A class's fields are exactly: those in its tables, those carried as elements or text,
        and those listed as not carried (plus unknown_fields, never carried)."""
        table, elements = MAPPED[cls]
        in_table = [attribute.field for attribute in table]
        assert len(in_table) == len(set(in_table)), "a field mapped twice"
        fields = {field.name for field in msgspec.structs.fields(cls)}
        parts = [set(in_table), set(elements), set(NOT_CARRIED[cls]), {"unknown_fields"}]
        assert set().union(*parts) == fields
        assert sum(map(len, parts)) == len(fields), "a field is both mapped and lost"

    def test_every_class_of_a_test_report_is_covered(self) -> None:
        """The lists cover the same classes, so no part of a test report is forgotten."""
        assert set(MAPPED) == set(NOT_CARRIED)

    @pytest.mark.parametrize("table", [table for table, _ in MAPPED.values()])
    def test_attribute_names_are_unique_per_element(
        self, table: tuple[names.Attribute, ...]
    ) -> None:
        """No element has two rows for the same XML attribute."""
        xml = [attribute.xml for attribute in table]
        assert len(xml) == len(set(xml))
