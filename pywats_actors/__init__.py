"""pywats-actors: the station agent that gets test results into WATS exactly once.

``import pywats_actors`` stays light (no trio, no httpx, not even structlog): a converter worker
process and a test executive import it fast. The logging helpers and ``__version__`` are loaded
on first use; the node, the client and the emulator live in sub-packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import PywatsError as PywatsError
from ._lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from ._logging import LogFormat as LogFormat
    from ._logging import bind_context as bind_context
    from ._logging import configure_logging as configure_logging
    from ._logging import get_logger as get_logger
    from ._version import __version__ as __version__

_LAZY = {
    "LogFormat": "._logging",
    "bind_context": "._logging",
    "configure_logging": "._logging",
    "get_logger": "._logging",
    "__version__": "._version",
}


# The logging helpers and the version are loaded only when they are first used.
__getattr__ = _lazy_attributes(__name__, globals(), _LAZY)


__all__ = [
    "LogFormat",
    "PywatsError",
    "__version__",
    "bind_context",
    "configure_logging",
    "get_logger",
]
