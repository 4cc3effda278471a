"""Folder units: what belongs to one, when it is complete, and reading it whole.

A watch folder with ``unit = "folder"`` holds units, not files: each sub-folder ``NAME/`` of the
watch folder is one unit, together with its *sibling* files ``NAME.<ext>`` beside it (one
extension, no further dot: the Klippel header ``DUT x.txt`` beside ``DUT x/``), unless
``unit_sibling = "none"``. A unit's files are every regular file in the folder and its
sub-folders, and its siblings, whose names match the watch folder's ``include`` patterns and none
of its ``exclude`` patterns; hidden names (``.x``) are left out.

A unit is complete when

* ``unit_sibling = "required"``: a sibling is there, and
* with ``unit_marker``: a file in the folder matches the marker glob and nothing of the unit
  changed for ``settle`` seconds; without: it has ``unit_min_files`` files or more and nothing
  changed for ``unit_quiet`` seconds.

Functions here block (file-system calls): the watcher and the pipeline call them in a thread.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from converters import pack_unit

from ..config import WatchFolder
from ._disposal import SourceChanged
from ._messages import FileReady, FileSignature, UnitFile

__all__ = [
    "UnitRules",
    "complete",
    "list_root",
    "list_unit",
    "read_unit",
    "unit_signature",
]

UnitListing = tuple[UnitFile, ...]


@dataclass(frozen=True, slots=True)
class UnitRules:
    """How a watch folder's units are recognised and when they are complete.

    Attributes:
        include: glob patterns a unit file's name must match (any of them).
        exclude: glob patterns that leave a file out of its unit.
        sibling: ``required``, ``optional`` or ``none`` (see the module).
        marker: the marker glob, or empty.
        min_files: the fewest files of a complete unit without a marker.
        quiet: seconds without a change before a unit without a marker is complete.
        settle: seconds without a change before a unit with a marker is complete.
        skip_dirs: sub-folders that are not units (the done and error folders).
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    sibling: str = "optional"
    marker: str = ""
    min_files: int = 1
    quiet: float = 10.0
    settle: float = 2.0
    skip_dirs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, folder: WatchFolder) -> UnitRules:
        """The rules of a configured watch folder."""
        return cls(
            include=tuple(folder.include),
            exclude=tuple(folder.exclude),
            sibling=folder.unit_sibling,
            marker=folder.unit_marker,
            min_files=folder.unit_min_files,
            quiet=folder.unit_quiet,
            settle=folder.settle,
            skip_dirs=frozenset({folder.done_folder, folder.error_folder}),
        )

    @property
    def wait(self) -> float:
        """Seconds a unit must stay unchanged before it is taken."""
        return self.settle if self.marker else self.quiet

    def takes(self, name: str) -> bool:
        """Whether a file called *name* belongs to its unit."""
        if name.startswith("."):
            return False
        return any(fnmatch.fnmatch(name, p) for p in self.include) and not any(
            fnmatch.fnmatch(name, p) for p in self.exclude
        )


def list_root(root: Path, rules: UnitRules) -> tuple[list[str], list[str]]:
    """The unit folders and the plain files directly in the watch folder (names, sorted).

    Raises:
        OSError: the watch folder cannot be listed.
    """
    folders: list[str] = []
    files: list[str] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in rules.skip_dirs:
                    folders.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                files.append(entry.name)
    return sorted(folders), sorted(files)


def siblings(name: str, root_files: Iterable[str], rules: UnitRules) -> list[str]:
    """The sibling files of unit *name* among the watch folder's files: ``name.<ext>``."""
    if rules.sibling == "none":
        return []
    prefix = name + "."
    return [
        f
        for f in root_files
        if f.startswith(prefix) and (ext := f[len(prefix) :]) and "." not in ext and rules.takes(f)
    ]


def list_unit(root: Path, name: str, root_files: Iterable[str], rules: UnitRules) -> UnitListing:
    """Every file of unit *name* (its siblings among *root_files*, then its folder's files),
    sorted by path; empty if its folder has gone.

    Raises:
        OSError: a folder of the unit cannot be listed, or a file cannot be looked at.
    """
    found: list[UnitFile] = []
    for sibling in siblings(name, root_files, rules):
        try:
            st = os.stat(root / sibling, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append(UnitFile(sibling, st.st_size, st.st_mtime_ns))
    folder = root / name
    if not folder.is_dir():
        return ()

    def fail(exc: OSError) -> None:
        raise exc

    for here, dirs, names in os.walk(folder, onerror=fail):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = Path(here).relative_to(root).as_posix()
        for file_name in names:
            if not rules.takes(file_name):
                continue
            st = os.stat(os.path.join(here, file_name), follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                found.append(UnitFile(f"{relative}/{file_name}", st.st_size, st.st_mtime_ns))
    return tuple(sorted(found, key=lambda f: f.path))


def complete(name: str, listing: UnitListing, rules: UnitRules) -> bool:
    """Whether *listing* makes a complete unit (its quiet time aside)."""
    inside = [f for f in listing if f.path.startswith(name + "/")]
    if not inside:
        return False
    if rules.sibling == "required" and len(inside) == len(listing):
        return False
    if rules.marker:
        return any(fnmatch.fnmatch(f.path.rsplit("/", 1)[1], rules.marker) for f in inside)
    return len(listing) >= rules.min_files


def unit_signature(listing: UnitListing) -> FileSignature:
    """A :class:`FileSignature` standing for a whole unit: total size, latest mtime, and a
    63-bit digest of the file list (paths, sizes, mtimes) as ``ino``; ``dev`` is 0."""
    digest = hashlib.blake2b(digest_size=8)
    for f in listing:
        digest.update(f"{f.path}\0{f.size}\0{f.mtime_ns}\n".encode(errors="surrogateescape"))
    return FileSignature(
        size=sum(f.size for f in listing),
        mtime_ns=max((f.mtime_ns for f in listing), default=0),
        ino=int.from_bytes(digest.digest(), "big") >> 1,
        dev=0,
    )


def check_unit(ready: FileReady, root: Path, rules: UnitRules) -> None:
    """Raise :class:`SourceChanged` unless the unit on disk is still the one *ready* lists.

    Raises:
        FileNotFoundError: the unit's folder has gone.
        SourceChanged: a file of the unit appeared, changed or went.
        OSError: the unit cannot be listed.
    """
    name = ready.relative
    if not (root / name).is_dir():
        raise FileNotFoundError(2, "the unit's folder has gone", str(root / name))
    _, root_files = list_root(root, rules)
    now = list_unit(root, name, root_files, rules)
    if now != ready.unit:
        raise SourceChanged(Path(ready.path), unit_signature(now))


def read_unit(ready: FileReady, root: Path, rules: UnitRules) -> bytes:
    """The unit's files, read and packed for its folder converter, if they are still the
    version *ready* lists (checked before and after they are read).

    Raises:
        FileNotFoundError: the unit's folder has gone.
        SourceChanged: a file of the unit appeared, changed or went meanwhile.
        OSError: a file cannot be read.
    """
    assert ready.unit is not None
    check_unit(ready, root, rules)
    files: dict[str, bytes] = {}
    for f in ready.unit:
        with open(root / f.path, "rb") as handle:
            data = handle.read()
            st = os.fstat(handle.fileno())
        if (len(data), st.st_size, st.st_mtime_ns) != (f.size, f.size, f.mtime_ns):
            raise SourceChanged(Path(ready.path), unit_signature(()))
        files[f.path] = data
    check_unit(ready, root, rules)
    return pack_unit(files)
