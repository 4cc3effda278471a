"""Errors of the running node (the embedding API: :class:`~pywats_actors.node.Node`)."""

from __future__ import annotations

from .._errors import PywatsError

__all__ = ["NodeError", "NodeNotRunning"]


class NodeError(PywatsError):
    """Base class of the node's own errors."""


class NodeNotRunning(NodeError, RuntimeError):
    """The node was asked for something (``submit``, ``statistics``) before it started or after
    it stopped. Use it inside ``async with open_node(...)``.

    It is also a :class:`RuntimeError`, which is what these methods raised before.
    """
