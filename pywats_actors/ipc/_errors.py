"""The IPC package's errors: one sub-tree of :class:`~pywats_actors.PywatsError`."""

from __future__ import annotations

from typing import Any

from .._errors import PywatsError

__all__ = ["FrameInvalid", "FrameTooLarge", "IpcCallError", "IpcConnectionError", "IpcError"]


class IpcError(PywatsError):
    """Something about the IPC socket, its protocol or a call over it."""


class IpcConnectionError(IpcError):
    """No node to talk to: none runs for the instance, its socket does not answer, or the
    connection broke."""


class IpcCallError(IpcError):
    """A structured protocol error ``[code, message, data]``: raised by a method on the node
    (and sent to the client), or received by the client as the answer to its call.

    Args:
        code: one of :class:`~pywats_actors.ipc.ErrorCode` (``docs/ipc.md``).
        message: for people.
        data: details for programs (``None``: none).
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (error {int(code)})")
        self.code = int(code)
        self.message = message
        self.data = data

    def value(self) -> list[Any]:
        """The error as sent: ``[code, message, data]``."""
        return [self.code, self.message, self.data]


class FrameTooLarge(IpcError):
    """A message is (or declares itself) larger than the limit."""


class FrameInvalid(IpcError):
    """The bytes are not msgpack (or nest deeper than the limit)."""
