"""The chaos package's public surface is exactly its sorted ``__all__``."""

from __future__ import annotations

import inspect

import pywats_actors.chaos as chaos


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted, names existing attributes only, and lists every public class and
        function defined in the package's private modules."""
        exported = list(chaos.__all__)
        assert exported == sorted(exported)
        assert all(hasattr(chaos, name) for name in exported)
        public = {
            name
            for name, value in vars(chaos).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", "").startswith("pywats_actors.chaos._")
        }
        assert public == set(exported)
