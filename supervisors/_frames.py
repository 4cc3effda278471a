"""Length-prefixed frames over a process's pipes, for talking to OS-process children.

Each frame is a 4-byte big-endian length and that many bytes of payload (what the payload is,
msgpack or anything else, is the caller's business). :class:`FrameReader` reads them from any
trio stream with a size limit, and from a pipe (:class:`trio.lowlevel.FdStream`) it reads the
descriptor directly: a frame that arrives in one piece costs one wait and one ``read``.
:func:`write_all` writes to a pipe at once when it has room. The converter pool's workers and the
WATS client's upload process both speak this way.
"""

from __future__ import annotations

import errno
import os
import struct

import trio

from ._errors import SupervisorError

__all__ = ["FRAME_HEADER", "FrameError", "FrameReader", "pipe_error", "write_all"]

FRAME_HEADER = struct.Struct(">I")
"""The length prefix of a frame: 4 bytes, big-endian, unsigned."""

HEADER = FRAME_HEADER  # the short name used below


class FrameError(SupervisorError):
    """The byte stream is not a valid sequence of frames (oversized, truncated, garbage)."""


class FrameReader:
    """Length-prefixed frames from a byte stream, with a size limit.

    From a pipe (:class:`trio.lowlevel.FdStream`, a child's standard output) it reads the
    descriptor itself: it waits until the pipe is readable, then reads, so a frame that arrives
    in one piece costs one wait and one ``read``, without a checkpoint and a failed read first.

    Args:
        stream: where the frames come from.
        limit: the largest payload accepted, in bytes.
        error: the exception class raised for a bad stream (:class:`FrameError` unless a
            protocol that must not import trio has its own).
    """

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        limit: int,
        *,
        error: type[Exception] = FrameError,
    ) -> None:
        self._stream = stream
        self._error = error
        self._pipe = stream if isinstance(stream, trio.lowlevel.FdStream) else None
        self._limit = limit
        self._buffer = bytearray()

    async def receive(self) -> bytes | None:
        """The next frame's payload; ``None`` at end of stream between frames.

        Raises:
            FrameError (or the class given as *error*): a length over the limit, or the stream
                ended inside a frame.
        """
        buffer = self._buffer
        while True:
            have = len(buffer)
            length = -1
            if have >= HEADER.size:
                (length,) = HEADER.unpack_from(buffer)
                if length > self._limit:
                    raise self._error(f"frame of {length} bytes exceeds the limit of {self._limit}")
                end = HEADER.size + length
                if have >= end:
                    with memoryview(buffer) as view:
                        payload = bytes(view[HEADER.size : end])
                    del buffer[:end]
                    return payload
                wanted = end - have
            else:
                wanted = HEADER.size - have
            chunk = await self._receive_some(max(65536, wanted))
            if not chunk:
                if have == 0:
                    return None
                if length < 0:
                    raise self._error(f"stream ended inside a frame ({have} bytes)")
                if have == HEADER.size:
                    raise self._error(f"stream ended before the {length}-byte frame it announced")
                raise self._error(f"stream ended inside a frame ({have - HEADER.size} bytes)")
            if not buffer and len(chunk) >= HEADER.size:
                (size,) = HEADER.unpack_from(chunk)
                if len(chunk) == HEADER.size + size and size <= self._limit:
                    return bytes(chunk[HEADER.size :])  # the usual case: one frame in one piece
            buffer += chunk

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        pipe = self._pipe
        if pipe is None:
            return await self._stream.receive_some(max_bytes)
        while True:
            fd = pipe.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the pipe was already closed")
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise pipe_error(exc) from None


async def write_all(stream: trio.abc.SendStream, data: bytes | bytearray | memoryview) -> None:
    """``stream.send_all(data)``; to a pipe, written at once when it has room (no checkpoint:
    the caller waits for the answer next), else as the pipe drains."""
    if not isinstance(stream, trio.lowlevel.FdStream):
        await stream.send_all(data)
        return
    with memoryview(data) as view:
        sent, length = 0, len(view)
        while sent < length:
            fd = stream.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the pipe was already closed")
            try:
                sent += os.write(fd, view[sent:])
            except BlockingIOError:
                await trio.lowlevel.wait_writable(fd)
            except OSError as exc:
                raise pipe_error(exc) from None


def pipe_error(exc: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    """The trio error for an ``OSError`` of a pipe read or write: closed here, or broken."""
    if exc.errno == errno.EBADF:
        return trio.ClosedResourceError("the pipe was already closed")
    error = trio.BrokenResourceError(str(exc))
    error.__cause__ = exc
    return error
