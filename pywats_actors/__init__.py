"""pywats-actors: the station agent that gets test results into WATS exactly once.

``import pywats_actors`` stays light (no trio, no httpx, not even structlog): a converter worker
process and a test executive import it fast. The logging helpers and ``__version__`` are loaded
on first use; the node, the client and the emulator live in sub-packages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import PywatsError as PywatsError

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


def __getattr__(name: str) -> Any:
    """Load the logging helpers and the version only when they are first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "LogFormat",
    "PywatsError",
    "__version__",
    "bind_context",
    "configure_logging",
    "get_logger",
]
