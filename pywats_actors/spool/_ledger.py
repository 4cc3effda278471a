"""The ledger of acknowledged ids: every id the server took, kept far longer than its row.

Deleting a sent row (retention, room for new work, an operator's purge) must not forget that the
server has the report, or a file fed again would be uploaded again. ``mark_sent`` records the id
here in the same transaction; ``enqueue`` looks every new id up here first. Each entry is the
GUID's 16 bytes, an 8-byte fingerprint of the source's content hash, and the time, in order of
acknowledgement, so the ledger is trimmed from its front (by age and by count) without a scan.
A row costs about 67 bytes in the file. See ``docs/spool.md``.

Everything here runs on the writer's connection, inside its transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid

__all__ = [
    "acknowledge",
    "acknowledge_sent_rows",
    "acknowledged_content",
    "content_fingerprint",
    "forget_old",
    "id_key",
]


def id_key(report_id: str) -> bytes:
    """The 16 bytes a canonical report id is stored as in the ledger."""
    return uuid.UUID(report_id).bytes


def content_fingerprint(content_hash: str) -> bytes:
    """The 8-byte fingerprint of a source's content hash that the ledger keeps."""
    return hashlib.blake2b(content_hash.encode(), digest_size=8).digest()


def acknowledged_content(conn: sqlite3.Connection, report_id: str) -> tuple[bytes, float] | None:
    """The content fingerprint recorded for *report_id* and when it was acknowledged, or
    ``None`` if it is not in the ledger (one probe of the unique index)."""
    row = conn.execute(
        "SELECT content, acked_at FROM acknowledged WHERE id = ?", (id_key(report_id),)
    ).fetchone()
    return None if row is None else (bytes(row[0]), float(row[1]))


def acknowledge(conn: sqlite3.Connection, report_id: str, content_hash: str, now: float) -> None:
    """Record that the server acknowledged *report_id* (a no-op if it is recorded already)."""
    conn.execute(
        "INSERT OR IGNORE INTO acknowledged (id, content, acked_at) VALUES (?, ?, ?)",
        (id_key(report_id), content_fingerprint(content_hash), now),
    )


def forget_old(conn: sqlite3.Connection, *, before: float, keep: int, limit: int) -> int:
    """Forget up to *limit* ids acknowledged before *before*, then up to *limit* of the oldest
    beyond the newest *keep*; return how many were forgotten. Only the front of the ledger is
    read, so a call costs what it deletes, not what the ledger holds."""
    forgotten = conn.execute(
        "DELETE FROM acknowledged WHERE seq IN (SELECT seq FROM (SELECT seq, acked_at "
        "FROM acknowledged ORDER BY seq LIMIT ?) WHERE acked_at < ?)",
        (limit, before),
    ).rowcount
    # two queries: SQLite answers min() or max() alone from the end of the b-tree, but both in
    # one SELECT with a scan of the whole ledger
    (first,) = conn.execute("SELECT min(seq) FROM acknowledged").fetchone()
    (last,) = conn.execute("SELECT max(seq) FROM acknowledged").fetchone()
    if last is not None and last - first + 1 > keep:  # seq has no gaps but the front's
        forgotten += conn.execute(
            "DELETE FROM acknowledged WHERE seq IN (SELECT seq FROM acknowledged "
            "WHERE seq <= ? ORDER BY seq LIMIT ?)",
            (last - keep, limit),
        ).rowcount
    return int(forgotten)


def acknowledge_sent_rows(conn: sqlite3.Connection) -> None:
    """Put every sent report of ``reports`` into the ledger of acknowledged ids (a migration
    from version 1, and salvage): the sent rows a spool holds are the acknowledged ids it
    knows."""
    rows = conn.execute(
        "SELECT id, CASE WHEN json_valid(source) THEN json_extract(source, '$.content_hash') "
        "END, sent_at FROM reports "
        "INDEXED BY reports_sent WHERE state = 'sent' ORDER BY sent_at"
    )
    ledger = []
    for rid, content_hash, sent_at in rows:
        try:
            key = id_key(rid)
        except (ValueError, TypeError, AttributeError):
            continue  # not a GUID: it could never have been acknowledged under this id
        if not isinstance(sent_at, int | float):
            continue
        ledger.append((key, content_fingerprint(str(content_hash)), sent_at))
    conn.executemany(
        "INSERT OR IGNORE INTO acknowledged (id, content, acked_at) VALUES (?, ?, ?)", ledger
    )
