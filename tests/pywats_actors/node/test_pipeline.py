"""The pipeline with a real spool and a real converter pool: a file's trouble (rewritten while
converted, unreadable, no worker, too large for the spool) stays with that file, and nothing is
lost or converted half-way.

Where a fault cannot happen here (root reads every file; a pool that stops answering), a thin
wrapper around the real part injects it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from converters import ConversionResult, PoolSettings, Unavailable, open_converter_pool
from pywats_actors.config import NodeConfig, load_config
from pywats_actors.node import (
    ConversionUnavailable,
    DisposalFailed,
    FileChangedMeanwhile,
    FileConverted,
    FileDisposed,
    FileFailed,
    FileReady,
    FileSignature,
    FileUnreadable,
    ReportContentChanged,
    ReportIdCollided,
)
from pywats_actors.node._bus import EventBus, NodeEvent
from pywats_actors.node._folder_status import FolderHealth
from pywats_actors.node._pipeline import Pipeline, converter_set
from pywats_actors.spool import Spool, SpoolSettings, open_spool

from ..._reports import built_report
from .test_node import NAMESPACE


def wsjf(n: int, *, sn: str | None = None) -> tuple[bytes, str]:
    """A valid WSJF report numbered *n* (its id follows from *n*), and its id."""
    return built_report(n, id_label="pipeline-test", sn=sn)


def node_config(tmp_path: Path) -> NodeConfig:
    path = tmp_path / "node.toml"
    path.write_text(
        f"""
schema_version = 2

[node]
station_namespace = "{NAMESPACE}"
data_dir = "{tmp_path / "data"}"

[[watch]]
id = "line1"
path = "{tmp_path / "in"}"
include = ["*.json"]
"""
    )
    path.chmod(0o600)
    return load_config(path).config


def ready_for(path: Path) -> FileReady:
    """What the watcher sends for *path* as it is now."""
    return FileReady(
        folder="line1",
        path=str(path),
        relative=path.name,
        signature=FileSignature.from_stat(path.stat()),
    )


@dataclass
class Harness:
    pipeline: Pipeline
    spool: Spool
    send: trio.MemorySendChannel[FileReady]
    bus: EventBus
    folder: Path

    def events(self, kind: type[NodeEvent]) -> list[NodeEvent]:
        return [e.event for e in self.bus.recent() if isinstance(e.event, kind)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 30) -> None:
        with trio.fail_after(within):
            while not predicate():
                await trio.sleep(0.02)

    async def ids(self) -> set[str]:
        page = await self.spool.list_reports(limit=100)
        return {row.report_id for row in page.reports}


@dataclass
class Wrapped:
    """The real pool, with *before* run before each conversion (or instead of it, when it
    returns a result)."""

    pool: object
    before: Callable[[int], ConversionResult | None]
    calls: int = 0
    seen: list[bytes] = field(default_factory=list)

    async def convert(
        self, data: bytes, name: str, converter: str | None = None
    ) -> ConversionResult:
        self.calls += 1
        self.seen.append(data)
        instead = self.before(self.calls)
        if instead is not None:
            return instead
        return await self.pool.convert(data, name, converter)  # type: ignore[attr-defined, no-any-return]


@asynccontextmanager
async def pipeline(
    tmp_path: Path,
    *,
    before: Callable[[int], ConversionResult | None] | None = None,
    spool_settings: SpoolSettings | None = None,
) -> AsyncIterator[Harness]:
    config = node_config(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    bus = EventBus()
    async with (
        open_spool(tmp_path / "spool.db", spool_settings) as spool,
        open_converter_pool(
            PoolSettings(workers=1, start_timeout=20),
            converters=converter_set(config),
            station_namespace=uuid.UUID(NAMESPACE),
        ) as pool,
    ):
        used = pool if before is None else Wrapped(pool, before)
        pipe = Pipeline(
            config=lambda: config,
            spool=spool,
            pool=used,
            bus=bus,
            work_arrived=lambda: None,
        )
        send, receive = trio.open_memory_channel[FileReady](16)
        async with trio.open_nursery() as nursery:
            await nursery.start(pipe.run, receive, 2)
            async with send:
                yield Harness(pipe, spool, send, bus, folder)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after 0.1 s doubling to 0.4 s, so a test sees several."""
    monkeypatch.setattr("pywats_actors.node._retries.RETRY_FIRST", 0.1)
    monkeypatch.setattr("pywats_actors.node._retries.RETRY_CAP", 0.4)


class TestRewrittenFiles:
    async def test_rewritten_while_converted_both_versions_are_stored(self, tmp_path: Path) -> None:
        """A file rewritten under its name while it is converted is not moved to done/: the
        version read is stored, the file stays, and its new version is converted and moved."""
        first, first_id = wsjf(1)
        second, second_id = wsjf(2)
        path = tmp_path / "in" / "r.json"

        def rewrite(call: int) -> None:
            if call == 1:
                path.write_bytes(second)  # the writer rewrites it during the conversion

        async with pipeline(tmp_path, before=rewrite) as h:
            path.write_bytes(first)
            await h.send.send(ready_for(path))
            await h.wait_for(lambda: bool(h.events(FileChangedMeanwhile)))
            (changed,) = h.events(FileChangedMeanwhile)
            assert changed.stage == "disposal"  # type: ignore[attr-defined]
            assert path.read_bytes() == second
            assert not (h.folder / "done").exists() or not any((h.folder / "done").iterdir())
            await h.send.send(ready_for(path))  # the watcher sees the new version
            await h.wait_for(lambda: (h.folder / "done" / "r.json").exists())
            assert await h.ids() == {first_id, second_id}
        assert (h.folder / "done" / "r.json").read_bytes() == second
        assert not path.exists()

    async def test_changed_before_it_is_read_is_not_converted(self, tmp_path: Path) -> None:
        """A file that changed after the watcher found it stable is not converted as that
        version: nothing is stored, the file stays, an event says why."""
        body, _ = wsjf(3)
        path = tmp_path / "in" / "r.json"
        async with pipeline(tmp_path) as h:
            path.write_bytes(body[: len(body) // 2])
            stale = ready_for(path)
            path.write_bytes(body)  # the writer was not done
            await h.send.send(stale)
            await h.wait_for(lambda: bool(h.events(FileChangedMeanwhile)))
            assert h.events(FileChangedMeanwhile)[0].stage == "read"  # type: ignore[attr-defined]
            assert await h.ids() == set()
            assert path.read_bytes() == body


class TestAlreadyOnTheServer:
    async def _send_and_ack(self, h: Harness, path: Path, body: bytes) -> None:
        path.write_bytes(body)
        await h.send.send(ready_for(path))
        await h.wait_for(lambda: not path.exists())
        (claimed,) = await h.spool.claim(1)
        await h.spool.mark_sent(claimed.report_id)

    async def test_kept_id_with_other_content_goes_to_error_naming_the_other_file(
        self, tmp_path: Path
    ) -> None:
        """A WSJF file carrying the id of a report the server accepted from another file, with
        other content, is not "already on the server": it goes to error/ with a sidecar naming
        the other file, a warning names both files and the id, ReportIdCollided and FileFailed
        are published, and nothing is stored for it."""
        first, report_id = wsjf(40)
        other, other_id = wsjf(40, sn="SN-rewritten")
        assert other_id == report_id
        assert other != first
        async with pipeline(tmp_path) as h:
            await self._send_and_ack(h, h.folder / "a.json", first)
            path = h.folder / "b.json"
            path.write_bytes(other)
            with capture_logs() as logs:
                await h.send.send(ready_for(path))
                await h.wait_for(lambda: bool(h.events(FileFailed)))
            stats = h.spool.statistics()
        holder = str(h.folder / "a.json")
        (event,) = h.events(ReportIdCollided)
        assert event == ReportIdCollided(
            folder="line1",
            source=str(path),
            report_id=report_id,
            converter="wsjf",
            holder=holder,
            holder_state="sent",
        )
        (failed,) = h.events(FileFailed)
        assert failed.kind == "id_conflict"  # type: ignore[attr-defined]
        assert h.events(ReportContentChanged) == []
        assert len(h.events(FileConverted)) == 1  # a.json only
        assert (stats.pending, stats.sent, stats.enqueued) == (0, 1, 1)
        assert (h.folder / "error" / "b.json").read_bytes() == other
        sidecar = json.loads((h.folder / "error" / "b.json.error.json").read_text())
        assert sidecar["kind"] == "id_conflict"
        assert sidecar["reason"].startswith(
            f"report id {report_id} is already in the spool from {holder} (content hash "
        )
        assert sidecar["reason"].endswith("state sent); a report id must identify one report")
        warnings = [
            (e["report_id"], e["source"], e["holder"])
            for e in logs
            if e["log_level"] == "warning" and "another report holds" in e["event"]
        ]
        assert warnings == [(report_id, str(path), holder)]

    async def test_kept_id_of_a_pending_report_with_other_content_stores_nothing(
        self, tmp_path: Path
    ) -> None:
        """The same while the first report still waits for its upload: the second file goes
        to error/, and the pending report is the first file's, untouched."""
        first, report_id = wsjf(42)
        other, _ = wsjf(42, sn="SN-other")
        async with pipeline(tmp_path) as h:
            (h.folder / "a.json").write_bytes(first)
            await h.send.send(ready_for(h.folder / "a.json"))
            await h.wait_for(lambda: bool(h.events(FileConverted)))
            (h.folder / "b.json").write_bytes(other)
            await h.send.send(ready_for(h.folder / "b.json"))
            await h.wait_for(lambda: (h.folder / "error" / "b.json.error.json").exists())
            record = await h.spool.show(report_id)
        assert record.body == first
        assert record.summary.source is not None
        assert record.summary.source.path == str(h.folder / "a.json")
        assert record.summary.source.kept_id is True
        (event,) = h.events(ReportIdCollided)
        assert event.holder_state == "pending"  # type: ignore[attr-defined]

    async def test_same_content_again_is_logged_as_already_on_the_server(
        self, tmp_path: Path
    ) -> None:
        """A file fed again after its report was accepted is disposed of with an info line
        'already on the server', stores nothing and raises no content event."""
        body, report_id = wsjf(41)
        async with pipeline(tmp_path) as h:
            await self._send_and_ack(h, h.folder / "a.json", body)
            path = h.folder / "again.json"
            path.write_bytes(body)
            with capture_logs() as logs:
                await h.send.send(ready_for(path))
                await h.wait_for(lambda: (h.folder / "done" / "again.json").exists())
                await h.wait_for(lambda: bool(h.events(FileConverted)[1:]))
            stats = h.spool.statistics()
        assert h.events(ReportContentChanged) == []
        assert (stats.pending, stats.sent) == (0, 1)
        lines = [e for e in logs if e["event"] == "already on the server; not uploaded again"]
        assert [(e["log_level"], e["report_id"]) for e in lines] == [("info", report_id)]


class TestUnreadable:
    async def test_unreadable_file_is_reported_and_retried_until_it_can_be_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_retries: None
    ) -> None:
        """A file that cannot be read (EACCES: root reads everything, so the error is
        injected) gives an event per attempt and is read again with backoff, by the pipeline
        itself, until it converts."""
        import pywats_actors.node._pipeline as module

        real = module._read_version
        denied = {"on": True}

        def read(path: str, expected: FileSignature) -> bytes:
            if denied["on"]:
                raise PermissionError(13, "Permission denied", path)
            return real(path, expected)

        monkeypatch.setattr(module, "_read_version", read)
        body, report_id = wsjf(4)
        path = tmp_path / "in" / "r.json"
        async with pipeline(tmp_path) as h:
            path.write_bytes(body)
            await h.send.send(ready_for(path))
            await h.wait_for(lambda: len(h.events(FileUnreadable)) >= 3)
            events = h.events(FileUnreadable)
            assert [e.attempt for e in events[:3]] == [1, 2, 3]  # type: ignore[attr-defined]
            assert "EACCES" in events[0].error  # type: ignore[attr-defined]
            assert h.pipeline.health.status("line1").unreadable == 1
            assert path.exists()
            denied["on"] = False
            await h.wait_for(lambda: (h.folder / "done" / "r.json").exists())
            assert await h.ids() == {report_id}
            assert h.pipeline.health.status("line1").unreadable == 0


class TestNoConversion:
    async def test_unavailable_pool_leaves_the_file_and_retries_it(
        self, tmp_path: Path, quick_retries: None
    ) -> None:
        """While no conversion can run the file stays in its folder (not in error/), an event
        says so, and it is tried again until the pool converts it."""

        def unavailable(call: int) -> ConversionResult | None:
            if call <= 2:
                return Unavailable("r.json", "", "no fresh worker could be started", None, 1)
            return None

        body, report_id = wsjf(5)
        path = tmp_path / "in" / "r.json"
        async with pipeline(tmp_path, before=unavailable) as h:
            path.write_bytes(body)
            await h.send.send(ready_for(path))
            await h.wait_for(lambda: (h.folder / "done" / "r.json").exists())
            events = h.events(ConversionUnavailable)
            assert [e.attempt for e in events] == [1, 2]  # type: ignore[attr-defined]
            assert all(e.retry_in is not None for e in events)  # type: ignore[attr-defined]
            assert await h.ids() == {report_id}
            assert not (h.folder / "error").exists()
            assert not h.events(FileFailed)

    async def test_the_same_version_offered_again_while_it_waits_is_not_taken_twice(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A re-offer of a file that waits for its retry (the watcher's periodic re-offer)
        is dropped: one wait, one retry."""
        monkeypatch.setattr("pywats_actors.node._retries.RETRY_FIRST", 0.5)

        def unavailable(call: int) -> ConversionResult | None:
            if call == 1:
                return Unavailable("r.json", "", "the pool is being replaced", None, 0)
            return None

        body, _ = wsjf(6)
        path = tmp_path / "in" / "r.json"
        async with pipeline(tmp_path, before=unavailable) as h:
            path.write_bytes(body)
            await h.send.send(ready_for(path))
            await h.wait_for(lambda: bool(h.events(ConversionUnavailable)))
            await h.send.send(ready_for(path))
            await h.wait_for(lambda: (h.folder / "done" / "r.json").exists())
            await trio.sleep(0.2)
            assert isinstance(h.pipeline.pool, Wrapped)
            assert h.pipeline.pool.calls == 2
            assert len(h.events(FileConverted)) == 1


class TestTooLarge:
    async def test_report_larger_than_the_spool_goes_to_error_naming_the_setting(
        self, tmp_path: Path
    ) -> None:
        """Reports larger than the spool's whole byte limit send the file to error/ with a
        reason that names [spool] max_bytes; the pipeline carries on with the next file."""
        body, _ = wsjf(7)
        async with pipeline(tmp_path, spool_settings=SpoolSettings(max_bytes=100)) as h:
            for name in ("big.json", "big2.json"):
                (h.folder / name).write_bytes(body)
                await h.send.send(ready_for(h.folder / name))
            await h.wait_for(lambda: len(h.events(FileFailed)) == 2)
        for name in ("big.json", "big2.json"):
            assert (h.folder / "error" / name).read_bytes() == body
            sidecar = json.loads((h.folder / "error" / f"{name}.error.json").read_text())
            assert sidecar["kind"] == "too_large"
            assert "[spool] max_bytes" in sidecar["reason"]

    async def test_a_file_over_max_input_goes_to_error_unread(self, tmp_path: Path) -> None:
        """A 200 MB file (sparse: it costs no disk) is refused by its size before it is read
        (the converter never sees it, the node never holds it), naming the setting; the next
        file converts."""
        body, report_id = wsjf(8)
        huge = tmp_path / "in" / "huge.json"
        async with pipeline(tmp_path, before=lambda call: None) as h:
            with huge.open("wb") as f:
                f.truncate(200 << 20)
            await h.send.send(ready_for(huge))
            (h.folder / "next.json").write_bytes(body)
            await h.send.send(ready_for(h.folder / "next.json"))
            await h.wait_for(lambda: (h.folder / "done" / "next.json").exists())
            await h.wait_for(lambda: bool(h.events(FileFailed)))
            assert isinstance(h.pipeline.pool, Wrapped)
            assert h.pipeline.pool.seen == [body]
            assert await h.ids() == {report_id}
        sidecar = json.loads((h.folder / "error" / "huge.json.error.json").read_text())
        assert sidecar["kind"] == "rejected"
        assert sidecar["reason"] == (
            "the file is 200.0 MiB; the limit is 64 MiB ([conversion] max_input_mb)"
        )


class TestErrorFolderUnusable:
    async def test_failed_file_waits_until_error_folder_can_take_it(
        self, tmp_path: Path, quick_retries: None
    ) -> None:
        """A file that failed while error/ cannot be created stays in place and is moved, with
        its sidecar, by a retry once error/ can be made."""
        async with pipeline(tmp_path) as h:
            (h.folder / "error").write_text("a file where the error folder should be")
            bad = h.folder / "garbage.json"
            bad.write_bytes(b"\x00\x01 not a report")
            await h.send.send(ready_for(bad))
            await h.wait_for(lambda: len(h.events(DisposalFailed)) >= 2)
            (failed,) = h.events(FileFailed)
            assert failed.moved_to is None  # type: ignore[attr-defined]
            assert {e.action for e in h.events(DisposalFailed)} == {"error"}  # type: ignore[attr-defined]
            assert bad.exists()
            (h.folder / "error").unlink()
            await h.wait_for(lambda: bool(h.events(FileDisposed)))
        assert (h.folder / "error" / "garbage.json").exists()
        sidecar = json.loads((h.folder / "error" / "garbage.json.error.json").read_text())
        assert sidecar["kind"] == "rejected"
        assert not bad.exists()


class TestRestartedPipeline:
    async def test_a_new_pipeline_resumes_the_retries_of_the_old_one(self, tmp_path: Path) -> None:
        """A file waiting for a disposal retry when the pipeline is torn down (the conversion
        branch restarts) is retried by the next pipeline at its due time, not left to the
        watcher's re-offer minutes later."""
        config = node_config(tmp_path)
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "done").write_text("a file where the done folder should be")
        body, report_id = wsjf(60)
        path = folder / "r.json"
        path.write_bytes(body)
        health, bus = FolderHealth(), EventBus()
        async with (
            open_spool(tmp_path / "spool.db") as spool,
            open_converter_pool(
                PoolSettings(workers=1, start_timeout=20),
                converters=converter_set(config),
                station_namespace=uuid.UUID(NAMESPACE),
            ) as pool,
        ):

            async def run_pipeline(until: Callable[[], bool]) -> None:
                pipe = Pipeline(
                    config=lambda: config,
                    spool=spool,
                    pool=pool,
                    bus=bus,
                    work_arrived=lambda: None,
                    health=health,
                )
                send, receive = trio.open_memory_channel[FileReady](16)
                async with trio.open_nursery() as nursery:
                    await nursery.start(pipe.run, receive, 2)
                    if not health.retries:
                        await send.send(ready_for(path))
                    with trio.fail_after(10):
                        while not until():
                            await trio.sleep(0.02)
                    nursery.cancel_scope.cancel()  # torn down, as in a crash of the branch

            await run_pipeline(
                lambda: any(isinstance(e.event, DisposalFailed) for e in bus.recent())
            )
            assert path.exists()
            assert health.status("line1").awaiting_disposal == 1
            assert list(health.retries) == [str(path)]
            (folder / "done").unlink()
            await run_pipeline(lambda: (folder / "done" / "r.json").exists())
            assert {r.report_id for r in (await spool.list_reports()).reports} == {report_id}
        assert not path.exists()
        assert health.status("line1").awaiting_disposal == 0
        assert health.retries == {}
