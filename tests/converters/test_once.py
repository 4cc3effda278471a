"""convert_file_once: the blocking dry run behind ``pywats-node convert FILE``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from converters import (
    DRY_RUN_NAMESPACE,
    Converted,
    ConverterNotFound,
    Rejected,
    content_hash,
    convert_file_once,
    report_id,
)

from .conftest import NAMESPACE, plugin, settings


class TestConvertFileOnce:
    def test_wsjf_file_is_detected_and_returned(self, samples_dir: Path) -> None:
        """A WSJF file is auto-detected and comes back as WSJF with its own GUID."""
        path = samples_dir / "wsjf" / "uur_example.json"
        result = convert_file_once(path, settings=settings())
        assert isinstance(result, Converted)
        assert result.converter == "wsjf"
        assert result.reports[0].wsjf == path.read_bytes()

    def test_ids_use_the_dry_run_namespace_or_the_one_given(self, tmp_path: Path) -> None:
        """Without a namespace the ids are in DRY_RUN_NAMESPACE; with the station's they are the
        ids the node would give."""
        path = tmp_path / "run.csv"
        path.write_bytes(b"SerialNumber,PartNumber,StepName,Value\nA,P,V,1\n")
        sha = content_hash(path.read_bytes())
        dry = convert_file_once(path, "csv", settings=settings())
        real = convert_file_once(path, "csv", settings=settings(), station_namespace=NAMESPACE)
        assert isinstance(dry, Converted)
        assert isinstance(real, Converted)
        assert dry.ids == (report_id(DRY_RUN_NAMESPACE, "csv", sha, 0),)
        assert real.ids == (report_id(NAMESPACE, "csv", sha, 0),)
        assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:pywats-actors:dry-run") == DRY_RUN_NAMESPACE

    def test_failure_is_returned_not_raised(self, tmp_path: Path) -> None:
        """A bad file comes back as a typed failure with the reason."""
        path = tmp_path / "bad.txt"
        path.write_bytes(b"reject")
        result = convert_file_once(path, "chaos", converters=[plugin("Chaos")], settings=settings())
        assert isinstance(result, Rejected)
        assert (result.reason, result.where) == ("the checksum is wrong", "line 3")

    def test_configuration_errors_are_raised(self, tmp_path: Path) -> None:
        """A converter that cannot be loaded is an exception, as for the pool."""
        path = tmp_path / "x.txt"
        path.write_bytes(b"x")
        with pytest.raises(ConverterNotFound):
            convert_file_once(path, converters=["nope"], settings=settings())

    def test_missing_file_is_an_os_error(self, tmp_path: Path) -> None:
        """A file that cannot be read raises OSError before any worker starts."""
        with pytest.raises(FileNotFoundError):
            convert_file_once(tmp_path / "missing.json")
