"""Finding converters by built-in name, entry point, dotted path and file; checking the protocol;
validating arguments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    ENTRY_POINT_GROUP,
    Converted,
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterInvalid,
    ConverterNotFound,
    CsvArguments,
    CsvConverter,
    WsjfConverter,
    available_converters,
    load_converter,
    open_converter_pool,
    validate_arguments,
)

from .._reports import NIL_ID, minimal_report
from .conftest import MISBEHAVING, NAMESPACE, plugin, settings

CONVERTER_MODULE = """
from typing import ClassVar
from converters import Converter, NoArguments

class {cls}(Converter[NoArguments]):
    name: ClassVar[str] = "{name}"
    version: ClassVar[str] = "3.0"

    def convert(self, data, name, args):
        return [{report!r}]
"""


def make_package(root: Path, package: str, cls: str, name: str) -> None:
    """A package ``package`` with ``conv.py`` defining converter ``cls`` named ``name``."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    report = minimal_report(name, report_id=NIL_ID)
    (root / package / "conv.py").write_text(
        CONVERTER_MODULE.format(cls=cls, name=name, report=report)
    )


def make_distribution(site: Path) -> None:
    """An installed distribution (a dist-info folder) advertising an entry-point converter."""
    make_package(site, "democonv", "Demo", "demo")
    info = site / "demo_converter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-converter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ndemo = democonv.conv:Demo\n")


class TestRoutes:
    def test_builtin_names(self) -> None:
        """Plain names find the built-in converters."""
        assert load_converter("csv") is CsvConverter
        assert load_converter("wsjf") is WsjfConverter
        assert {"csv", "wsjf"} <= set(available_converters())

    @pytest.mark.parametrize(
        "ref", ["converters._csv:CsvConverter", "converters._csv.CsvConverter"]
    )
    def test_dotted_paths(self, ref: str) -> None:
        """``pkg.mod:Class`` and ``pkg.mod.Class`` both work."""
        assert load_converter(ref) is CsvConverter

    def test_dotted_path_of_a_package_on_the_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A converter in any importable package is found by its dotted path."""
        make_package(tmp_path, "mypkg", "Mine", "mine")
        monkeypatch.syspath_prepend(str(tmp_path))
        assert load_converter("mypkg.conv:Mine").name == "mine"

    def test_file_path(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """``path/to/file.py:Class`` loads the file, by absolute or relative path."""
        assert load_converter(plugin("Echo")).name == "echo"
        monkeypatch.chdir(MISBEHAVING.parent)
        assert load_converter("misbehaving.py:Echo").name == "echo"

    def test_entry_point(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An installed distribution's entry point in the group pywats_actors.converters is found
        by its name."""
        make_distribution(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        assert available_converters()["demo"] == "democonv.conv:Demo"
        assert load_converter("demo").name == "demo"

    async def test_entry_point_and_dotted_path_in_a_worker(self, tmp_path: Path) -> None:
        """Workers find entry points and dotted paths on the pool's python_path (and, under
        Landlock, may read it)."""
        make_distribution(tmp_path / "site")
        make_package(tmp_path / "code", "otherpkg", "Other", "other")
        pool_settings = settings(python_path=(str(tmp_path / "site"), str(tmp_path / "code")))
        async with open_converter_pool(
            pool_settings, converters=["demo", "otherpkg.conv.Other"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                demo = await pool.convert(b"", "f", "demo")
                other = await pool.convert(b"", "f", "other")
        assert isinstance(demo, Converted)
        assert demo.converter_version == "3.0"
        assert isinstance(other, Converted)
        assert msgspec.json.decode(other.reports[0].wsjf)["sn"] == "other"


class TestErrors:
    @pytest.mark.parametrize(
        ("ref", "match"),
        [
            ("nothing-like-it", "no built-in converter or entry point by that name"),
            ("not_a_module_at_all:X", "cannot import 'not_a_module_at_all'"),
            ("converters._csv:Nope", "has no attribute 'Nope'"),
            ("/no/such/file.py:X", "no file '/no/such/file.py'"),
            (":X", "expected package.module:Class"),
        ],
    )
    def test_not_found(self, ref: str, match: str) -> None:
        """A reference that leads nowhere raises ConverterNotFound saying where it stopped."""
        with pytest.raises(ConverterNotFound, match=match) as info:
            load_converter(ref)
        assert info.value.ref == ref

    def test_api_mismatch(self) -> None:
        """A converter declaring an unknown api_version is refused with both versions named."""
        with pytest.raises(ConverterApiMismatch, match="declares api_version 99") as info:
            load_converter(plugin("FutureApi"))
        assert (info.value.declared, info.value.supported) == (99, (1,))

    @pytest.mark.parametrize(
        ("body", "match"),
        [
            ("X = 42", "42 is not a class"),
            ("class X:\n    name = 'Bad Name'\n    api_version = 1", "its name 'Bad Name' must"),
            ("class X:\n    name = 'x'\n    api_version = 1\n    version = 2", "version must be"),
            (
                "class X:\n    name = 'x'\n    api_version = 1\n    version = '1'\n"
                "    patterns = '*.csv'",
                "patterns must be a sequence",
            ),
            (
                "class X:\n    name = 'x'\n    api_version = 1\n    version = '1'\n"
                "    Arguments = dict",
                "Arguments must be a msgspec.Struct",
            ),
            (
                "import msgspec\nclass X:\n    name = 'x'\n    api_version = 1\n    version = '1'\n"
                "    Arguments = msgspec.Struct\n    def detect(self, h, n): return 0",
                "it has no convert",
            ),
            ("raise RuntimeError('broken plug-in')", "RuntimeError: broken plug-in"),
        ],
    )
    def test_invalid(self, tmp_path: Path, body: str, match: str) -> None:
        """An object that does not implement the protocol, or a module that fails to import, is
        refused with the reason."""
        file = tmp_path / "bad.py"
        file.write_text(textwrap.dedent(body))
        with pytest.raises(ConverterInvalid, match=match):
            load_converter(f"{file}:X")


class TestArguments:
    def test_valid_arguments_become_the_struct(self) -> None:
        """Plain configuration values are converted to the converter's Arguments Struct."""
        args = validate_arguments("csv", CsvArguments, {"delimiter": ";", "columns": None})
        assert isinstance(args, CsvArguments)
        assert args.delimiter == ";"

    @pytest.mark.parametrize(
        ("raw", "path", "problem"),
        [
            ({"delimiter": 5}, "$.delimiter", "Expected `str | null`, got `int`"),
            ({"delimeter": ";"}, "$.delimeter", "unknown field 'delimeter'"),
            ({"columns": {"sn": "S", "step_name": "N", "unitt": "U"}}, "$.columns", "unitt"),
            ({"skip_lines": -1}, "$.skip_lines", "Expected `int` >= 0"),
            ({"delimiter": ";;"}, "$", "delimiter must be one character"),
            ({"decimal_separator": "'"}, "$.decimal_separator", "Invalid enum value"),
        ],
    )
    def test_bad_arguments_name_the_field(
        self, raw: dict[str, object], path: str, problem: str
    ) -> None:
        """Each bad argument is reported with its path and what is wrong."""
        with pytest.raises(ConverterArgumentsError) as info:
            validate_arguments("csv", CsvArguments, raw)
        assert info.value.path == path
        assert problem in info.value.problem
        assert info.value.ref == "csv"
