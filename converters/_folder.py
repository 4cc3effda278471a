"""Folder units: several files that together make one result, packed into one message.

A *folder converter* (``kind = "folder"``) is handed a whole unit at once: a folder of files, and
the sibling files whose name is the folder's name plus an extension (the Klippel layout:
``DUT x.txt`` beside the folder ``DUT x/``). The node reads the unit's files, packs them with
:func:`pack_unit` into one byte string, and sends that to the sandboxed worker like a file's
bytes, so the sandbox, the input limit (``max_input_mb``: it applies to the packed total) and the
report identity (the SHA-256 of the packed bytes: same files, same names, same ids) are those of
files. The worker unpacks it with :func:`unpack_unit` and calls
``convert_folder(files, name, args)``.

A packed unit is the magic :data:`UNIT_MAGIC` then a msgpack map from each file's path relative
to the folder that holds the unit (``DUT x.txt``, ``DUT x/Impedance-imp.txt``, always with
``/``) to its bytes, in sorted path order, so the same files always pack to the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from ._errors import FileRejected

__all__ = [
    "UNIT_MAGIC",
    "FolderConverter",
    "is_folder_converter",
    "is_unit",
    "pack_unit",
    "unpack_unit",
]

UNIT_MAGIC = b"PYWATS-UNIT/1\n"
"""The first bytes of a packed folder unit."""

_DECODER = msgspec.msgpack.Decoder(dict[str, bytes])


class FolderConverter(Protocol):
    """What a folder converter implements besides ``detect`` (see ``docs/converters.md``)."""

    def convert_folder(self, files: Mapping[str, bytes], name: str, args: Any) -> Any:
        """Convert one unit: *files* by path relative to the unit's parent folder."""


def is_folder_converter(cls_or_instance: object) -> bool:
    """Whether a converter class or instance declares ``kind = "folder"``."""
    return getattr(cls_or_instance, "kind", "file") == "folder"


def _checked_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"a unit's file path must be relative and plain, not {path!r}")
    return path


def pack_unit(files: Mapping[str, bytes]) -> bytes:
    """Pack a unit's files (relative path -> bytes) into one deterministic byte string.

    Raises:
        ValueError: a path that is absolute or holds ``.``, ``..`` or an empty part.
    """
    ordered = {_checked_path(path): bytes(files[path]) for path in sorted(files)}
    return UNIT_MAGIC + msgspec.msgpack.encode(ordered)


def is_unit(data: bytes) -> bool:
    """Whether *data* is a packed folder unit."""
    return data.startswith(UNIT_MAGIC)


def unpack_unit(data: bytes, converter: str = "this converter") -> dict[str, bytes]:
    """The files of a packed unit, by relative path.

    Raises:
        FileRejected: *data* is not a packed unit (a single file given to a folder converter:
            the watch folder needs ``unit = "folder"``), or it is damaged.
    """
    if not is_unit(data):
        raise FileRejected(
            f"{converter} is a folder converter: it converts a folder unit, not a single file; "
            'watch the folder with unit = "folder"'
        )
    try:
        files = _DECODER.decode(memoryview(data)[len(UNIT_MAGIC) :])
    except msgspec.DecodeError as exc:
        raise FileRejected(f"the packed folder unit is damaged: {exc}") from None
    for path in files:
        try:
            _checked_path(path)
        except ValueError as exc:
            raise FileRejected(str(exc)) from None
    return files
