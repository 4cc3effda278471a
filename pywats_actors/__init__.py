"""pywats-actors: the station agent that gets test results into WATS exactly once.

``import pywats_actors`` stays light (no trio, no httpx): a converter worker process and a test
executive import it fast. The node, the client and the emulator live in sub-packages.
"""

from __future__ import annotations

from ._errors import PywatsError as PywatsError
from ._logging import LogFormat as LogFormat
from ._logging import bind_context as bind_context
from ._logging import configure_logging as configure_logging
from ._logging import get_logger as get_logger
from ._version import __version__ as __version__

__all__ = [
    "LogFormat",
    "PywatsError",
    "__version__",
    "bind_context",
    "configure_logging",
    "get_logger",
]
