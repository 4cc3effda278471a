"""Where each schedule's cursor is kept between runs and across restarts.

One small JSON file per schedule, ``<node.data_dir>/schedules/<id>.cursor.json``, replaced
atomically and durably (written to a temporary file, fsynced, renamed, the folder fsynced), so a
crash leaves the old cursor or the new one. The state folder is hidden from converter workers:
no converter can read or forge another schedule's cursor.

Order, for exactly-once: the node stores a run's reports in the spool (durable once ``enqueue``
returns) and only then its new cursor. A crash in between repeats the run from the old cursor;
the reports it finds again get the same ids (:mod:`converters._polling`), which the spool
already holds, so nothing is stored or uploaded twice. Storing the cursor first could lose
reports; this order can only repeat them.

The file also records the schedule's converter and source: a cursor is the state of *that*
converter over *that* source, so when either changes in the configuration the schedule starts
again from no cursor (and says so).
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from pathlib import Path

import msgspec

__all__ = ["CursorStore", "StoredCursor"]


class StoredCursor(msgspec.Struct, frozen=True, kw_only=True):
    """The content of a cursor file.

    Attributes:
        schedule: the schedule's id.
        converter: its converter reference when the cursor was stored.
        source: its source path then.
        text: the cursor when it is a string.
        data: the cursor when it is bytes, in base64.
    """

    schedule: str
    converter: str
    source: str
    text: str | None = None
    data: str | None = None

    @property
    def cursor(self) -> bytes | str | None:
        """The cursor as the converter returned it."""
        if self.data is not None:
            return base64.b64decode(self.data)
        return self.text


class CursorStore:
    """The cursor files of a node's schedules, in one folder (created on the first store).

    Blocking: call its methods through ``trio.to_thread.run_sync``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, schedule: str) -> Path:
        """The file that holds ``schedule``'s cursor."""
        return self.folder / f"{schedule}.cursor.json"

    def load(self, schedule: str) -> StoredCursor | None:
        """The stored cursor of ``schedule``, or ``None`` when there is none.

        Raises:
            OSError: the file exists but cannot be read.
            msgspec.DecodeError: the file is not a cursor file (damaged outside the node).
        """
        try:
            raw = self.path(schedule).read_bytes()
        except FileNotFoundError:
            return None
        return msgspec.json.decode(raw, type=StoredCursor)

    def store(
        self, schedule: str, cursor: bytes | str | None, *, converter: str, source: str
    ) -> None:
        """Replace ``schedule``'s cursor atomically and durably.

        Raises:
            OSError: it could not be written; the old cursor (if any) is unchanged.
        """
        record = StoredCursor(
            schedule=schedule,
            converter=converter,
            source=source,
            text=cursor if isinstance(cursor, str) else None,
            data=base64.b64encode(cursor).decode() if isinstance(cursor, bytes) else None,
        )
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(schedule)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=self.folder
        )
        try:
            with open(descriptor, "wb") as file:
                file.write(msgspec.json.encode(record))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
