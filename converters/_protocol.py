"""The parent <-> worker protocol: msgpack messages in length-prefixed frames.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack (msgspec). Each side
refuses a frame longer than its limit before reading it, so a worker that writes garbage (whose
first four bytes read as a huge length) or an oversized answer is caught at once and treated as
crashed.

Conversation::

    parent                              worker
    Setup  ---------------------------->          isolate and lock down, probe the sandbox
           <----------------------------  Locked  (what is in force, probe results)
                                                  only now: import the converters
           <----------------------------  Hello   (converters, load failures)
    Request ---------------------------->
           <----------------------------  Part    (zero or more: reports sent as they are made)
           <----------------------------  Done | Refused
    Detect ----------------------------->         (detection only: the head of a file)
           <----------------------------  Scores
    Poll   ---------------------------->          (a scheduled converter: source and cursor)
           <----------------------------  Part    (zero or more)
           <----------------------------  Done (with keys and the new cursor) | Refused
    ...
    (stdin closed) ---------------------->        exits 0

This module is imported by the worker, so it needs msgspec and the standard library only.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Literal

import msgspec

__all__ = [
    "HEADER",
    "ArgumentDoc",
    "ConverterDescription",
    "ConverterInfo",
    "ConverterSetup",
    "Cursor",
    "Detect",
    "Done",
    "FrameError",
    "Hello",
    "LoadFailure",
    "Locked",
    "ParentMessage",
    "Part",
    "Poll",
    "Probe",
    "Refused",
    "Request",
    "Scores",
    "Setup",
    "WorkerMessage",
    "decode_worker_message",
    "encode_frame",
    "read_frame_sync",
    "write_frame_sync",
]

HEADER = struct.Struct(">I")  # supervisors.FRAME_HEADER: this module must not import trio


class FrameError(Exception):
    """The byte stream is not a valid sequence of frames (garbage, oversized, truncated)."""


class Cursor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A scheduled converter's cursor as it travels and is kept: its bytes, and whether the
    converter gave a string (then ``value`` is its UTF-8)."""

    value: bytes
    text: bool = False

    @classmethod
    def of(cls, cursor: bytes | str | None) -> Cursor | None:
        """Wrap what a converter returned (``None`` stays ``None``)."""
        if cursor is None:
            return None
        if isinstance(cursor, str):
            return cls(cursor.encode("utf-8", "surrogatepass"), text=True)
        return cls(bytes(cursor))

    @property
    def native(self) -> bytes | str:
        """The cursor as the converter returned it."""
        return self.value.decode("utf-8", "surrogatepass") if self.text else self.value


class ConverterSetup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One converter the worker must load: its reference, alias, raw arguments and part in
    auto-detection (:data:`converters._detection.Detection`)."""

    ref: str
    alias: str | None = None
    args: dict[str, Any] = {}
    detection: Literal["on", "hint", "off"] = "on"


class Setup(msgspec.Struct, frozen=True, tag="setup", forbid_unknown_fields=True):
    """The first frame the parent sends: what to load and how to lock down."""

    converters: list[ConverterSetup]
    python_path: list[str]
    read_paths: list[str]
    temp_dir: str
    landlock: Literal["auto", "required", "off"]
    detect_head: int
    cpu_seconds: int
    max_request: int
    namespaces: Literal["auto", "required", "off"] = "auto"
    seccomp: Literal["auto", "required", "off"] = "auto"
    temp_bytes: int = 128 << 20
    hide: list[str] = []
    canary: str = ""
    probe_port: int = 0
    describe: bool = False


class Probe(msgspec.Struct, frozen=True):
    """One attempt the worker makes on itself right after locking down, before any converter
    code exists in it: something the sandbox must refuse.

    Attributes:
        name: ``files`` (open a canary file outside the allowed paths) or ``tcp`` (connect to
            a port the parent listens on, on 127.0.0.1).
        held: the attempt failed, as it must.
        detail: how it failed (or that it succeeded).
    """

    name: str
    held: bool
    detail: str


class Locked(msgspec.Struct, frozen=True, tag="locked"):
    """The worker has locked itself down; sent before it imports a single converter, so no
    plug-in can have written it. The parent still checks it against what it sees in
    ``/proc`` (:func:`converters._sandbox.observe`).

    Attributes:
        landlock_abi: the Landlock ABI in force (0: none).
        namespaces: the namespaces it entered (``user``, ``pid``, ``net``, ``mnt``, ``ipc``).
        temp_tmpfs: its temporary folder is a private, size-limited tmpfs.
        hidden: the paths hidden from it.
        seccomp: its system-call filter is installed.
        probes: the attempts of :class:`Probe`.
        notes: why a layer is missing or weaker.
    """

    landlock_abi: int
    namespaces: list[str]
    temp_tmpfs: bool
    hidden: list[str]
    seccomp: bool
    probes: list[Probe]
    notes: list[str]


class ConverterInfo(msgspec.Struct, frozen=True):
    """A converter as loaded by a worker.

    Attributes:
        alias: the name callers use in ``convert(converter=...)``.
        name: the converter's declared name (part of report ids).
        version: its version.
        ref: how it was referenced in the configuration.
        patterns: its file patterns.
        keeps_source_ids: reports keep the GUID the source file carries.
        kind: ``file``, or ``scheduled`` (it answers ``Poll``, not ``Request``).
    """

    alias: str
    name: str
    version: str
    ref: str
    patterns: tuple[str, ...]
    keeps_source_ids: bool
    kind: str = "file"


class ArgumentDoc(msgspec.Struct, frozen=True):
    """One argument of a converter.

    Attributes:
        name: its key in ``converter_args``.
        type: its type, in words (``integer >= 0``, ``string or null``, ``"a" | "b"``).
        default: its default, as TOML-ish text; ``None`` when it is required.
        doc: what it means (from the ``Attributes:`` section of the Struct's docstring).
    """

    name: str
    type: str
    default: str | None
    doc: str = ""


class ConverterDescription(msgspec.Struct, frozen=True):
    """What a converter says about itself beyond its :class:`ConverterInfo`.

    Attributes:
        alias: the configured name it describes.
        kind: ``file`` (one file in, reports out) or another kind it declares.
        summary: the first line of its docstring.
        arguments: its arguments, in declaration order.
        schema: the JSON Schema of its arguments (for GUIs), as JSON text.
    """

    alias: str
    kind: str = "file"
    summary: str = ""
    arguments: list[ArgumentDoc] = []
    schema: str = "{}"


class LoadFailure(msgspec.Struct, frozen=True):
    """A converter the worker could not load: which error class, and its fields."""

    ref: str
    kind: Literal["not_found", "api_version", "invalid", "arguments"]
    message: str
    path: str | None = None
    declared: Any = None


class Hello(msgspec.Struct, frozen=True, tag="hello"):
    """The worker is ready: its converters. Sent after the converters were imported, so
    nothing in it is trusted beyond what the parent checks."""

    pid: int
    python: str
    converters: list[ConverterInfo]
    failures: list[LoadFailure]
    descriptions: list[ConverterDescription] = []


class Request(msgspec.Struct, frozen=True, tag="convert"):
    """Convert one file (``converter=None``: auto-detect)."""

    job: int
    converter: str | None
    name: str
    data: bytes


class Part(msgspec.Struct, frozen=True, tag="part"):
    """Reports of job ``job`` sent before its answer, so the worker need not hold them all.

    The reports of a conversion are the reports of its parts, in order, then those of its
    ``Done``. A ``Refused`` answer voids the parts sent before it.
    """

    job: int
    reports: list[bytes]


class Done(msgspec.Struct, frozen=True, tag="done"):
    """The converter produced reports (WSJF bytes, ids not yet assigned); the last ones, after
    those of any ``Part`` frames.

    The answer to a ``Poll`` also has ``keys`` (one per report of the whole answer, parts
    included, in order) and the new ``cursor``; an answer to a ``Request`` has neither.
    """

    job: int
    converter: str
    reports: list[bytes]
    seconds: float
    cpu_total: float
    children_left: bool
    scores: dict[str, float] | None = None
    keys: list[str] | None = None
    cursor: Cursor | None = None


class Refused(msgspec.Struct, frozen=True, tag="refused"):
    """The file could not be converted; the worker is still healthy (except after an OOM)."""

    job: int
    converter: str | None
    kind: Literal["rejected", "unrecognised", "invalid_output", "no_reports", "out_of_memory"]
    reason: str
    seconds: float
    cpu_total: float
    children_left: bool
    where: str | None = None
    detail: str | None = None
    scores: dict[str, float] | None = None


_ENCODER = msgspec.msgpack.Encoder()


def encode_frame(message: msgspec.Struct) -> bytes:
    """Encode ``message`` as one frame (length prefix included)."""
    payload = _ENCODER.encode(message)
    return HEADER.pack(len(payload)) + payload


def decode_worker_message(payload: bytes) -> WorkerMessage:
    """Decode a worker's frame payload.

    Raises:
        FrameError: not a valid worker message.
    """
    try:
        message: WorkerMessage = _WORKER_DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise FrameError(f"undecodable worker message: {exc}") from None
    return message


# -- blocking framing, for the worker process -----------------------------------------------------


def read_frame_sync(fd: int, limit: int) -> bytearray | None:
    """Read one frame's payload from ``fd``; ``None`` at a clean end of stream.

    The payload is read straight into one buffer of its size (a large request costs its own
    size once, not once per copy).

    Raises:
        FrameError: the length exceeds ``limit`` or the stream ends inside a frame.
    """
    header = _read_exactly(fd, HEADER.size, allow_eof=True)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {limit}")
    payload = _read_exactly(fd, length, allow_eof=False)
    assert payload is not None
    return payload


def write_frame_sync(fd: int, message: msgspec.Struct) -> None:
    """Write ``message`` as one frame to ``fd``, all of it (no copy of the encoded message is
    made to put the length in front of it)."""
    payload = _ENCODER.encode(message)
    header = HEADER.pack(len(payload))
    written = os.writev(fd, [header, payload])
    if written < len(header):
        _write_all(fd, header[written:])
        written = len(header)
    if written - len(header) < len(payload):
        with memoryview(payload) as view:
            _write_all(fd, view[written - len(header) :])


def _write_all(fd: int, data: bytes | memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, size: int, *, allow_eof: bool) -> bytearray | None:
    buffer = bytearray(size)
    filled = 0
    with memoryview(buffer) as view:
        while filled < size:
            count = os.readv(fd, [view[filled : filled + (1 << 20)]])
            if not count:
                if allow_eof and filled == 0:
                    return None
                raise FrameError(f"stream ended {size - filled} bytes before the end of a frame")
            filled += count
    return buffer


# -- detection alone (a pool of several trust domains asks each for its scores) -----------------


class Detect(msgspec.Struct, frozen=True, tag="detect"):
    """Score the head of a file with every converter of this worker; convert nothing."""

    job: int
    name: str
    head: bytes


class Scores(msgspec.Struct, frozen=True, tag="scores"):
    """The answer to ``Detect``: each converter's confidence, by alias (in ``[0, 1]``)."""

    job: int
    scores: dict[str, float]
    seconds: float
    cpu_total: float
    children_left: bool


# -- scheduled converters ------------------------------------------------------------------------


class Poll(msgspec.Struct, frozen=True, tag="poll"):
    """Run a scheduled converter once: look in ``source`` for what is new since ``cursor``.

    The answer is ``Done`` (with ``keys`` and ``cursor``, after any ``Part`` frames) or
    ``Refused`` (``no_reports`` is not a refusal: a poll that found nothing is a ``Done``
    without reports, and its cursor is stored all the same).
    """

    job: int
    converter: str
    source: str
    cursor: Cursor | None


WorkerMessage = Locked | Hello | Part | Done | Refused | Scores
ParentMessage = Request | Detect | Poll

_WORKER_DECODER = msgspec.msgpack.Decoder(WorkerMessage)
