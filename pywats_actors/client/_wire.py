"""The frames between a client and its upload process (``_process`` and ``_sender``).

Each frame is a 4-byte big-endian length and a msgpack message. The parent sends ``Open`` once
(the settings, token included, travel through the pipe, never through the command line or the
environment), then ``Call`` and ``Cancel``; the process answers ``Ready`` once, then one
``Reply`` or ``Failed`` per call, matched by ``seq``.
"""

from __future__ import annotations

import msgspec
import trio

from supervisors import FRAME_HEADER, write_all

from ._exchange import Route
from ._settings import WatsClientSettings

__all__ = [
    "Call",
    "Cancel",
    "Failed",
    "Open",
    "Ready",
    "Reply",
    "encode",
    "from_parent",
    "from_process",
    "write_frames",
]


class Open(msgspec.Struct, frozen=True, tag="open", array_like=True):
    """Parent → process, first frame: which server, and how."""

    settings: WatsClientSettings


class Call(msgspec.Struct, frozen=True, tag="call", array_like=True):
    """Parent → process: do one exchange."""

    seq: int
    route: Route
    body: bytes | None
    report_id: str | None


class Cancel(msgspec.Struct, frozen=True, tag="cancel", array_like=True):
    """Parent → process: the caller of *seq* gave up; stop that exchange."""

    seq: int


class Ready(msgspec.Struct, frozen=True, tag="ready", array_like=True):
    """Process → parent, first frame: the client is open."""

    pid: int


class Reply(msgspec.Struct, frozen=True, tag="reply", array_like=True):
    """Process → parent: the server answered (status, the headers that the classification
    reads, by lower-case name, and the capped body)."""

    seq: int
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool


class Failed(msgspec.Struct, frozen=True, tag="failed", array_like=True):
    """Process → parent: no complete answer; *error* names the transport error class."""

    seq: int
    error: str
    detail: str | None
    phase: str | None = None
    certificate_invalid: bool = False


_encoder = msgspec.msgpack.Encoder()
from_parent = msgspec.msgpack.Decoder(Open | Call | Cancel)
from_process = msgspec.msgpack.Decoder(Ready | Reply | Failed)


def encode(message: msgspec.Struct) -> bytes:
    """One frame: length prefix and payload."""
    payload = _encoder.encode(message)
    return FRAME_HEADER.pack(len(payload)) + payload


async def write_frames(
    stream: trio.abc.SendStream, frames: trio.MemoryReceiveChannel[bytes]
) -> None:
    """Write queued frames to *stream*, several in one write when they have piled up."""
    async for first in frames:
        batch = [first]
        while True:
            try:
                batch.append(frames.receive_nowait())
            except trio.WouldBlock:
                break
        await write_all(stream, b"".join(batch))
