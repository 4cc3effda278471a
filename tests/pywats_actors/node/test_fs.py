"""Telling local watch folders from network shares (``pywats_actors.node._fs``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pywats_actors.node._fs import is_local

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads mountinfo")

_TABLE = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /mnt/share rw,relatime - nfs4 server:/export rw,vers=4.2
41 40 0:51 / /mnt/share/scratch rw,relatime - tmpfs tmpfs rw
42 27 0:52 / /mnt/test\\040results rw,relatime - cifs //nas/results rw
43 27 0:53 / /home/op/remote rw,relatime - fuse.sshfs op@host: rw
"""


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(_TABLE)
    return str(path)


@pytest.mark.parametrize(
    ("folder", "local"),
    [
        ("/var/spool/in", True),  # on the ext4 root
        ("/mnt/share/line1/in", False),  # NFS
        ("/mnt/share", False),  # the mount point itself
        ("/mnt/shared/in", True),  # a sibling whose name starts like the mount point
        ("/mnt/share/scratch/in", True),  # a tmpfs mounted inside the share
        ("/mnt/test results/in", False),  # CIFS, mount point with an escaped space
        ("/home/op/remote/in", False),  # FUSE (sshfs)
    ],
)
def test_folders_are_classified_by_their_mount(table: str, folder: str, local: bool) -> None:
    """The longest mount point holding the folder decides; network and FUSE are remote."""
    assert is_local(folder, mountinfo=table) is local


def test_unreadable_table_means_remote(tmp_path: Path) -> None:
    """Without a mount table nothing is known: the safe answer is 'may block'."""
    assert is_local("/var/spool/in", mountinfo=str(tmp_path / "missing")) is False


def test_this_machines_temporary_folder(tmp_path: Path) -> None:
    """The real table: pytest's temporary folder is on a local file system here."""
    assert is_local(str(tmp_path)) is True
