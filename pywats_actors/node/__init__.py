"""The node: the actors of the supervision tree and the tree itself.

Importing this package imports trio and watchdog; ``import pywats_actors`` alone does not.
"""

from __future__ import annotations

from ._disposal import AfterSuccess as AfterSuccess
from ._disposal import dispose_failure as dispose_failure
from ._disposal import dispose_success as dispose_success
from ._errors import NodeError as NodeError
from ._errors import NodeNotRunning as NodeNotRunning
from ._file_events import ConversionUnavailable as ConversionUnavailable
from ._file_events import ConverterWorkersBack as ConverterWorkersBack
from ._file_events import ConverterWorkersDown as ConverterWorkersDown
from ._file_events import DisposalFailed as DisposalFailed
from ._file_events import FileChangedMeanwhile as FileChangedMeanwhile
from ._file_events import FileConverted as FileConverted
from ._file_events import FileDisposed as FileDisposed
from ._file_events import FileFailed as FileFailed
from ._file_events import FileUnreadable as FileUnreadable
from ._file_events import ReportContentChanged as ReportContentChanged
from ._file_events import ReportIdCollided as ReportIdCollided
from ._folder_status import FolderDegraded as FolderDegraded
from ._folder_status import FolderHealth as FolderHealth
from ._folder_status import FolderRecovered as FolderRecovered
from ._folder_status import FolderStatus as FolderStatus
from ._messages import FileReady as FileReady
from ._messages import FileSignature as FileSignature
from ._node import ConfigApplied as ConfigApplied
from ._node import Node as Node
from ._node import Receipt as Receipt
from ._node import build_node as build_node
from ._node import open_node as open_node
from ._schedule import ScheduleFailed as ScheduleFailed
from ._schedule import ScheduleRan as ScheduleRan
from ._schedule import ScheduleSkipped as ScheduleSkipped
from ._uplink import ServerState as ServerState
from ._uplink import ServerStateChanged as ServerStateChanged
from ._watcher import WatcherSettings as WatcherSettings
from ._watcher import WatchFolderBack as WatchFolderBack
from ._watcher import WatchFolderLost as WatchFolderLost
from ._watcher import run_watcher as run_watcher

__all__ = [
    "AfterSuccess",
    "ConfigApplied",
    "ConversionUnavailable",
    "ConverterWorkersBack",
    "ConverterWorkersDown",
    "DisposalFailed",
    "FileChangedMeanwhile",
    "FileConverted",
    "FileDisposed",
    "FileFailed",
    "FileReady",
    "FileSignature",
    "FileUnreadable",
    "FolderDegraded",
    "FolderHealth",
    "FolderRecovered",
    "FolderStatus",
    "Node",
    "NodeError",
    "NodeNotRunning",
    "Receipt",
    "ReportContentChanged",
    "ReportIdCollided",
    "ScheduleFailed",
    "ScheduleRan",
    "ScheduleSkipped",
    "ServerState",
    "ServerStateChanged",
    "WatchFolderBack",
    "WatchFolderLost",
    "WatcherSettings",
    "build_node",
    "dispose_failure",
    "dispose_success",
    "open_node",
    "run_watcher",
]
