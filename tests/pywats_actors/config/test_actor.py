"""The config actor, with real files and real file events: hot reload, rejection, coalescing.

File events come from inotify on the trio loop where it is available (Linux), and from watchdog
with ``use_inotify=False`` (or where it is not).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

import pytest
import trio

from pywats_actors._inotify import inotify_available
from pywats_actors.config import (
    ConfigActor,
    ConfigChanged,
    ConfigEvent,
    ConfigInvalid,
    ConfigNotFound,
    ConfigRejected,
    write_config_atomically,
)
from supervisors import ChildSpec, ChildStartError, Clone, ExitKind, Supervisor
from supervisors.testing import EventRecorder

from .conftest import config_text, write

WAIT = 10.0  # seconds: the most any single expected event may take to arrive
QUICK = 2.0  # seconds: a change seen by a file event (polling is an hour apart in those tests)

needs_inotify = pytest.mark.skipif(not inotify_available(), reason="inotify is Linux only")


def _watch(*ids: str) -> str:
    return "".join(f'[[watch]]\nid = "{i}"\npath = "in/{i}"\n' for i in ids)


@asynccontextmanager
async def _running(
    actor: ConfigActor,
) -> AsyncIterator[trio.MemoryReceiveChannel[ConfigEvent]]:
    """Run *actor* in a nursery; yield the receive end of its updates; cancel at the end."""
    send, receive = trio.open_memory_channel[ConfigEvent](16)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(WAIT):
            await nursery.start(actor.run, send)
        yield receive
        nursery.cancel_scope.cancel()


async def _next(receive: trio.MemoryReceiveChannel[ConfigEvent]) -> ConfigEvent:
    with trio.fail_after(WAIT):
        return await receive.receive()


async def _nothing_within(receive: trio.MemoryReceiveChannel[ConfigEvent], seconds: float) -> None:
    with trio.move_on_after(seconds):
        event = await receive.receive()
        pytest.fail(f"unexpected {event!r}")


def _watchdog_threads() -> int:
    return sum(
        1
        for t in threading.enumerate()
        if "Observer" in type(t).__name__ or "Emitter" in type(t).__name__
    )


def _inotify_fds() -> int:
    """Open inotify descriptors of this process."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(fd) == "anon_inode:inotify"
    return count


def _rewrite_in_place(path: Path, text: str) -> None:
    """Truncate and write *path* through the same inode, as an editor that saves in place."""
    with open(path, "r+", encoding="utf-8") as file:
        file.truncate()
        file.write(text)


def _rewrite_and_keep_open(path: Path, text: str) -> TextIO:
    """Rewrite *path* in place, flushed to disk, and return it still open for writing."""
    file = open(path, "r+", encoding="utf-8")  # noqa: SIM115 (the caller closes it)
    file.truncate()
    file.write(text)
    file.flush()
    os.fsync(file.fileno())
    return file


def _write_other_files(folder: Path, times: int) -> None:
    """Write other files in *folder*, *times* each way: appends, rewrites, atomic renames."""
    with open(folder / "node.log", "a", encoding="utf-8") as log:
        for i in range(times):
            log.write(f"line {i}\n")
            log.flush()
    for i in range(times):
        with open(folder / "operator.txt", "a", encoding="utf-8") as file:
            file.write(f"note {i}\n")
        (folder / "node.toml.tmp").write_text(f"draft {i}\n")
        os.replace(folder / "node.toml.tmp", folder / "node.toml~")
    os.chmod(folder / "operator.txt", 0o640)
    os.unlink(folder / "node.toml~")


def _overflow_inotify_queue(folder: Path) -> None:
    """Queue more events than inotify keeps, without yielding to trio (so none is read).

    Two names in turn, so that the kernel cannot merge identical consecutive events.
    """
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    for i in range(limit // 2 + 64):
        for name in ("a.log", "b.log"):
            with open(folder / name, "w", encoding="utf-8") as file:
                file.write(str(i))


def _actor(path: Path, **options: float | bool) -> ConfigActor:
    settings: dict[str, float | bool] = {"settle": 0.1, "poll_interval": 30.0}
    settings.update(options)
    return ConfigActor(path, **settings)  # type: ignore[arg-type]


class TestStart:
    async def test_ready_with_the_config(self, config_file: Path) -> None:
        """The actor reports ready with the loaded configuration, readable as .current."""
        write(config_file, config_text(_watch("a")))
        actor = _actor(config_file)
        send, _receive = trio.open_memory_channel[ConfigEvent](1)
        async with trio.open_nursery() as nursery:
            with trio.fail_after(WAIT):
                started = await nursery.start(actor.run, send)
            assert started == actor.current
            assert actor.current.watch[0].id == "a"
            assert actor.loaded.path == str(config_file)
            nursery.cancel_scope.cancel()

    async def test_invalid_file_fails_before_ready(self, config_file: Path) -> None:
        """An invalid file is a start failure that names every problem."""
        write(config_file, config_text("[upload]\nconcurrency = 0"))
        actor = _actor(config_file)
        send, _receive = trio.open_memory_channel[ConfigEvent](1)
        async with trio.open_nursery() as nursery:
            with pytest.raises(ConfigInvalid) as caught:
                await nursery.start(actor.run, send)
        assert [p.path for p in caught.value.problems] == ["$.upload.concurrency"]
        with pytest.raises(RuntimeError, match="not loaded"):
            _ = actor.current

    async def test_missing_file_fails_before_ready(self, config_file: Path) -> None:
        """A missing file is a ConfigNotFound start failure."""
        send, _receive = trio.open_memory_channel[ConfigEvent](1)
        async with trio.open_nursery() as nursery:
            with pytest.raises(ConfigNotFound):
                await nursery.start(_actor(config_file).run, send)


class TestHotReload:
    async def test_valid_change_is_applied_and_published(self, config_file: Path) -> None:
        """An atomic write of a valid file publishes ConfigChanged with the right diff."""
        write(config_file, config_text(_watch("a", "b")))
        actor = _actor(config_file)
        async with _running(actor) as updates:
            old = actor.current
            new_text = config_text(
                '[upload]\nconcurrency = 4\n[server]\nbase_url = "https://w.example.com"\n'
                'token = "t0ken"\n' + _watch("b", "c").replace('"in/b"', '"in/b2"')
            )
            write_config_atomically(config_file, new_text)
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.old == old
            assert event.new == actor.current
            assert actor.current.upload.concurrency == 4
            diff = event.diff
            assert diff.sections == ("server", "upload", "watch")
            assert diff.server_changed
            assert diff.upload_changed
            assert (diff.watch_added, diff.watch_removed, diff.watch_changed) == (
                ("c",),
                ("a",),
                ("b",),
            )
            assert "upload.concurrency" in diff.keys
            assert "watch[b].path" in diff.keys

    async def test_in_place_write_is_seen(self, config_file: Path) -> None:
        """A file rewritten in place (not renamed) is picked up too."""
        write(config_file, config_text())
        actor = _actor(config_file)
        async with _running(actor) as updates:
            write(config_file, config_text("[upload]\nconcurrency = 3"))
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.diff.keys == ("upload.concurrency",)

    async def test_invalid_change_is_rejected_and_old_config_stays(self, config_file: Path) -> None:
        """An invalid new file publishes ConfigRejected with every problem; .current stays."""
        write(config_file, config_text("[upload]\nconcurrency = 3"))
        actor = _actor(config_file)
        async with _running(actor) as updates:
            before = actor.current
            write_config_atomically(
                config_file, config_text("[upload]\nconcurrency = 0\nbogus = 1")
            )
            event = await _next(updates)
            assert isinstance(event, ConfigRejected)
            assert event.path == str(config_file)
            assert [str(p) for p in event.problems] == [
                "$.upload.bogus: unknown key; known keys: concurrency, max_concurrency, "
                "attempt_timeout, "
                "backoff_base, backoff_multiplier, backoff_cap, breaker_threshold, "
                "breaker_open_for, breaker_max_open, max_requests_per_second, "
                "separate_process",
                "$.upload.concurrency: expected an integer >= 1 and <= 16, got 0",
            ]
            assert actor.current is before
            # a later valid file is applied, relative to the config that stayed
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 5"))
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.old is before
            assert actor.current.upload.concurrency == 5

    async def test_syntax_error_is_rejected(self, config_file: Path) -> None:
        """A half-edited file that is not TOML is rejected with its line and column."""
        write(config_file, config_text())
        actor = _actor(config_file)
        async with _running(actor) as updates:
            write_config_atomically(config_file, "schema_version = 2\n[node\n")
            event = await _next(updates)
            assert isinstance(event, ConfigRejected)
            assert (event.problems[0].line, event.problems[0].column) == (2, 6)

    async def test_rapid_writes_coalesce(self, config_file: Path) -> None:
        """A burst of writes yields one ConfigChanged, for the last content."""
        write(config_file, config_text())
        actor = _actor(config_file, settle=0.4)
        async with _running(actor) as updates:
            for concurrency in range(1, 11):
                write_config_atomically(
                    config_file, config_text(f"[upload]\nconcurrency = {concurrency}")
                )
                await trio.sleep(0.02)
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 10
            assert event.old.upload.concurrency == 2
            await _nothing_within(updates, 1.0)

    async def test_comment_only_change_publishes_nothing(self, config_file: Path) -> None:
        """A change that leaves every setting as it was publishes nothing."""
        write(config_file, config_text())
        actor = _actor(config_file)
        async with _running(actor) as updates:
            before = actor.current
            write_config_atomically(config_file, "# a comment\n" + config_text())
            await _nothing_within(updates, 1.0)
            assert actor.current == before

    async def test_deleted_file_is_rejected(self, config_file: Path) -> None:
        """Deleting the file is reported once; the running config stays; recreating applies."""
        write(config_file, config_text())
        actor = _actor(config_file)
        async with _running(actor) as updates:
            before = actor.current
            os.unlink(config_file)
            event = await _next(updates)
            assert isinstance(event, ConfigRejected)
            assert [str(p) for p in event.problems] == [
                "$: the file is gone; the running configuration stays"
            ]
            assert actor.current is before
            write_config_atomically(config_file, config_text("[upload]\nbackoff_cap = 99"))
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.diff.keys == ("upload.backoff_cap",)

    async def test_polling_without_events(self, config_file: Path) -> None:
        """With file events off, the periodic stat check still finds the change."""
        write(config_file, config_text())
        actor = _actor(config_file, use_events=False, poll_interval=0.2)
        async with _running(actor) as updates:
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 7"))
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 7

    async def test_rejected_file_is_rechecked_when_its_cause_is_fixed(
        self, config_file: Path
    ) -> None:
        """A file rejected for a missing token file is applied once the token file appears."""
        write(config_file, config_text())
        actor = _actor(config_file, poll_interval=0.2)
        async with _running(actor) as updates:
            write_config_atomically(
                config_file,
                config_text('[server]\nbase_url = "https://w.example.com"\ntoken_file = "t"'),
            )
            event = await _next(updates)
            assert isinstance(event, ConfigRejected)
            assert event.problems[0].path == "$.server.token_file"
            await _nothing_within(updates, 0.5)  # the same problem is not published again
            write(config_file.parent / "t", "s3cret\n", 0o600)
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.diff.keys == ("server.base_url", "server.token_file")

    async def test_request_reload(self, config_file: Path) -> None:
        """request_reload() makes the actor look at the file without any event."""
        write(config_file, config_text())
        actor = _actor(config_file, use_events=False, poll_interval=3600)
        async with _running(actor) as updates:
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 9"))
            actor.request_reload()
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)


@needs_inotify
class TestInotify:
    """The trio-loop inotify: the config file's own events only, never each write."""

    async def test_in_place_edit_and_atomic_replace_are_seen_quickly(
        self, config_file: Path
    ) -> None:
        """An editor saving in place (seen when it closes the file) and an atomic replacement
        (seen when it is renamed into place) are both picked up at once, without polling and
        without watchdog's threads."""
        write(config_file, config_text())
        threads_before = _watchdog_threads()
        actor = _actor(config_file, poll_interval=3600)
        async with _running(actor) as updates:
            assert actor.event_source == "inotify"
            assert _watchdog_threads() == threads_before
            _rewrite_in_place(config_file, config_text("[upload]\nconcurrency = 3"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 3
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 4"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 4
            assert actor.checks == 2

    async def test_writes_are_seen_when_the_file_is_closed(self, config_file: Path) -> None:
        """While the file is still open for writing nothing is read (it may be half written);
        closing it is the event."""
        write(config_file, config_text())
        actor = _actor(config_file, poll_interval=3600)
        async with _running(actor) as updates:
            with _rewrite_and_keep_open(config_file, config_text("[upload]\nconcurrency = 5")):
                await _nothing_within(updates, 0.5)
                assert actor.checks == 0
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 5

    async def test_other_files_in_the_folder_cause_no_check(self, config_file: Path) -> None:
        """Another file written repeatedly in the config file's folder (a log appended to, a
        file rewritten, renamed into place, chmod-ed) never makes the actor look at its file;
        a change to the config file still does."""
        write(config_file, config_text())
        actor = _actor(config_file, poll_interval=3600)
        async with _running(actor) as updates:
            for _ in range(5):
                _write_other_files(config_file.parent, 50)
                await trio.sleep(0.05)
            await _nothing_within(updates, 0.5)  # longer than settle
            assert actor.checks == 0
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 9"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert actor.checks == 1

    async def test_queue_overflow_makes_the_actor_look(self, config_file: Path) -> None:
        """Events lost to a queue overflow might have been the config file's: it is checked."""
        write(config_file, config_text())
        actor = _actor(config_file, poll_interval=3600)
        async with _running(actor) as updates:
            _overflow_inotify_queue(config_file.parent)
            with trio.fail_after(WAIT):
                while actor.checks == 0:
                    await trio.sleep(0.05)
            await _nothing_within(updates, 0.3)  # the file did not change
            assert actor.checks == 1

    async def test_replaced_folder_is_watched_again(self, config_file: Path) -> None:
        """When the config file's folder is moved away and another takes its place, the new
        folder is watched (and the file in it checked at once)."""
        write(config_file, config_text())
        actor = _actor(config_file, poll_interval=3600)
        async with _running(actor) as updates:
            folder = config_file.parent
            folder.rename(folder.with_name("etc.old"))
            write(config_file, config_text("[upload]\nconcurrency = 6"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 6
            _rewrite_in_place(config_file, config_text("[upload]\nconcurrency = 7"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 7
            assert actor.event_source == "inotify"


class TestWatchdogFallback:
    async def test_watchdog_sees_in_place_edits_atomic_replaces_and_deletes(
        self, config_file: Path
    ) -> None:
        """With use_inotify=False (as where inotify is unavailable) watchdog's observer watches
        the folder, and every kind of change is still picked up without polling."""
        write(config_file, config_text())
        threads_before = _watchdog_threads()
        actor = _actor(config_file, use_inotify=False, poll_interval=3600)
        async with _running(actor) as updates:
            assert actor.event_source == "watchdog"
            assert _watchdog_threads() > threads_before
            _rewrite_in_place(config_file, config_text("[upload]\nconcurrency = 3"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 3
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 4"))
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigChanged)
            assert event.new.upload.concurrency == 4
            os.unlink(config_file)
            with trio.fail_after(QUICK):
                event = await updates.receive()
            assert isinstance(event, ConfigRejected)
        assert _watchdog_threads() == threads_before


class TestRestart:
    async def test_restart_keeps_config_when_file_broke_meanwhile(self, config_file: Path) -> None:
        """A restarted actor starts with the config it had and reports the broken file."""
        write(config_file, config_text("[upload]\nconcurrency = 3"))
        actor = _actor(config_file)
        async with _running(actor):
            before = actor.current
        write_config_atomically(config_file, config_text("[upload]\nconcurrency = 0"))
        async with _running(actor) as updates:
            event = await _next(updates)
            assert isinstance(event, ConfigRejected)
            assert event.problems[0].path == "$.upload.concurrency"
            assert actor.current is before

    async def test_restart_applies_a_change_made_meanwhile(self, config_file: Path) -> None:
        """A restarted actor publishes a change made while it was not running."""
        write(config_file, config_text())
        actor = _actor(config_file)
        async with _running(actor):
            pass
        write_config_atomically(config_file, config_text("[upload]\nconcurrency = 8"))
        async with _running(actor) as updates:
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.diff.keys == ("upload.concurrency",)


class TestSupervised:
    @pytest.mark.parametrize(
        "use_inotify", [pytest.param(True, marks=needs_inotify, id="inotify"), False]
    )
    async def test_stops_promptly_when_asked(self, config_file: Path, use_inotify: bool) -> None:
        """Under a supervisor, a stop request ends the actor at once, as a clean shutdown; its
        inotify descriptor is closed, or its watchdog threads are gone."""
        write(config_file, config_text())
        actor = _actor(config_file, use_inotify=use_inotify)
        threads_before = _watchdog_threads()
        fds_before = _inotify_fds()
        send, receive = trio.open_memory_channel[ConfigEvent](4)
        events = EventRecorder()
        supervisor = Supervisor(
            [ChildSpec("config", actor.run, (Clone(send),))], name="node", observers=[events]
        )
        async with trio.open_nursery() as nursery:
            with trio.fail_after(WAIT):
                await nursery.start(supervisor.run)
            if use_inotify:
                assert actor.event_source == "inotify"
                assert _watchdog_threads() == threads_before
                assert _inotify_fds() == fds_before + 1
            else:
                assert actor.event_source == "watchdog"
                assert _watchdog_threads() > threads_before
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 6"))
            assert isinstance(await _next(receive), ConfigChanged)
            with trio.fail_after(2):
                await supervisor.stop(grace=5)
        (child,) = supervisor.statistics().children
        assert child.last_exit is not None
        assert child.last_exit.kind is ExitKind.SHUTDOWN
        assert _watchdog_threads() == threads_before
        assert _inotify_fds() == fds_before
        assert actor.event_source == "none"

    async def test_invalid_file_is_a_start_failure(self, config_file: Path) -> None:
        """Under a supervisor, an invalid file fails the start with the ConfigInvalid."""
        write(config_file, config_text("[upload]\nconcurrency = 0"))
        send, _receive = trio.open_memory_channel[ConfigEvent](1)
        supervisor = Supervisor([ChildSpec("config", _actor(config_file).run, (Clone(send),))])
        async with trio.open_nursery() as nursery:
            with pytest.raises(ChildStartError) as caught:
                await nursery.start(supervisor.run)
        assert isinstance(caught.value.cause, ConfigInvalid)
