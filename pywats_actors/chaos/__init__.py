"""Proof tooling for chaos tests: a history checker and a TCP fault proxy.

::

    from pywats_actors.chaos import History, check_history, read_emulator, read_folder, read_spool

    history = History(
        dropped=dropped_files,                      # recorded by the test driver
        spool=read_spool(data_dir / "spool.db"),    # read-only
        folders=(read_folder(watch_path),),         # done/, error/ (+ sidecars), the rest
        server=read_emulator(emulator),             # every delivery, with the stored bodies
    )
    check_history(history, namespace=station_namespace, converter="csv").assert_ok()

The checker proves that every dropped file is accounted for exactly once, that no id reaches
the server with two bodies, that no content yields two ids, that nothing arrives truncated, and
counts resends. The fault proxy (:func:`open_fault_proxy`) sits between the node and a server and
injects toxiproxy's faults per direction, changeable while a test runs. ``docs/reliability.md``
says which promise each chaos scenario proves.
"""

from __future__ import annotations

from ._checker import HistoryVerdict as HistoryVerdict
from ._checker import HistoryViolations as HistoryViolations
from ._checker import Violation as Violation
from ._checker import ViolationKind as ViolationKind
from ._checker import check_history as check_history
from ._history import DroppedFile as DroppedFile
from ._history import ErrorCopy as ErrorCopy
from ._history import ExpectedReport as ExpectedReport
from ._history import ExpectedStep as ExpectedStep
from ._history import FileCopy as FileCopy
from ._history import FolderState as FolderState
from ._history import History as History
from ._history import ServerRecord as ServerRecord
from ._history import SpoolRow as SpoolRow
from ._history import read_emulator as read_emulator
from ._history import read_folder as read_folder
from ._history import read_spool as read_spool
from ._proxy import FaultProxy as FaultProxy
from ._proxy import ProxyStats as ProxyStats
from ._proxy import open_fault_proxy as open_fault_proxy
from ._toxics import ProxyFaults as ProxyFaults
from ._toxics import Toxics as Toxics

__all__ = [
    "DroppedFile",
    "ErrorCopy",
    "ExpectedReport",
    "ExpectedStep",
    "FaultProxy",
    "FileCopy",
    "FolderState",
    "History",
    "HistoryVerdict",
    "HistoryViolations",
    "ProxyFaults",
    "ProxyStats",
    "ServerRecord",
    "SpoolRow",
    "Toxics",
    "Violation",
    "ViolationKind",
    "check_history",
    "open_fault_proxy",
    "read_emulator",
    "read_folder",
    "read_spool",
]
