"""Length-prefixed msgpack framing between the parent and a worker, on both sides."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from converters._process import _FrameReader
from converters._protocol import (
    HEADER,
    Done,
    FrameError,
    Request,
    decode_worker_message,
    encode_frame,
    read_frame_sync,
    write_frame_sync,
)

DONE = Done(job=1, converter="x", reports=[b"{}"], seconds=0.1, cpu_total=1.0, children_left=False)


class TestWorkerSide:
    def test_round_trip_through_a_pipe(self) -> None:
        """A frame written to a pipe reads back as the same message; end of stream is None."""
        reader, writer = os.pipe()
        try:
            write_frame_sync(writer, Request(job=3, converter=None, name="f", data=b"\x00" * 10))
            os.close(writer)
            payload = read_frame_sync(reader, 1 << 20)
            assert payload is not None
            assert read_frame_sync(reader, 1 << 20) is None
        finally:
            os.close(reader)
        assert payload == encode_frame(Request(3, None, "f", b"\x00" * 10))[HEADER.size :]

    def test_oversized_and_truncated_frames(self) -> None:
        """A length over the limit, or a stream ending inside a frame, is a FrameError."""
        for data, match in [
            (HEADER.pack(1000) + b"x" * 1000, "exceeds the limit"),
            (HEADER.pack(10) + b"abc", "ended 7 bytes before"),
        ]:
            reader, writer = os.pipe()
            os.write(writer, data)
            os.close(writer)
            with pytest.raises(FrameError, match=match):
                read_frame_sync(reader, 100)
            os.close(reader)


class TestParentSide:
    async def test_reads_frames_split_anywhere(self) -> None:
        """Frames arriving in arbitrary pieces are reassembled."""
        send, receive = trio.testing.memory_stream_one_way_pair()
        frames = encode_frame(DONE) * 3
        reader = _FrameReader(receive, 1 << 20)
        with trio.fail_after(5):
            for i in range(0, len(frames), 7):
                await send.send_all(frames[i : i + 7])
            await send.aclose()
            for _ in range(3):
                payload = await reader.receive()
                assert payload is not None
                assert decode_worker_message(payload) == DONE
            assert await reader.receive() is None

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (b"this is not a frame\n", "exceeds the limit"),
            (HEADER.pack(5) + b"ab", "stream ended inside a frame"),
            (b"\x00\x00", "stream ended inside a frame"),
        ],
    )
    async def test_garbage_is_a_frame_error(self, data: bytes, match: str) -> None:
        """Garbage, a truncated frame or a truncated header raise FrameError."""
        send, receive = trio.testing.memory_stream_one_way_pair()
        reader = _FrameReader(receive, 1 << 20)
        with trio.fail_after(5):
            await send.send_all(data)
            await send.aclose()
            with pytest.raises(FrameError, match=match):
                await reader.receive()

    def test_undecodable_message(self) -> None:
        """A frame that is not a worker message is a FrameError."""
        with pytest.raises(FrameError, match="undecodable"):
            decode_worker_message(b"\x93\x01\x02\x03")
