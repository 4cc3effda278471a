"""The client's and the emulator's public surfaces are exactly their sorted ``__all__``."""

from __future__ import annotations

import importlib
import inspect

import pytest


def _isort_key(name: str) -> tuple[int, str]:
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return group, name


class TestExports:
    @pytest.mark.parametrize("name", ["pywats_actors.client", "pywats_actors.emulator"])
    def test_all_is_sorted_and_complete(self, name: str) -> None:
        """__all__ is sorted (as ruff's RUF022 sorts: constants, then classes, then functions),
        names only existing attributes and lists every public class and function the package
        defines in its private modules."""
        module = importlib.import_module(name)
        exported = list(module.__all__)
        assert exported == sorted(exported, key=_isort_key)
        for attr in exported:
            assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"
        public = {
            attr
            for attr, value in vars(module).items()
            if not attr.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", "").startswith(name + "._")
        }
        shared = {  # re-exported from the project's shared modules (the HTTP server core)
            attr
            for attr in exported
            if getattr(getattr(module, attr), "__module__", "") == "pywats_actors._http_server"
        }
        assert public == set(exported) - shared - {
            attr for attr in exported if not callable(getattr(module, attr))
        }
