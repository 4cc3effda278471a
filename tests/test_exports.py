"""Each package's public surface is exactly its ``__all__``, and nothing private leaks."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "supervisors",
    "supervisors.testing",
    "pywats_actors",
    "pywats_actors.bench",
    "pywats_actors.client",
    "pywats_actors.config",
    "pywats_actors.emulator",
    "pywats_actors.node",
    "pywats_actors.report",
    "pywats_actors.spool",
    "converters",
]


class TestExports:
    @pytest.mark.parametrize("name", PACKAGES)
    def test_all_is_sorted_and_complete(self, name: str) -> None:
        """__all__ names only existing attributes, without repeats, and lists every public
        class and function the package defines or re-exports (ruff's RUF022 keeps it sorted)."""
        module = importlib.import_module(name)
        exported = list(module.__all__)
        assert len(exported) == len(set(exported))
        for attr in exported:
            assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"
        public = {
            attr
            for attr, value in vars(module).items()
            if not attr.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and (
                getattr(value, "__module__", "") == name
                or getattr(value, "__module__", "").startswith(name + "._")
            )
        }
        assert public <= set(exported), f"public but not exported: {public - set(exported)}"

    def test_light_import(self) -> None:
        """Importing pywats_actors does not import httpx or the node (fast worker start-up)."""
        import subprocess
        import sys

        code = "import sys, pywats_actors; print('httpx' in sys.modules, 'trio' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        assert out == ["False", "False"]


class TestImportWeight:
    def test_worker_imports_skip_logging_and_metadata(self) -> None:
        """The report model (what converter workers import) pulls in neither structlog nor
        importlib.metadata, which would slow every worker start."""
        import subprocess
        import sys

        code = (
            "import sys, pywats_actors.report;"
            "print('structlog' in sys.modules, 'pywats_actors._version' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        assert out == ["False", "False"]
