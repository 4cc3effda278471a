"""Auto-detection: the rule (one clear winner or nobody), what a refusal says, and the detection
matrix of every built-in converter against every sample file."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from converters import (
    ACCEPT_THRESHOLD,
    AUTO_DETECTED,
    BUILTIN_CONVERTERS,
    ConverterConfig,
    Rejected,
    load_converter,
    open_converter_pool,
)
from converters._detection import choose, tied, unrecognised_reason
from converters._known_formats import looks_like

from .conftest import NAMESPACE, settings

# Each sample folder and the converter that must win every file in it (None: no converter may
# take it, since auto-detection reads single files and the Klippel header is one part of a unit).
EXPECTED = {
    "atml": "atml",
    "ict_teradyne_gr228x": "teradyne-gr228x",
    "ict_teradyne_spectrum": "teradyne-spectrum",
    "junit": "junit",
    "klippel": None,
    "openhtf": "openhtf",
    "stdf": "stdf",
    "tabular_csv": "csv",
    "teststand_xml": "teststand",
    "wsjf": "wsjf",
    "wsxf": "wsxf",
    "xjtag": "xjtag",
}
HEAD = 64 * 1024


def sample_files(samples_dir: Path) -> list[Path]:
    """Every sample file (README files and the Klippel curve folder left out)."""
    return sorted(
        path for path in samples_dir.glob("*/*") if path.is_file() and path.name != "README.md"
    )


class TestRule:
    def test_one_clear_winner(self) -> None:
        """The single best score at or above the threshold wins."""
        assert choose({"a": 0.9, "b": 0.6}, ["a", "b"]) == "a"
        assert choose({"a": ACCEPT_THRESHOLD}, ["a"]) == "a"

    def test_nobody_below_the_threshold(self) -> None:
        """A best score under the threshold is no winner; neither is a missing score."""
        assert choose({"a": 0.49, "b": 0.1}, ["a", "b"]) is None
        assert choose({}, ["a"]) is None

    def test_a_tie_is_nobody(self) -> None:
        """Two converters sharing the best score: nobody, and both are named as tied."""
        assert choose({"a": 0.8, "b": 0.8, "c": 0.9}, ["a", "b"]) is None
        assert tied({"a": 0.8, "b": 0.8}, ["b", "a"]) == ["b", "a"]

    def test_hints_never_win(self) -> None:
        """A disabled converter's score explains but never chooses."""
        assert choose({"a": 0.6, "stdf": 1.0}, ["a"]) == "a"


class TestRefusals:
    def test_the_scores_are_listed_best_first(self) -> None:
        """Nobody confident: the scores, best first, zeros summed up."""
        reason = unrecognised_reason({"a": 0.1, "b": 0.3, "c": 0.0}, ["a", "b", "c"], [], b"", "f")
        assert (
            reason == "no converter recognised the file (confidence: b 0.30, a 0.10, the 1 other 0)"
        )

    def test_a_tie_says_ambiguous_and_what_to_do(self) -> None:
        """A tie names both and tells the operator to name the converter."""
        reason = unrecognised_reason({"a": 0.9, "b": 0.9}, ["a", "b"], [], b"", "f")
        assert reason.startswith("the file is ambiguous: a and b are equally confident (0.90)")
        assert "`converter` setting" in reason

    def test_a_disabled_builtin_is_named_with_the_fix(self) -> None:
        """A file a disabled built-in would take says which one and how to enable it."""
        reason = unrecognised_reason({"a": 0.0, "stdf": 0.97}, ["a"], ["stdf"], b"", "f")
        assert "the built-in converter 'stdf' would take it (0.97), but it is disabled" in reason
        assert "remove it from `disabled` in [conversion]" in reason
        assert "stdf 0.97 (disabled)" in reason

    @pytest.mark.parametrize(
        ("head", "what"),
        [
            (b"{@BATCH|board|1.0}\n{@BTEST|123}\n", "Keysight i3070"),
            (b"FAR:A|4|2|U\nMIR:...", "ATDF"),
            (b"START;PROG;SN1\nANL;R1;PASS;1.0;0.9;1.1;Ohm\nEND;\n", "SPEA"),
            (b'<?xml version="1.0"?>\n<R><ST/><BI BCP="1"><TEST F="1"/></BI></R>', "Seica"),
            (b"<html><body>TestStand report</body></html>", "TestStand HTML"),
            (b"%PDF-1.7\n", "PDF"),
            (b"PK\x03\x04........xl/workbook.xml", "Excel"),
        ],
    )
    def test_known_foreign_formats_are_named(self, head: bytes, what: str) -> None:
        """A format no built-in reads is named by its signature."""
        known = looks_like(head, "f")
        assert known is not None
        assert what in known.description
        reason = unrecognised_reason({"a": 0.0}, ["a"], [], head, "f")
        assert "which no installed converter reads" in reason

    def test_no_known_format_is_guessed_from_nothing(self, samples_dir: Path) -> None:
        """No sample file, nor plain text, is taken for a foreign format."""
        assert looks_like(b"hello world\n", "f.txt") is None
        for path in sample_files(samples_dir):
            assert looks_like(path.read_bytes()[:HEAD], path.name) is None, path.name


class TestDetectionMatrix:
    def test_every_builtin_file_converter_is_asked(self) -> None:
        """Auto-detection asks every built-in that reads one file."""
        kinds = {name: getattr(load_converter(name), "kind", "file") for name in BUILTIN_CONVERTERS}
        assert set(AUTO_DETECTED) == {name for name, kind in kinds.items() if kind == "file"}

    def test_only_the_right_converter_wins_each_sample(self, samples_dir: Path) -> None:
        """Every built-in scores every sample; for each file exactly the right converter is
        confident (it alone reaches the threshold), or none for a file no converter owns."""
        detectors = {name: load_converter(name)() for name in AUTO_DETECTED}
        files = sample_files(samples_dir)
        assert {path.parent.name for path in files} == set(EXPECTED)
        wrong = []
        for path in files:
            head = path.read_bytes()[:HEAD]
            scores = {name: float(d.detect(head, path.name)) for name, d in detectors.items()}
            confident = sorted(n for n, s in scores.items() if s >= ACCEPT_THRESHOLD)
            expected = EXPECTED[path.parent.name]
            if confident != ([expected] if expected else []):
                wrong.append(f"{path.parent.name}/{path.name}: {confident} ({scores})")
        assert not wrong, "\n".join(wrong)


class TestInThePool:
    async def test_an_empty_file_says_it_is_empty(self) -> None:
        """An empty file is refused as empty, before any converter guesses."""
        async with open_converter_pool(settings(), station_namespace=NAMESPACE) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"", "empty.xml")
        assert isinstance(result, Rejected), result
        assert (result.cause, result.reason) == (
            "no_reports",
            "the file is empty (0 bytes): there is nothing to convert",
        )

    async def test_a_tie_and_a_disabled_converter_in_one_pool(self, samples_dir: Path) -> None:
        """Two configurations claiming a file equally reject it as ambiguous; a disabled
        built-in that would take a file is named; detect() reports what it saw."""
        junit = (samples_dir / "junit" / "psu100_pass_xunit1.xml").read_bytes()
        openhtf = (samples_dir / "openhtf" / "openhtf_psu100_pass.json").read_bytes()
        configs = [
            ConverterConfig("junit", name="junit-a"),
            ConverterConfig("junit", name="junit-b"),
            ConverterConfig("openhtf", detection="hint"),
            ConverterConfig("wsjf"),
            ConverterConfig("csv", name="by-name-only", detection="off"),
        ]
        async with open_converter_pool(
            settings(), converters=configs, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                tie = await pool.convert(junit, "run.xml")
                disabled = await pool.convert(openhtf, "record.json")
                found = await pool.detect(openhtf, "record.json")
        assert isinstance(tie, Rejected), tie
        assert "ambiguous: junit-a and junit-b are equally confident" in tie.reason
        assert isinstance(disabled, Rejected), disabled
        assert "the built-in converter 'openhtf' would take it" in disabled.reason
        assert found.eligible == ("junit-a", "junit-b", "wsjf")
        assert found.hints == ("openhtf",)
        assert "by-name-only" not in found.scores
        assert found.chosen is None
        assert found.scores["openhtf"] >= 0.9
