"""Malformed variants of every sample: each built-in converter refuses a truncated, re-namespaced
or garbage file with ``FileRejected`` and a message (never another exception, a hang or a
report), and auto-detection does not claim garbage. A 200 MB file is refused by its size before
it is read (``tests/pywats_actors/node/test_pipeline.py``, ``TestTooLarge``)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converters import ACCEPT_THRESHOLD, AUTO_DETECTED, FileRejected, load_converter

from .test_detection import EXPECTED, sample_files

# Formats where any cut leaves the file unreadable (structured documents and binary records);
# a line-oriented log cut between two lines is a shorter log, so they are left out here.
TRUNCATION_BREAKS = {"atml", "junit", "openhtf", "stdf", "teststand", "wsjf", "wsxf", "xjtag"}
_NAMESPACE = re.compile(rb'xmlns(:\w+)?="([^"]+)"')
_SCHEMA_NAMESPACES = (b"http://www.w3.org/", b"www.ni.com/")  # not the format's own


def convert(converter: str, data: bytes, name: str) -> list[Any]:
    """Everything ``converter`` makes of ``data`` with its default arguments."""
    cls = load_converter(converter)
    instance, args = cls(), cls.Arguments()
    if hasattr(instance, "convert_iter"):
        return list(instance.convert_iter(data, name, args))
    return list(instance.convert(data, name, args))


def samples_of(samples_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sample_files(samples_dir):
        converter = EXPECTED[path.parent.name]
        if converter is not None:
            yield converter, path


def refused(converter: str, data: bytes, name: str) -> str | None:
    """``None`` when ``converter`` refuses ``data`` with a message; else what it did."""
    try:
        reports = convert(converter, data, name)
    except FileRejected as exc:
        return None if str(exc).strip() else "FileRejected without a message"
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    return f"made {len(reports)} report(s)"


class TestMalformed:
    def test_truncated_files_are_rejected(self, samples_dir: Path) -> None:
        """Every structured sample cut at 40 % and at 90 % of its bytes is rejected."""
        wrong = []
        for converter, path in samples_of(samples_dir):
            if converter not in TRUNCATION_BREAKS:
                continue
            data = path.read_bytes()
            for fraction in (0.4, 0.9):
                cut = data[: int(len(data) * fraction)]
                if (problem := refused(converter, cut, path.name)) is not None:
                    wrong.append(f"{path.name} at {fraction:.0%}: {problem}")
        assert not wrong, "\n".join(wrong)

    def test_a_wrong_namespace_is_neither_detected_nor_converted(self, samples_dir: Path) -> None:
        """An XML sample whose default namespace is replaced by a foreign one is not claimed
        by its converter's detect() and is rejected when that converter is named."""
        wrong = []
        checked = 0
        for converter, path in samples_of(samples_dir):
            data = path.read_bytes()
            own = [
                m[2]
                for m in _NAMESPACE.finditer(data[:4096])
                if not m[2].startswith(_SCHEMA_NAMESPACES)
            ]
            if converter in ("junit", "teststand") or not own:
                continue  # a format without a namespace of its own
            checked += 1
            foreign = data
            for namespace in own:  # every declaration of the format's own namespaces
                foreign = foreign.replace(namespace, b"urn:example:not-this-format")
            score = load_converter(converter)().detect(foreign[:65536], path.name)
            if score >= ACCEPT_THRESHOLD:
                wrong.append(f"{path.name}: detect {score}")
            if (problem := refused(converter, foreign, path.name)) is not None:
                wrong.append(f"{path.name}: {problem}")
        assert checked, "no namespaced sample found"
        assert not wrong, "\n".join(wrong)

    @pytest.mark.parametrize("converter", AUTO_DETECTED)
    def test_garbage_is_rejected_and_never_detected(self, converter: str) -> None:
        """Random bytes (also behind a plausible first line) are rejected by every converter
        named for them, and no detect() is confident about them."""
        rng = random.Random(converter)
        for data in (
            rng.randbytes(4096),
            b'<?xml version="1.0"?>\n' + rng.randbytes(2048),
            b'{"type": "T", ' + rng.randbytes(2048),
            b"\x1f\x8b\x08\x00" + rng.randbytes(2048),  # a gzip header and noise
        ):
            assert load_converter(converter)().detect(data, "f.dat") < ACCEPT_THRESHOLD
            assert refused(converter, data, "f.dat") is None, (converter, data[:30])
