"""The node: the actors of the supervision tree and the tree itself.

Importing this package imports trio and watchdog; ``import pywats_actors`` alone does not.
"""

from __future__ import annotations

from ._disposal import AfterSuccess as AfterSuccess
from ._disposal import dispose_failure as dispose_failure
from ._disposal import dispose_success as dispose_success
from ._messages import FileReady as FileReady
from ._messages import FileSignature as FileSignature
from ._watcher import WatcherSettings as WatcherSettings
from ._watcher import run_watcher as run_watcher

__all__ = [
    "AfterSuccess",
    "FileReady",
    "FileSignature",
    "WatcherSettings",
    "dispose_failure",
    "dispose_success",
    "run_watcher",
]
