"""The converter protocol: what a converter declares and the two methods it implements.

A converter is a class. The SDK instantiates it once per configured use, with no arguments, inside
a sandboxed worker process, and calls:

* ``detect(head, name) -> float``: how sure it is, from 0 to 1, that it can convert a file whose
  first bytes are ``head`` and whose name is ``name``. Scores at or above
  :data:`ACCEPT_THRESHOLD` are accepted by auto-detection; a fallback guess ("it is some JSON")
  must score below it.
* ``convert(data, name, args) -> list of reports``: the whole file's bytes, its name, and the
  validated arguments (an instance of the converter's ``Arguments`` Struct).
* optionally ``convert_iter(data, name, args) -> iterator of reports``: the same reports, yielded
  one at a time. When a converter has it, the worker calls it instead of ``convert`` and sends
  each report on as soon as it is checked, so a file with many reports never has them all in the
  worker's memory (the built-in CSV converter does this). An exception raised after some reports
  were yielded rejects the whole file, as from ``convert``.

Reports are :class:`~pywats_actors.report.UUTReport` / ``UURReport`` objects, WSJF ``bytes``, or
WSJF-shaped mappings. The pool assigns every report its id afterwards (see ``_identity``), so a
converter never needs to think about identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

import msgspec

from pywats_actors.report import UURReport, UUTReport

__all__ = [
    "ACCEPT_THRESHOLD",
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Converter",
    "ConverterOutput",
    "NoArguments",
    "PollOutput",
    "ScheduledConverter",
]

API_VERSION = 1
"""The converter API version this SDK implements; converters declare it as ``api_version``."""

SUPPORTED_API_VERSIONS: tuple[int, ...] = (1,)
"""Every ``api_version`` a converter may declare."""

ACCEPT_THRESHOLD = 0.5
"""Auto-detection accepts the best converter only if its confidence is at least this."""

ConverterOutput: TypeAlias = UUTReport | UURReport | bytes | Mapping[str, Any]
"""One report as a converter may return it: a model object, WSJF bytes, or a WSJF-shaped dict."""

PollOutput: TypeAlias = tuple[Iterable[tuple[str, ConverterOutput]], bytes | str | None]
"""What :meth:`ScheduledConverter.poll` returns: ``(key, report)`` pairs and the new cursor."""


class NoArguments(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The argument schema of a converter that takes no arguments."""


ArgsT = TypeVar("ArgsT", bound=msgspec.Struct)


class Converter(Generic[ArgsT]):
    """Base class for converters (subclassing is optional: the protocol is what counts).

    Class attributes:
        name: short, stable identifier (``[a-z0-9][a-z0-9_.-]*``); it is part of every report id
            the converter produces, so never rename a converter that is in production.
        version: the converter's own version, reported with every conversion.
        api_version: the SDK API it was written for (:data:`API_VERSION`).
        patterns: file-name glob patterns it usually handles (``*.csv``), a hint for watch folders.
        Arguments: a msgspec Struct describing its arguments; declare it with
            ``forbid_unknown_fields=True`` so typos in configuration are errors.
        keeps_source_ids: the source format carries its own report GUID (WSJF, WSXF) and the pool
            must keep it instead of deriving one.
        kind: ``"file"`` (the default: one file in, reports out); ``"folder"``: the converter
            takes a folder unit (several files that make one result) through
            :meth:`convert_folder` instead of :meth:`convert` (see ``converters._folder``);
            ``"scheduled"``: it subclasses :class:`ScheduledConverter` and makes reports from a
            source in :meth:`ScheduledConverter.poll`.

    A converter may also define ``convert_iter`` (same arguments as :meth:`convert`, returns an
    iterator of reports); the worker then uses it and never holds every report at once.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ()
    Arguments: ClassVar[type[msgspec.Struct]] = NoArguments
    keeps_source_ids: ClassVar[bool] = False
    kind: ClassVar[str] = "file"

    def detect(self, head: bytes, name: str) -> float:
        """Return the confidence, in ``[0, 1]``, that this converter handles the file.

        Args:
            head: the first bytes of the file (64 KiB by default; the whole file if smaller).
            name: the file's name, without its folder.

        The default is 0: the converter is never picked by auto-detection, only by name.
        """
        return 0.0

    def convert(self, data: bytes, name: str, args: ArgsT) -> Sequence[ConverterOutput]:
        """Convert one file into one or more reports.

        Args:
            data: the file's content.
            name: the file's name, without its folder.
            args: the validated arguments, an instance of :attr:`Arguments`.

        Raises:
            FileRejected: the file is bad; say why and where. Any other exception is reported
                the same way, with its traceback, so raise ``FileRejected`` for a clean message.
        """
        raise NotImplementedError

    def convert_folder(
        self, files: Mapping[str, bytes], name: str, args: ArgsT
    ) -> Sequence[ConverterOutput]:
        """Convert one folder unit into reports (converters that declare ``kind = "folder"``).

        Args:
            files: the unit's files by path relative to the folder that holds the unit, with
                ``/``: the sibling file(s) ``<name>.<ext>`` and the folder's files
                ``<name>/<path>``. Their total size is bounded by the input limit.
            name: the unit's name (its folder's name).
            args: the validated arguments, an instance of :attr:`Arguments`.

        Raises:
            FileRejected: the unit is bad; say which file and line.
        """
        raise NotImplementedError


class ScheduledConverter(Converter[ArgsT]):
    """Base class for *scheduled* converters: the node calls :meth:`poll` on an interval or a
    cron expression, instead of handing it files (``kind = "scheduled"``).

    The class attributes are those of :class:`Converter`; ``patterns`` and ``detect`` do not
    apply (it is never chosen by auto-detection, and a watch folder cannot use it).
    """

    kind: ClassVar[str] = "scheduled"

    def poll(self, source: str, cursor: bytes | str | None, args: ArgsT) -> PollOutput:
        """Look for new results in ``source`` and return them with a new cursor.

        Args:
            source: the absolute path the schedule names (a folder or a file, such as a SQLite
                database), readable and never writable: the sandbox grants this path alone,
                read-only, and no network.
            cursor: what this method returned as its cursor the last time its reports were
                stored, exactly (``bytes`` or ``str``); ``None`` on the first run. The node
                keeps it durably, so after a restart the converter continues where it left off.
            args: the validated arguments, an instance of :attr:`Arguments`.

        Returns:
            ``(items, cursor)``: ``items`` is an iterable of ``(key, report)`` pairs, ``key``
            a non-empty string naming where in the source the report comes from (a file name
            with its size and modification time, a row id). Report ids derive from the
            schedule and the key, so returning the same key again (a run repeated after a
            crash) stores nothing new. ``cursor`` (at most 64 KiB) is handed back next time.

        Raises:
            FileRejected: the source holds something that cannot be read; say what and where.
                The run fails, the cursor stays, and the next run tries again.
        """
        raise NotImplementedError

    def convert(self, data: bytes, name: str, args: ArgsT) -> Sequence[ConverterOutput]:
        """Not used: a scheduled converter makes reports from its source in :meth:`poll`."""
        raise NotImplementedError(
            f"{self.name} is a scheduled converter; use it in a [[schedule]], not a folder"
        )
