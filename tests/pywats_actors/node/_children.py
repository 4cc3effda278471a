"""Processes for the watcher tests: a writer that holds its file open, and a watcher run as
another user or in a user namespace (``_watch_child.py``)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

CHILD = Path(__file__).with_name("_watch_child.py")

# Writes each line it reads on standard input to the file (flushed) and says "ok"; closes the
# file at the end of its input and says "closed". Runs as the user whose uid and gid follow.
WRITER = r"""
import os, sys
uid, gid = int(sys.argv[3]), int(sys.argv[4])
if (uid, gid) != (os.getuid(), os.getgid()):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
with open(sys.argv[1], sys.argv[2]) as f:
    while line := sys.stdin.readline():
        f.write(line)
        f.flush()
        print("ok", flush=True)
print("closed", flush=True)
"""

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to run as another user)")


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A temporary folder every user may enter and write to (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="pwn-watch-", dir="/tmp"))
    try:
        os.chmod(folder, 0o777)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Lines:
    """Lines of a child process's standard output."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""
        self.seen: list[str] = []

    async def line(self) -> str:
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some(1 << 16)
            if not data:
                raise EOFError("the child closed its output")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        text = line.decode()
        self.seen.append(text)
        return text


class Writer:
    """A test executive's writer in a process of its own, holding its file open."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._out = Lines(process.stdout)

    async def write(self, text: str) -> None:
        """Write *text* (one line) and wait until it is flushed to the file."""
        await self._stdin.send_all(text.encode())
        with trio.fail_after(10):
            assert await self._out.line() == "ok"

    async def close(self) -> None:
        """Close the file and wait for the writer to end."""
        await self._stdin.aclose()
        with trio.fail_after(10):
            assert await self._out.line() == "closed"
            await self.process.wait()


def _ids(user: str | None) -> tuple[int, int]:
    """The uid and gid of *user* (this process's own when ``None``).

    The children change user themselves, after their imports: the interpreter may live where
    the other user cannot read (``/root/.pyenv``).
    """
    if user is None:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


@asynccontextmanager
async def writer(path: Path, *, user: str | None = None, mode: str = "w") -> AsyncIterator[Writer]:
    """A :class:`Writer` on *path* (as *user*); killed at the end if it is still running."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", WRITER, str(path), mode, *map(str, _ids(user))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        yield Writer(process)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(10):
            await process.wait()


class WatcherChild:
    """A watcher in a process of its own; what it printed, parsed."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdout is not None
        self.process = process
        self._out = Lines(process.stdout)
        self.records: list[dict[str, Any]] = []

    async def next(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        """The next record of *kind* (``"FileReady"``, ``"FileUnreadable"``...)."""
        with trio.fail_after(within):
            while True:
                record: dict[str, Any] = json.loads(await self._out.line())
                self.records.append(record)
                if record.get("kind") == kind:
                    return record

    async def none_of(self, kind: str, wait: float) -> None:
        """Fail if a record of *kind* arrives within *wait* seconds."""
        with trio.move_on_after(wait):
            record = await self.next(kind, within=wait + 1)
            raise AssertionError(f"unexpected {record}")

    def logs(self, msg_part: str) -> list[dict[str, Any]]:
        return [r for r in self.records if msg_part in str(r.get("msg", ""))]


@asynccontextmanager
async def watcher_child(
    options: dict[str, Any], *, user: str | None = None, prefix: tuple[str, ...] = ()
) -> AsyncIterator[WatcherChild]:
    """Run ``_watch_child.py`` with *options* (as *user*, after *prefix* such as ``unshare``);
    yields once the watcher is ready; killed at the end."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    uid, gid = _ids(user)
    process = await trio.lowlevel.open_process(
        [*prefix, sys.executable, str(CHILD), json.dumps({**options, "uid": uid, "gid": gid})],
        stdout=subprocess.PIPE,
        env=env,
    )
    child = WatcherChild(process)
    try:
        await child.next("started", within=20)
        yield child
    finally:
        process.kill()
        with trio.move_on_after(10):
            await process.wait()
