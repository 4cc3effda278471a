"""The parent trusts nothing a worker says: forged frames from a plug-in fail only that file.

Each attack is made by ``plugins/forger.py`` from inside a real worker, writing to the protocol
pipe the worker answers on. Each must end in a typed result that says why (``Crashed`` with
``cause="protocol_violation"``, or ``Rejected``), the worker must be replaced, and the pool must
convert the next file.
"""

from __future__ import annotations

import uuid

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    ConverterPool,
    Crashed,
    Rejected,
    open_converter_pool,
    report_id,
)

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
