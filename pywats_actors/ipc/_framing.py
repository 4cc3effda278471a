"""Finding where each message ends in a raw msgpack stream, counting bytes as they come.

The wire is a bare concatenation of msgpack objects with no length prefix (msgpack is
self-delimiting). :class:`Framer` keeps the bytes received so far and a resumable scan of the
object being received: each byte is looked at once however it is split into chunks. A message
whose header declares more bytes than the limit is refused before its body arrives, and bytes
that are not msgpack at all are refused at the first one.
"""

from __future__ import annotations

from ._errors import FrameInvalid, FrameTooLarge

__all__ = ["Framer"]

# header byte -> bytes that follow it (scalars with a fixed size)
_FIXED = {
    0xC0: 0,  # nil
    0xC2: 0,  # false
    0xC3: 0,  # true
    0xCA: 4,  # float32
    0xCB: 8,  # float64
    0xCC: 1,  # uint8
    0xCD: 2,  # uint16
    0xCE: 4,  # uint32
    0xCF: 8,  # uint64
    0xD0: 1,  # int8
    0xD1: 2,  # int16
    0xD2: 4,  # int32
    0xD3: 8,  # int64
    0xD4: 2,  # fixext1 (type + 1)
    0xD5: 3,  # fixext2
    0xD6: 5,  # fixext4
    0xD7: 9,  # fixext8
    0xD8: 17,  # fixext16
}
# header byte -> (size of the length field, extra bytes after it) for str, bin and ext
_SIZED = {
    0xC4: (1, 0),  # bin8
    0xC5: (2, 0),  # bin16
    0xC6: (4, 0),  # bin32
    0xC7: (1, 1),  # ext8 (+ type byte)
    0xC8: (2, 1),  # ext16
    0xC9: (4, 1),  # ext32
    0xD9: (1, 0),  # str8
    0xDA: (2, 0),  # str16
    0xDB: (4, 0),  # str32
}
# header byte -> (size of the count field, items per count) for arrays and maps
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}


class Framer:
    """Cuts a byte stream into whole msgpack messages.

    Args:
        max_bytes: the largest message accepted.
        max_depth: the deepest nesting of arrays and maps accepted.
    """

    def __init__(self, max_bytes: int, max_depth: int = 32) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._buffer = bytearray()
        self._start = 0  # where the message being scanned starts
        self._pos = 0  # where the next item to scan starts
        self._open: list[int] = []  # items still expected by each open array or map

    @property
    def pending(self) -> bool:
        """Whether part of a message has arrived and the rest has not."""
        return len(self._buffer) > self._start

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add *data*; return the messages it completed, in order.

        Raises:
            FrameTooLarge: the message being received is over the limit.
            FrameInvalid: a byte that starts no msgpack item, or nesting too deep.
        """
        self._buffer += data
        messages: list[bytes] = []
        buffer = self._buffer
        size = len(buffer)
        while self._pos < size:
            end = self._scan_item(buffer, self._pos, size)
            if end is None:
                break
            self._pos = end
            if self._item_done():
                messages.append(bytes(buffer[self._start : end]))
                self._start = end
        if self._start:
            del buffer[: self._start]
            self._pos -= self._start
            self._start = 0
        if len(buffer) > self.max_bytes:
            raise FrameTooLarge(f"a message of more than {self.max_bytes} bytes")
        return messages

    def _item_done(self) -> bool:
        """One item ended: True when that completes the top-level message."""
        while self._open:
            self._open[-1] -= 1
            if self._open[-1] > 0:
                return False
            self._open.pop()
        return True

    def _scan_item(self, buffer: bytearray, pos: int, size: int) -> int | None:
        """The end of the item at *pos* (its header only, for a non-empty container), or
        ``None`` when it has not arrived whole."""
        head = buffer[pos]
        if head <= 0x7F or head >= 0xE0:  # positive and negative fixint
            return pos + 1
        if 0xA0 <= head <= 0xBF:  # fixstr
            return self._body(pos + 1 + (head & 0x1F), size)
        if 0x80 <= head <= 0x9F:  # fixmap, fixarray
            count = (head & 0x0F) * (2 if head <= 0x8F else 1)
            return self._container(pos + 1, count)
        fixed = _FIXED.get(head)
        if fixed is not None:
            return self._body(pos + 1 + fixed, size)
        sized = _SIZED.get(head)
        if sized is not None:
            width, extra = sized
            if pos + 1 + width > size:
                return None
            length = int.from_bytes(buffer[pos + 1 : pos + 1 + width], "big")
            return self._body(pos + 1 + width + extra + length, size)
        container = _CONTAINERS.get(head)
        if container is not None:
            width, per = container
            if pos + 1 + width > size:
                return None
            count = int.from_bytes(buffer[pos + 1 : pos + 1 + width], "big") * per
            return self._container(pos + 1 + width, count)
        raise FrameInvalid(f"byte 0x{head:02x} starts no msgpack item")

    def _body(self, end: int, size: int) -> int | None:
        if end - self._start > self.max_bytes:
            raise FrameTooLarge(f"a message of more than {self.max_bytes} bytes")
        return end if end <= size else None

    def _container(self, end: int, count: int) -> int:
        if end - self._start + count > self.max_bytes:  # each item takes at least one byte
            raise FrameTooLarge(f"a message of more than {self.max_bytes} bytes")
        if count:
            if len(self._open) >= self.max_depth:
                raise FrameInvalid(f"arrays and maps nested deeper than {self.max_depth}")
            # the container's own end counts as an item of its parent when its items are done:
            # push count + 1 and let _item_done take the header as the first "item"
            self._open.append(count + 1)
        return end
