"""The public surface of pywats_actors.report: what it exports, and what it does not import."""

from __future__ import annotations

import subprocess
import sys
import types

import pywats_actors.report as report


class TestExports:
    def test_all_is_complete(self) -> None:
        """``__all__`` lists every public name of the package once, and each exists (ruff's
        RUF022 keeps it sorted)."""
        names = report.__all__
        assert len(names) == len(set(names))
        for name in names:
            assert hasattr(report, name), name
        public = {
            name
            for name, value in vars(report).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
        assert public - {"annotations"} == set(names)

    def test_public_objects_live_in_the_package(self) -> None:
        """Every exported class and function is defined in the package (re-exported from a
        private module), except msgspec's own UNSET and UnsetType."""
        foreign = {"UNSET", "UnsetType", "Maybe", "Timestamp", "Report", "STEP_KINDS"}
        for name in set(report.__all__) - foreign:
            module = getattr(report, name).__module__
            assert module.startswith("pywats_actors.report._"), (name, module)

    def test_the_contract_names_exist(self) -> None:
        """The names other packages code against are exported."""
        contract = {
            "Report",
            "UUTReport",
            "UURReport",
            "decode_report",
            "encode_report",
            "validate",
            "ValidationProblem",
            "ReportError",
            "ReportDecodeError",
            "ReportInvalid",
        }
        assert contract <= set(report.__all__)

    def test_import_is_light(self) -> None:
        """Importing the package pulls in neither trio nor httpx."""
        code = (
            "import sys, pywats_actors.report; "
            "print(sorted(m for m in ('trio', 'httpx') if m in sys.modules))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]"
