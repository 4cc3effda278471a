"""The public surface of pywats_actors.config is exactly its __all__."""

from __future__ import annotations

import inspect

import pywats_actors.config as config


class TestExports:
    def test_all_is_sorted_complete_and_existing(self) -> None:
        """__all__ is sorted, names only existing attributes, and lists every public class and
        function."""
        exported = list(config.__all__)
        assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
        for name in exported:
            assert hasattr(config, name)
        public = {
            name
            for name, value in vars(config).items()
            if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
        }
        assert public <= set(exported)

    def test_errors_derive_from_pywats_error(self) -> None:
        """Every configuration error is a ConfigError and so a PywatsError."""
        from pywats_actors import PywatsError

        errors = [
            getattr(config, n)
            for n in config.__all__
            if n.endswith(("Error", "Locked", "Exists", "Invalid", "NotFound", "Unsupported"))
        ]
        assert len(errors) == 8
        for error in errors:
            assert issubclass(error, config.ConfigError)
        assert issubclass(config.ConfigError, PywatsError)
