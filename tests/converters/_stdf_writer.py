"""A tiny STDF V4 writer for tests: just the records and fields the ``stdf`` converter reads.

Written from the STDF V4 specification's record layouts, independently of the converter's
reader, so a test that writes a file here and reads it back checks the reader against the
specification, not against itself.
"""

from __future__ import annotations

import gzip
import struct


class StdfWriter:
    """Builds an STDF file record by record.

    Args:
        order: ``<`` little-endian (CPU_TYPE 2) or ``>`` big-endian (CPU_TYPE 1).
        version: the FAR's STDF_VER.
    """

    def __init__(self, order: str = "<", *, version: int = 4, cpu: int | None = None) -> None:
        self.order = order
        self._records: list[bytes] = []
        cpu_type = cpu if cpu is not None else (2 if order == "<" else 1)
        self.record(0, 10, bytes([cpu_type, version]))

    def _pack(self, fmt: str, *values: object) -> bytes:
        return struct.pack(self.order + fmt, *values)

    @staticmethod
    def cn(text: str) -> bytes:
        raw = text.encode("latin-1")
        return bytes([len(raw)]) + raw

    def record(self, typ: int, sub: int, body: bytes) -> None:
        """Append a record with its header."""
        self._records.append(self._pack("HBB", len(body), typ, sub) + body)

    def mir(
        self,
        *,
        setup_t: int = 0,
        start_t: int = 0,
        mode: str = "P",
        strings: dict[str, str] | None = None,
    ) -> None:
        """A MIR; ``strings`` by field name (LOT_ID, PART_TYP, NODE_NAM...), trailing
        fields after the last one given left out."""
        names = [
            *("LOT_ID", "PART_TYP", "NODE_NAM", "TSTR_TYP", "JOB_NAM", "JOB_REV", "SBLOT_ID"),
            *("OPER_NAM", "EXEC_TYP", "EXEC_VER", "TEST_COD", "TST_TEMP", "USER_TXT"),
            *("AUX_FILE", "PKG_TYP", "FAMLY_ID", "DATE_COD", "FACIL_ID", "FLOOR_ID"),
            *("PROC_ID", "OPER_FRQ", "SPEC_NAM", "SPEC_VER", "FLOW_ID", "SETUP_ID"),
            *("DSGN_REV", "ENG_ID", "ROM_COD", "SERL_NUM", "SUPR_NAM"),
        ]
        given = strings or {}
        last = max((names.index(k) for k in given), default=-1)
        body = self._pack("IIB", setup_t, start_t, 1) + mode.encode() + b"  "
        body += self._pack("H", 65535) + b" "
        body += b"".join(self.cn(given.get(name, "")) for name in names[: last + 1])
        self.record(1, 10, body)

    def sdr(self, *, hand_typ: str = "", hand_id: str = "", card_id: str = "") -> None:
        """An SDR for head 1, two sites, with handler and probe card."""
        body = self._pack("BBB", 1, 0, 2) + bytes([0, 1])
        body += self.cn(hand_typ) + self.cn(hand_id) + self.cn("") + self.cn(card_id)
        self.record(1, 80, body)

    def wir(self, head: int, wafer: str, start_t: int = 0) -> None:
        self.record(2, 10, self._pack("BBI", head, 255, start_t) + self.cn(wafer))

    def pmr(self, index: int, name: str) -> None:
        self.record(1, 60, self._pack("HH", index, 0) + self.cn(name) + self.cn("") + self.cn(""))

    def pir(self, head: int, site: int) -> None:
        self.record(5, 10, self._pack("BB", head, site))

    def prr(
        self,
        head: int,
        site: int,
        *,
        flags: int = 0,
        hard: int = 1,
        soft: int = 1,
        x: int = -32768,
        y: int = -32768,
        test_t: int = 0,
        part_id: str | None = None,
    ) -> None:
        body = self._pack("BBBHHHhhI", head, site, flags, 0, hard, soft, x, y, test_t)
        if part_id is not None:
            body += self.cn(part_id)
        self.record(5, 20, body)

    def ptr(
        self,
        test_num: int,
        head: int,
        site: int,
        result: float,
        *,
        test_flg: int = 0,
        text: str = "",
        opt: int | None = None,
        scal: tuple[int, int, int] = (0, 0, 0),
        lo: float = 0.0,
        hi: float = 0.0,
        units: str = "",
    ) -> None:
        """A PTR; with ``opt`` None the record ends after ALARM_ID (all defaults)."""
        body = self._pack("IBBBBf", test_num, head, site, test_flg, 0, result)
        body += self.cn(text) + self.cn("")
        if opt is not None:
            body += self._pack("Bbbbff", opt, *scal, lo, hi) + self.cn(units)
            body += self.cn("") * 3 + self._pack("ff", 0.0, 0.0)
        self.record(15, 10, body)

    def mpr(
        self,
        test_num: int,
        head: int,
        site: int,
        results: list[float],
        *,
        pins: list[int],
        test_flg: int = 0,
        text: str = "",
        lo: float = 0.0,
        hi: float = 1.0,
        units: str = "V",
    ) -> None:
        body = self._pack("IBBBBHH", test_num, head, site, test_flg, 0, len(pins), len(results))
        body += bytes((len(pins) + 1) // 2)  # RTN_STAT nibbles
        body += self._pack(f"{len(results)}f", *results)
        body += self.cn(text) + self.cn("")
        body += self._pack("Bbbbffff", 0x02, 0, 0, 0, lo, hi, 0.0, 0.0)
        body += self._pack(f"{len(pins)}H", *pins) + self.cn(units)
        self.record(15, 15, body)

    def ftr(
        self, test_num: int, head: int, site: int, *, test_flg: int = 0, text: str = ""
    ) -> None:
        body = self._pack("IBBBB", test_num, head, site, test_flg, 0)
        body += self._pack("IIIIiihHH", 0, 0, 0, 0, 0, 0, 0, 0, 0)
        body += self._pack("H", 0)  # FAIL_PIN: 0 bits
        body += self.cn("vec1") + self.cn("") + self.cn("") + self.cn(text) + self.cn("")
        self.record(15, 20, body)

    def dtr(self, text: str) -> None:
        self.record(50, 30, self.cn(text))

    def mrr(self, finish_t: int = 0) -> None:
        self.record(1, 20, self._pack("I", finish_t))

    def data(self) -> bytes:
        return b"".join(self._records)

    def gz(self) -> bytes:
        return gzip.compress(self.data())
