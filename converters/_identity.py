"""Deterministic report identity.

A report's id is a UUIDv5 in the station's namespace over the converter's name, the SHA-256 of the
source file's bytes and the report's index within the file::

    uuid5(station_namespace, f"{converter}/{sha256_hex}/{index}")

Same station, same converter, same bytes -> same ids, so the spool and the server deduplicate a
file that is converted twice (after a crash between spool commit and moving the file, say). The
pool computes it in the parent process from the bytes it sent, after conversion, so a converter
cannot get it wrong. Formats that carry their own GUID (WSJF, WSXF) keep it.

The name string is part of the contract: changing it would change every id, so it never changes.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["NIL_UUID", "content_hash", "report_id"]

NIL_UUID = uuid.UUID(int=0)

_CLEAR_VERSION_AND_VARIANT = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_VERSION_5_RFC_4122 = (5 << 76) | (0x8000 << 48)


def content_hash(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def report_id(namespace: uuid.UUID, converter: str, sha256: str, index: int) -> uuid.UUID:
    """The deterministic id of report number ``index`` (from 0) converted from one file.

    Args:
        namespace: the station's namespace UUID (from its configuration).
        converter: the converter's declared name (not a configuration alias).
        sha256: :func:`content_hash` of the file's bytes.
        index: the report's position in the converter's output.

    Raises:
        ValueError: a malformed hash or a negative index.
    """
    if len(sha256) != 64 or sha256.strip("0123456789abcdef"):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    # uuid.uuid5(namespace, name), without its detour through bytes (the same value, tested).
    digest = hashlib.sha1(namespace.bytes + f"{converter}/{sha256}/{index}".encode()).digest()
    value = int.from_bytes(digest[:16], "big") & _CLEAR_VERSION_AND_VARIANT
    return uuid.UUID(int=value | _VERSION_5_RFC_4122)
