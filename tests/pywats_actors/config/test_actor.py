"""The config actor, with real files and real watchdog: hot reload, rejection, coalescing."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

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
                "$.upload.bogus: unknown key; known keys: concurrency, attempt_timeout, "
                "backoff_base, backoff_multiplier, backoff_cap, breaker_threshold, "
                "breaker_open_for, breaker_max_open, max_requests_per_second",
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
            write_config_atomically(config_file, config_text("[health]\nport = 9999"))
            event = await _next(updates)
            assert isinstance(event, ConfigChanged)
            assert event.diff.keys == ("health.port",)

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
    async def test_stops_promptly_when_asked(self, config_file: Path) -> None:
        """Under a supervisor, a stop request ends the actor at once, as a clean shutdown."""
        write(config_file, config_text())
        actor = _actor(config_file)
        threads_before = _watchdog_threads()
        send, receive = trio.open_memory_channel[ConfigEvent](4)
        events = EventRecorder()
        supervisor = Supervisor(
            [ChildSpec("config", actor.run, (Clone(send),))], name="node", observers=[events]
        )
        async with trio.open_nursery() as nursery:
            with trio.fail_after(WAIT):
                await nursery.start(supervisor.run)
            assert _watchdog_threads() > threads_before
            write_config_atomically(config_file, config_text("[upload]\nconcurrency = 6"))
            assert isinstance(await _next(receive), ConfigChanged)
            with trio.fail_after(2):
                await supervisor.stop(grace=5)
        (child,) = supervisor.statistics().children
        assert child.last_exit is not None
        assert child.last_exit.kind is ExitKind.SHUTDOWN
        assert _watchdog_threads() == threads_before

    async def test_invalid_file_is_a_start_failure(self, config_file: Path) -> None:
        """Under a supervisor, an invalid file fails the start with the ConfigInvalid."""
        write(config_file, config_text("[health]\nport = 0"))
        send, _receive = trio.open_memory_channel[ConfigEvent](1)
        supervisor = Supervisor([ChildSpec("config", _actor(config_file).run, (Clone(send),))])
        async with trio.open_nursery() as nursery:
            with pytest.raises(ChildStartError) as caught:
                await nursery.start(supervisor.run)
        assert isinstance(caught.value.cause, ConfigInvalid)
