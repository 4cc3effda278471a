"""Test converters: one well-behaved, and one for every way a plug-in can misbehave.

Each reads its instructions from the file it is given, so one pool can run them all. Loaded by the
pool as ``tests/converters/plugins/misbehaving.py:<Class>``.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from converters import Converter, ConverterOutput, FileRejected, NoArguments

# the shared sample reports, from beside this file (a plug-in reads only its own folder)
_REPORTS = runpy.run_path(str(Path(__file__).with_name("_reports.py")))


def wsjf(sn: str, *, report_id: str = _REPORTS["NIL_ID"]) -> dict[str, Any]:
    """The shared minimal valid UUT report (``tests/_reports.py``) as a fresh dict, with serial
    number ``sn`` and, by default, the nil id (the pool gives it one)."""
    report: dict[str, Any] = _REPORTS["minimal_report"](sn, report_id=report_id)
    return report


class Echo(Converter[NoArguments]):
    """One report per line of the file, the line as its serial number."""

    name: ClassVar[str] = "echo"
    version: ClassVar[str] = "2.1"
    patterns: ClassVar[tuple[str, ...]] = ("*.echo",)

    def detect(self, head: bytes, name: str) -> float:
        return 0.9 if head.startswith(b"ECHO") else 0.0

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        lines = [line for line in data.decode().splitlines() if line.strip()]
        return [wsjf(line.strip()) for line in lines]


class Trivial(Converter[NoArguments]):
    """One fixed tiny report, as bytes (the benchmark's and the leak tests' converter)."""

    name: ClassVar[str] = "trivial"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return [msgspec.json.encode(wsjf("SN-" + data[:20].decode("ascii", "replace").strip()))]


class Chaos(Converter[NoArguments]):
    """Does what the file says: ``raise``, ``reject``, ``hang``, ``sleep <s>``, ``spin``,
    ``alloc <MiB>``, ``grow <MiB>``, ``segv``, ``fork``, ``fork-and-return``, ``garbage``,
    ``garbage-later`` (after answering, while idle), ``print``, ``exit``, ``write <path>``,
    ``read <path>``, ``connect <port>``, ``kill-parent [pid]``, ``env``, ``tmp``, ``fill <MiB>``,
    ``whoami``;
    anything else converts to one report."""

    name: ClassVar[str] = "chaos"
    version: ClassVar[str] = "0.1"

    def __init__(self) -> None:
        self.files = 0  # files this process converted before the current one

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        self.files += 1
        command, _, argument = data.decode().strip().partition(" ")
        if command == "raise":
            raise ValueError("this converter does not like you")
        if command == "reject":
            raise FileRejected("the checksum is wrong", where="line 3")
        if command == "hang":
            time.sleep(3600)
        if command == "sleep":
            time.sleep(float(argument))
            return [wsjf("SLEPT")]
        if command == "spin":
            while True:
                pass
        if command == "alloc":
            block = bytearray(int(argument) << 20)
            return [wsjf(f"ALLOC-{len(block)}")]
        if command == "grow":
            chunks = []
            for _ in range(int(argument)):
                chunks.append(b"x" * (1 << 20))  # touched memory: RSS grows
                time.sleep(0.002)
            return [wsjf(f"GROW-{len(chunks)}")]
        if command == "segv":  # a real fault (a signal sent to itself is not the same to PID 1)
            ctypes.string_at(0)
        if command in ("fork", "fork-and-return"):
            return self._fork(command == "fork")
        if command == "garbage":
            from converters import _worker

            os.write(_worker.protocol_fd, b"this is not a frame\n")
            time.sleep(0.5)
            return [wsjf("GARBAGE")]
        if command == "garbage-later":
            from converters import _worker

            def later() -> None:
                time.sleep(0.3)
                os.write(_worker.protocol_fd, b"this is not a frame either\n")

            threading.Thread(target=later, daemon=True).start()
            return [wsjf("GARBAGE-LATER")]
        if command == "print":
            print("hello from the converter on stdout")
            sys.stdout.write("more chatter\n")
            os.write(1, b"raw write to fd 1\n")
            return [wsjf("PRINTED")]
        if command == "exit":
            print(f"FILES BEFORE {self.files - 1}", file=sys.stderr, flush=True)
            os._exit(7)
        if command == "write":
            with open(argument, "w") as f:
                f.write("escaped")
            return [wsjf("WROTE")]
        if command == "read":
            with open(argument) as f:
                return [wsjf("READ-" + f.read().strip())]
        if command == "connect":
            with socket.create_connection(("127.0.0.1", int(argument)), timeout=2):
                return [wsjf("CONNECTED")]
        if command == "kill-parent":  # the node's pid as the argument, else the parent's
            os.kill(int(argument) if argument else os.getppid(), 0)
            return [wsjf("SIGNALLED")]
        if command == "whoami":  # its own folder and the test plug-in modules it imported
            mine = sorted(
                name.split("_pywats_converter_")[-1].rsplit("_", 1)[0]
                for name in sys.modules
                if name.startswith("_pywats_converter_")
            )
            raise FileRejected(f"dir={os.path.basename(os.getcwd())} modules={','.join(mine)}")
        if command == "env":
            raise FileRejected(" ".join(sorted(os.environ)), where=os.getcwd())
        if command == "fill":  # write <argument> MiB into the temporary folder
            with open("filler.bin", "wb") as f:
                for _ in range(int(argument)):
                    f.write(b"x" * (1 << 20))
            return [wsjf("FILLED")]
        if command == "tmp":
            with open(os.path.join(os.getcwd(), "scratch.txt"), "w") as f:
                f.write("fine")
            with open("scratch.txt") as f:
                return [wsjf("TMP-" + f.read())]
        return [wsjf("OK-" + (command or "empty"))]

    def _fork(self, hang: bool) -> Sequence[ConverterOutput]:
        pids = []
        child = os.fork()
        if child == 0:  # a plain child that outlives the converter
            time.sleep(3600)
            os._exit(0)
        pids.append(child)
        reader, writer = os.pipe()
        middle = os.fork()
        if middle == 0:  # daemonises: a new session, then a grandchild, then the middle exits
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                time.sleep(3600)
                os._exit(0)
            os.write(writer, str(grandchild).encode())
            os._exit(0)
        os.waitpid(middle, 0)
        pids.append(int(os.read(reader, 64)))
        print(f"CHILDREN {pids[0]} {pids[1]}", file=sys.stderr, flush=True)
        if hang:
            time.sleep(3600)
        time.sleep(0.5)  # long enough for a test to see them from outside
        return [wsjf(f"FORKED-{pids[0]}-{pids[1]}")]


class Detector(Converter[NoArguments]):
    """Claims anything starting with ``DETECT``; its detect() raises on ``BOOM``."""

    name: ClassVar[str] = "detector"

    def detect(self, head: bytes, name: str) -> float:
        if head.startswith(b"BOOM"):
            raise RuntimeError("detector exploded")
        return 0.7 if head.startswith(b"DETECT") else 0.3

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return [wsjf("DETECTED")]


class BadOutput(Converter[NoArguments]):
    """Returns whatever the file names: ``none``, ``str``, ``invalid`` (a report breaking a rule),
    ``notjson``, ``empty``."""

    name: ClassVar[str] = "bad-output"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Any:
        what = data.decode().strip()
        if what == "none":
            return None
        if what == "str":
            return "a string"
        if what == "invalid":
            report = wsjf("")
            return [report]
        if what == "notjson":
            return [b"{not json"]
        if what == "empty":
            return []
        return [object()]


class Argued(Converter["ArguedArgs"]):
    """Takes arguments, to test their validation."""

    name: ClassVar[str] = "argued"

    def convert(self, data: bytes, name: str, args: ArguedArgs) -> Sequence[ConverterOutput]:
        return [wsjf(f"{args.prefix}{args.count}")]


class ArguedArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``prefix`` and a positive ``count``."""

    prefix: str
    count: int = msgspec.field(default=1)


Argued.Arguments = ArguedArgs


class FutureApi(Echo):
    """Declares an API version this SDK does not know."""

    name: ClassVar[str] = "future"
    api_version: ClassVar[int] = 99


class Nameless:
    """Has no name and no convert(): not a converter."""

    version = "1"
    api_version = 1


class ExplodingInit(Echo):
    """Fails when the SDK creates it."""

    name: ClassVar[str] = "exploding"

    def __init__(self) -> None:
        raise RuntimeError("cannot start")


class Stream(Converter[NoArguments]):
    """Yields reports one at a time from ``convert_iter``: the file says ``<count> <size>``
    (reports, and bytes of padding in each), and ``then <what>`` what happens after the last:
    ``fail`` raises, ``invalid`` yields a report that breaks a rule, ``other`` an object."""

    name: ClassVar[str] = "stream"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return list(self.convert_iter(data, name, args))

    def convert_iter(self, data: bytes, name: str, args: NoArguments) -> Iterator[Any]:
        words = data.decode().split()
        count, size = int(words[0]), int(words[1])
        then = words[3] if len(words) > 3 else None
        for index in range(count):
            report = wsjf(f"SN-{index:06d}")
            report["root"]["name"] = "x" * size
            yield report
        if then == "fail":
            raise FileRejected(f"failed after {count} reports", where="the end")
        if then == "invalid":
            yield wsjf("")
        if then == "other":
            yield object()
