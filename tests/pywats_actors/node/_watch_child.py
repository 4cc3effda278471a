"""Runs one watcher in a process of its own, for tests that need another user or namespace.

``python _watch_child.py '{"path": ..., "settle": ..., ...}'`` prints one JSON object per line on
standard output: ``{"kind": "started"}``, ``{"kind": "FileReady", ...}``, the watcher's events
(``{"kind": "FileUnreadable", ...}``) and its log lines (``{"msg": ...}``). With
``"max_watches": N`` it first sets this user namespace's inotify watch limit (run it under
``unshare --user --map-root-user``). With ``"uid"`` and ``"gid"`` it runs as that user, from
after its imports on (the interpreter may live where that user cannot read).
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import trio

from pywats_actors._logging import configure_logging
from pywats_actors.node import FileReady, WatcherSettings, run_watcher
from pywats_actors.node._bus import NodeEvent


def emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"kind": kind, **fields}), flush=True)


def publish(event: NodeEvent) -> None:
    emit(type(event).__name__, **msgspec.to_builtins(event))


async def main(options: dict[str, Any]) -> None:
    settings = WatcherSettings(
        id="child",
        path=Path(options["path"]),
        settle=options.get("settle", 0.2),
        rescan_interval=options.get("rescan_interval", 30.0),
        recursive=options.get("recursive", False),
    )
    send, receive = trio.open_memory_channel[FileReady](100)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(run_watcher, settings, send, publish=publish))
        emit("started")
        async for ready in receive:
            emit("FileReady", path=ready.path, size=ready.signature.size)


if __name__ == "__main__":
    opts = json.loads(sys.argv[1])
    if "max_watches" in opts:
        Path("/proc/sys/user/max_inotify_watches").write_text(str(opts["max_watches"]))
    configure_logging(fmt="json", level="info", stream=sys.stdout)
    uid, gid = opts.get("uid", os.getuid()), opts.get("gid", os.getgid())
    if (uid, gid) != (os.getuid(), os.getgid()):
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    trio.run(main, opts)
