"""STDF test records as WSJF steps: PTR numeric, MPR multiple numeric, FTR pass/fail.

The first PTR (or MPR) of a test sets its defaults: limits, scaling exponents, units and text.
A later record that leaves them out (trailing fields omitted, ``OPT_FLAG`` bits 0, 4 and 5, a
blank text or unit) inherits them. Defaults are kept per test number, head and site, falling
back to the test number's first record from any site.

Values are 32-bit floats, written as the shortest decimal that reads back as the same float
(``0.9``, not ``0.8999999761581421``). STDF stores results and limits in base units; the
scaling exponents only say how to display them (``RES_SCAL`` 3 shows 0.0015 A as 1.5 mA). By
default values stay in base units with ``UNITS``; the one exception is ``%`` with exponent 2,
whose stored number is a ratio (0.0016 shown as 0.16 %), reported as the percentage. With
``scaling = "display"`` the result and both limits are multiplied by ``10**RES_SCAL`` and the
unit gets the SI prefix (``u``, ``m``, ``k``...).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from msgspec import UNSET

from pywats_actors.report import BooleanMeasurement, NumericMeasurement, Step, compare_numeric

from ._errors import FileRejected
from ._junit_steps import cut
from ._stdf_records import Fields

__all__ = ["TestSteps", "flag_status"]

_NAME = 100
_F32 = struct.Struct("<f")
_PREFIX = {15: "f", 12: "p", 9: "n", 6: "u", 3: "m", 2: "%", -3: "k", -6: "M", -9: "G"}
_MAX_DEFAULTS = 200_000  # distinct (record kind, test, head, site) keys remembered
_PTR_HEAD = {o: struct.Struct(o + "IBBBBf") for o in "<>"}
_SEMI = {o: struct.Struct(o + "Bbbbff") for o in "<>"}
_REASONS = (
    (0x01, "alarm"),
    (0x02, "result invalid"),
    (0x04, "result unreliable"),
    (0x08, "timeout"),
    (0x10, "not executed"),
    (0x20, "aborted"),
)


def flag_status(test_flg: int) -> str:
    """A step status from ``TEST_FLG``: S not executed (bit 4), T aborted (bit 5), E alarm,
    invalid or unreliable result or timeout (bits 0-3), D no pass/fail indication (bit 6),
    F failed (bit 7), else P."""
    if test_flg & 0x10:
        return "S"
    if test_flg & 0x20:
        return "T"
    if test_flg & 0x0F:
        return "E"
    if test_flg & 0x40:
        return "D"
    return "F" if test_flg & 0x80 else "P"


def _reasons(test_flg: int, alarm: str | None) -> str | None:
    words = [word for bit, word in _REASONS if test_flg & bit]
    if alarm:
        words.append(f"alarm id {alarm}")
    return ", ".join(words) or None


_SHORT_MAX = 1 << 16  # values remembered per file (testers' results repeat: ADC steps)


def _short(value: float, cache: dict[float, float]) -> float | None:
    """A 32-bit float as the shortest decimal (of 6 to 9 digits) that reads back as it; None
    when not finite. ``cache`` remembers the answers."""
    cached = cache.get(value)
    if cached is not None:
        return cached
    if not math.isfinite(value):
        return None
    for digits in (6, 7, 8, 9):
        found = float(f"{value:.{digits}g}")
        if digits == 9 or _F32.unpack(_F32.pack(found))[0] == value:
            break
    if len(cache) >= _SHORT_MAX:
        cache.clear()
    cache[value] = found
    return found


def _raw(body: bytes, pos: int) -> tuple[bytes, int]:
    """The bytes of the string at ``pos`` and the position after it (empty past the end)."""
    if pos >= len(body):
        return b"", pos
    end = pos + 1 + body[pos]
    return body[pos + 1 : end], end


def _text(raw: str | bytes) -> str:
    """A string field's text: Latin-1, without NULs and surrounding blanks."""
    if isinstance(raw, str):
        return raw
    return raw.decode("latin-1").replace("\x00", "").strip()


@dataclass(slots=True)
class _Test:
    """A test's semi-static data resolved for one record, and what follows from it."""

    res_scal: int
    low: float | None  # None: no such limit
    low_scal: int
    high: float | None
    high_scal: int
    units: str
    text: str
    # Derived once per distinct set of the above:
    op: str = "LOG"
    low_out: float | None = None
    high_out: float | None = None
    unit_out: str | None = None
    note: str | None = None
    sequence: str | None = None
    name: str = ""


_NONE = _Test(0, None, 0, None, 0, "", "")


class TestSteps:
    """Turns test records into steps, remembering each test's defaults for the whole file.

    Args:
        display: scale values to display units (``scaling = "display"``).
        separator: ``TEST_TXT`` of the form ``<sequence><separator><test>`` names a sequence.
    """

    def __init__(self, *, display: bool, separator: str | None) -> None:
        self._display = display
        self._separator = separator or None
        self._defaults: dict[tuple[object, ...], _Test] = {}
        self._last: dict[tuple[object, ...], tuple[tuple[object, ...], _Test]] = {}
        self._pins: dict[tuple[object, ...], tuple[int | float, ...]] = {}
        self._floats: dict[float, float] = {}

    def _resolve(
        self, key: tuple[object, ...], test_num: int, raw: tuple[object, ...], where: str
    ) -> _Test:
        """The test's data for a record whose semi-static fields are ``raw`` (``OPT_FLAG``,
        three exponents, two limits, units, text; None where left out, the strings raw or
        decoded)."""
        last = self._last.get(key)
        if last is not None and last[0] == raw:
            return last[1]
        defaults = self._defaults.get(key) or self._defaults.get(key[:2]) or _NONE
        opt, res_scal, llm_scal, hlm_scal, lo, hi, raw_units, raw_text = raw
        assert isinstance(raw_units, str | bytes)
        assert isinstance(raw_text, str | bytes)
        units, text = _text(raw_units), _text(raw_text)
        if not isinstance(opt, int):
            test = _Test(
                defaults.res_scal,
                defaults.low,
                defaults.low_scal,
                defaults.high,
                defaults.high_scal,
                units or defaults.units,
                text or defaults.text,
            )
        else:
            scal = res_scal if isinstance(res_scal, int) and not opt & 0x01 else defaults.res_scal
            if opt & 0x40:
                low, low_scal = None, 0
            elif opt & 0x10 or not isinstance(lo, float):
                low, low_scal = defaults.low, defaults.low_scal
            else:
                low = _short(lo, self._floats)
                low_scal = llm_scal if isinstance(llm_scal, int) else defaults.low_scal
            if opt & 0x80:
                high, high_scal = None, 0
            elif opt & 0x20 or not isinstance(hi, float):
                high, high_scal = defaults.high, defaults.high_scal
            else:
                high = _short(hi, self._floats)
                high_scal = hlm_scal if isinstance(hlm_scal, int) else defaults.high_scal
            test = _Test(
                scal,
                low,
                low_scal,
                high,
                high_scal,
                units or defaults.units,
                text or defaults.text,
            )
        self._derive(test, test_num)
        if key not in self._defaults:
            if len(self._defaults) >= _MAX_DEFAULTS:
                raise FileRejected(f"more than {_MAX_DEFAULTS} distinct tests", where=where)
            self._defaults[key] = test
            self._defaults.setdefault(key[:2], test)
        self._last[key] = (raw, test)
        return test

    def _derive(self, test: _Test, test_num: int) -> None:
        """Fill in the comparison, the limits and unit as reported, and the step's name."""
        scal = test.res_scal if self._display else None
        low = self._scaled(test.low, test.low_scal if scal is None else scal, test.units)
        high = self._scaled(test.high, test.high_scal if scal is None else scal, test.units)
        if low is not None and high is not None:
            if low > high:
                test.note = f"limits {low}..{high} are inverted: logged only"
                low = high = None
            else:
                test.op = "GELE"
        elif low is not None:
            test.op = "GE"
        elif high is not None:
            test.op, low, high = "LE", high, None
        test.low_out, test.high_out = low, high
        units = test.units
        if self._display and test.res_scal in _PREFIX:
            prefix = _PREFIX[test.res_scal]
            units = "%" if prefix == "%" and units in ("", "%") else prefix + units
        test.unit_out = cut(units, _NAME) or None
        test.sequence, test.name = self.name(test_num, test.text)

    def name(self, test_num: int, text: str) -> tuple[str | None, str]:
        """``(sequence or None, step name)`` of a test: ``<TEST_NUM> - <TEST_TXT>``."""
        sequence = None
        if self._separator and self._separator in text:
            sequence, _, text = text.partition(self._separator)
            sequence, text = sequence.strip() or None, text.strip()
        name = f"{test_num} - {text}" if text else str(test_num)
        return (cut(sequence, _NAME) if sequence else None), cut(name, _NAME)

    def _scaled(self, value: float | None, scal: int, units: str) -> float | None:
        if value is None:
            return None
        if self._display and scal in _PREFIX:
            return float(Decimal(repr(value)).scaleb(scal))
        if scal == 2 and units == "%":
            return float(Decimal(repr(value)).scaleb(2))
        return value

    def _measurement(
        self, value: float | None, test: _Test, status: str, name: str | None = None
    ) -> NumericMeasurement:
        """A numeric measurement of ``value`` with the test's limits; its status is the step's
        when that is a verdict (passed, skipped, or failed for a PTR's single measurement),
        else compared with the limits (an MPR's results when the step failed)."""
        if value is not None:
            value = self._scaled(value, test.res_scal, test.units)
        if value is None:
            state = "S"
        elif status in ("P", "S") or (status == "F" and name is None):
            state = status
        else:
            state = compare_numeric(test.op, value, test.low_out, test.high_out).value
        return NumericMeasurement(
            status=state,
            comp_op=test.op,
            name=UNSET if name is None else name,
            unit=UNSET if test.unit_out is None else test.unit_out,
            value=UNSET if value is None else value,
            low_limit=UNSET if test.low_out is None else test.low_out,
            high_limit=UNSET if test.high_out is None else test.high_out,
        )

    def ptr(self, body: bytes, order: str, where: str) -> tuple[int, int, str | None, Step]:
        """A PTR as ``(head, site, sequence, step)``; its defaults are remembered (a PTR
        outside a part only sets defaults: the caller drops its step).

        Raises:
            FileRejected: the record ends before ``SITE_NUM``.
        """
        if len(body) >= 12:
            test_num, head, site, flags, _parm, result = _PTR_HEAD[order].unpack_from(body)
        else:
            f = Fields(body, order)
            test_num, head, site, flags, _parm, result = (
                f.u4(), f.u1(), f.u1(), f.u1() or 0, f.u1(), f.r4()
            )  # fmt: skip
            if test_num is None or site is None:
                raise FileRejected("PTR ends before SITE_NUM", where=where)
        text, pos = _raw(body, 12)  # decoded only when the test's data changes
        raw_alarm, pos = _raw(body, pos)
        alarm = _text(raw_alarm) if raw_alarm else None
        if pos + 12 <= len(body):
            semi: tuple[object, ...] = _SEMI[order].unpack_from(body, pos)
            units, pos = _raw(body, pos + 12)
        else:
            f = Fields(body, order)
            f.pos = pos
            semi = (f.u1(), f.i1(), f.i1(), f.i1(), f.r4(), f.r4())
            units = b""
        test = self._resolve(("P", test_num, head, site), test_num, (*semi, units, text), where)
        status = flag_status(flags)
        value = None if flags & 0x02 or result is None else _short(result, self._floats)
        text_out = test.note
        if flags & 0x3F or alarm:
            text_out = "; ".join(t for t in (_reasons(flags, alarm), test.note) if t)
        step = _step(
            "ET_NLT",
            test.name,
            status,
            text_out,
            numeric_meas=(self._measurement(value, test, status),),
        )
        return head, site, test.sequence, step

    def mpr(
        self, f: Fields, where: str, pins: dict[int, str]
    ) -> tuple[int, int, str | None, Step, int]:
        """An MPR as ``(head, site, sequence, step, measurement count)``: a multiple numeric
        step, one measurement per result, named by its pin (``PMR``) or its position.

        Raises:
            FileRejected: the record ends before ``SITE_NUM``.
        """
        test_num, head, site = f.u4(), f.u1(), f.u1()
        if test_num is None or head is None or site is None:
            raise FileRejected("MPR ends before SITE_NUM", where=where)
        flags = f.u1() or 0
        f.u1()  # PARM_FLG
        states, results = f.u2() or 0, f.u2() or 0
        f.nibbles(states)
        values = f.array("f", results)
        text, alarm = f.cn() or "", f.cn()
        semi = (f.u1(), f.i1(), f.i1(), f.i1(), f.r4(), f.r4())
        f.r4()
        f.r4()  # START_IN, INCR_IN
        indexes = f.array("H", states)
        units = f.cn() or ""
        test = self._resolve(("M", test_num, head, site), test_num, (*semi, units, text), where)
        pin_key = ("I", test_num, head, site)
        if indexes:
            if pin_key not in self._pins and len(self._pins) < _MAX_DEFAULTS:
                self._pins[pin_key] = indexes
                self._pins.setdefault(pin_key[:2], indexes)
        else:
            indexes = self._pins.get(pin_key) or self._pins.get(pin_key[:2], ())
        status = flag_status(flags)
        reasons = _reasons(flags, alarm)
        if not values:
            step = _step("Action", test.name, status, reasons or "no results")
            return head, site, test.sequence, step, 1
        measurements: list[NumericMeasurement] = []
        seen: set[str] = set()
        for position, raw in enumerate(values):
            index = int(indexes[position]) if position < len(indexes) else None
            label = pins.get(index, f"pin {index}") if index is not None else f"#{position}"
            if label in seen:
                label = f"{label} #{position}"
            seen.add(label)
            value = None if flags & 0x02 else _short(float(raw), self._floats)
            measurements.append(self._measurement(value, test, status, label))
        text_out = "; ".join(t for t in (reasons, test.note) if t) or None
        step = _step("ET_MNLT", test.name, status, text_out, numeric_meas=tuple(measurements))
        return head, site, test.sequence, step, len(measurements)

    def ftr(self, f: Fields, where: str) -> tuple[int, int, str | None, Step]:
        """An FTR as ``(head, site, sequence, step)``: a pass/fail step when the tester gave
        a verdict, else an action step with the status (skipped, error, terminated, done).

        Raises:
            FileRejected: the record ends before ``SITE_NUM``.
        """
        test_num, head, site = f.u4(), f.u1(), f.u1()
        if test_num is None or head is None or site is None:
            raise FileRejected("FTR ends before SITE_NUM", where=where)
        flags = f.u1() or 0
        f.u1()  # OPT_FLAG
        f.array("I", 4)  # CYCL_CNT, REL_VADR, REPT_CNT, NUM_FAIL
        f.array("i", 2)  # XFAIL_AD, YFAIL_AD
        f.i2()  # VECT_OFF
        rtn, pgm = f.u2() or 0, f.u2() or 0
        f.array("H", rtn)
        f.nibbles(rtn)
        f.array("H", pgm)
        f.nibbles(pgm)
        f.skip_dn()  # FAIL_PIN
        vector = f.cn()
        f.cn()  # TIME_SET
        f.cn()  # OP_CODE
        text, alarm = f.cn() or "", f.cn()
        raw = (None, None, None, None, None, None, "", text)
        test = self._resolve(("F", test_num, head, site), test_num, raw, where)
        status = flag_status(flags)
        words = [w for w in (_reasons(flags, alarm), f"vector {vector}" if vector else "") if w]
        report_text = "; ".join(words) or None
        if status in ("P", "F"):
            step = _step(
                "ET_PFT",
                test.name,
                status,
                report_text,
                boolean_meas=(BooleanMeasurement(status=status),),
            )
        else:
            step = _step("Action", test.name, status, report_text or "no pass/fail indication")
        return head, site, test.sequence, step


def _step(step_type: str, name: str, status: str, text: str | None, **measurements: Any) -> Step:
    """A step of the Main group as every record makes it (``text``: its report text, if any)."""
    return Step(
        id=0,
        group="M",
        step_type=step_type,
        name=name,
        status=status,
        report_text=UNSET if text is None else text,
        **measurements,
    )
