"""``ReportBuilder``: UUT reports built in code, valid by construction.

A test executive (or a converter) describes what happened — sequences, measurements, limits — and
the builder does the WSJF bookkeeping: limits in the fields WSJF expects, each measurement's status
from its comparison, step statuses rolled up the tree (terminated, then error, then failed wins),
the report result from the root, the step that caused the UUT failure, step ids numbered
depth-first from 1, ``start``/``startUTC`` from one aware datetime. :meth:`ReportBuilder.build`
validates its result and raises rather than return an invalid report.

The builders are mutable and not thread-safe; the reports they build are frozen.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import msgspec
from msgspec import UNSET

from ._base import format_timestamp
from ._data import AdditionalData
from ._enums import ReportResult, StepStatus
from ._model import Asset, MiscInfo, SubUnit, UUTInfo, UUTReport
from ._sequence import SequenceBuilder, opt
from ._steps import Step
from ._validate import validate_or_raise

__all__ = ["ReportBuilder"]


class ReportBuilder:
    """Builds one UUT report.

    Add steps through :attr:`root` (the ``MainSequence Callback`` sequence by default) and header
    data through the ``add_*`` methods, then call :meth:`build`.

    Args:
        pn, sn, rev: part number, serial number and revision of the unit (max 100 characters).
        process_code: the test operation code, as configured on the WATS server.
        machine_name: the station's name.
        location, purpose: the station's location and purpose.
        operator: who ran the test.
        start: when the test started, as an aware datetime (default: now, local time).
        report_id: the report's GUID (default: a new random one). Give a deterministic id when the
            same test must map to the same report across retries.
        process_name: the operation's name (the server fills it in when omitted).
        root_name: name of the root sequence.
        fixture_id, batch_sn, test_socket_index, comment: more fields of the ``uut`` block.

    Raises:
        ValueError: ``start`` is naive.
    """

    def __init__(
        self,
        *,
        pn: str,
        sn: str,
        rev: str,
        process_code: int,
        machine_name: str,
        location: str,
        purpose: str,
        operator: str | None = None,
        start: dt.datetime | None = None,
        report_id: uuid.UUID | None = None,
        process_name: str | None = None,
        root_name: str = "MainSequence Callback",
        fixture_id: str | None = None,
        batch_sn: str | None = None,
        test_socket_index: int | None = None,
        comment: str | None = None,
    ) -> None:
        self.id = uuid.uuid4() if report_id is None else report_id
        self.start = dt.datetime.now().astimezone() if start is None else start
        self.root = SequenceBuilder(root_name)
        # The header as given; build() replaces result, root, uut and the lists.
        self._template = UUTReport(
            id=self.id,
            pn=pn,
            sn=sn,
            rev=rev,
            process_code=process_code,
            process_name=opt(process_name),
            result=ReportResult.PASSED.value,
            machine_name=machine_name,
            location=location,
            purpose=purpose,
            start=format_timestamp(self.start),
            start_utc=format_timestamp(self.start, utc=True),
            root=Step(id=1, group="M", step_type="SequenceCall", name=root_name, status="P"),
            uut=UUTInfo(
                user=opt(operator),
                fixture_id=opt(fixture_id),
                batch_sn=opt(batch_sn),
                test_socket_index=opt(test_socket_index),
                comment=opt(comment),
            ),
        )
        self._misc_infos: list[MiscInfo] = []
        self._sub_units: list[SubUnit] = []
        self._assets: list[Asset] = []
        self._additional_data: list[AdditionalData] = []

    def add_misc_info(
        self, description: str, *, text: str | None = None, numeric: int | None = None
    ) -> None:
        """Add a header key/value (text up to 100 characters, a number, or both).

        Raises:
            ValueError: neither ``text`` nor ``numeric`` given.
        """
        if text is None and numeric is None:
            raise ValueError("a misc info needs text or numeric")
        self._misc_infos.append(
            MiscInfo(description=description, text=opt(text), numeric=opt(numeric))
        )

    def add_sub_unit(
        self,
        *,
        part_type: str,
        pn: str,
        sn: str,
        rev: str | None = None,
        position: int | None = None,
    ) -> None:
        """Add a unit built into the tested unit (a PCBA in a module...)."""
        self._sub_units.append(
            SubUnit(part_type=part_type, pn=pn, sn=sn, rev=opt(rev), position=opt(position))
        )

    def add_asset(self, asset_sn: str, *, usage_count: int | None = None) -> None:
        """Record test equipment used."""
        self._assets.append(Asset(asset_sn=asset_sn, usage_count=opt(usage_count)))

    def add_additional_data(self, data: AdditionalData) -> None:
        """Add free-form header data."""
        self._additional_data.append(data)

    def build(self, *, exec_time: float | None = None) -> UUTReport:
        """Return the report as built so far (the builder can go on and build again).

        Args:
            exec_time: test execution time in seconds, for the ``uut`` block.

        Raises:
            ReportInvalid: the inputs make an invalid report (an empty or over-long serial number,
                a misc info text over 100 characters, a nameless additional data...).
        """
        first_failure: list[int] = []
        root = self.root._build(itertools.count(1), first_failure)
        uut = msgspec.structs.replace(
            self._template.uut,
            exec_time=UNSET if exec_time is None else float(exec_time),
            step_id_caused_uut_failure=first_failure[0] if first_failure else UNSET,
        )
        report = msgspec.structs.replace(
            self._template,
            result=_RESULT_OF_ROOT[root.status],
            root=root,
            uut=uut,
            misc_infos=tuple(self._misc_infos) or UNSET,
            sub_units=tuple(self._sub_units) or UNSET,
            assets=tuple(self._assets) or UNSET,
            additional_data=tuple(self._additional_data) or UNSET,
        )
        validate_or_raise(report)
        return report


_RESULT_OF_ROOT: dict[str, str] = {
    StepStatus.PASSED: ReportResult.PASSED.value,
    StepStatus.FAILED: ReportResult.FAILED.value,
    StepStatus.ERROR: ReportResult.ERROR.value,
    StepStatus.TERMINATED: ReportResult.TERMINATED.value,
}
