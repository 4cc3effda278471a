"""The history checker: proves a chaos run kept the node's promises, or lists every breach.

::

    verdict = check_history(history, namespace=station_namespace, converter="csv")
    verdict.assert_ok()          # raises HistoryViolations naming every breach
    print(verdict.resends)

What it proves, file by file (files are matched by content, see :mod:`._history`):

* every dropped file is accounted for **exactly once**: its reports are on the server, or the
  server rejected one with a reason kept in the spool, or the file is in ``error/`` with a
  reason; and it sits exactly once in ``done/`` or ``error/`` (not left in the folder);
* **no id reaches the server with two bodies** (the delivery record keeps a hash per delivery);
* **no content yields two ids** for one report position (spool rows, and the deterministic id
  when the station namespace is given);
* **nothing arrives truncated**: where the driver knows what the file holds, the delivered report
  carries the whole file (serial number, every step and value, in order);
* nothing reaches the server that no dropped file explains;

and it counts resends: deliveries beyond the first of each id.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Final

import msgspec

from converters import report_id as derive_report_id

from ._history import DroppedFile, ExpectedReport, ExpectedStep, History, SpoolRow

__all__ = ["HistoryVerdict", "HistoryViolations", "Violation", "ViolationKind", "check_history"]

_SHOWN_IN_MESSAGE: Final = 50


class ViolationKind(enum.Enum):
    """The ways a run can break the node's promises."""

    LOST = "lost"
    """A file whose reports never reached the server, and which was neither rejected with a
    reason nor put in ``error/`` with one."""
    DUPLICATED = "duplicated"
    """One report id reached the server with two different bodies."""
    TWO_IDS = "two_ids"
    """One content produced two ids for one report position."""
    TRUNCATED = "truncated"
    """A delivered report does not carry the whole file (a step, a value or a report missing,
    or one too many), or was converted from the file's path while it held other content (taken
    before its writer finished)."""
    UNEXPLAINED = "unexplained"
    """A file in ``error/`` without a reason, or a rejected report without the server's."""
    MISFILED = "misfiled"
    """A file the driver knows is good went to ``error/``, or a file it knows is bad did not."""
    NOT_DISPOSED = "not_disposed"
    """A file that is not exactly once in ``done/`` or ``error/`` (left behind, or twice)."""
    STRAY = "stray"
    """A delivery whose id no dropped file explains."""


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One breach, with the file and report id it concerns where known."""

    kind: ViolationKind
    detail: str
    file: str | None = None
    report_id: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"report {self.report_id}" if self.report_id else "",
            )
            if part
        )
        return f"{self.kind.value}: {self.detail}" + (f" ({where})" if where else "")


class HistoryViolations(AssertionError):
    """Raised by :meth:`HistoryVerdict.assert_ok`: the message lists every violation."""

    def __init__(self, verdict: HistoryVerdict) -> None:
        shown = verdict.violations[:_SHOWN_IN_MESSAGE]
        lines = [f"{len(verdict.violations)} violation(s): {verdict.summary()}"]
        lines += [f"  {violation}" for violation in shown]
        if len(verdict.violations) > len(shown):
            lines.append(f"  ... and {len(verdict.violations) - len(shown)} more")
        super().__init__("\n".join(lines))
        self.verdict = verdict


class HistoryVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The checker's result.

    Attributes:
        files: files dropped.
        delivered: files whose every report reached the server.
        rejected: files with a report the server rejected, with its reason in the spool.
        in_error: files in ``error/`` with a reason.
        reports: distinct report ids the server received.
        deliveries: deliveries the server recorded (resends included).
        resends: deliveries beyond the first of each id.
        lost: files not accounted for.
        duplicated: ids delivered with more than one body.
        truncated: reports that do not carry their whole file.
        violations: every breach found, the counted ones included.
    """

    files: int
    delivered: int
    rejected: int
    in_error: int
    reports: int
    deliveries: int
    resends: int
    lost: int
    duplicated: int
    truncated: int
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        """Whether the run kept every promise."""
        return not self.violations

    def summary(self) -> str:
        """The counts on one line."""
        return (
            f"files={self.files} delivered={self.delivered} rejected={self.rejected} "
            f"in_error={self.in_error} reports={self.reports} deliveries={self.deliveries} "
            f"resends={self.resends} lost={self.lost} duplicated={self.duplicated} "
            f"truncated={self.truncated} violations={len(self.violations)}"
        )

    def assert_ok(self) -> None:
        """Return if the run kept every promise.

        Raises:
            HistoryViolations: listing every violation.
        """
        if self.violations:
            raise HistoryViolations(self)


def check_history(
    history: History,
    *,
    namespace: uuid.UUID | None = None,
    converter: str | None = None,
) -> HistoryVerdict:
    """Check *history* against the node's promises (see the module docstring).

    Args:
        history: what the witnesses recorded.
        namespace: the station namespace; with *converter*, the expected id of each report
            position is derived too, so a file is traced even after its spool rows are gone,
            and an id other than the derived one is a second id for that content.
        converter: the converter's declared name (``csv``), with *namespace*.
    """
    return _Check(history, namespace, converter).run()


class _Check:
    def __init__(
        self, history: History, namespace: uuid.UUID | None, converter: str | None
    ) -> None:
        self.history = history
        self.namespace = namespace
        self.converter = converter
        self.violations: list[Violation] = []
        self.hashes_by_id: dict[str, set[str]] = defaultdict(set)
        for delivery in history.server.deliveries:
            self.hashes_by_id[delivery.report_id].add(delivery.sha256)
        self.rows_by_content: dict[str, list[SpoolRow]] = defaultdict(list)
        for row in history.spool:
            if row.content_sha256 is not None:
                self.rows_by_content[row.content_sha256].append(row)
        self.done: dict[str, int] = defaultdict(int)
        self.errors: dict[str, list[str | None]] = defaultdict(list)
        for folder in history.folders:
            for copy in folder.done:
                self.done[copy.sha256] += 1
            for error in folder.error:
                self.errors[error.sha256].append(error.reason)
        self.dropped_copies: dict[str, int] = defaultdict(int)
        for dropped in history.dropped:
            self.dropped_copies[dropped.sha256] += 1  # the same content may be dropped again
        self.explained: set[str] = set()
        self.counts = {"delivered": 0, "rejected": 0, "in_error": 0, "lost": 0, "truncated": 0}

    def run(self) -> HistoryVerdict:
        duplicated = self._duplicates()
        for dropped in self.history.dropped:
            self._file(dropped)
        self._strays()
        deliveries = len(self.history.server.deliveries)
        return HistoryVerdict(
            files=len(self.history.dropped),
            reports=len(self.hashes_by_id),
            deliveries=deliveries,
            resends=deliveries - len(self.hashes_by_id),
            duplicated=duplicated,
            violations=tuple(self.violations),
            delivered=self.counts["delivered"],
            rejected=self.counts["rejected"],
            in_error=self.counts["in_error"],
            lost=self.counts["lost"],
            truncated=self.counts["truncated"],
        )

    def _flag(
        self, kind: ViolationKind, detail: str, file: str | None = None, rid: str | None = None
    ) -> None:
        self.violations.append(Violation(kind=kind, detail=detail, file=file, report_id=rid))

    def _duplicates(self) -> int:
        duplicated = 0
        for rid, hashes in self.hashes_by_id.items():
            if len(hashes) > 1:
                duplicated += 1
                self._flag(
                    ViolationKind.DUPLICATED,
                    f"delivered with {len(hashes)} different bodies",
                    rid=rid,
                )
        return duplicated

    def _ids_of(self, dropped: DroppedFile) -> dict[int, set[str]]:
        """Report position -> the ids the content produced (spool rows and derived ids)."""
        digest = dropped.sha256
        ids: dict[int, set[str]] = defaultdict(set)
        for row in self.rows_by_content.get(digest, ()):
            ids[row.index].add(row.report_id)
        if self.namespace is not None and self.converter is not None:
            positions = set(ids)
            if dropped.expected is not None:
                positions.update(range(len(dropped.expected)))
            for index in positions:
                # a spooled id other than the derived one makes two ids for this position
                ids[index].add(str(derive_report_id(self.namespace, self.converter, digest, index)))
        return ids

    def _file(self, dropped: DroppedFile) -> None:
        ids = self._ids_of(dropped)
        for index, found in sorted(ids.items()):
            if len(found) > 1:
                self._flag(
                    ViolationKind.TWO_IDS,
                    f"report {index} of the content has {len(found)} ids: {sorted(found)}",
                    dropped.path,
                )
        all_ids = {rid for found in ids.values() for rid in found}
        self.explained |= all_ids
        outcome = self._outcome(dropped, ids)
        self.counts[outcome] += 1
        if outcome == "delivered" and dropped.expected is not None:
            self._whole(dropped, ids)
        self._disposal(dropped, outcome)

    def _outcome(self, dropped: DroppedFile, ids: dict[int, set[str]]) -> str:
        digest = dropped.sha256
        rows = self.rows_by_content.get(digest, [])
        rejected = [row for row in rows if row.state == "rejected"]
        for row in rejected:
            if not (row.last_error or "").strip():
                self._flag(
                    ViolationKind.UNEXPLAINED,
                    "rejected without the server's reason",
                    dropped.path,
                    row.report_id,
                )
        if rejected:
            return "rejected"
        on_server = bool(ids) and all(
            any(rid in self.hashes_by_id for rid in found) for found in ids.values()
        )
        if on_server:
            if dropped.expected == ():
                self._flag(ViolationKind.MISFILED, "a bad file reached the server", dropped.path)
            return "delivered"
        reasons = self.errors.get(digest)
        if reasons:
            if dropped.expected:
                self._flag(
                    ViolationKind.MISFILED,
                    f"a good file went to error/: {reasons[0]}",
                    dropped.path,
                )
            if not all(reasons):
                self._flag(ViolationKind.UNEXPLAINED, "in error/ without a reason", dropped.path)
            return "in_error"
        states = sorted({row.state for row in rows}) or ["no spool row"]
        missing = sorted(
            rid for found in ids.values() for rid in found if rid not in self.hashes_by_id
        )
        self._flag(
            ViolationKind.LOST,
            f"not on the server, not rejected, not in error/ (spool: {', '.join(states)}; "
            f"ids not delivered: {missing or 'unknown'})",
            dropped.path,
        )
        return "lost"

    def _whole(self, dropped: DroppedFile, ids: dict[int, set[str]]) -> None:
        expected = dropped.expected or ()
        if len(ids) != len(expected):
            self.counts["truncated"] += 1
            self._flag(
                ViolationKind.TRUNCATED,
                f"{len(ids)} report(s) delivered, the file holds {len(expected)}",
                dropped.path,
            )
        for index, report in enumerate(expected):
            for rid in sorted(ids.get(index, ())):
                body = self.history.server.bodies.get(rid)
                if body is None:
                    continue
                problem = _mismatch(body, report)
                if problem is not None:
                    self.counts["truncated"] += 1
                    self._flag(ViolationKind.TRUNCATED, problem, dropped.path, rid)

    def _disposal(self, dropped: DroppedFile, outcome: str) -> None:
        digest = dropped.sha256
        copies = self.done.get(digest, 0) + len(self.errors.get(digest, ()))
        if copies == self.dropped_copies[digest] or outcome == "lost":
            return
        where = "neither in done/ nor in error/" if copies == 0 else f"{copies} times disposed"
        self._flag(ViolationKind.NOT_DISPOSED, where, dropped.path)

    def _strays(self) -> None:
        rows_by_id = {row.report_id: row for row in self.history.spool}
        paths = {dropped.path for dropped in self.history.dropped}
        for rid in self.hashes_by_id:
            if rid in self.explained:
                continue
            row = rows_by_id.get(rid)
            if row is not None and row.source_path in paths:
                # converted from a dropped file's path, but from content the writer had not
                # finished: the file was taken while it was still being written
                self.counts["truncated"] += 1
                self._flag(
                    ViolationKind.TRUNCATED,
                    "delivered from content the file no longer has (taken before the writer "
                    "finished, or changed after it was taken)",
                    row.source_path,
                    rid,
                )
                continue
            self._flag(ViolationKind.STRAY, "delivered, but no dropped file explains it", rid=rid)


def _mismatch(body: bytes, expected: ExpectedReport) -> str | None:
    """Why the delivered WSJF *body* is not the whole *expected* report, or ``None``."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        return f"the delivered body is not JSON: {exc}"
    if not isinstance(document, dict):
        return "the delivered body is not a JSON object"
    if document.get("sn") != expected.serial_number:
        return f"serial number {document.get('sn')!r}, the file says {expected.serial_number!r}"
    steps = list(_numeric_steps(document.get("root")))
    if len(steps) != len(expected.steps):
        return f"{len(steps)} step(s) delivered, the file holds {len(expected.steps)}"
    for position, (got, want) in enumerate(zip(steps, expected.steps, strict=True)):
        if got != want:
            return (
                f"step {position + 1} is {got.name}={got.value!r}, "
                f"the file says {want.name}={want.value!r}"
            )
    return None


def _numeric_steps(step: Any) -> Iterator[ExpectedStep]:
    """Every step with a numeric measurement under *step*, depth first, in order."""
    if not isinstance(step, dict):
        return
    measurements = step.get("numericMeas")
    if isinstance(measurements, list) and measurements and isinstance(measurements[0], dict):
        value = measurements[0].get("value")
        if isinstance(value, int | float):
            yield ExpectedStep(str(step.get("name")), float(value))
    children = step.get("steps")
    if isinstance(children, list):
        for child in children:
            yield from _numeric_steps(child)
