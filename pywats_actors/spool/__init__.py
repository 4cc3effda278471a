"""The durable spool: every report is stored here, fsynced, before anything else happens to it.

One SQLite database in WAL mode with ``synchronous=FULL``; one writer thread that group-commits
concurrent calls; read-only connections for the CLI and status queries. A report's id is its
primary key, so enqueueing is idempotent and a crash between "stored" and "source file moved"
is harmless. See ``docs/spool.md``.

::

    async with open_spool(path, settings) as spool:
        result = await spool.enqueue([SpoolItem(report_id=..., body=..., source=...)])
        # only now move the source file to done/

        for report in await spool.claim(4):          # the uploader
            ...
            await spool.mark_sent(report.report_id, answer=text)

    with open_reader(path) as reader:                 # the CLI, while the node runs
        page = reader.list_reports(state=ReportState.PENDING)

``python -m pywats_actors.spool check|salvage`` checks a spool file, or copies what is still
readable from a damaged one into a new spool.
"""

from __future__ import annotations

from ._errors import InvalidTransition as InvalidTransition
from ._errors import ReportIdConflict as ReportIdConflict
from ._errors import ReportTooLarge as ReportTooLarge
from ._errors import SpoolClosed as SpoolClosed
from ._errors import SpoolCorrupt as SpoolCorrupt
from ._errors import SpoolDiskFull as SpoolDiskFull
from ._errors import SpoolError as SpoolError
from ._errors import SpoolFull as SpoolFull
from ._errors import SpoolIOError as SpoolIOError
from ._errors import SpoolLocked as SpoolLocked
from ._errors import SpoolVersionError as SpoolVersionError
from ._errors import UnknownReport as UnknownReport
from ._intake import SpoolObserver as SpoolObserver
from ._reader import SpoolReader as SpoolReader
from ._reader import open_reader as open_reader
from ._salvage import SalvageResult as SalvageResult
from ._salvage import salvage_spool as salvage_spool
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._settings import SpoolSettings as SpoolSettings
from ._spool import Spool as Spool
from ._spool import open_spool as open_spool
from ._types import ClaimedReport as ClaimedReport
from ._types import EnqueueResult as EnqueueResult
from ._types import IntakePaused as IntakePaused
from ._types import IntakeResumed as IntakeResumed
from ._types import PauseReason as PauseReason
from ._types import QuarantinedRow as QuarantinedRow
from ._types import ReportPage as ReportPage
from ._types import ReportRecord as ReportRecord
from ._types import ReportState as ReportState
from ._types import ReportSummary as ReportSummary
from ._types import RetentionResult as RetentionResult
from ._types import SourceInfo as SourceInfo
from ._types import SpoolEvent as SpoolEvent
from ._types import SpoolItem as SpoolItem
from ._types import SpoolStatistics as SpoolStatistics
from ._types import StartupReport as StartupReport
from ._types import canonical_report_id as canonical_report_id

__all__ = [
    "SCHEMA_VERSION",
    "ClaimedReport",
    "EnqueueResult",
    "IntakePaused",
    "IntakeResumed",
    "InvalidTransition",
    "PauseReason",
    "QuarantinedRow",
    "ReportIdConflict",
    "ReportPage",
    "ReportRecord",
    "ReportState",
    "ReportSummary",
    "ReportTooLarge",
    "RetentionResult",
    "SalvageResult",
    "SourceInfo",
    "Spool",
    "SpoolClosed",
    "SpoolCorrupt",
    "SpoolDiskFull",
    "SpoolError",
    "SpoolEvent",
    "SpoolFull",
    "SpoolIOError",
    "SpoolItem",
    "SpoolLocked",
    "SpoolObserver",
    "SpoolReader",
    "SpoolSettings",
    "SpoolStatistics",
    "SpoolVersionError",
    "StartupReport",
    "UnknownReport",
    "canonical_report_id",
    "open_reader",
    "open_spool",
    "salvage_spool",
]
