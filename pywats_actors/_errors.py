"""The root of the product's error tree.

Every error that pywats-actors raises on purpose derives from :class:`PywatsError`, so an
embedding application can catch the whole family in one ``except``. Each sub-tree lives next to
the code that raises it and is exported by its package::

    PywatsError
    ├── ConfigError       pywats_actors.config   a configuration file or an instance
    ├── SpoolError        pywats_actors.spool    the durable spool
    ├── WatsError         pywats_actors.client   an exchange with the WATS server
    ├── ReportError       pywats_actors.report   a WSJF report
    ├── ConverterError    converters             converters and their sandboxed pool
    ├── IpcError          pywats_actors.ipc      the IPC socket and calls over it
    └── NodeError         pywats_actors.node     the running node (the embedding API)

``docs/errors.md`` draws every class, says what each means and what to do about it; a test keeps
the drawing and this list equal to the classes. ``supervisors`` knows nothing about WATS and has
its own root, ``SupervisorError``.
"""

from __future__ import annotations

__all__ = ["PywatsError"]


class PywatsError(Exception):
    """Base class of every error raised on purpose by pywats-actors and its converters."""
