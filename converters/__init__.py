"""The converter SDK: the protocol a converter implements, built-in converters, and the sandbox.

Converters turn one test-result file into one or more WATS reports. They run in sandboxed worker
processes, so a malformed file or a faulty plug-in can never take the node down. See
``docs/converters.md``.

Writing a converter needs only the light part of this package (msgspec and the report model);
the pool (trio, psutil, supervisors) is imported on first use, so worker processes start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pywats_actors._lazy import lazy_attributes as _lazy_attributes

from ._discovery import AUTO_DETECTED as AUTO_DETECTED
from ._discovery import BUILTIN_CONVERTERS as BUILTIN_CONVERTERS
from ._discovery import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._discovery import available_converters as available_converters
from ._discovery import load_converter as load_converter
from ._discovery import validate_arguments as validate_arguments
from ._errors import ConverterApiMismatch as ConverterApiMismatch
from ._errors import ConverterArgumentsError as ConverterArgumentsError
from ._errors import ConverterError as ConverterError
from ._errors import ConverterInvalid as ConverterInvalid
from ._errors import ConverterLoadError as ConverterLoadError
from ._errors import ConverterNotFound as ConverterNotFound
from ._errors import FileRejected as FileRejected
from ._errors import PoolClosed as PoolClosed
from ._errors import SandboxUnavailable as SandboxUnavailable
from ._errors import UnknownConverter as UnknownConverter
from ._errors import WorkerLost as WorkerLost
from ._errors import WorkerStartError as WorkerStartError
from ._folder import pack_unit as pack_unit
from ._folder import unpack_unit as unpack_unit
from ._identity import content_hash as content_hash
from ._identity import report_id as report_id
from ._protocol import ArgumentDoc as ArgumentDoc
from ._protocol import ConverterDescription as ConverterDescription
from ._protocol import ConverterInfo as ConverterInfo
from ._results import ConversionFailure as ConversionFailure
from ._results import ConversionResult as ConversionResult
from ._results import Converted as Converted
from ._results import ConvertedReport as ConvertedReport
from ._results import Crashed as Crashed
from ._results import OutOfMemory as OutOfMemory
from ._results import PoolStatistics as PoolStatistics
from ._results import Rejected as Rejected
from ._results import TimedOut as TimedOut
from ._results import Timings as Timings
from ._results import Unavailable as Unavailable
from ._results import WorkerStatistics as WorkerStatistics
from ._sandbox import SandboxInfo as SandboxInfo
from ._sandbox import probe_sandbox as probe_sandbox
from ._sdk import ACCEPT_THRESHOLD as ACCEPT_THRESHOLD
from ._sdk import API_VERSION as API_VERSION
from ._sdk import SUPPORTED_API_VERSIONS as SUPPORTED_API_VERSIONS
from ._sdk import Converter as Converter
from ._sdk import ConverterOutput as ConverterOutput
from ._sdk import NoArguments as NoArguments
from ._sdk import PollOutput as PollOutput
from ._sdk import ScheduledConverter as ScheduledConverter
from ._settings import ConverterConfig as ConverterConfig
from ._settings import PoolSettings as PoolSettings

if TYPE_CHECKING:
    from ._atml import AtmlArguments as AtmlArguments
    from ._atml import AtmlConverter as AtmlConverter
    from ._catalog import CatalogEntry as CatalogEntry
    from ._csv import CsvConverter as CsvConverter
    from ._csv_args import CsvArguments as CsvArguments
    from ._csv_args import CsvColumns as CsvColumns
    from ._csv_args import CsvCurves as CsvCurves
    from ._csv_args import CsvDefaults as CsvDefaults
    from ._csv_args import CsvKeepRows as CsvKeepRows
    from ._csv_args import StatusVocabulary as StatusVocabulary
    from ._folder_poll import FolderPollArguments as FolderPollArguments
    from ._folder_poll import FolderPollConverter as FolderPollConverter
    from ._junit import JunitArguments as JunitArguments
    from ._junit import JunitConverter as JunitConverter
    from ._klippel import KlippelArguments as KlippelArguments
    from ._klippel import KlippelConverter as KlippelConverter
    from ._once import DRY_RUN_NAMESPACE as DRY_RUN_NAMESPACE
    from ._once import convert_file_once as convert_file_once
    from ._once import explain_file_once as explain_file_once
    from ._openhtf import OpenHtfArguments as OpenHtfArguments
    from ._openhtf import OpenHtfConverter as OpenHtfConverter
    from ._openhtf import openhtf_report as openhtf_report
    from ._pool import DEFAULT_CONVERTERS as DEFAULT_CONVERTERS
    from ._pool import ConverterPool as ConverterPool
    from ._pool import open_converter_pool as open_converter_pool
    from ._routing import Detection as Detection
    from ._stdf import StdfArguments as StdfArguments
    from ._stdf import StdfConverter as StdfConverter
    from ._teradyne_gr228x import Gr228xArguments as Gr228xArguments
    from ._teradyne_gr228x import Gr228xConverter as Gr228xConverter
    from ._teradyne_spectrum import SpectrumArguments as SpectrumArguments
    from ._teradyne_spectrum import SpectrumConverter as SpectrumConverter
    from ._teststand import TestStandArguments as TestStandArguments
    from ._teststand import TestStandConverter as TestStandConverter
    from ._wsjf import WsjfArguments as WsjfArguments
    from ._wsjf import WsjfConverter as WsjfConverter
    from ._wstf import WstfArguments as WstfArguments
    from ._wstf import WstfConverter as WstfConverter
    from ._wsxf import WsxfArguments as WsxfArguments
    from ._wsxf import WsxfConverter as WsxfConverter
    from ._xjtag import XjtagArguments as XjtagArguments
    from ._xjtag import XjtagConverter as XjtagConverter

_LAZY = {
    "CatalogEntry": "._catalog",
    "AtmlArguments": "._atml",
    "AtmlConverter": "._atml",
    "CsvConverter": "._csv",
    "CsvArguments": "._csv_args",
    "CsvColumns": "._csv_args",
    "CsvCurves": "._csv_args",
    "CsvDefaults": "._csv_args",
    "CsvKeepRows": "._csv_args",
    "StatusVocabulary": "._csv_args",
    "FolderPollArguments": "._folder_poll",
    "FolderPollConverter": "._folder_poll",
    "JunitArguments": "._junit",
    "JunitConverter": "._junit",
    "KlippelArguments": "._klippel",
    "KlippelConverter": "._klippel",
    "WsjfArguments": "._wsjf",
    "WsjfConverter": "._wsjf",
    "WstfArguments": "._wstf",
    "WstfConverter": "._wstf",
    "WsxfArguments": "._wsxf",
    "WsxfConverter": "._wsxf",
    "XjtagArguments": "._xjtag",
    "XjtagConverter": "._xjtag",
    "DEFAULT_CONVERTERS": "._pool",
    "Detection": "._routing",
    "ConverterPool": "._pool",
    "open_converter_pool": "._pool",
    "DRY_RUN_NAMESPACE": "._once",
    "convert_file_once": "._once",
    "explain_file_once": "._once",
    "OpenHtfArguments": "._openhtf",
    "OpenHtfConverter": "._openhtf",
    "TestStandArguments": "._teststand",
    "TestStandConverter": "._teststand",
    "openhtf_report": "._openhtf",
    "Gr228xArguments": "._teradyne_gr228x",
    "Gr228xConverter": "._teradyne_gr228x",
    "SpectrumArguments": "._teradyne_spectrum",
    "SpectrumConverter": "._teradyne_spectrum",
    "StdfArguments": "._stdf",
    "StdfConverter": "._stdf",
}


# The pool (trio, psutil, supervisors) and the built-in converters are imported only when they
# are first used: a worker of a plug-in's trust domain never imports the built-ins.
__getattr__ = _lazy_attributes(__name__, globals(), _LAZY)


__all__ = [
    "ACCEPT_THRESHOLD",
    "API_VERSION",
    "AUTO_DETECTED",
    "BUILTIN_CONVERTERS",
    "DEFAULT_CONVERTERS",
    "DRY_RUN_NAMESPACE",
    "ENTRY_POINT_GROUP",
    "SUPPORTED_API_VERSIONS",
    "ArgumentDoc",
    "AtmlArguments",
    "AtmlConverter",
    "CatalogEntry",
    "ConversionFailure",
    "ConversionResult",
    "Converted",
    "ConvertedReport",
    "Converter",
    "ConverterApiMismatch",
    "ConverterArgumentsError",
    "ConverterConfig",
    "ConverterDescription",
    "ConverterError",
    "ConverterInfo",
    "ConverterInvalid",
    "ConverterLoadError",
    "ConverterNotFound",
    "ConverterOutput",
    "ConverterPool",
    "Crashed",
    "CsvArguments",
    "CsvColumns",
    "CsvConverter",
    "CsvCurves",
    "CsvDefaults",
    "CsvKeepRows",
    "Detection",
    "FileRejected",
    "FolderPollArguments",
    "FolderPollConverter",
    "Gr228xArguments",
    "Gr228xConverter",
    "JunitArguments",
    "JunitConverter",
    "KlippelArguments",
    "KlippelConverter",
    "NoArguments",
    "OpenHtfArguments",
    "OpenHtfConverter",
    "OutOfMemory",
    "PollOutput",
    "PoolClosed",
    "PoolSettings",
    "PoolStatistics",
    "Rejected",
    "SandboxInfo",
    "SandboxUnavailable",
    "ScheduledConverter",
    "SpectrumArguments",
    "SpectrumConverter",
    "StatusVocabulary",
    "StdfArguments",
    "StdfConverter",
    "TestStandArguments",
    "TestStandConverter",
    "TimedOut",
    "Timings",
    "Unavailable",
    "UnknownConverter",
    "WorkerLost",
    "WorkerStartError",
    "WorkerStatistics",
    "WsjfArguments",
    "WsjfConverter",
    "WstfArguments",
    "WstfConverter",
    "WsxfArguments",
    "WsxfConverter",
    "XjtagArguments",
    "XjtagConverter",
    "available_converters",
    "content_hash",
    "convert_file_once",
    "explain_file_once",
    "load_converter",
    "open_converter_pool",
    "openhtf_report",
    "pack_unit",
    "probe_sandbox",
    "report_id",
    "unpack_unit",
    "validate_arguments",
]
