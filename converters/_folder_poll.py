"""``folder-poll``: a scheduled converter that takes the new files of a folder it may only read.

For an instrument that writes its results into an export folder the node must not change (a
read-only share, or a folder the instrument's own software keeps): each run lists the folder,
takes the files that are new since the last run, oldest first, and converts each one with a
built-in *file* converter named in the arguments (``csv`` with a mapping, ``junit``, ``wsjf``...).
The files stay where they are.

What is new is decided by each file's status-change time (``st_ctime``, which the kernel sets
when a file is written, created, or renamed into the folder, and which no program can set back):
the cursor holds the latest change time taken and the names taken at exactly that time. A file
still changing (changed less than ``settle`` seconds ago) ends the run's list there, so the
cursor never passes it. A file rewritten later changes again and is taken again as a new
result; its report ids differ, because the key is its name, size and change time.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from ._discovery import BUILTIN_CONVERTERS, load_converter, validate_arguments
from ._errors import ConverterError, FileRejected
from ._sdk import ConverterOutput, PollOutput, ScheduledConverter

__all__ = ["FolderPollArguments", "FolderPollConverter"]

_Glob = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class FolderPollArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The arguments of ``folder-poll``.

    Attributes:
        converter: the built-in file converter that reads each file (``csv``, ``junit``...).
        converter_args: its arguments, checked by it.
        include: glob patterns a file name must match (any of them).
        exclude: glob patterns that rule a file out (hidden files always are).
        recursive: take files from sub-folders too (their path relative to the source is the
            name in keys and the cursor).
        settle: seconds a file must have been unchanged before it is taken.
        batch: the most files taken in one run; the rest wait for the next.
        max_file_mb: a larger file is refused (``on_error`` says what then).
        on_error: ``stop`` (the run fails naming the file, and the next run tries it again:
            fix or remove it) or ``skip`` (the file is passed over for good).
    """

    converter: str
    converter_args: dict[str, Any] = {}
    include: Annotated[tuple[_Glob, ...], msgspec.Meta(min_length=1, max_length=64)] = ("*",)
    exclude: Annotated[tuple[_Glob, ...], msgspec.Meta(max_length=64)] = ("*.tmp", "*.part")
    recursive: bool = False
    settle: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 2.0
    batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    max_file_mb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 64
    on_error: Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        if self.converter not in BUILTIN_CONVERTERS:
            known = ", ".join(sorted(BUILTIN_CONVERTERS))
            raise ValueError(f"converter must be a built-in file converter ({known})")
        cls = load_converter(self.converter)
        if getattr(cls, "kind", "file") != "file":
            raise ValueError(f"converter {self.converter!r} is not a file converter")
        try:
            validate_arguments(self.converter, cls.Arguments, self.converter_args)
        except ConverterError as exc:
            raise ValueError(f"converter_args: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Found:
    rel: str
    path: str
    ctime_ns: int
    changed_ns: int
    size: int


class FolderPollConverter(ScheduledConverter[FolderPollArguments]):
    """Takes new files from a read-only folder and converts each with a built-in converter."""

    name: ClassVar[str] = "folder-poll"
    version: ClassVar[str] = "1.0"
    Arguments: ClassVar[type[msgspec.Struct]] = FolderPollArguments

    def __init__(self) -> None:
        self._inner: dict[str, tuple[Any, Any]] = {}

    def poll(
        self, source: str, cursor: bytes | str | None, args: FolderPollArguments
    ) -> PollOutput:
        """The files new since ``cursor``, converted lazily one at a time."""
        mark, names = _read_cursor(cursor)
        try:
            found = sorted(_scan(source, args), key=lambda f: (f.ctime_ns, f.rel))
        except OSError as exc:
            raise FileRejected(f"cannot list {source}: {exc.strerror or exc}") from None
        now = time.time_ns()
        taken: list[_Found] = []
        for item in found:
            if item.ctime_ns < mark or (item.ctime_ns == mark and item.rel in names):
                continue
            if now - item.changed_ns < args.settle * 1e9:
                break  # still being written: the cursor must not pass it
            taken.append(item)
            if len(taken) == args.batch:
                break
        if not taken:
            return [], cursor
        last = taken[-1].ctime_ns
        at_last = sorted(
            {f.rel for f in taken if f.ctime_ns == last} | (names if last == mark else set())
        )
        new_cursor = json.dumps({"ctime_ns": last, "names": at_last}, separators=(",", ":"))
        return self._convert_all(taken, args), new_cursor

    def _convert_all(
        self, taken: list[_Found], args: FolderPollArguments
    ) -> Iterator[tuple[str, ConverterOutput]]:
        instance, inner_args = self._converter(args)
        for item in taken:
            key = f"{item.rel}@{item.ctime_ns}:{item.size}"
            try:
                reports = list(self._convert_one(instance, inner_args, item, args))
            except FileRejected as exc:
                if args.on_error == "skip":
                    continue
                raise FileRejected(f"{item.rel}: {exc.reason}", exc.where) from None
            except Exception as exc:
                if args.on_error == "skip":
                    continue
                raise FileRejected(f"{item.rel}: {type(exc).__name__}: {exc}") from None
            for report in reports:
                yield key, report

    def _convert_one(
        self, instance: Any, inner_args: Any, item: _Found, args: FolderPollArguments
    ) -> Iterator[ConverterOutput]:
        limit = args.max_file_mb << 20
        too_large = FileRejected(f"the file is larger than max_file_mb ({args.max_file_mb} MiB)")
        if item.size > limit:
            raise too_large
        with open(item.path, "rb") as file:
            data = file.read(limit + 1)
        if len(data) > limit:
            raise too_large
        name = os.path.basename(item.rel)
        stream = getattr(instance, "convert_iter", None)
        outputs = (
            stream(data, name, inner_args)
            if callable(stream)
            else instance.convert(data, name, inner_args)
        )
        count = 0
        for output in outputs:
            count += 1
            yield output
        if not count:
            raise FileRejected("the converter found no report in the file")

    def _converter(self, args: FolderPollArguments) -> tuple[Any, Any]:
        """The inner converter and its validated arguments (made once per configuration)."""
        token = json.dumps([args.converter, args.converter_args], sort_keys=True, default=str)
        made = self._inner.get(token)
        if made is None:
            cls = load_converter(args.converter)
            made = (cls(), validate_arguments(args.converter, cls.Arguments, args.converter_args))
            self._inner[token] = made
        return made


def _read_cursor(cursor: bytes | str | None) -> tuple[int, set[str]]:
    """The change time and names of the last files taken (``(-1, set())``: none yet)."""
    if cursor is None:
        return -1, set()
    try:
        value = json.loads(cursor)
        return int(value["ctime_ns"]), {str(name) for name in value["names"]}
    except (ValueError, TypeError, KeyError) as exc:
        raise FileRejected(f"the stored cursor is not folder-poll's: {exc}") from None


def _scan(source: str, args: FolderPollArguments) -> Iterator[_Found]:
    """Every regular file below ``source`` that the patterns admit (not hidden ones)."""
    folders = [""]
    while folders:
        rel_folder = folders.pop()
        with os.scandir(os.path.join(source, rel_folder)) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = os.path.join(rel_folder, entry.name) if rel_folder else entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile
                if stat.S_ISDIR(info.st_mode):
                    if args.recursive:
                        folders.append(rel)
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                if not any(fnmatch.fnmatch(entry.name, p) for p in args.include):
                    continue
                if any(fnmatch.fnmatch(entry.name, p) for p in args.exclude):
                    continue
                yield _Found(
                    rel=rel,
                    path=entry.path,
                    ctime_ns=info.st_ctime_ns,
                    changed_ns=max(info.st_ctime_ns, info.st_mtime_ns),
                    size=info.st_size,
                )
