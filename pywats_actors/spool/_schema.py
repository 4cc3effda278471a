"""The database: connections with the durability settings, the schema and its migrations, and
the translation of SQLite errors into the spool's error tree.

Migrations are a table of functions: ``MIGRATIONS[n]`` brings a database from version ``n - 1``
to ``n``, inside the same transaction that records ``n`` in ``spool_schema``. Version 1 creates
everything; version 2 adds the usage totals kept by triggers and the ledger of acknowledged ids.
To change the schema, add ``MIGRATIONS[n + 1]`` and bump :data:`SCHEMA_VERSION`; never edit a
released step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ._errors import SpoolCorrupt, SpoolDiskFull, SpoolError, SpoolIOError, SpoolVersionError
from ._files import free_bytes
from ._ledger import acknowledge_sent_rows

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect_reader",
    "connect_writer",
    "failpoint_io_error",
    "migrate",
    "schema_version",
    "supported_version",
    "translate_error",
]

SCHEMA_VERSION: Final = 2
APPLICATION_ID: Final = 0x50575350
"""``PRAGMA application_id`` of a spool ("PWSP"), so ``file(1)``-style tools and this code can
tell a spool from any other SQLite file."""

_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26

_V1: Final = (
    """
    CREATE TABLE spool_schema (
        version     INTEGER PRIMARY KEY,
        applied_at  REAL NOT NULL,
        description TEXT NOT NULL
    )
    """,
    # One row per report. `seq` is the insertion order ("oldest first"), `id` the report GUID
    # in canonical form. The body is the last column so that reading the other columns never
    # touches its overflow pages.
    """
    CREATE TABLE reports (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'rejected')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error      TEXT,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        sent_at         REAL,
        server_answer   TEXT,
        source          TEXT NOT NULL,
        body_size       INTEGER NOT NULL,
        body_crc        INTEGER NOT NULL,
        body            BLOB
    )
    """,
    # Claims scan pending rows in insertion order and filter on the due time inside the index.
    "CREATE INDEX reports_pending ON reports (seq, next_attempt_at) WHERE state = 'pending'",
    "CREATE INDEX reports_state ON reports (state, seq)",
    "CREATE INDEX reports_sent ON reports (sent_at) WHERE state = 'sent'",
    # Untyped columns keep whatever the broken row held, byte for byte.
    """
    CREATE TABLE quarantine (
        seq            INTEGER PRIMARY KEY,
        quarantined_at REAL NOT NULL,
        reason         TEXT NOT NULL,
        report_id,
        state,
        source,
        record         TEXT NOT NULL,
        body
    )
    """,
)


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


_BODY_BYTES = "CASE WHEN {row}.body IS NULL THEN 0 ELSE {row}.body_size END"
_ADD = "UPDATE spool_usage SET rows = rows + 1, bytes = bytes + " + _BODY_BYTES
_SUB = "UPDATE spool_usage SET rows = rows - 1, bytes = bytes - " + _BODY_BYTES

_V2: Final = (
    # Rows and stored body bytes per state, kept by the triggers below in the same
    # transaction as the change, so that start-up and every commit read three rows instead of
    # counting the whole table.
    """
    CREATE TABLE spool_usage (
        state TEXT PRIMARY KEY,
        rows  INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE TRIGGER reports_usage_insert AFTER INSERT ON reports BEGIN "
    + _ADD.format(row="NEW")
    + " WHERE state = NEW.state; END",
    "CREATE TRIGGER reports_usage_delete AFTER DELETE ON reports BEGIN "
    + _SUB.format(row="OLD")
    + " WHERE state = OLD.state; END",
    "CREATE TRIGGER reports_usage_update AFTER UPDATE OF state, body, body_size ON reports BEGIN "
    + _SUB.format(row="OLD")
    + " WHERE state = OLD.state; "
    + _ADD.format(row="NEW")
    + " WHERE state = NEW.state; END",
    # Sent reports that still have a body, oldest first: what retention and the limits drop
    # first, found without stepping over the many sent rows whose body is already gone.
    "CREATE INDEX reports_sent_bodies ON reports (sent_at) "
    "WHERE state = 'sent' AND body IS NOT NULL",
    # Every id the server acknowledged, kept far longer than the rows of sent reports, so that
    # a file fed again after its row is gone is not uploaded again. `seq` is the order of
    # acknowledgement (the ledger is trimmed from the front); `id` the GUID's 16 bytes;
    # `content` an 8-byte fingerprint of the source's content hash.
    """
    CREATE TABLE acknowledged (
        seq      INTEGER PRIMARY KEY,
        id       BLOB NOT NULL UNIQUE,
        content  BLOB NOT NULL,
        acked_at REAL NOT NULL
    )
    """,
)


def _create_v2(conn: sqlite3.Connection) -> None:
    for statement in _V2:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO spool_usage (state, rows, bytes) "
        "VALUES ('pending', 0, 0), ('sent', 0, 0), ('rejected', 0, 0)"
    )
    conn.execute(
        "UPDATE spool_usage SET rows = c.n, bytes = c.b FROM (SELECT state, count(*) AS n, "
        "total(CASE WHEN body IS NULL THEN 0 ELSE body_size END) AS b FROM reports "
        "GROUP BY state) AS c WHERE spool_usage.state = c.state"
    )
    acknowledge_sent_rows(conn)


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: Final[dict[int, tuple[str, Migration]]] = {
    1: ("create reports, quarantine and spool_schema", _create_v1),
    2: ("usage totals kept by triggers; the ledger of acknowledged ids", _create_v2),
}


def connect_writer(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """Open the one writer connection: WAL, ``synchronous=FULL``, both set and verified.

    Raises:
        SpoolError: the file system cannot do WAL (a network share, for example).
        sqlite3.Error: anything else; the caller translates it.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=True)
    try:
        conn.execute("PRAGMA cell_size_check = ON")
        if _user_tables(conn) == 0:
            # Only effective before the first table exists: lets retention hand pages back.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SpoolError(
                f"the spool {path} cannot use SQLite's WAL mode here (got {mode!r}); put it on "
                f"a local file system"
            )
        conn.execute("PRAGMA synchronous = FULL")
        if conn.execute("PRAGMA synchronous").fetchone()[0] != 2:
            raise SpoolError(f"SQLite refused synchronous=FULL for {path}")
        conn.execute("PRAGMA journal_size_limit = 67108864")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_reader(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """Open a read-only connection, safe to use while a node writes (WAL readers never block
    the writer and never see a half-done transaction).

    ``check_same_thread`` is off: the caller serialises its use (one thread at a time).
    """
    uri = path.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, timeout=busy_timeout, check_same_thread=False
    )
    conn.execute("PRAGMA query_only = ON")
    return conn


def _user_tables(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return int(row[0])


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The version recorded in the file: 0 for an empty database.

    Raises:
        SpoolCorrupt: the file is some other SQLite database.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = _user_tables(conn)
    if app_id == 0 and tables == 0:
        return 0
    if app_id != APPLICATION_ID:
        raise SpoolCorrupt(path, [f"not a pywats spool (application_id {app_id:#x})"])
    row = conn.execute("SELECT max(version) FROM spool_schema").fetchone()
    return int(row[0] or 0)


def supported_version(conn: sqlite3.Connection, path: Path) -> int:
    """The version recorded in the file, checked to be one this code can read.

    Raises:
        SpoolVersionError: the file is newer than this code.
        SpoolCorrupt: the file is not a spool.
    """
    found = schema_version(conn, path)
    if found > SCHEMA_VERSION:
        raise SpoolVersionError(path, found, SCHEMA_VERSION)
    return found


def migrate(conn: sqlite3.Connection, path: Path, now: float) -> tuple[int, int]:
    """Bring the schema to :data:`SCHEMA_VERSION`, one committed step at a time.

    Returns:
        ``(found, now_version)``.

    Raises:
        SpoolVersionError: the file is newer than this code.
        SpoolCorrupt: the file is not a spool.
    """
    found = supported_version(conn, path)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        description, step = MIGRATIONS[version]
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(
                "INSERT INTO spool_schema (version, applied_at, description) VALUES (?, ?, ?)",
                (version, now, description),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found, SCHEMA_VERSION


def failpoint_io_error() -> sqlite3.Error:
    """What an ``error`` failpoint in the spool raises: SQLite's own error for a failing disk,
    with its code, so that it is translated into :class:`SpoolIOError` like a real one."""
    error = sqlite3.OperationalError("disk I/O error (failpoint)")
    error.sqlite_errorcode = _SQLITE_IOERR
    error.sqlite_errorname = "SQLITE_IOERR"
    return error


def translate_error(exc: sqlite3.Error, path: Path, *, reserve: int = 0) -> SpoolError | None:
    """The spool error for an SQLite error, or ``None`` when it is not about the disk or the
    file (then it is a bug and should propagate as it is)."""
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if code is None:
        return None
    primary = code & 0xFF
    if primary == _SQLITE_FULL:
        try:
            free = free_bytes(path.parent)
        except OSError:
            free = 0
        return SpoolDiskFull(path, free=free, reserve=reserve, detail=f"{name}: {exc}")
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return SpoolCorrupt(path, [str(exc)])
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY):
        return SpoolIOError(path, name, str(exc))
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        error = SpoolError(f"the spool {path} stayed locked by another connection ({exc})")
        error.path = path
        return error
    return None
