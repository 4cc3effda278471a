"""The watcher actor on real folders: stability, patterns, rescans, no early pick-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio

from pywats_actors.node import (
    AfterSuccess,
    FileReady,
    WatcherSettings,
    WatchFolderBack,
    WatchFolderLost,
    dispose_failure,
    dispose_success,
    run_watcher,
)
from pywats_actors.node._bus import NodeEvent

from ._children import as_root, shared_folder, watcher_child, writer

SETTLE = 0.2


@asynccontextmanager
async def watching(
    settings: WatcherSettings, events: list[NodeEvent] | None = None
) -> AsyncIterator[trio.MemoryReceiveChannel[FileReady]]:
    send, receive = trio.open_memory_channel[FileReady](100)
    publish = events.append if events is not None else None
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(run_watcher, settings, send, publish=publish))
        yield receive
        nursery.cancel_scope.cancel()


async def collect(
    receive: trio.MemoryReceiveChannel[FileReady], n: int, within: float = 10
) -> list[FileReady]:
    got: list[FileReady] = []
    with trio.fail_after(within):
        while len(got) < n:
            got.append(await receive.receive())
    return got


async def nothing_more(
    receive: trio.MemoryReceiveChannel[FileReady], wait: float = 4 * SETTLE
) -> bool:
    with trio.move_on_after(wait):
        extra = await receive.receive()
        raise AssertionError(f"unexpected {extra}")
    return True


def settings(path: Path, **kw: object) -> WatcherSettings:
    options: dict[str, object] = {"settle": SETTLE, "rescan_interval": 1.0}
    options.update(kw)
    return WatcherSettings(id="line1", path=path, **options)  # type: ignore[arg-type]


class TestPickUp:
    async def test_files_present_at_start_are_handed_on(self, tmp_path: Path) -> None:
        """Files already in the folder when the watcher starts are processed."""
        (tmp_path / "a.csv").write_text("x")
        (tmp_path / "b.csv").write_text("y")
        async with watching(settings(tmp_path)) as got:
            ready = await collect(got, 2)
        assert sorted(r.relative for r in ready) == ["a.csv", "b.csv"]
        assert all(r.folder == "line1" for r in ready)
        assert all(Path(r.path).is_absolute() for r in ready)

    async def test_new_file_is_handed_on_once(self, tmp_path: Path) -> None:
        """A file dropped later is handed on after it settles, and only once."""
        async with watching(settings(tmp_path)) as got:
            (tmp_path / "new.csv").write_text("data")
            (ready,) = await collect(got, 1)
            assert ready.signature.size == 4
            assert await nothing_more(got, wait=2.5)  # across two rescans

    async def test_file_being_written_is_not_picked_up_early(self, tmp_path: Path) -> None:
        """While a writer keeps appending, nothing is handed on; the final size is what arrives."""
        path = tmp_path / "slow.csv"
        async with watching(settings(tmp_path)) as got:
            with path.open("w") as f:
                for i in range(10):
                    f.write(f"row {i}\n")
                    f.flush()
                    with trio.move_on_after(SETTLE / 2):
                        early = await got.receive()
                        raise AssertionError(f"picked up while being written: {early}")
            (ready,) = await collect(got, 1)
        assert ready.signature.size == path.stat().st_size

    async def test_rewritten_file_is_handed_on_again(self, tmp_path: Path) -> None:
        """A file that changes after it was handed on is a new version and goes again."""
        path = tmp_path / "r.csv"
        path.write_text("one")
        async with watching(settings(tmp_path)) as got:
            await collect(got, 1)
            path.write_text("second version")
            (again,) = await collect(got, 1)
        assert again.signature.size == len("second version")

    async def test_zero_byte_binary_and_unicode_names(self, tmp_path: Path) -> None:
        """Empty files, binary garbage and non-ASCII names are handed on like any other."""
        (tmp_path / "empty.csv").write_bytes(b"")
        (tmp_path / "garbage.csv").write_bytes(os.urandom(512))
        (tmp_path / "mätning 測試 ✓.csv").write_text("ok")
        async with watching(settings(tmp_path)) as got:
            ready = await collect(got, 3)
        assert sorted(r.relative for r in ready) == sorted(
            ["empty.csv", "garbage.csv", "mätning 測試 ✓.csv"]
        )


class TestPatterns:
    async def test_include_exclude_hidden_and_special_folders(self, tmp_path: Path) -> None:
        """Only included, non-excluded, non-hidden files outside done/ and error/ are taken."""
        for name in ["a.xml", "b.csv", "skip_me.xml", ".hidden.xml", "c.XML.tmp"]:
            (tmp_path / name).write_text("x")
        (tmp_path / "done").mkdir()
        (tmp_path / "done" / "old.xml").write_text("x")
        (tmp_path / "error").mkdir()
        (tmp_path / "error" / "bad.xml").write_text("x")
        s = settings(tmp_path, include=("*.xml", "*.csv"), exclude=("skip_*",), recursive=True)
        async with watching(s) as got:
            ready = await collect(got, 2)
            assert await nothing_more(got)
        assert sorted(r.relative for r in ready) == ["a.xml", "b.csv"]

    async def test_recursion_is_optional(self, tmp_path: Path) -> None:
        """Sub-folders are watched only when recursive is set."""
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "deep.csv").write_text("x")
        (tmp_path / "top.csv").write_text("x")
        async with watching(settings(tmp_path)) as got:
            assert [r.relative for r in await collect(got, 1)] == ["top.csv"]
            assert await nothing_more(got)
        async with watching(settings(tmp_path, recursive=True)) as got:
            ready = await collect(got, 2)
        assert sorted(r.relative for r in ready) == ["sub/deep.csv", "top.csv"]


class TestRescan:
    async def test_rescan_alone_finds_files(self, tmp_path: Path) -> None:
        """Without file events (a network share), the periodic rescan finds new files."""
        async with watching(settings(tmp_path, use_events=False, rescan_interval=0.3)) as got:
            (tmp_path / "late.csv").write_text("x")
            (ready,) = await collect(got, 1)
        assert ready.relative == "late.csv"

    async def test_missing_folder_is_created(self, tmp_path: Path) -> None:
        """A watch folder that does not exist yet is created at start."""
        folder = tmp_path / "not" / "yet"
        async with watching(settings(folder)):
            assert folder.is_dir()

    async def test_folder_that_cannot_be_made_is_waited_for(self, tmp_path: Path) -> None:
        """A watch folder that cannot be made (a file is in its way) is reported, not a crash;
        once the way is clear and the folder exists, its files are found."""
        (tmp_path / "blocked").write_text("a file where a folder should be")
        folder = tmp_path / "blocked" / "in"
        events: list[NodeEvent] = []
        async with watching(settings(folder, rescan_interval=3600), events) as got:
            assert [type(e) for e in events] == [WatchFolderLost]
            (tmp_path / "blocked").unlink()
            folder.mkdir(parents=True)
            (folder / "late.csv").write_text("x")
            (ready,) = await collect(got, 1, within=5)
        assert ready.relative == "late.csv"
        assert [type(e) for e in events] == [WatchFolderLost, WatchFolderBack]


class TestDisposal:
    def ready(self, root: Path, relative: str, content: str = "x") -> FileReady:
        from pywats_actors.node import FileSignature

        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        st = path.stat()
        return FileReady(
            folder="f",
            path=str(path),
            relative=relative,
            signature=FileSignature(size=st.st_size, mtime_ns=st.st_mtime_ns),
        )

    def test_move_keeps_relative_path_and_never_overwrites(self, tmp_path: Path) -> None:
        """Success moves the file under done/, and a name clash gets a ~N suffix."""
        first = dispose_success(self.ready(tmp_path, "sub/a.csv"), tmp_path, AfterSuccess.MOVE)
        second = dispose_success(self.ready(tmp_path, "sub/a.csv"), tmp_path, AfterSuccess.MOVE)
        assert first == tmp_path / "done" / "sub" / "a.csv"
        assert second == tmp_path / "done" / "sub" / "a~1.csv"
        assert not (tmp_path / "sub" / "a.csv").exists()

    def test_delete_and_already_gone(self, tmp_path: Path) -> None:
        """Delete removes the file; a file that already went is not an error."""
        r = self.ready(tmp_path, "a.csv")
        assert dispose_success(r, tmp_path, AfterSuccess.DELETE) is None
        assert not Path(r.path).exists()
        assert dispose_success(r, tmp_path, AfterSuccess.MOVE) is None

    async def test_kept_file_is_not_handed_on_again(self, tmp_path: Path) -> None:
        """A kept file gets a marker, and a new watcher skips it until it changes."""
        r = self.ready(tmp_path, "keep.csv")
        assert dispose_success(r, tmp_path, AfterSuccess.KEEP) == Path(r.path)
        async with watching(settings(tmp_path)) as got:
            assert await nothing_more(got)
            Path(r.path).write_text("changed!")
            (again,) = await collect(got, 1)
        assert again.relative == "keep.csv"

    def test_failure_goes_to_error_with_sidecar(self, tmp_path: Path) -> None:
        """A failed file moves to error/ next to a JSON sidecar that says why."""
        r = self.ready(tmp_path, "bad.csv", "garbage")
        target = dispose_failure(
            r,
            tmp_path,
            kind="rejected",
            reason="no header row",
            converter="csv",
            traceback="Traceback...\nValueError: no header row",
        )
        assert target == tmp_path / "error" / "bad.csv"
        assert target.read_text() == "garbage"
        sidecar = json.loads((tmp_path / "error" / "bad.csv.error.json").read_text())
        assert sidecar["reason"] == "no header row"
        assert sidecar["converter"] == "csv"
        assert sidecar["kind"] == "rejected"
        assert sidecar["source"] == r.path
        assert "ValueError" in sidecar["traceback"]


class TestEventSources:
    async def test_watchdog_fallback_finds_files(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Where inotify is unavailable the watcher uses watchdog, with the same results."""
        import pywats_actors.node._watcher as watcher_module

        monkeypatch.setattr(watcher_module, "inotify_available", lambda: False)
        async with watching(settings(tmp_path, rescan_interval=60)) as got:
            (tmp_path / "w.csv").write_text("x")
            (ready,) = await collect(got, 1)
        assert ready.relative == "w.csv"

    async def test_new_sub_folder_is_watched(self, tmp_path: Path) -> None:
        """A sub-folder created while watching recursively is watched for new files at once."""
        async with watching(settings(tmp_path, recursive=True, rescan_interval=60)) as got:
            (tmp_path / "late").mkdir()
            await trio.sleep(0.2)
            (tmp_path / "late" / "deep.csv").write_text("x")
            (ready,) = await collect(got, 1, within=5)
        assert ready.relative == "late/deep.csv"

    async def test_events_arrive_without_rescans(self, tmp_path: Path) -> None:
        """With rescans an hour apart, a dropped file is still found within a second or so."""
        async with watching(settings(tmp_path, rescan_interval=3600)) as got:
            start = trio.current_time()
            (tmp_path / "quick.csv").write_text("x")
            await collect(got, 1, within=5)
        assert trio.current_time() - start < 2


class TestLostProcessing:
    async def test_file_left_in_place_is_offered_again_later(self, tmp_path: Path) -> None:
        """A file handed on whose processing was lost (still there, unchanged) comes again
        after the re-offer delay, so a transient failure never strands it."""
        (tmp_path / "stuck.csv").write_text("x")
        async with watching(settings(tmp_path, rescan_interval=0.3, reoffer_after=1.0)) as got:
            first = await collect(got, 1)
            assert await nothing_more(got, wait=0.5)
            again = await collect(got, 1, within=5)
        assert first[0].path == again[0].path


def _drop_backlog(folder: Path, n: int) -> list[str]:
    """*n* files whose modification times increase in an order unrelated to their names;
    returns their paths oldest first."""
    order = sorted(range(n), key=lambda i: (i * 7919) % n)  # a fixed shuffle of the names
    base = 1_700_000_000_000_000_000
    paths = []
    for rank, i in enumerate(order):
        path = folder / f"f{i:04}.csv"
        path.write_text(str(i))
        os.utime(path, ns=(base + rank * 1_000_000, base + rank * 1_000_000))
        paths.append(str(path))
    return paths


class TestOldestFirst:
    """A backlog is handed on in the order its files were made."""

    async def test_backlog_present_at_start_is_handed_on_by_mtime(self, tmp_path: Path) -> None:
        """300 files waiting when the watcher starts are handed on exactly in order of their
        modification times (not of their names, nor of the folder's listing)."""
        expected = _drop_backlog(tmp_path, 300)
        async with watching(settings(tmp_path)) as got:
            ready = await collect(got, 300, within=30)
        assert [r.path for r in ready] == expected

    async def test_equal_mtimes_go_by_name(self, tmp_path: Path) -> None:
        """Files with the same modification time go in the order of their relative paths."""
        for name in ("c.csv", "a.csv", "b.csv"):
            (tmp_path / name).write_text(name)
            os.utime(tmp_path / name, ns=(10**18, 10**18))
        async with watching(settings(tmp_path)) as got:
            ready = await collect(got, 3)
        assert [r.relative for r in ready] == ["a.csv", "b.csv", "c.csv"]

    async def test_an_older_file_ready_later_overtakes_newer_ones_still_waiting(
        self, tmp_path: Path
    ) -> None:
        """While the receiver is busy, files wait in the watcher; an older file that becomes
        ready in a later round goes before every newer one still waiting."""
        newer = _drop_backlog(tmp_path, 5)
        send, receive = trio.open_memory_channel[FileReady](0)
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(run_watcher, settings(tmp_path), send))
            await trio.sleep(SETTLE * 3)  # the five are ready; the first waits in send()
            old = tmp_path / "old.csv"
            old.write_text("made long ago, copied in late")
            os.utime(old, ns=(1, 1))
            await trio.sleep(SETTLE * 3)  # ready too, in a later round
            got = [(await receive.receive()).path for _ in range(6)]
            nursery.cancel_scope.cancel()
        assert got == [newer[0], str(old), *newer[1:]]


class TestNetworkShares:
    """On network and FUSE file systems inode numbers may change under an unchanged file (SMB
    with ``noserverino``); there signatures leave them out."""

    @pytest.mark.parametrize("local", [True, False])
    async def test_a_new_inode_alone_is_a_new_version_only_on_a_local_disk(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: bool
    ) -> None:
        """A file that gets another inode with the same size and mtime is handed on again on a
        local disk, and not on a share, where its signature carries no inode at all."""
        monkeypatch.setattr("pywats_actors.node._watcher.is_local", lambda path: local)
        path = tmp_path / "a.csv"
        path.write_text("same")
        async with watching(settings(tmp_path, rescan_interval=0.3)) as got:
            (first,) = await collect(got, 1)
            st = path.stat()
            twin = tmp_path / ".twin"
            twin.write_text("same")
            os.utime(twin, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(twin, path)  # what a share's unstable inode numbers look like
            assert path.stat().st_ino != st.st_ino
            if local:
                (again,) = await collect(got, 1)
                assert again.signature.ino == path.stat().st_ino
            else:
                assert await nothing_more(got, wait=1.5)  # several rescans and rounds
        if local:
            assert (first.signature.ino, first.signature.dev) == (st.st_ino, st.st_dev)
        else:
            assert (first.signature.ino, first.signature.dev) == (0, 0)
            assert (first.signature.size, first.signature.mtime_ns) == (4, st.st_mtime_ns)


class TestCrashLeftovers:
    """What an interrupted disposal left behind is put right when the watcher starts."""

    async def test_interrupted_delete_is_undone_and_half_written_files_removed(
        self, tmp_path: Path
    ) -> None:
        """A file renamed to its hidden delete name is renamed back and taken again (under
        the first free name when its own is taken); half-written sidecars of other processes
        and half-written markers go; a sidecar this process is writing stays."""
        (tmp_path / ".a.csv.pywats-deleting").write_text("a")
        (tmp_path / "b.csv").write_text("b, new")
        (tmp_path / ".b.csv.pywats-deleting").write_text("b, old")
        (tmp_path / ".b.csv~1.pywats-deleting").write_text("b, older")
        (tmp_path / ".c.csv.pywats-done.tmp").write_text("1 2 3 4\n")
        error = tmp_path / "error"
        (error / "sub").mkdir(parents=True)
        (error / ".x.csv.error.json.99999999.tmp").write_text("{")
        (error / "sub" / ".y.csv.error.json.12.tmp").write_text("{")
        mine = error / f".z.csv.error.json.{os.getpid()}.tmp"
        mine.write_text("{")
        async with watching(settings(tmp_path)) as got:
            ready = await collect(got, 4)
        contents = {r.relative: Path(r.path).read_text() for r in ready}
        assert contents == {
            "a.csv": "a",
            "b.csv": "b, new",
            "b~1.csv": "b, old",
            "b~2.csv": "b, older",
        }
        hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
        assert hidden == []
        assert sorted(p.name for p in error.rglob("*") if p.is_file()) == [mine.name]

    async def test_leftovers_in_sub_folders_of_a_recursive_folder(self, tmp_path: Path) -> None:
        """In a recursive watch folder, an interrupted delete in a sub-folder is undone too."""
        (tmp_path / "line2").mkdir()
        (tmp_path / "line2" / ".r.csv.pywats-deleting").write_text("r")
        async with watching(settings(tmp_path, recursive=True)) as got:
            (ready,) = await collect(got, 1)
        assert ready.relative == "line2/r.csv"


ROWS = ["step,value\n", "voltage,3.3\n", "current,0.2\n", "power,0.66\n", "leak,0.0\n"]


class TestWriters:
    """A file a writer still holds open is never taken, however long the writer pauses."""

    async def test_writer_pausing_past_settle_is_waited_for(self, tmp_path: Path) -> None:
        """A writer that writes row by row with pauses of several settle intervals, the file
        open all along, has its file taken only after it closes it, whole."""
        path = tmp_path / "run.csv"
        async with watching(settings(tmp_path, rescan_interval=0.5)) as got:
            async with writer(path) as w:
                for row in ROWS:
                    await w.write(row)
                    assert await nothing_more(got, wait=5 * SETTLE)
                await w.close()
            (ready,) = await collect(got, 1)
        assert ready.signature.size == len("".join(ROWS))
        assert path.read_text() == "".join(ROWS)

    @as_root
    async def test_writer_running_as_another_user_is_waited_for(self) -> None:
        """A writer running as another user (the test executive's account) holds its file open:
        the node, with CAP_LEASE, still waits for it to close."""
        with shared_folder() as folder:
            path = folder / "other.json"
            async with watching(settings(folder)) as got:
                async with writer(path, user="nobody") as w:
                    await w.write('{"steps": [1,\n')
                    assert await nothing_more(got, wait=5 * SETTLE)
                    await w.write("2, 3]}\n")
                    assert await nothing_more(got, wait=5 * SETTLE)
                    await w.close()
                (ready,) = await collect(got, 1)
            assert path.stat().st_uid != 0
            assert ready.signature.size == path.stat().st_size
            assert json.loads(path.read_text()) == {"steps": [1, 2, 3]}

    @as_root
    async def test_node_that_may_not_lease_follows_writes_and_closes(self) -> None:
        """A node running as a user that does not own the file (no lease possible) waits for
        the writer's close as inotify reports it."""
        with shared_folder() as folder:
            path = folder / "run.csv"
            async with watcher_child({"path": str(folder), "settle": SETTLE}, user="nobody") as w:
                async with writer(path) as executive:  # root's file: nobody may not lease it
                    for row in ROWS:
                        await executive.write(row)
                        await w.none_of("FileReady", wait=5 * SETTLE)
                    await executive.close()
                ready = await w.next("FileReady")
            assert ready["size"] == len("".join(ROWS))


class TestUnreadable:
    """A file the node may not read is reported, retried with backoff and taken once it can."""

    @as_root
    async def test_unreadable_file_is_reported_once_and_taken_when_fixed(self) -> None:
        """A root-owned 0600 file seen by a node running as nobody gives one FileUnreadable
        and one warning however often it is retried; once made readable it is taken."""
        with shared_folder() as folder:
            os.chmod(folder, 0o755)
            path = folder / "secret.csv"
            path.write_text("".join(ROWS))
            os.chmod(path, 0o600)
            async with watcher_child({"path": str(folder), "settle": SETTLE}, user="nobody") as w:
                event = await w.next("FileUnreadable")
                assert event["source"] == str(path)
                assert event["error"] == "Permission denied"
                await w.none_of("FileUnreadable", wait=4.0)  # retried 1 s, 2 s later: quietly
                assert len(w.logs("file cannot be read")) == 1
                os.chmod(path, 0o644)  # its event ends the backoff: taken within a second
                ready = await w.next("FileReady", within=2)
            assert ready["path"] == str(path)
            assert ready["size"] == len("".join(ROWS))

    @as_root
    async def test_a_new_version_of_an_unreadable_file_is_reported_again(self) -> None:
        """A rewritten file that is still unreadable is a new version: one more report."""
        with shared_folder() as folder:
            os.chmod(folder, 0o755)
            path = folder / "secret.csv"
            path.write_text("one")
            os.chmod(path, 0o600)
            async with watcher_child({"path": str(folder), "settle": SETTLE}, user="nobody") as w:
                await w.next("FileUnreadable")
                path.write_text("a second version")
                await w.next("FileUnreadable")
                assert len(w.logs("file cannot be read")) == 2

    @as_root
    async def test_sub_folder_that_cannot_be_listed_is_reported_once(self) -> None:
        """A sub-folder the node may not list gets one warning across rescans; the other
        sub-folders are served as usual."""
        with shared_folder() as folder:
            os.chmod(folder, 0o755)
            (folder / "closed").mkdir(mode=0o700)
            (folder / "closed" / "hidden.csv").write_text("x")
            (folder / "open").mkdir(mode=0o755)
            (folder / "open" / "seen.csv").write_text("y")
            options = {"path": str(folder), "settle": SETTLE, "rescan_interval": 1.0}
            async with watcher_child({**options, "recursive": True}, user="nobody") as w:
                ready = await w.next("FileReady")
                await w.none_of("FileReady", wait=2.5)  # across two rescans
                assert len(w.logs("a sub-folder cannot be listed")) == 1
            assert ready["path"] == str(folder / "open" / "seen.csv")


class TestFolderComesBack:
    """A watch folder deleted (or replaced) and re-created is watched by events again."""

    @pytest.mark.parametrize("how", ["deleted", "moved away"])
    async def test_recreated_folder_is_served_by_events(self, tmp_path: Path, how: str) -> None:
        """With rescans an hour apart, a file dropped into the re-created folder is found
        within seconds; the folder's absence and return are each reported once."""
        folder = tmp_path / "in"
        events: list[NodeEvent] = []
        async with watching(settings(folder, rescan_interval=3600), events) as got:
            (folder / "before.csv").write_text("x")
            await collect(got, 1)
            if how == "deleted":
                shutil.rmtree(folder)
            else:
                folder.rename(tmp_path / "old")
            with trio.fail_after(5):
                while not events:
                    await trio.sleep(0.05)
            folder.mkdir()
            with trio.fail_after(5):
                while len(events) < 2:
                    await trio.sleep(0.05)
            start = trio.current_time()
            (folder / "after.csv").write_text("y")
            (ready,) = await collect(got, 1, within=5)
            assert trio.current_time() - start < 2
            assert await nothing_more(got)
        assert ready.relative == "after.csv"
        assert [type(e) for e in events] == [WatchFolderLost, WatchFolderBack]


def _user_namespaces_work() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class TestWatchLimit:
    """Past inotify's watch limit a recursive watcher keeps going on rescans, with one warning."""

    @pytest.mark.skipif(not _user_namespaces_work(), reason="needs unprivileged user namespaces")
    async def test_recursive_watcher_past_the_watch_limit(self, tmp_path: Path) -> None:
        """In a user namespace whose limit is 4 watches, a recursive watcher on 12 folders
        finds every file (the root's by events, the rest by rescans) and warns once."""
        for i in range(12):
            (tmp_path / f"sub{i:02}").mkdir()
        options = {
            "path": str(tmp_path),
            "settle": SETTLE,
            "rescan_interval": 0.5,
            "recursive": True,
            "max_watches": 4,
        }
        prefix = ("unshare", "--user", "--map-root-user")
        async with watcher_child(options, prefix=prefix) as w:
            for i in range(12):
                (tmp_path / f"sub{i:02}" / "deep.csv").write_text(str(i))
            (tmp_path / "top.csv").write_text("top")
            paths = {(await w.next("FileReady"))["path"] for _ in range(13)}
            await w.none_of("FileReady", wait=1.5)  # three more rescans: nothing again
            assert w.process.returncode is None
            assert len(w.logs("inotify watch limit reached")) == 1
        assert paths == {str(tmp_path / "top.csv")} | {
            str(tmp_path / f"sub{i:02}" / "deep.csv") for i in range(12)
        }

    @pytest.mark.skipif(not _user_namespaces_work(), reason="needs unprivileged user namespaces")
    async def test_watch_folder_itself_past_the_limit(self, tmp_path: Path) -> None:
        """With no inotify watch left at all, the watcher still starts, warns once, and its
        rescans find every file."""
        options = {"path": str(tmp_path), "settle": SETTLE, "rescan_interval": 0.5}
        prefix = ("unshare", "--user", "--map-root-user")
        async with watcher_child({**options, "max_watches": 0}, prefix=prefix) as w:
            (tmp_path / "a.csv").write_text("a")
            first = await w.next("FileReady")
            (tmp_path / "b.csv").write_text("b")
            second = await w.next("FileReady")
            await w.none_of("FileReady", wait=2.0)  # retried every second: still one warning
            assert len(w.logs("inotify watch limit reached")) == 1
        assert [first["path"], second["path"]] == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
