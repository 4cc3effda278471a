"""Length-prefixed msgpack framing between the parent and a worker, on both sides."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import trio
import trio.testing

from converters._process import _has_children
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
from supervisors import FrameReader

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
        reader = FrameReader(receive, 1 << 20, error=FrameError)
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
        reader = FrameReader(receive, 1 << 20, error=FrameError)
        with trio.fail_after(5):
            await send.send_all(data)
            await send.aclose()
            with pytest.raises(FrameError, match=match):
                await reader.receive()

    def test_undecodable_message(self) -> None:
        """A frame that is not a worker message is a FrameError."""
        with pytest.raises(FrameError, match="undecodable"):
            decode_worker_message(b"\x93\x01\x02\x03")


class TestParentSideOverAPipe:
    """The worker's output is a pipe: the reader waits on the descriptor and reads it itself."""

    async def test_frames_split_and_joined_anywhere(self) -> None:
        """Frames written in pieces, several in one write, or one far larger than the pipe,
        all come out whole and in order; end of stream between frames is None."""
        reader, writer = os.pipe()
        os.set_blocking(writer, False)
        big = Done(job=2, converter="x", reports=[b"y" * 300_000], seconds=0, cpu_total=0,
                   children_left=False)  # fmt: skip
        stream = b"".join([encode_frame(DONE), encode_frame(DONE), encode_frame(big)])
        frames = FrameReader(trio.lowlevel.FdStream(reader), 1 << 20, error=FrameError)
        received: list[object] = []

        async def write() -> None:
            sent = 0
            for size in (3, 5, len(encode_frame(DONE)) + 9, 4096, 65536, 1 << 20):
                piece = memoryview(stream)[sent : sent + size]
                while piece:
                    try:
                        piece = piece[os.write(writer, piece) :]
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(writer)
                sent += size
                await trio.sleep(0.01)
            os.close(writer)

        async def read() -> None:
            while (payload := await frames.receive()) is not None:
                received.append(decode_worker_message(payload))

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write)
                nursery.start_soon(read)
        assert received == [DONE, DONE, big]

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (HEADER.pack(5) + b"ab", r"stream ended inside a frame \(2 bytes\)"),
            (b"\x00\x00", r"stream ended inside a frame \(2 bytes\)"),
            (HEADER.pack(5), "stream ended before the 5-byte frame it announced"),
            (HEADER.pack(1 << 21) + b"x" * 10, "exceeds the limit"),
        ],
    )
    async def test_truncated_or_oversized(self, data: bytes, match: str) -> None:
        """The same errors as from any other stream."""
        reader, writer = os.pipe()
        os.write(writer, data)
        os.close(writer)
        frames = FrameReader(trio.lowlevel.FdStream(reader), 1 << 20, error=FrameError)
        with trio.fail_after(5), pytest.raises(FrameError, match=match):
            await frames.receive()


class TestHasChildren:
    def test_tells_whether_a_process_has_children(self) -> None:
        """From /proc: False without children, True with one, None for no such process."""
        if not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
            pytest.skip("this kernel has no /proc/<pid>/task/<tid>/children")
        with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
            try:
                assert _has_children(os.getpid()) is True
                assert _has_children(child.pid) is False
            finally:
                child.kill()
        assert _has_children(child.pid) is None
