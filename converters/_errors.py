"""The root of the ``converters`` error tree."""

from __future__ import annotations

__all__ = ["ConverterError"]


class ConverterError(Exception):
    """Base class of every error raised on purpose by :mod:`converters`."""
