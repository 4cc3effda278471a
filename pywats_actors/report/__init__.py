"""WSJF reports: the model, its lossless JSON codec, validation, and a builder.

``pywats_actors.report`` needs msgspec only (no trio, no httpx), so converter workers and test
executives import it cheaply.

Decode and encode::

    report = decode_report(data)          # ReportDecodeError on bad JSON / types
    problems = validate(report)           # [] when valid
    data = encode_report(report)          # the same JSON back, key for key

Build in code: see :class:`ReportBuilder` and ``docs/reports.md``.
"""

from __future__ import annotations

import typing as _typing

from msgspec import UNSET as UNSET
from msgspec import UnsetType as UnsetType

from .._lazy import lazy_attributes as _lazy_attributes
from ._base import Maybe as Maybe
from ._base import Timestamp as Timestamp
from ._base import format_timestamp as format_timestamp
from ._base import parse_timestamp as parse_timestamp
from ._base import timestamp_ticks as timestamp_ticks
from ._base import value_or_none as value_or_none
from ._builder import ReportBuilder as ReportBuilder
from ._codec import decode_report as decode_report
from ._codec import encode_report as encode_report
from ._compare import LimitUse as LimitUse
from ._compare import compare_numeric as compare_numeric
from ._compare import compare_string as compare_string
from ._compare import limit_use as limit_use
from ._data import AdditionalData as AdditionalData
from ._data import AdditionalDataArray as AdditionalDataArray
from ._data import AdditionalDataArrayIndex as AdditionalDataArrayIndex
from ._data import AdditionalDataProperty as AdditionalDataProperty
from ._data import Attachment as Attachment
from ._data import BinaryData as BinaryData
from ._enums import ChartType as ChartType
from ._enums import MeasurementStatus as MeasurementStatus
from ._enums import NumericCompOp as NumericCompOp
from ._enums import ReportResult as ReportResult
from ._enums import SeriesDataType as SeriesDataType
from ._enums import StepGroup as StepGroup
from ._enums import StepStatus as StepStatus
from ._enums import StringCompOp as StringCompOp
from ._errors import ReportDecodeError as ReportDecodeError
from ._errors import ReportError as ReportError
from ._errors import ReportInvalid as ReportInvalid
from ._measure import attachment_from_bytes as attachment_from_bytes
from ._measure import boolean_measurement as boolean_measurement
from ._measure import chart_series as chart_series
from ._measure import numeric_measurement as numeric_measurement
from ._measure import string_measurement as string_measurement
from ._model import Asset as Asset
from ._model import AssetStats as AssetStats
from ._model import MiscInfo as MiscInfo
from ._model import RefUUR as RefUUR
from ._model import Report as Report
from ._model import SubUnit as SubUnit
from ._model import UURFailure as UURFailure
from ._model import UURInfo as UURInfo
from ._model import UURReport as UURReport
from ._model import UUTInfo as UUTInfo
from ._model import UUTReport as UUTReport
from ._problems import ValidationProblem as ValidationProblem
from ._sequence import SequenceBuilder as SequenceBuilder
from ._sequence import StepOptions as StepOptions
from ._steps import STEP_KINDS as STEP_KINDS
from ._steps import BooleanMeasurement as BooleanMeasurement
from ._steps import CallExecutableInfo as CallExecutableInfo
from ._steps import Chart as Chart
from ._steps import ChartSeries as ChartSeries
from ._steps import LoopInfo as LoopInfo
from ._steps import MessagePopupInfo as MessagePopupInfo
from ._steps import NumericMeasurement as NumericMeasurement
from ._steps import SequenceCallInfo as SequenceCallInfo
from ._steps import Step as Step
from ._steps import StepKind as StepKind
from ._steps import StringMeasurement as StringMeasurement
from ._steps import step_kind as step_kind
from ._validate import validate as validate
from ._validate import validate_or_raise as validate_or_raise

if _typing.TYPE_CHECKING:
    from ._wsxf_read import decode_wsxf as decode_wsxf
    from ._wsxf_write import encode_wsxf as encode_wsxf

# WSXF needs the XML parser; it is imported on first use (converter workers start faster).
_LAZY = {"decode_wsxf": "._wsxf_read", "encode_wsxf": "._wsxf_write"}


__getattr__ = _lazy_attributes(__name__, globals(), _LAZY)


__all__ = [
    "STEP_KINDS",
    "UNSET",
    "AdditionalData",
    "AdditionalDataArray",
    "AdditionalDataArrayIndex",
    "AdditionalDataProperty",
    "Asset",
    "AssetStats",
    "Attachment",
    "BinaryData",
    "BooleanMeasurement",
    "CallExecutableInfo",
    "Chart",
    "ChartSeries",
    "ChartType",
    "LimitUse",
    "LoopInfo",
    "Maybe",
    "MeasurementStatus",
    "MessagePopupInfo",
    "MiscInfo",
    "NumericCompOp",
    "NumericMeasurement",
    "RefUUR",
    "Report",
    "ReportBuilder",
    "ReportDecodeError",
    "ReportError",
    "ReportInvalid",
    "ReportResult",
    "SequenceBuilder",
    "SequenceCallInfo",
    "SeriesDataType",
    "Step",
    "StepGroup",
    "StepKind",
    "StepOptions",
    "StepStatus",
    "StringCompOp",
    "StringMeasurement",
    "SubUnit",
    "Timestamp",
    "UURFailure",
    "UURInfo",
    "UURReport",
    "UUTInfo",
    "UUTReport",
    "UnsetType",
    "ValidationProblem",
    "attachment_from_bytes",
    "boolean_measurement",
    "chart_series",
    "compare_numeric",
    "compare_string",
    "decode_report",
    "decode_wsxf",
    "encode_report",
    "encode_wsxf",
    "format_timestamp",
    "limit_use",
    "numeric_measurement",
    "parse_timestamp",
    "step_kind",
    "string_measurement",
    "timestamp_ticks",
    "validate",
    "validate_or_raise",
    "value_or_none",
]
