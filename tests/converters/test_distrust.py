"""The parent trusts nothing a worker says: forged frames from a plug-in fail only that file.

Each attack is made by ``plugins/forger.py`` from inside a real worker, writing to the protocol
pipe the worker answers on. Each must end in a typed result that says why (``Crashed`` with
``cause="protocol_violation"``, or ``Rejected``), the worker must be replaced, and the pool must
convert the next file.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    ConverterPool,
    Crashed,
    Rejected,
    Unavailable,
    open_converter_pool,
    report_id,
)
from converters._detection import choose
from converters._distrust import answer_violation, scores_violation
from converters._protocol import Done

from .._reports import minimal_report
from .conftest import NAMESPACE, PLUGINS, settings

FORGER = f"{PLUGINS / 'forger.py'}:Forger"
KEEPER = f"{PLUGINS / 'forger.py'}:Keeper"
FORGED_ID = uuid.UUID("11111111-2222-4333-8444-555555555555")


async def next_file_converts(pool: ConverterPool) -> None:
    """The pool goes on: an honest file of the same plug-in converts afterwards."""
    with trio.fail_after(30):
        result = await pool.convert(b"good", "next", "forger")
    assert isinstance(result, Converted), result


def violation(result: object) -> Crashed:
    assert isinstance(result, Crashed), result
    assert result.cause == "protocol_violation"
    assert result.description.startswith("protocol violation: ")
    return result


class TestForgedAnswers:
    @pytest.mark.parametrize(
        ("command", "why"),
        [
            ("unknown", "names converter 'nope', not 'forger'"),
            ("other wsjf", "names converter 'wsjf', not 'forger'"),
            ("done-other", "an answer to job"),
            ("part-other", "a Part frame of job"),
        ],
    )
    async def test_a_forged_answer_fails_only_that_file(self, command: str, why: str) -> None:
        """An answer naming an unknown converter, another domain's converter (the WSJF one,
        with a report id of its choosing), another job, or a Part of another job: the file is
        Crashed with the reason, its workers were replaced, and the pool goes on."""
        async with open_converter_pool(
            settings(), converters=["wsjf", FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(command.encode(), "f", "forger")
            crashed = violation(result)
            assert why in crashed.description
            assert crashed.attempts == 2  # retried once on a fresh worker, like any crash
            stats = pool.statistics()
            assert stats.violations == 2
            assert stats.worker_crashes == 2
            await next_file_converts(pool)
            assert pool.running

    async def test_forged_wsjf_id_never_reaches_a_result(self) -> None:
        """A plug-in claiming to be the WSJF converter cannot choose a report id: its answer
        is a violation, and the real WSJF converter still keeps ids of its own files."""
        async with open_converter_pool(
            settings(), converters=["wsjf", FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                forged = await pool.convert(b"other wsjf", "f", "forger")
                own = minimal_report("SN-1", report_id=str(uuid.uuid4()))
                real = await pool.convert(msgspec.json.encode(own), "r.json", "wsjf")
        violation(forged)
        assert isinstance(real, Converted)
        assert real.ids == (uuid.UUID(own["id"]),)
        assert real.reports[0].kept_source_id

    async def test_a_plugin_claiming_keeps_source_ids_gets_the_parents_ids(self) -> None:
        """keeps_source_ids is the parent's to decide: a plug-in's claim is ignored, its report
        gets the deterministic id, never the one it chose."""
        data = b"anything"
        async with open_converter_pool(
            settings(), converters=[KEEPER], station_namespace=NAMESPACE
        ) as pool:
            (info,) = pool.converters
            with trio.fail_after(30):
                result = await pool.convert(data, "f", "keeper")
        assert not info.keeps_source_ids
        assert isinstance(result, Converted), result
        expected = report_id(NAMESPACE, "keeper", result.sha256, 0)
        assert result.ids == (expected,)
        assert FORGED_ID not in result.ids
        assert not result.reports[0].kept_source_id
        assert msgspec.json.decode(result.reports[0].wsjf)["id"] == str(expected)

    async def test_an_oversized_answer_is_stopped_as_it_arrives(self) -> None:
        """Part frames beyond max_output_mb: the worker is killed before the rest is read."""
        async with open_converter_pool(
            settings(max_output_mb=2), converters=[FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"oversized 4", "f", "forger")
            assert "max_output_mb" in violation(result).description
            await next_file_converts(pool)

    async def test_a_forged_answer_of_too_many_values_is_rejected_before_decoding(self) -> None:
        """A forged report of many steps (past the worker's checks) within the size limit is
        rejected by the parent's count before it is decoded, naming the setting."""
        async with open_converter_pool(
            settings(max_values_per_report=1000), converters=[FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"steps 5000", "f", "forger")
                small = await pool.convert(b"steps 10", "g", "forger")
            assert isinstance(result, Rejected), result
            assert result.cause == "too_large"
            assert "max_values_per_report" in result.reason
            assert isinstance(small, Converted), small  # forged but valid and small: accepted
            await next_file_converts(pool)

    async def test_too_many_reports_are_rejected(self) -> None:
        """More reports than max_reports_per_file: rejected, naming the setting."""
        config = ConverterConfig(f"{PLUGINS / 'misbehaving.py'}:Echo")
        async with open_converter_pool(
            settings(max_reports_per_file=3), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"A\nB\nC\nD\n", "f.echo", "echo")
                fine = await pool.convert(b"A\nB\nC\n", "f.echo", "echo")
        assert isinstance(result, Rejected), result
        assert (result.cause, "max_reports_per_file" in result.reason) == ("too_large", True)
        assert isinstance(fine, Converted)


class TestForgedScores:
    async def test_scores_naming_another_domains_converter(self) -> None:
        """In a detection across domains, a plug-in's Scores naming the WSJF converter is a
        violation: that file fails, the pool goes on."""
        async with open_converter_pool(
            settings(), converters=["wsjf", FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"scores-foreign", "f")
            assert "'wsjf'" in violation(result).description
            await next_file_converts(pool)

    async def test_a_score_that_is_not_a_number(self) -> None:
        """A NaN score is a violation."""
        async with open_converter_pool(
            settings(), converters=["wsjf", FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"scores-nan", "f")
            assert "not a number in [0, 1]" in violation(result).description
            await next_file_converts(pool)

    async def test_a_detected_answer_with_foreign_scores(self) -> None:
        """With one domain, the worker detects and converts in one trip; scores in its answer
        that name a converter it does not run are a violation."""
        async with open_converter_pool(
            settings(), converters=[FORGER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"FORGE done-foreign-scores", "f")
                honest = await pool.convert(b"FORGE good", "g")
            assert "'wsjf'" in violation(result).description
            assert isinstance(honest, Converted), honest
            assert honest.detected


class TestForgedHello:
    async def test_a_hello_forged_at_import_fails_that_workers_start_only(
        self, tmp_path: Path
    ) -> None:
        """A plug-in that writes a Hello of its own while being imported (claiming to run the
        WSJF converter) breaks the handshake: its worker does not start (a protocol
        violation, retried with backoff), its converter is Unavailable, the built-ins go on."""
        module = tmp_path / "liar.py"
        module.write_text(
            "from converters import _worker\n"
            "from converters._protocol import ConverterInfo, Hello, write_frame_sync\n"
            "info = ConverterInfo('wsjf', 'wsjf', '9', 'wsjf', (), True)\n"
            "write_frame_sync(_worker.protocol_fd, Hello(pid=1, python='3',"
            " converters=[info], failures=[]))\n"
        )
        liar = ConverterConfig(f"{module}:Liar", name="liar")
        async with open_converter_pool(
            settings(start_backoff_max=0.5), converters=["wsjf", liar], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"x", "f", "liar")
                own = minimal_report("SN-1", report_id=str(uuid.uuid4()))
                real = await pool.convert(msgspec.json.encode(own), "r.json", "wsjf")
            stats = pool.statistics()
        assert isinstance(result, Unavailable), result
        assert "protocol violation" in result.reason
        assert "it reports converters 'wsjf'" in result.reason
        assert isinstance(real, Converted)
        assert stats.violations >= 1


class TestChecks:
    """The checks themselves, on messages built here (the attacks above run them for real)."""

    def test_scores_must_be_the_domains_and_numbers_in_range(self) -> None:
        assert scores_violation({"a": 0.5}, ["a", "b"]) is None
        assert "'c'" in (scores_violation({"c": 0.5}, ["a"]) or "")
        for bad in (-0.1, 1.5, float("inf"), float("nan")):
            assert "not a number in [0, 1]" in (scores_violation({"a": bad}, ["a"]) or "")

    def test_a_tie_chooses_nobody_and_hints_are_never_chosen(self) -> None:
        """The best score must be unique, at least the threshold, and of an eligible one."""
        assert choose({"a": 0.7, "b": 0.7}, ["b", "a"]) is None
        assert choose({"a": 0.7, "b": 0.8}, ["a", "b"]) == "b"
        assert choose({"a": 0.4}, ["a"]) is None
        assert choose({"a": 0.6, "hint": 0.99}, ["a"]) == "a"

    def test_a_detected_answer_must_name_the_best_of_its_scores(self) -> None:
        done = Done(
            job=1,
            converter="a",
            reports=[],
            seconds=0.0,
            cpu_total=0.0,
            children_left=False,
            scores={"a": 0.6, "b": 0.9},
        )
        problem = answer_violation(
            done, detect_only=False, converter=None, aliases=["a", "b"], eligible=["a", "b"]
        )
        assert problem is not None
        assert "scores choose 'b'" in problem
        honest = msgspec.structs.replace(done, converter="b")
        assert (
            answer_violation(
                honest, detect_only=False, converter=None, aliases=["a", "b"], eligible=["a", "b"]
            )
            is None
        )
        assert answer_violation(
            honest, detect_only=True, converter=None, aliases=["a", "b"], eligible=["a", "b"]
        )
