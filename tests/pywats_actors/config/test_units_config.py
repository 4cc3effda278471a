"""The watch-folder settings of folder units: accepted together, refused with clear reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywats_actors.config import ConfigInvalid, load_config

from .conftest import config_text, write


def _watch(config_file: Path, keys: str) -> str:
    folder = config_file.parent / "in"
    return config_text(f'[[watch]]\nid = "k"\npath = "{folder}"\n{keys}\n')


def _problems(config_file: Path, keys: str) -> list[str]:
    write(config_file, _watch(config_file, keys))
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config_file)
    return [str(problem) for problem in caught.value.problems]


class TestUnitSettings:
    def test_a_klippel_folder_loads(self, config_file: Path) -> None:
        """unit = "folder" with a named converter, a required sibling and a quiet time loads."""
        keys = 'unit = "folder"\nunit_sibling = "required"\nunit_quiet = 5\nconverter = "klippel"'
        write(config_file, _watch(config_file, keys))
        (watch,) = load_config(config_file).config.watch
        assert (watch.unit, watch.unit_sibling, watch.unit_quiet) == ("folder", "required", 5.0)

    def test_folder_units_need_a_named_converter(self, config_file: Path) -> None:
        """Auto-detection reads single files: a folder unit needs a converter by name."""
        (problem,) = _problems(config_file, 'unit = "folder"')
        assert problem.startswith("$.watch[0].unit: folder units need a folder converter named")

    def test_keep_and_recursive_do_not_apply_to_units(self, config_file: Path) -> None:
        """after_success = "keep" and recursive = true are refused for folder units."""
        keys = 'unit = "folder"\nconverter = "klippel"\nafter_success = "keep"\nrecursive = true'
        problems = _problems(config_file, keys)
        assert [p.split(":")[0] for p in problems] == [
            "$.watch[0].after_success",
            "$.watch[0].recursive",
        ]

    def test_unit_keys_on_a_file_folder_are_refused(self, config_file: Path) -> None:
        """A unit_* key without unit = "folder" is a mistake, named as such."""
        (problem,) = _problems(config_file, 'unit_marker = "*.done"')
        assert problem == (
            '$.watch[0].unit_marker: applies to folder units only; set unit = "folder" or remove it'
        )

    def test_a_marker_is_a_file_name_glob(self, config_file: Path) -> None:
        """A marker glob with a '/' is refused."""
        keys = 'unit = "folder"\nconverter = "klippel"\nunit_marker = "x/*.done"'
        (problem,) = _problems(config_file, keys)
        assert problem.startswith("$.watch[0].unit_marker: a file-name glob without '/'")

    def test_unknown_unit_kind(self, config_file: Path) -> None:
        """unit takes "file" or "folder" only."""
        (problem,) = _problems(config_file, 'unit = "zip"')
        assert problem.startswith("$.watch[0].unit:")
