"""Length-prefixed frames over pipes (``supervisors.FrameReader``, ``supervisors.write_all``)."""

from __future__ import annotations

import os

import pytest
import trio

from supervisors import FRAME_HEADER, FrameError, FrameReader, write_all


def _frame(payload: bytes) -> bytes:
    return FRAME_HEADER.pack(len(payload)) + payload


async def test_frames_larger_than_a_pipe_cross_it_whole() -> None:
    """A 1 MiB frame (far beyond a pipe's buffer) between two small ones, through a real pipe:
    the writer waits for room, the reader puts the pieces back together."""
    read_fd, write_fd = os.pipe()
    big = os.urandom(1 << 20)
    async with (
        trio.lowlevel.FdStream(read_fd) as receive,
        trio.lowlevel.FdStream(write_fd) as send,
        trio.open_nursery() as nursery,
    ):
        frames = FrameReader(receive, 2 << 20)

        async def writer() -> None:
            await write_all(send, _frame(b"first") + _frame(big) + _frame(b"last"))
            await send.aclose()

        nursery.start_soon(writer)
        with trio.fail_after(10):
            got = [await frames.receive() for _ in range(4)]
    assert got == [b"first", big, b"last", None]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (FRAME_HEADER.pack(100) + b"x" * 10, r"inside a frame \(10 bytes\)"),
        (FRAME_HEADER.pack(100), "before the 100-byte frame it announced"),
        (b"\x00\x00", "inside a frame"),
        (FRAME_HEADER.pack(1 << 30), "exceeds the limit"),
    ],
    ids=["truncated-payload", "header-only", "truncated-header", "oversized"],
)
async def test_a_bad_stream_is_a_frame_error(data: bytes, match: str) -> None:
    """Truncated or oversized frames raise FrameError saying which, never hang."""
    send, receive = trio.testing.memory_stream_one_way_pair()
    frames = FrameReader(receive, 1 << 20)
    await send.send_all(data)
    await send.aclose()
    with trio.fail_after(5), pytest.raises(FrameError, match=match):
        await frames.receive()
