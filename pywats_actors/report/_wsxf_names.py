"""The WSXF vocabulary: namespaces, and which XML attribute holds which model field.

WSXF (WATS Standard XML Format) is the XML twin of WSJF. The mapping here is the one of the
protocol notes (``wats-protocol.md`` section 4), checked against a server export of the same report
in both formats. Each element's attributes are a table of :class:`Attribute` rows, in the order the
server writes them; the reader and the writer both work from these tables, so a mapping is stated
once. Text content (``Comment``, ``ReportText``, a ``MiscInfo``'s text, ``ydata``/``xdata``) is
handled by the reader and the writer themselves.

Attributes the server writes that have no WSJF field are ignored on input and not written:
``Step/@StepIndex``, ``MeasIndex`` and ``MeasOrderNumber`` on measurements and on
``SequenceCall``/``MessagePopup``/``Callexe``, ``SequenceCall/@Filename`` (WSJF keeps the path
only), ``MiscInfo/@idx`` and ``@order_no``, ``Chart/@idx``.
"""

from __future__ import annotations

from typing import NamedTuple

from ._wsxf_values import (
    BOOLEAN,
    DOUBLE,
    GUID,
    INTEGER,
    MEASUREMENT_RESULT,
    REPORT_RESULT,
    STEP_GROUP,
    STEP_RESULT,
    TEXT,
    TIMESTAMP,
    ValueKind,
)

__all__ = [
    "BOOLEAN_MEASUREMENT",
    "CALL_EXECUTABLE",
    "CHART",
    "CHART_SERIES",
    "LOOP",
    "MESSAGE_POPUP",
    "MISC_INFO",
    "NUMERIC_MEASUREMENT",
    "PROCESS",
    "REPORT",
    "SEQUENCE_CALL",
    "STEP",
    "STRING_MEASUREMENT",
    "SUB_UNIT",
    "UUT",
    "WRML_NAMESPACE",
    "WSXF_NAMESPACE",
    "Attribute",
]

WSXF_NAMESPACE = "http://wats.virinco.com/schemas/WATS/Report/wsxf"
"""The namespace of every WSXF element; the writer uses it as the default namespace."""

WRML_NAMESPACE = "http://wats.virinco.com/schemas/WATS/Report/wrml"
"""The legacy namespace (WRML), accepted on input."""


class Attribute(NamedTuple):
    """One XML attribute of an element and the model field it holds.

    Attributes:
        xml: the attribute's name.
        field: the Python name of the model field.
        kind: how the value is spelled.
        required: the reader refuses an element without it.
    """

    xml: str
    field: str
    kind: ValueKind
    required: bool = False


# <Report type="UUT" ...>; ``type`` picks the model class and is not in this table.
REPORT = (
    Attribute("ID", "id", GUID, required=True),
    Attribute("Start", "start", TIMESTAMP, required=True),
    Attribute("Start_utc", "start_utc", TIMESTAMP),
    Attribute("Result", "result", REPORT_RESULT, required=True),
    Attribute("SN", "sn", TEXT, required=True),
    Attribute("PN", "pn", TEXT, required=True),
    Attribute("Rev", "rev", TEXT, required=True),
    Attribute("origin", "origin", TEXT),
    Attribute("MachineName", "machine_name", TEXT, required=True),
    Attribute("Location", "location", TEXT, required=True),
    Attribute("Purpose", "purpose", TEXT, required=True),
    Attribute("ProductName", "product_name", TEXT),
)

# <Process>, a child of <Report>: the report header's process.
PROCESS = (
    Attribute("Code", "process_code", INTEGER, required=True),
    Attribute("Name", "process_name", TEXT),
)

# <UUT>: the ``uut`` block; its ``comment`` is the text of a <Comment> child.
UUT = (
    Attribute("UserLoginName", "user", TEXT),
    Attribute("BatchSN", "batch_sn", TEXT),
    Attribute("TestSocketIndex", "test_socket_index", INTEGER),
    Attribute("ExecutionTime", "exec_time", DOUBLE),
    Attribute("FixtureId", "fixture_id", TEXT),
    Attribute("ErrorCode", "error_code", INTEGER),
    Attribute("ErrorMessage", "error_message", TEXT),
    Attribute("BatchFailCount", "batch_fail_count", INTEGER),
    Attribute("StepIdCausedUUTFailure", "step_id_caused_uut_failure", INTEGER),
)

# <MiscInfo>: one ``miscInfos[]`` item; its ``text`` is the element's text.
MISC_INFO = (
    Attribute("Typedef", "typedef", TEXT),
    Attribute("Description", "description", TEXT, required=True),
    Attribute("Numeric", "numeric", INTEGER),
)

# <ReportUnitHierarchy>: one ``subUnits[]`` item.
SUB_UNIT = (
    Attribute("PartType", "part_type", TEXT),
    Attribute("PN", "pn", TEXT, required=True),
    Attribute("SN", "sn", TEXT, required=True),
    Attribute("Rev", "rev", TEXT),
    Attribute("Position", "position", INTEGER),
)

# <Step>: children are nested <Step> elements; ``reportText`` is the text of <ReportText>.
STEP = (
    Attribute("Id", "id", INTEGER, required=True),
    Attribute("Group", "group", STEP_GROUP, required=True),
    Attribute("Name", "name", TEXT, required=True),
    Attribute("StepType", "step_type", TEXT, required=True),
    Attribute("Status", "status", STEP_RESULT, required=True),
    Attribute("total_time", "tot_time", DOUBLE),
    Attribute("StepErrorCode", "error_code", INTEGER),
    Attribute("StepErrorMessage", "error_message", TEXT),
    Attribute("StepCausedUUTFailure", "caused_uut_failure", BOOLEAN),
)

LOOP = (
    Attribute("index", "idx", INTEGER),
    Attribute("num", "num", INTEGER),
    Attribute("passed", "passed", INTEGER),
    Attribute("failed", "failed", INTEGER),
    Attribute("ending_index", "ending_index", INTEGER),
)

SEQUENCE_CALL = (
    Attribute("Name", "name", TEXT),
    Attribute("Version", "version", TEXT),
    Attribute("Filepath", "path", TEXT),
)

# <NumericLimit>: one ``numericMeas[]`` item. A single-limit operator's limit is in LowLimit.
NUMERIC_MEASUREMENT = (
    Attribute("Name", "name", TEXT),
    Attribute("NumericValue", "value", DOUBLE),
    Attribute("Units", "unit", TEXT),
    Attribute("CompOperator", "comp_op", TEXT),
    Attribute("HighLimit", "high_limit", DOUBLE),
    Attribute("LowLimit", "low_limit", DOUBLE),
    Attribute("Status", "status", MEASUREMENT_RESULT, required=True),
)

# <StringValue>: one ``stringMeas[]`` item.
STRING_MEASUREMENT = (
    Attribute("Name", "name", TEXT),
    Attribute("CompOperator", "comp_op", TEXT),
    Attribute("StringLimit", "limit", TEXT),
    Attribute("StringValue", "value", TEXT),
    Attribute("Status", "status", MEASUREMENT_RESULT, required=True),
)

# <PassFail>: one ``booleanMeas[]`` item.
BOOLEAN_MEASUREMENT = (
    Attribute("Name", "name", TEXT),
    Attribute("Status", "status", MEASUREMENT_RESULT, required=True),
)

CHART = (
    Attribute("ChartType", "chart_type", TEXT),
    Attribute("Label", "label", TEXT),
    Attribute("XLabel", "x_label", TEXT),
    Attribute("XUnit", "x_unit", TEXT),
    Attribute("YLabel", "y_label", TEXT),
    Attribute("YUnit", "y_unit", TEXT),
)

# <Series>: ``ydata`` and ``xdata`` are the texts of the <ydata> and <xdata> children.
CHART_SERIES = (
    Attribute("Name", "name", TEXT),
    Attribute("DataType", "data_type", TEXT),
)

MESSAGE_POPUP = (
    Attribute("Button", "button", INTEGER),
    Attribute("Response", "response", TEXT),
)

# <Callexe>, spelled so.
CALL_EXECUTABLE = (Attribute("ExitCode", "exit_code", DOUBLE),)
