"""``[[schedule]]`` tables: what loads, how paths resolve, what is refused and how it is named,
and how a change shows in the configuration diff."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from pywats_actors.config import ConfigInvalid, load_config
from pywats_actors.config._diff import diff_configs

from .conftest import config_text, write


def _schedule(**keys: object) -> str:
    fields = {"id": "oven", "converter": "folder-rows", "source": "export", **keys}
    lines = [f"{key} = {_toml(value)}" for key, value in fields.items()]
    return "[[schedule]]\n" + "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _problems(config_file: Path, body: str) -> list[str]:
    write(config_file, config_text(body))
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config_file)
    return [str(problem) for problem in caught.value.problems]


class TestScheduleTable:
    def test_loads_with_defaults_and_an_absolute_source(self, config_file: Path) -> None:
        """A schedule with an interval loads; its relative source is taken from the config
        file's folder, and the defaults are no run at start and a 60 s timeout."""
        write(config_file, config_text(_schedule(interval=300)))
        (item,) = load_config(config_file).config.schedule
        assert item.source == str(config_file.parent / "export")
        assert (item.interval, item.cron, item.run_at_start, item.timeout) == (300, "", False, 60)

    def test_cron_and_arguments(self, config_file: Path) -> None:
        """A cron schedule with converter arguments and run_at_start loads as written."""
        body = _schedule(cron="*/15 6-22 * * mon-fri", run_at_start=True, timeout=30)
        body += "converter_args = { batch = 10 }\n"
        write(config_file, config_text(body))
        (item,) = load_config(config_file).config.schedule
        assert item.cron == "*/15 6-22 * * mon-fri"
        assert item.converter_args == {"batch": 10}
        assert item.run_at_start

    @pytest.mark.parametrize(
        ("cron", "message"),
        [
            ("61 * * * *", "$.schedule[0].cron: minute: 61 in '61' is outside 0-59"),
            ("0 0 * * funday", "$.schedule[0].cron: day-of-week: 'funday' in 'funday' is not"),
            ("0 0 * *", "$.schedule[0].cron: a cron expression has 5 fields"),
        ],
    )
    def test_bad_cron_names_its_field(self, config_file: Path, cron: str, message: str) -> None:
        """A cron expression that does not parse is refused at its key, naming the field."""
        (problem,) = _problems(config_file, _schedule(cron=cron))
        assert problem.startswith(message)

    def test_interval_or_cron(self, config_file: Path) -> None:
        """Both, or neither, of interval and cron is refused; so is a tiny interval."""
        assert _problems(config_file, _schedule(interval=5, cron="* * * * *")) == [
            "$.schedule[0]: give interval or cron, not both"
        ]
        (neither,) = _problems(config_file, _schedule())
        assert neither.startswith("$.schedule[0]: give interval (seconds) or cron")
        (tiny,) = _problems(config_file, _schedule(interval=0.01))
        assert tiny.startswith("$.schedule[0].interval: expected at least 0.1 seconds")

    def test_ids_converter_and_source(self, config_file: Path) -> None:
        """A repeated id, converter "auto", and a source in the node's state folder are refused,
        each at its key."""
        data = config_file.parent / "state"
        body = _schedule(interval=5) + _schedule(interval=5, converter="auto")
        body += _schedule(id="other", interval=5, source=str(data / "x"))
        write(config_file, config_text(body, node=f'data_dir = "{data}"'))
        with pytest.raises(ConfigInvalid) as caught:
            load_config(config_file)
        paths = [problem.path for problem in caught.value.problems]
        assert paths == ["$.schedule[1].id", "$.schedule[1].converter", "$.schedule[2].source"]

    def test_unknown_key_is_refused(self, config_file: Path) -> None:
        """A typo in a schedule's key is an error, not ignored."""
        (problem,) = _problems(config_file, _schedule(interval=5, run_at_star=True))
        assert "run_at_star" in problem

    def test_diff_names_changed_schedules(self, config_file: Path) -> None:
        """A changed, added or removed schedule shows as ``schedule[<id>]`` keys."""
        write(config_file, config_text(_schedule(interval=5)))
        old = load_config(config_file).config
        new = msgspec.structs.replace(
            old,
            schedule=(
                msgspec.structs.replace(old.schedule[0], interval=6),
                msgspec.structs.replace(old.schedule[0], id="new"),
            ),
        )
        diff = diff_configs(old, new)
        assert diff.keys == ("schedule[oven].interval", "schedule[new]")
        assert diff.sections == ("schedule",)
