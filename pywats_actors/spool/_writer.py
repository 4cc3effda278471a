"""The writer thread: the one SQLite connection that writes, fed by a queue, with group commit.

Why a dedicated thread and not ``trio.to_thread`` with a ``CapacityLimiter(1)``:

* the connection is created, used and closed on one OS thread for its whole life, so SQLite's
  and Python's thread rules hold trivially (``check_same_thread`` stays on);
* group commit falls out of the queue: while one transaction is committing (its fsync), new
  calls pile up in the queue, and the thread takes *all* of them into the next transaction. No
  timer, no linger, no coordinating trio task; a lone call is never delayed;
* a caller that is cancelled does not hold anything up: its request still commits (or fails)
  on the thread, and the answer is dropped. Every write is idempotent or safe to repeat, so
  "cancelled" means "may or may not have happened", as documented on each method.

Answers go back to trio with ``TrioToken.run_sync_soon``, one callback per batch, so a batch of
N calls costs one wake-up of the trio thread.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import trio

from .._failpoints import failpoint
from ._checkpoint import WRITER_CHECKPOINT_PAGES, Checkpointer
from ._counters import Counters
from ._errors import SpoolClosed, SpoolCorrupt
from ._files import WriterLock, fsync_directory
from ._schema import connect_writer, failpoint_io_error, migrate, translate_error
from ._settings import SpoolSettings
from ._store import Store
from ._types import QuarantinedRow, StartupReport

__all__ = ["Request", "Writer"]

T = TypeVar("T")


class Request(Generic[T]):
    """One call waiting for the writer thread; answered on the trio thread."""

    __slots__ = ("abandoned", "args", "done", "error", "fn", "on_abandon", "value", "write")

    def __init__(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        *,
        write: bool,
        on_abandon: Callable[[T], None] | None = None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.write = write
        self.on_abandon = on_abandon
        self.done = trio.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        self.abandoned = False

    def finish(self, value: T | None, error: BaseException | None) -> None:
        """Record the answer (trio thread). An abandoned request undoes its effect here."""
        self.value, self.error = value, error
        self.done.set()
        if self.abandoned:
            self._undo()

    def abandon(self) -> None:
        """The caller stopped waiting (trio thread)."""
        self.abandoned = True
        if self.done.is_set():
            self._undo()

    def _undo(self) -> None:
        if self.on_abandon is not None and self.error is None and self.value is not None:
            self.on_abandon(self.value)

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


_Answer = tuple["Request[Any]", Any, "BaseException | None"]


class Writer:
    """Owns the writer thread and its queue.

    Args:
        path: the database file.
        settings: the spool's settings.
        clock: the wall clock, called on the writer thread.
        on_batch: called on the trio thread after every committed batch with a copy of the
            counters (for intake decisions).
        on_quarantine: called on the writer thread with each row a claim quarantined.
    """

    def __init__(
        self,
        path: Path,
        settings: SpoolSettings,
        clock: Callable[[], float],
        on_batch: Callable[[Counters], None],
        on_quarantine: Callable[[QuarantinedRow], None] = lambda row: None,
    ) -> None:
        self.path = path
        self.settings = settings
        self.clock = clock
        self.on_batch = on_batch
        self.on_quarantine = on_quarantine
        self.store: Store | None = None
        self.fatal: BaseException | None = None
        self.exited = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        self._queue: queue.SimpleQueue[Request[Any] | None] = queue.SimpleQueue()
        self._accepting = True
        self._lock = WriterLock(path)
        self._snapshot_lock = threading.Lock()
        self._snapshot = Counters()
        self._thread = threading.Thread(
            target=self._main, name=f"spool-writer:{path.name}", daemon=True
        )
        self._startup: Request[StartupReport] = Request(self._open, (), write=False)
        self._checkpointer: Checkpointer | None = None
        self._inflight: list[Request[Any]] = []  # the batch the thread works on
        self._answered: set[int] = set()  # ids of its requests already answered

    # -- trio side ----------------------------------------------------------------------------

    async def start(self) -> StartupReport:
        """Start the thread; return once the database is open, checked and migrated.

        Raises:
            SpoolCorrupt, SpoolLocked, SpoolVersionError, SpoolIOError: the spool cannot open.
        """
        self._thread.start()
        with trio.CancelScope(shield=True):  # the thread owns files: always see it through
            await self._startup.done.wait()
        return self._startup.result()

    def submit(
        self,
        fn: Callable[..., T],
        *args: Any,
        write: bool = True,
        on_abandon: Callable[[T], None] | None = None,
    ) -> Request[T]:
        """Queue a call of a :class:`Store` method on the writer thread.

        Raises:
            SpoolClosed: the writer is stopping or has stopped.
        """
        if not self._accepting:
            raise self._closed_error()
        request = Request(fn, args, write=write, on_abandon=on_abandon)
        self._queue.put(request)
        return request

    async def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        write: bool = True,
        on_abandon: Callable[[T], None] | None = None,
    ) -> T:
        """Submit and wait for the answer; a cancelled caller abandons the request."""
        request = self.submit(fn, *args, write=write, on_abandon=on_abandon)
        answered = False
        try:
            await request.done.wait()
            answered = True
        finally:
            if not answered:
                request.abandon()
        return request.result()

    def stop(self) -> None:
        """Ask the thread to finish what is queued, close the database and exit."""
        if self._accepting:
            self._accepting = False
            self._queue.put(None)

    def fail(self, error: BaseException) -> None:
        """Stop the writer for *error* (damage found outside it): every later call fails with
        :class:`SpoolClosed` caused by *error*, and :attr:`fatal` is *error*."""
        if self.fatal is None:
            self.fatal = error
        self.stop()

    def counters(self) -> Counters:
        """The counters as of the last committed batch (any thread)."""
        with self._snapshot_lock:
            return self._snapshot.copy()

    def _answer(self, answers: Sequence[_Answer], counters: Counters | None) -> None:
        for request, value, error in answers:
            request.finish(value, error)
        if counters is not None:
            self.on_batch(counters)

    def _thread_exited(self) -> None:
        self._accepting = False
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                request.finish(None, self._closed_error())
        self.exited.set()

    def _send(self, fn: Callable[..., object], *args: Any) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(fn, *args)

    # -- writer thread ------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            try:
                report = self._open()
            except BaseException as exc:
                self.fatal = exc
                self._send(self._answer, [(self._startup, None, exc)], None)
                return
            self._send(self._answer, [(self._startup, report, None)], None)
            self._loop()
        except BaseException as exc:  # a bug in the loop itself: fail loudly, not silently
            self.fatal = exc
        finally:
            self._answer_unanswered()
            self._close()
            self._send(self._thread_exited)

    def _open(self) -> StartupReport:
        """Open, migrate and count: no work per row, so opening takes the same time whatever
        the spool holds. (The file's check runs in the background afterwards, rows are checked
        when claimed, and retention runs through the queue like any other write.)"""
        self._lock.acquire()
        try:
            created = not self.path.exists() or self.path.stat().st_size == 0
            started = time.monotonic()
            conn = connect_writer(self.path, busy_timeout=self.settings.busy_timeout)
            try:
                if created:
                    fsync_directory(self.path.parent)
                found, version = migrate(conn, self.path, self.clock())
                self.store = Store(
                    conn, self.path, self.settings, self.clock, on_quarantine=self.on_quarantine
                )
                # WAL checkpoints on their own thread, not inside a caller's commit; the
                # writer's own only if a flood of writes never lets that thread catch up
                conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
                self._checkpointer = Checkpointer(
                    self.path, busy_timeout=self.settings.busy_timeout
                )
                self._checkpointer.start()
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            self._lock.release()
            error = translate_error(exc, self.path) or SpoolCorrupt(self.path, [str(exc)])
            raise error from exc
        except BaseException:
            self._lock.release()
            raise
        self._publish()
        return StartupReport(
            created=created,
            schema_version=version,
            migrated_from=found if found != version and not created else None,
            retention=None,
            open_seconds=time.monotonic() - started,
        )

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    def _loop(self) -> None:
        limit = self.settings.max_batch
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < limit:
                try:
                    request = self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    stopping = True
                    break
                batch.append(request)
            self._inflight = batch
            writes = [r for r in batch if r.write]
            if writes:
                self._write_batch(writes)
            for request in batch:
                if not request.write and self.fatal is None:
                    answer = self._run_read(request)
                    self._answered.add(id(request))
                    store = self._store()
                    counters = None
                    if store.changed:  # a claim quarantined a row
                        store.changed = False
                        counters = self._publish()
                    self._send(self._answer, [answer], counters)
            self._answer_unanswered()
            if stopping or self.fatal is not None:
                return  # on a corrupt database: stop accepting work

    def _closed_error(self) -> SpoolClosed:
        what = f": {self.fatal}" if self.fatal is not None else ""
        closed = SpoolClosed(f"the spool {self.path} is closed{what}")
        closed.path = self.path
        closed.__cause__ = self.fatal
        return closed

    def _answer_unanswered(self) -> None:
        """Answer every request of the current batch that has no answer yet with
        :class:`SpoolClosed` (the writer stopped before it got to them), so no caller waits
        for ever."""
        answered = self._answered
        left = [(r, None, self._closed_error()) for r in self._inflight if id(r) not in answered]
        self._inflight = []
        self._answered = set()
        if left:
            self._send(self._answer, left, None)

    def _run_read(self, request: Request[Any]) -> _Answer:
        try:
            return request, request.fn(*request.args), None
        except sqlite3.Error as exc:
            error = translate_error(exc, self.path)
            if isinstance(error, SpoolCorrupt):
                self.fatal = error  # damage met by a read stops the writer as a write's does
            if error is None:
                return request, None, exc
            error.__cause__ = exc
            return request, None, error
        except Exception as exc:
            return request, None, exc

    def _write_batch(self, writes: list[Request[Any]]) -> None:
        """Run *writes* in one transaction, each in a savepoint; answer after the commit.

        Sets :attr:`fatal` when the database turned out to be corrupt.
        """
        store = self._store()
        conn = store.conn
        before = store.counters.copy()
        store.start_batch()
        answers: list[_Answer] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for request in writes:
                answers.append(self._run_write(store, request))
            failpoint("spool.commit", failpoint_io_error)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            store.counters = before
            # one exception object per caller: each raise adds its own traceback
            answers = [(r, None, self._batch_error(exc)) for r in writes]
            self._answered.update(id(r) for r in writes)
            self._send(self._answer, answers, None)
            if isinstance(answers[0][2], SpoolCorrupt):
                self.fatal = answers[0][2]
            return
        try:
            store.finish_batch()
        except sqlite3.Error as exc:  # committed all the same: the callers get their answers
            error = translate_error(exc, self.path)
            if isinstance(error, SpoolCorrupt):
                self.fatal = error  # and the loop stops after answering them
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        counters = self._publish()
        self._answered.update(id(r) for r in writes)
        self._send(self._answer, answers, counters)

    def _batch_error(self, exc: sqlite3.Error) -> BaseException:
        error = translate_error(exc, self.path, reserve=self.settings.reserve_free_bytes)
        if error is None:
            return exc
        error.__cause__ = exc
        return error

    def _run_write(self, store: Store, request: Request[Any]) -> _Answer:
        """One call in its own savepoint. An SQLite error about the disk or the file aborts
        the whole batch (it propagates); anything else fails only this call."""
        conn = store.conn
        saved = store.counters.copy()
        conn.execute("SAVEPOINT call")
        try:
            value = request.fn(*request.args)
        except sqlite3.Error as exc:
            if translate_error(exc, self.path) is not None:
                raise
            error: BaseException = exc
        except Exception as exc:
            error = exc
        else:
            conn.execute("RELEASE call")
            return request, value, None
        conn.execute("ROLLBACK TO call")
        conn.execute("RELEASE call")
        store.counters = saved
        return request, None, error

    def _publish(self) -> Counters:
        counters = self._store().counters.copy()
        with self._snapshot_lock:
            self._snapshot = counters
        return counters.copy()

    def _close(self) -> None:
        if self._checkpointer is not None:  # first: the writer's must be the last connection
            self._checkpointer.stop()
        store = self.store
        if store is not None:
            # No "PRAGMA optimize" here: the sqlite_stat1 table it creates is read whenever the
            # schema loads, so damage to that one page would make the whole file unreadable.
            # The queries that matter name their index (INDEXED BY) instead.
            with contextlib.suppress(sqlite3.Error):
                store.conn.close()
        self._lock.release()
