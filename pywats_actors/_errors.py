"""The root of the ``pywats_actors`` error tree.

Every error the node raises on purpose derives from :class:`PywatsError`, so an embedding
application can catch the whole family in one ``except``. Each sub-tree lives next to the code
that raises it and is re-exported from :mod:`pywats_actors`; ``docs/errors.md`` draws the whole
tree.
"""

from __future__ import annotations

__all__ = ["PywatsError"]


class PywatsError(Exception):
    """Base class of every error raised on purpose by :mod:`pywats_actors`."""
