"""The pool's API: converting, auto-detection, configuration errors, bounded concurrency,
statistics, stopping, running under a supervisor, and deterministic report ids."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterConfig,
    ConverterInvalid,
    ConverterNotFound,
    ConverterPool,
    PoolClosed,
    PoolStatistics,
    Rejected,
    Unavailable,
    UnknownConverter,
    content_hash,
    open_converter_pool,
    report_id,
)
from supervisors import ChildSpec, ChildStarted, Supervisor, SupervisorGaveUp
from supervisors.testing import EventRecorder

from .._reports import minimal_report
from .conftest import NAMESPACE, plugin, settings

CHAOS, ECHO, DETECTOR = plugin("Chaos"), plugin("Echo"), plugin("Detector")


class TestConvert:
    async def test_converted_carries_reports_and_provenance(self) -> None:
        """A good file gives valid WSJF reports with their ids, the converter's name and version,
        and timings."""
        async with open_converter_pool(
            settings(), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"SN-1\nSN-2\n", "two.echo", "echo")
        assert isinstance(result, Converted)
        assert result.ok
        assert (result.converter, result.converter_name, result.converter_version) == (
            "echo",
            "echo",
            "2.1",
        )
        assert [msgspec.json.decode(r.wsjf)["sn"] for r in result.reports] == ["SN-1", "SN-2"]
        assert [r.index for r in result.reports] == [0, 1]
        assert result.sha256 == content_hash(b"SN-1\nSN-2\n")
        assert not result.detected
        assert result.attempts == 1
        assert result.timings.total >= result.timings.worker > 0

    async def test_converters_are_known_after_start(self) -> None:
        """The pool lists what its workers loaded, in configuration order."""
        async with open_converter_pool(
            settings(), converters=[ECHO, "wsjf"], station_namespace=NAMESPACE
        ) as pool:
            assert [(c.alias, c.name, c.version) for c in pool.converters] == [
                ("echo", "echo", "2.1"),
                ("wsjf", "wsjf", "1.0"),
            ]
            assert pool.converters[1].keeps_source_ids

    async def test_unknown_converter_name_is_an_error(self) -> None:
        """Naming a converter the pool does not have raises UnknownConverter, listing the known."""
        async with open_converter_pool(
            settings(), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            with pytest.raises(UnknownConverter, match="the pool has echo"):
                await pool.convert(b"x", "x", "csv")

    async def test_too_large_file_is_rejected_without_a_worker(self) -> None:
        """A file above max_input_mb is rejected as too large before it reaches a worker."""
        async with open_converter_pool(
            settings(max_input_mb=1), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"x" * (2 << 20), "big.echo", "echo")
            assert isinstance(result, Rejected)
            assert result.cause == "too_large"
            assert "max_input_mb" in result.reason

    @pytest.mark.parametrize(
        ("content", "cause", "reason"),
        [
            ("none", "invalid_output", "must return a list of reports, not NoneType"),
            ("str", "invalid_output", "must return a list of reports, not str"),
            ("other", "invalid_output", "report 0 is a object"),
            ("notjson", "invalid_output", "not valid WSJF"),
            ("invalid", "invalid_output", "must not be empty"),
            ("empty", "no_reports", "found no report"),
        ],
    )
    async def test_bad_output_is_rejected(self, content: str, cause: str, reason: str) -> None:
        """Output that is not a list of valid WSJF reports gets the file rejected, saying why."""
        async with open_converter_pool(
            settings(), converters=[plugin("BadOutput")], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(content.encode(), "f", "bad-output")
        assert isinstance(result, Rejected)
        assert result.cause == cause
        assert reason in result.reason

    async def test_invalid_output_names_the_json_path(self) -> None:
        """A report that breaks a WSJF rule is rejected with the path of the offending value."""
        async with open_converter_pool(
            settings(), converters=[plugin("BadOutput")], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"invalid", "f", "bad-output")
        assert isinstance(result, Rejected)
        assert result.where == "$.sn"


class TestDetection:
    async def test_most_confident_converter_wins(self) -> None:
        """Without a converter name, the most confident detect() at or above 0.5 is used."""
        async with open_converter_pool(
            settings(), converters=[DETECTOR, ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                echo = await pool.convert(b"ECHO\n", "a.txt")
                detected = await pool.convert(b"DETECT me", "b.txt")
        assert isinstance(echo, Converted)
        assert echo.converter == "echo"
        assert echo.detected
        assert isinstance(detected, Converted)
        assert detected.converter == "detector"

    async def test_no_confident_converter_is_unrecognised(self) -> None:
        """When no converter reaches 0.5 the file is rejected as unrecognised, with the scores."""
        async with open_converter_pool(
            settings(), converters=[DETECTOR, ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"something else", "c.txt")
        assert isinstance(result, Rejected)
        assert result.cause == "unrecognised"
        assert result.scores == {"detector": 0.3, "echo": 0.0}
        assert "detector 0.30" in result.reason

    async def test_a_failing_detector_has_no_opinion(self) -> None:
        """A detect() that raises scores 0 and does not disturb the others."""
        async with open_converter_pool(
            settings(), converters=[DETECTOR, ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"BOOM", "d.txt")
        assert isinstance(result, Rejected)
        assert result.scores == {"detector": 0.0, "echo": 0.0}

    async def test_builtins_detect_wsjf_and_canonical_csv(self, samples_dir: object) -> None:
        """The built-ins recognise a WSJF export and a canonical long-format CSV."""
        from pathlib import Path

        assert isinstance(samples_dir, Path)
        wsjf = (samples_dir / "wsjf" / "uut-wsjf-export.json").read_bytes()
        csv = b"SerialNumber,PartNumber,StepName,Value\nA1,P1,V,1.5\n"
        async with open_converter_pool(settings(), station_namespace=NAMESPACE) as pool:
            with trio.fail_after(30):
                from_wsjf = await pool.convert(wsjf, "export.json")
                from_csv = await pool.convert(csv, "run.csv")
        assert isinstance(from_wsjf, Converted)
        assert from_wsjf.converter == "wsjf"
        assert isinstance(from_csv, Converted)
        assert from_csv.converter == "csv"


class TestConfigurationErrors:
    @pytest.mark.parametrize(
        ("ref", "error", "match"),
        [
            ("no-such-converter", ConverterNotFound, "no built-in converter or entry point"),
            ("no_such_module:Thing", ConverterNotFound, "cannot import 'no_such_module'"),
            (plugin("Missing"), ConverterNotFound, "has no attribute 'Missing'"),
            (plugin("FutureApi"), ConverterApiMismatch, "declares api_version 99"),
            (plugin("Nameless"), ConverterInvalid, "its name None must match"),
            (plugin("ExplodingInit"), ConverterInvalid, "RuntimeError: cannot start"),
        ],
    )
    async def test_bad_reference_fails_the_start(
        self, ref: str, error: type[Exception], match: str
    ) -> None:
        """A converter that cannot be loaded makes the pool fail to start with a clear error."""
        with trio.fail_after(30), pytest.raises(error, match=match) as info:
            async with open_converter_pool(
                settings(), converters=[ref], station_namespace=NAMESPACE
            ):
                pass  # pragma: no cover
        assert getattr(info.value, "ref", None) == ref

    @pytest.mark.parametrize(
        ("args", "path", "problem"),
        [
            ({"prefix": 5}, "$.prefix", "Expected `str`, got `int`"),
            ({}, "$", "Object missing required field `prefix`"),
            ({"prefix": "x", "cuont": 2}, "$.cuont", "unknown field 'cuont'"),
        ],
    )
    async def test_bad_arguments_name_the_field(
        self, args: dict[str, object], path: str, problem: str
    ) -> None:
        """Arguments that do not fit the converter's schema fail the start, naming the field."""
        config = ConverterConfig(plugin("Argued"), args=args)
        with trio.fail_after(30), pytest.raises(ConverterArgumentsError) as info:
            async with open_converter_pool(
                settings(), converters=[config], station_namespace=NAMESPACE
            ):
                pass  # pragma: no cover
        assert info.value.path == path
        assert problem in info.value.problem

    async def test_two_configurations_need_two_names(self) -> None:
        """Two configurations of one converter must have different names."""
        with trio.fail_after(30), pytest.raises(ConverterInvalid, match="used twice"):
            async with open_converter_pool(
                settings(), converters=[ECHO, ECHO], station_namespace=NAMESPACE
            ):
                pass  # pragma: no cover

    async def test_named_configurations_of_one_converter(self) -> None:
        """One converter configured twice under two names runs with each set of arguments."""
        configs = [
            ConverterConfig(plugin("Argued"), name="a", args={"prefix": "A"}),
            ConverterConfig(plugin("Argued"), name="b", args={"prefix": "B", "count": 2}),
        ]
        async with open_converter_pool(
            settings(), converters=configs, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                a = await pool.convert(b"", "f", "a")
                b = await pool.convert(b"", "f", "b")
        assert isinstance(a, Converted)
        assert isinstance(b, Converted)
        assert msgspec.json.decode(a.reports[0].wsjf)["sn"] == "A1"
        assert msgspec.json.decode(b.reports[0].wsjf)["sn"] == "B2"
        assert a.converter_name == b.converter_name == "argued"


class TestWorkerStart:
    @pytest.mark.parametrize(
        ("body", "match"),
        [
            ("import time\ntime.sleep(60)", "did not get ready within 1 s"),
            (
                "import os, sys\nprint('dying', file=sys.stderr)\nos._exit(3)",
                "exited with status 3",
            ),
        ],
    )
    async def test_a_plugin_worker_that_never_gets_ready(
        self, tmp_path: Path, body: str, match: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A plug-in that hangs or kills the process while being imported does not stop the
        pool: the built-in domain converts, the plug-in's converter answers Unavailable with
        the reason, and the log carries the reason and the worker's standard error."""
        module = tmp_path / "stuck.py"
        module.write_text(body)
        stuck = ConverterConfig(f"{module}:X", name="stuck")
        with trio.fail_after(30):
            async with open_converter_pool(
                settings(start_timeout=1.0, start_backoff_max=0.5),
                converters=["wsjf", stuck],
                station_namespace=NAMESPACE,
            ) as pool:
                result = await pool.convert(b"x", "f", "stuck")
                report = minimal_report("SN-1", report_id=str(uuid.uuid4()))
                converted = await pool.convert(msgspec.json.encode(report), "r.json", "wsjf")
                assert "stuck" not in [c.alias for c in pool.converters]
        assert isinstance(result, Unavailable), result
        assert match in result.reason
        assert "'stuck'" in result.reason
        assert isinstance(converted, Converted), converted
        logged = caplog.text
        assert match in logged
        if "dying" in body:
            assert "dying" in logged

    async def test_a_builtin_worker_that_cannot_start_fails_the_start(self) -> None:
        """The built-in domain's first worker failing to start fails the pool's start."""
        with trio.fail_after(30), pytest.raises(FileNotFoundError):
            async with open_converter_pool(
                settings(python="/nonexistent/python3"),
                converters=["wsjf"],
                station_namespace=NAMESPACE,
            ):
                pass  # pragma: no cover


class TestConcurrency:
    async def test_callers_wait_for_a_free_worker(self) -> None:
        """With two workers, at most two files convert at once; the others wait their turn."""
        async with open_converter_pool(
            settings(workers=2), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            peak_busy = peak_waiting = 0
            results: list[object] = []

            async def one() -> None:
                results.append(await pool.convert(b"sleep 0.3", "f", "chaos"))

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    for _ in range(5):
                        nursery.start_soon(one)
                    while len(results) < 5:
                        stats = pool.statistics()
                        peak_busy = max(peak_busy, stats.busy)
                        peak_waiting = max(peak_waiting, stats.waiting)
                        await trio.sleep(0.01)
            assert peak_busy == 2
            assert peak_waiting >= 2
            assert all(isinstance(r, Converted) for r in results)

    async def test_statistics_is_a_frozen_snapshot(self) -> None:
        """statistics() returns a frozen record of the workers and the counters."""
        async with open_converter_pool(
            settings(workers=2), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                await pool.convert(b"A\n", "f", "echo")
            stats = pool.statistics()
        assert isinstance(stats, PoolStatistics)
        assert (stats.workers, stats.ready, stats.busy, stats.conversions) == (2, 2, 0, 1)
        # a plug-in's slots are named after its trust domain (the module misbehaving.py)
        assert [s.slot for s in stats.slots] == ["misbehaving.worker-0", "misbehaving.worker-1"]
        assert {s.domain for s in stats.slots} == {"misbehaving"}
        assert stats.domains == ("misbehaving",)
        assert all(s.pid is not None and s.processes == 1 for s in stats.slots)
        with pytest.raises(AttributeError):
            stats.busy = 3  # type: ignore[misc]

    async def test_workers_are_recycled_after_max_conversions(self) -> None:
        """A worker process is replaced by a fresh one after max_conversions_per_worker files."""
        async with open_converter_pool(
            settings(max_conversions_per_worker=2), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            pids = set()
            with trio.fail_after(60):
                for _ in range(5):
                    await pool.convert(b"A\n", "f", "echo")
                    pid = pool.statistics().slots[0].pid
                    pids.add(pid)
            stats = pool.statistics()
            assert stats.recycles == 2
            assert stats.worker_restarts == 0
            assert len(pids - {None}) == 3


class TestLifecycle:
    async def test_convert_before_start_and_after_stop_raises(self) -> None:
        """A pool that is not running refuses work with PoolClosed."""
        pool = ConverterPool(settings(), converters=[ECHO], station_namespace=NAMESPACE)
        with pytest.raises(PoolClosed):
            await pool.convert(b"A", "f")
        with pytest.raises(PoolClosed):
            pool.sandbox  # noqa: B018
        async with open_converter_pool(
            settings(), converters=[ECHO], station_namespace=NAMESPACE
        ) as running:
            pass
        with pytest.raises(PoolClosed):
            await running.convert(b"A", "f")

    async def test_stop_lets_the_file_in_progress_finish(self) -> None:
        """Stopping the pool lets a worker finish the file it is converting; callers still
        waiting for a worker get Unavailable (not the file's fault)."""
        async with open_converter_pool(
            settings(stop_grace=5.0), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            results: list[object] = []

            async def one() -> None:
                results.append(await pool.convert(b"sleep 0.5", "f", "chaos"))

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(one)
                    nursery.start_soon(one)
                    while pool.statistics().busy == 0:
                        await trio.sleep(0.01)
                    await pool.stop()
        assert sum(isinstance(r, Converted) for r in results) == 1
        (unavailable,) = [r for r in results if isinstance(r, Unavailable)]
        assert "stopped" in unavailable.reason
        assert unavailable.attempts == 0

    async def test_too_many_crashes_of_builtin_workers_fail_the_pool(self) -> None:
        """Built-in workers dying faster than the restart intensity make the built-in domain's
        supervisor give up: the pool fails with SupervisorGaveUp (escalation) instead of
        restarting forever."""

        async def crash_twice() -> None:
            async with open_converter_pool(
                settings(restart_intensity=1), converters=["wsjf"], station_namespace=NAMESPACE
            ) as pool:
                for _ in range(3):
                    pid = pool.statistics().slots[0].pid
                    while pid is None:
                        await trio.sleep(0.01)
                        pid = pool.statistics().slots[0].pid
                    os.kill(pid, signal.SIGKILL)
                    while pool.statistics().slots[0].pid == pid:
                        await trio.sleep(0.01)
                await trio.sleep_forever()  # pragma: no cover

        with trio.fail_after(30), pytest.raises(SupervisorGaveUp):
            await crash_twice()

    async def test_runs_as_a_supervised_child(self) -> None:
        """The pool runs as a child of a supervisor (pool.run), and its worker supervisor's
        events reach the observers it was given."""
        events = EventRecorder()
        pool = ConverterPool(
            settings(), converters=[ECHO], station_namespace=NAMESPACE, observers=[events]
        )
        top = Supervisor([ChildSpec("pool", pool.run, kind="supervisor")], name="conversion")
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(top.run)
                result = await pool.convert(b"A\n", "f", "echo")
                await top.stop()
        assert isinstance(result, Converted)
        assert [e.child_id for e in events.of_type(ChildStarted)] == ["misbehaving.worker-0"]
        assert not pool.running


class TestUnavailable:
    async def test_no_fresh_worker_for_the_retry_is_not_the_files_fault(self) -> None:
        """When a worker dies on a file and no fresh worker can be started for the retry, the
        file gets Unavailable (not Crashed): it killed one worker, not two; once workers start
        again the pool converts."""
        async with open_converter_pool(
            settings(workers=2), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:  # both workers have converted a file
                    nursery.start_soon(pool.convert, b"sleep 0.3", "a", "chaos")
                    nursery.start_soon(pool.convert, b"sleep 0.3", "b", "chaos")
            assert all(slot.conversions == 1 for slot in pool.statistics().slots)
            good = pool.settings
            pool.settings = msgspec.structs.replace(good, python="/nonexistent/python3")
            with trio.fail_after(30):
                result = await pool.convert(b"segv", "f", "chaos")
            pool.settings = good
            with trio.fail_after(30):  # the slots try again, with backoff
                while pool.statistics().ready < 1:
                    await trio.sleep(0.02)
            assert isinstance(result, Unavailable), result
            assert not result.ok
            assert "no fresh worker could be started" in result.reason
            assert "FileNotFoundError" in result.reason
            assert result.attempts == 1
            assert result.converter == "chaos"
            with trio.fail_after(30):
                again = await pool.convert(b"fine", "f", "chaos")
            assert isinstance(again, Converted)
            stats = pool.statistics()
            assert (stats.unavailable, stats.crashed, stats.converted) == (1, 0, 3)


class TestWorkersCannotStart:
    async def test_pool_outlives_workers_that_cannot_start_and_recovers(self) -> None:
        """Once the pool runs, workers that cannot be started for far longer than the restart
        intensity allows do not stop it: conversions answer Unavailable at once, the owner is
        told once, and when workers can start again it is told so and files convert."""
        told: list[str | None] = []
        quick = settings(workers=2, restart_intensity=2, restart_period=30, start_backoff_max=0.2)
        async with open_converter_pool(
            quick, converters=[ECHO], station_namespace=NAMESPACE, on_workers=told.append
        ) as pool:
            with trio.fail_after(30):
                assert isinstance(await pool.convert(b"SN-1\n", "a.echo", "echo"), Converted)
            good = pool.settings
            pool.settings = msgspec.structs.replace(good, python="/nonexistent/python3")
            for slot in pool.statistics().slots:  # both processes die; none can replace them
                assert slot.pid is not None
                os.kill(slot.pid, signal.SIGKILL)
            with trio.fail_after(30):
                while not told:
                    await trio.sleep(0.02)
            with trio.fail_after(1):  # at once: nothing waits for a worker that cannot come
                result = await pool.convert(b"SN-2\n", "b.echo", "echo")
            await trio.sleep(3)  # about 15 failed starts per slot: far past intensity 2
            assert pool.running
            assert isinstance(result, Unavailable), result
            assert result.reason.startswith(
                "no worker of converter domain 'misbehaving' can start: FileNotFoundError"
            )
            assert told == [result.reason]
            assert all(slot.state == "down" for slot in pool.statistics().slots)
            pool.settings = good
            with trio.fail_after(30):
                while len(told) < 2:
                    await trio.sleep(0.02)
                again = await pool.convert(b"SN-3\n", "c.echo", "echo")
            assert isinstance(again, Converted), again
        assert told == [result.reason, None]


class TestIdentity:
    async def test_same_bytes_give_the_same_ids(self) -> None:
        """Converting the same bytes again, in another pool, gives the same report ids: the
        UUIDv5 of namespace, converter name, content hash and index."""
        data = b"A\nB\nC\n"
        ids = []
        for _ in range(2):
            async with open_converter_pool(
                settings(), converters=[ECHO], station_namespace=NAMESPACE
            ) as pool:
                with trio.fail_after(30):
                    result = await pool.convert(data, "f", "echo")
            assert isinstance(result, Converted)
            ids.append(result.ids)
        assert ids[0] == ids[1]
        assert len(set(ids[0])) == 3
        expected = tuple(report_id(NAMESPACE, "echo", content_hash(data), i) for i in range(3))
        assert ids[0] == expected
        assert all(
            msgspec.json.decode(r.wsjf)["id"] == str(i)
            for r, i in zip(result.reports, expected, strict=True)
        )

    async def test_ids_depend_on_namespace_and_content_not_on_alias(self) -> None:
        """Another station namespace or other bytes change the ids; a configuration alias or the
        file's name do not."""
        other_ns = uuid.UUID(int=NAMESPACE.int ^ 1)
        configs = [ConverterConfig(ECHO), ConverterConfig(ECHO, name="alias")]
        async with open_converter_pool(
            settings(), converters=configs, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                base = await pool.convert(b"A\n", "one.echo", "echo")
                alias = await pool.convert(b"A\n", "two.echo", "alias")
                other = await pool.convert(b"B\n", "one.echo", "echo")
        async with open_converter_pool(
            settings(), converters=[ECHO], station_namespace=other_ns
        ) as pool:
            with trio.fail_after(30):
                moved = await pool.convert(b"A\n", "one.echo", "echo")
        assert isinstance(base, Converted)
        assert isinstance(alias, Converted)
        assert isinstance(other, Converted)
        assert isinstance(moved, Converted)
        assert base.ids == alias.ids
        assert base.ids != other.ids
        assert base.ids != moved.ids

    async def test_wsjf_keeps_its_own_guid(self, samples_dir: object) -> None:
        """A WSJF file keeps the GUID it carries, and its bytes pass through untouched."""
        from pathlib import Path

        assert isinstance(samples_dir, Path)
        data = (samples_dir / "wsjf" / "uut-wsjf-export.json").read_bytes()
        async with open_converter_pool(
            settings(), converters=["wsjf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(data, "export.json", "wsjf")
        assert isinstance(result, Converted)
        assert result.ids == (uuid.UUID("33a2d408-3fc8-480b-b554-6866c77fd91c"),)
        assert result.reports[0].kept_source_id
        assert result.reports[0].wsjf == data.removeprefix(b"\xef\xbb\xbf")
