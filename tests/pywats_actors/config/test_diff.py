"""Diffs between configurations: by key, by section, and by watch folder id."""

from __future__ import annotations

from msgspec.structs import replace

from pywats_actors.config import NodeConfig, NodeSection, WatchFolder, diff_configs

from .conftest import NAMESPACE

BASE = NodeConfig(
    node=NodeSection(station_namespace=NAMESPACE),
    watch=(WatchFolder(id="a", path="/in/a"), WatchFolder(id="b", path="/in/b")),
)


class TestDiff:
    def test_identical(self) -> None:
        """Equal configurations have an empty diff."""
        diff = diff_configs(BASE, replace(BASE))
        assert diff.empty
        assert diff.sections == ()

    def test_upload_setting(self) -> None:
        """A changed upload key is listed by name and marks the upload section."""
        new = replace(BASE, upload=replace(BASE.upload, concurrency=4, backoff_cap=60))
        diff = diff_configs(BASE, new)
        assert diff.keys == ("upload.concurrency", "upload.backoff_cap")
        assert diff.sections == ("upload",)
        assert diff.upload_changed
        assert not diff.server_changed

    def test_server_token(self) -> None:
        """A token change marks the server as changed, naming the key only."""
        new = replace(BASE, server=replace(BASE.server, token="new"))
        diff = diff_configs(BASE, new)
        assert diff.keys == ("server.token",)
        assert diff.server_changed

    def test_watch_folders_by_id(self) -> None:
        """Watch folders are compared by id: added, removed, and changed with their keys."""
        new = replace(
            BASE,
            watch=(
                replace(BASE.watch[1], include=("*.xml",), recursive=True),
                WatchFolder(id="c", path="/in/c"),
            ),
        )
        diff = diff_configs(BASE, new)
        assert diff.watch_added == ("c",)
        assert diff.watch_removed == ("a",)
        assert diff.watch_changed == ("b",)
        assert diff.keys == ("watch[b].include", "watch[b].recursive", "watch[c]", "watch[a]")
        assert diff.sections == ("watch",)

    def test_reordering_watch_folders_is_no_change(self) -> None:
        """The order of [[watch]] tables does not matter."""
        new = replace(BASE, watch=(BASE.watch[1], BASE.watch[0]))
        assert diff_configs(BASE, new).empty

    def test_restart_required(self) -> None:
        """Keys that only take effect on a restart are singled out."""
        new = replace(
            BASE,
            node=replace(BASE.node, data_dir="/elsewhere", station_name="bench-2"),
            spool=replace(BASE.spool, path="/x.sqlite3", when_full="error"),
        )
        diff = diff_configs(BASE, new)
        assert diff.keys == ("node.station_name", "node.data_dir", "spool.path", "spool.when_full")
        assert diff.restart_required == ("node.data_dir", "spool.path")
        assert diff.sections == ("node", "spool")
