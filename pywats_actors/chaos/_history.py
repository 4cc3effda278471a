"""What happened during a chaos run, gathered from every witness, as plain frozen records.

A history has four witnesses, each read by its own loader so that the checker works on data:

* the **driver** (the test) records every file it dropped, with the content it wrote and, when it
  knows them, the reports that content must become (:class:`DroppedFile`);
* the **spool**, read through its read-only reader (:func:`read_spool`): which ids each file's
  content produced, and which were sent, are pending or were rejected with the server's reason;
* the **watch folder** (:func:`read_folder`): which contents sit in ``done/``, in ``error/``
  (with the reason from the ``.error.json`` sidecar) or still in the folder;
* the **server**, the emulator's delivery record (:func:`read_emulator`): every accepted
  submission with the SHA-256 of its body, and the body stored under each id.

Files are matched by content (SHA-256), not by name: names are reused and files are moved.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Final

import msgspec

from ..emulator import Delivery, Emulator
from ..spool import open_reader

__all__ = [
    "DroppedFile",
    "ErrorCopy",
    "ExpectedReport",
    "ExpectedStep",
    "FileCopy",
    "FolderState",
    "History",
    "ServerRecord",
    "SpoolRow",
    "read_emulator",
    "read_folder",
    "read_spool",
]

_SIDECAR: Final = ".error.json"
_SPOOL_PAGE: Final = 10_000


class ExpectedStep(msgspec.Struct, frozen=True):
    """One measurement the delivered report must carry: the step's name and its value."""

    name: str
    value: float


class ExpectedReport(msgspec.Struct, frozen=True, kw_only=True):
    """A report the driver knows a dropped file must become, in the file's order.

    Attributes:
        serial_number: the report's ``sn``.
        steps: every numeric step, in order, with its value: the whole file, not a prefix.
    """

    serial_number: str
    steps: tuple[ExpectedStep, ...]


class DroppedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file the driver dropped into a watch folder.

    Attributes:
        path: where it was dropped (for the messages; matching is by content).
        content: its final bytes, as the writer left them.
        expected: the reports it must become, in order; ``None`` when the driver does not
            know (then nothing is said about what it becomes, only that it is accounted for);
            an empty tuple for a file that must be refused (it belongs in ``error/``).
    """

    path: str
    content: bytes
    expected: tuple[ExpectedReport, ...] | None = None

    @property
    def sha256(self) -> str:
        """The SHA-256 of the content, 64 lowercase hex digits."""
        return hashlib.sha256(self.content).hexdigest()


class SpoolRow(msgspec.Struct, frozen=True, kw_only=True):
    """One spool row, as far as the checker cares.

    Attributes:
        report_id: the canonical id.
        state: ``pending``, ``sent`` or ``rejected``.
        last_error: the last failure, or the server's reason for a rejected report.
        content_sha256: the SHA-256 of the source file's content (hex), if the row says
            (the node stores bare hex; ``sha256:<hex>`` is read too).
        index: the report's position among the file's reports.
        source_path: the source file's path when it was converted.
    """

    report_id: str
    state: str
    last_error: str | None
    content_sha256: str | None
    index: int
    source_path: str | None


class FileCopy(msgspec.Struct, frozen=True, kw_only=True):
    """A file found in a watch folder, by path and content hash."""

    path: str
    sha256: str


class ErrorCopy(msgspec.Struct, frozen=True, kw_only=True):
    """A file found in ``error/``, with the reason its sidecar gives (``None`` if none)."""

    path: str
    sha256: str
    reason: str | None


class FolderState(msgspec.Struct, frozen=True, kw_only=True):
    """What a watch folder holds at the end of a run.

    Attributes:
        done: files in the done folder.
        error: files in the error folder, each with its sidecar's reason.
        inbox: files still in the watch folder itself (not yet taken, or never disposed of).
    """

    done: tuple[FileCopy, ...] = ()
    error: tuple[ErrorCopy, ...] = ()
    inbox: tuple[FileCopy, ...] = ()


class ServerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the server saw: every delivery, and the body stored under each delivered id."""

    deliveries: tuple[Delivery, ...]
    bodies: dict[str, bytes]


class History(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the witnesses of one run recorded; the input of :func:`check_history`."""

    dropped: tuple[DroppedFile, ...]
    spool: tuple[SpoolRow, ...]
    folders: tuple[FolderState, ...]
    server: ServerRecord


def read_spool(path: str | os.PathLike[str]) -> tuple[SpoolRow, ...]:
    """Every row of the spool at *path*, through its read-only reader (safe while a node runs).

    Raises:
        SpoolError: there is no spool at *path*, or it cannot be read.
    """
    rows: list[SpoolRow] = []
    with open_reader(path) as reader:
        cursor: int | None = None
        while True:
            page = reader.list_reports(after=cursor, limit=_SPOOL_PAGE)
            for report in page.reports:
                source = report.source
                digest = None if source is None else _sha256_hex(source.content_hash)
                rows.append(
                    SpoolRow(
                        report_id=report.report_id,
                        state=report.state.value,
                        last_error=report.last_error,
                        content_sha256=digest,
                        index=source.index if source is not None else 0,
                        source_path=source.path if source is not None else None,
                    )
                )
            if page.next_cursor is None:
                return tuple(rows)
            cursor = page.next_cursor


def read_folder(
    path: str | os.PathLike[str], *, done: str = "done", error: str = "error"
) -> FolderState:
    """The files in the watch folder *path*: in its done folder, its error folder, and the rest.

    Hidden files (a writer's ``.name.tmp``) and the ``.error.json`` sidecars are not results.
    """
    root = Path(path)
    done_files: list[FileCopy] = []
    error_files: list[ErrorCopy] = []
    inbox: list[FileCopy] = []
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.name.startswith("."):
            continue
        relative = file.relative_to(root)
        top = relative.parts[0] if len(relative.parts) > 1 else None
        if top == error:
            if file.name.endswith(_SIDECAR):
                continue
            error_files.append(
                ErrorCopy(path=str(file), sha256=_sha256(file), reason=_sidecar_reason(file))
            )
        elif top == done:
            done_files.append(FileCopy(path=str(file), sha256=_sha256(file)))
        else:
            inbox.append(FileCopy(path=str(file), sha256=_sha256(file)))
    return FolderState(done=tuple(done_files), error=tuple(error_files), inbox=tuple(inbox))


def read_emulator(emulator: Emulator) -> ServerRecord:
    """The delivery record of a running in-process emulator, with every delivered body."""
    deliveries = tuple(emulator.deliveries())
    bodies: dict[str, bytes] = {}
    for delivery in deliveries:
        if delivery.report_id not in bodies:
            body = emulator.stored_report(delivery.report_id)
            if body is not None:
                bodies[delivery.report_id] = body
    return ServerRecord(deliveries=deliveries, bodies=bodies)


def _sha256_hex(content_hash: str) -> str | None:
    """The hex digest in a spool row's ``content_hash``: ``sha256:<hex>`` or bare hex (what
    the node stores); ``None`` for another algorithm or a malformed value."""
    digest = content_hash.removeprefix("sha256:").lower()
    if len(digest) == 64 and not digest.strip("0123456789abcdef"):
        return digest
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecar_reason(file: Path) -> str | None:
    sidecar = file.with_name(file.name + _SIDECAR)
    try:
        document = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    reason = document.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return None
    kind = document.get("kind")
    return f"{kind}: {reason}" if isinstance(kind, str) else reason
