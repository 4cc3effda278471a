"""The converter base class, the SDK constants and the error tree."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest

from converters import (
    ACCEPT_THRESHOLD,
    API_VERSION,
    SUPPORTED_API_VERSIONS,
    Converter,
    ConverterArgumentsError,
    ConverterError,
    ConverterLoadError,
    FileRejected,
    NoArguments,
    UnknownConverter,
    WorkerLost,
)


class Minimal(Converter[NoArguments]):
    name: ClassVar[str] = "minimal"


class TestBaseClass:
    def test_defaults(self) -> None:
        """A subclass gets version "0", the current api_version, no patterns, no arguments, and
        keeps no source ids."""
        assert (Minimal.version, Minimal.api_version, Minimal.patterns) == ("0", API_VERSION, ())
        assert Minimal.Arguments is NoArguments
        assert not Minimal.keeps_source_ids
        assert API_VERSION in SUPPORTED_API_VERSIONS

    def test_default_detect_never_volunteers(self) -> None:
        """The default detect() scores 0, below the acceptance threshold of 0.5."""
        assert Minimal().detect(b"anything", "x") == 0.0 < ACCEPT_THRESHOLD == 0.5

    def test_convert_must_be_implemented(self) -> None:
        """The base convert() raises NotImplementedError."""
        with pytest.raises(NotImplementedError):
            Minimal().convert(b"", "x", NoArguments())


class TestImport:
    def test_converters_import_light(self) -> None:
        """Importing converters (what a worker and a converter author need) does not import
        trio, psutil or supervisors; the pool loads them on first use."""
        code = (
            "import sys, converters\n"
            "print([m for m in ('trio', 'psutil', 'supervisors') if m in sys.modules])\n"
            "converters.open_converter_pool\n"
            "print('trio' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split("\n")
        assert out[:2] == ["[]", "True"]


class TestErrors:
    def test_file_rejected_message(self) -> None:
        """FileRejected keeps reason and location, and prints both."""
        exc = FileRejected("bad checksum", where="line 4")
        assert (exc.reason, exc.where, str(exc)) == (
            "bad checksum",
            "line 4",
            "bad checksum (at line 4)",
        )
        assert str(FileRejected("empty")) == "empty"

    def test_tree(self) -> None:
        """Every error is a ConverterError; load errors carry the reference."""
        exc = ConverterArgumentsError("csv", "$.x", "wrong")
        assert isinstance(exc, ConverterLoadError)
        assert isinstance(exc, ConverterError)
        assert (exc.ref, exc.path, str(exc)) == (
            "csv",
            "$.x",
            "converter 'csv': bad arguments: wrong - at $.x",
        )
        assert isinstance(UnknownConverter("x", ()), LookupError)
        assert WorkerLost(12, "killed").pid == 12
