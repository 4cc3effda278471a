"""The launcher that runs the node as the throwaway service user (``tests/_unprivileged.py``):
the command runs as that user with no supplementary groups, reaches what it was given and
nothing else of a folder it could not enter, and the machine is unchanged afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .._unprivileged import launcher_command
from .conftest import Stations

_SHOW = """
import json, os, sys
folder = sys.argv[1]
print(json.dumps({
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
    "listing": sorted(os.listdir(folder)),
    "exposed": open(os.path.join(folder, "exposed", "data.txt")).read(),
    "cwd": os.getcwd(),
}))
"""


def _run(stations: Stations, tmp_path: Path) -> tuple[dict[str, object], Path]:
    user = stations.service_user()
    tmp_path.chmod(0o700)  # a folder the user cannot enter, like pytest's own base folder
    (tmp_path / "exposed").mkdir()
    (tmp_path / "exposed" / "data.txt").write_text("visible")
    (tmp_path / "exposed").chmod(0o755)
    (tmp_path / "exposed" / "data.txt").chmod(0o644)
    (tmp_path / "hidden").mkdir()
    command = [sys.executable, "-I", "-c", _SHOW, str(tmp_path)]
    launched = launcher_command(
        user, command, expose=[tmp_path / "exposed"], cwd=tmp_path / "exposed"
    )
    done = subprocess.run(launched, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    shown: dict[str, object] = json.loads(done.stdout)
    return shown, tmp_path


def test_the_command_runs_as_the_user_without_groups(stations: Stations, tmp_path: Path) -> None:
    user = stations.service_user()
    shown, folder = _run(stations, tmp_path)
    assert shown["ids"] == [user.uid, user.uid, user.gid, user.gid, []]
    assert shown["cwd"] == str(folder / "exposed")


def test_only_the_exposed_child_of_a_closed_folder_is_reachable(
    stations: Stations, tmp_path: Path
) -> None:
    shown, _ = _run(stations, tmp_path)
    assert shown["listing"] == ["exposed"]  # "hidden" is under the tmpfs laid over its parent
    assert shown["exposed"] == "visible"


def test_the_machine_is_unchanged_afterwards(stations: Stations, tmp_path: Path) -> None:
    mounts_before = Path("/proc/self/mountinfo").read_text()
    _, folder = _run(stations, tmp_path)
    assert Path("/proc/self/mountinfo").read_text() == mounts_before
    assert folder.stat().st_mode & 0o777 == 0o700
    assert sorted(os.listdir(folder)) == ["exposed", "hidden"]
