"""``pywats-node discover``, ``status`` and ``token`` against real nodes, and discovery files."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import trio

from pywats_actors._ipc_commands import discover_command, status_command, token_command
from pywats_actors.ipc import (
    Discovered,
    discovery_path,
    list_instances,
    open_ipc_client,
    read_ipc_token,
)

from ._node import running_node


def run(function: object, *args: object, **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = function(*args, out=out, err=err, **kwargs)  # type: ignore[operator]
    return code, out.getvalue(), err.getvalue()


class TestCommands:
    async def test_status_discover_and_token_talk_to_the_running_node(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """discover lists the instance with its address; status prints the node and its tree
        (and JSON with --json); token show prints the token the node accepts; after token
        rotate the old one is refused and status (reading the new one) still works."""
        async with running_node(tmp_path, monkeypatch) as (_node, entry, token):
            out = io.StringIO()
            code = await trio.to_thread.run_sync(lambda: discover_command(as_json=True, out=out))
            assert code == 0
            listed = json.loads(out.getvalue())
            assert [(e["instance"], e["address"]) for e in listed] == [("line1", entry.address)]

            code, text, _ = await trio.to_thread.run_sync(lambda: run(status_command, "line1"))
            assert code == 0
            assert text.startswith("instance line1  pid ")
            ipc_line = next(line for line in text.splitlines() if line.strip().startswith("ipc "))
            assert ipc_line.split()[1] == "running"
            code, text, _ = await trio.to_thread.run_sync(
                lambda: run(status_command, "line1", as_json=True)
            )
            assert code == 0
            assert json.loads(text)["node"]["instance"] == "line1"

            config = str(tmp_path / "line1" / "line1.toml")
            code, shown, _ = run(token_command, "show", config, None)
            assert (code, shown.strip()) == (0, token)
            code, _, _ = run(token_command, "rotate", config, None)
            assert code == 0
            code, shown, _ = run(token_command, "show", config, None)
            assert shown.strip() != token
            with pytest.raises(Exception, match="wrong token"):
                async with open_ipc_client(entry.address, token):
                    pass
            async with open_ipc_client(instance="line1") as client:
                assert (await client.call("status"))["node"]["instance"] == "line1"

    def test_config_validate_names_the_socket(self, tmp_path: Path) -> None:
        """`config validate` prints the IPC address the node will serve, or that it is off."""
        from pywats_actors.config import validate_config_command

        from ._node import write_config

        for ipc, expected in (
            ("", "  ipc         unix:"),
            ('transport = "tcp"\ntcp_port = 9900', "  ipc         tcp:127.0.0.1:9900,"),
            ("enabled = false", "  ipc         off"),
        ):
            config = write_config(tmp_path / "v", "v", ipc)
            out = io.StringIO()
            assert validate_config_command(config, out=out, err=io.StringIO()) == 0
            line = next(x for x in out.getvalue().splitlines() if x.startswith("  ipc "))
            assert line.startswith(expected), line
        assert line == "  ipc         off"

    def test_status_without_a_node_is_one_line_and_exit_3(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`pywats-node status` with no node running prints one `pywats-node:` line, no
        traceback, and exits 3; `token show` before the first start exits 3 too."""
        env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "HOME": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-m", "pywats_actors._cli", "status", "--instance", "nope"],
            capture_output=True,
            text=True,
            env={**env, "PATH": "/usr/bin:/bin"},
            timeout=60,
            check=False,
        )
        assert done.returncode == 3
        assert done.stderr.splitlines() == [
            "pywats-node: no running pywats-node for instance 'nope'"
        ]
        from ._node import write_config

        config = write_config(tmp_path / "x", "x")
        code, _, err = run(token_command, "show", str(config), None)
        assert code == 3
        assert err.startswith("pywats-node: no IPC token yet at ")


class TestDiscovery:
    async def test_two_instances_have_their_own_socket_token_and_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two instances on one station each list their own address and token; a client with
        one's token is refused by the other; a stale file of a dead process is deleted by a
        reader; at an orderly stop each node removes its file."""
        async with (
            running_node(tmp_path, monkeypatch, "line1") as (_a, first, token1),
            running_node(tmp_path, monkeypatch, "line2") as (_b, second, token2),
        ):
            assert first.address != second.address
            assert token1 != token2
            assert first.token_file != second.token_file
            async with open_ipc_client(second.address, token2) as client:
                assert client.server["instance"] == "line2"
            with pytest.raises(Exception, match="wrong token"):
                async with open_ipc_client(second.address, token1):
                    pass
            dead = await trio.run_process(
                [sys.executable, "-c", "import os; print(os.getpid())"],
                capture_stdout=True,
            )
            stale = Discovered(
                instance="gone",
                address="unix:/nowhere",
                pid=int(dead.stdout.decode()),
                version="0",
                started=0.0,
                token_file="/nowhere",
            )
            discovery_path("gone").write_bytes(msgspec.json.encode(stale))
            assert [e.instance for e in list_instances()] == ["line1", "line2"]
            assert not discovery_path("gone").exists()
        assert list_instances() == []
        assert not discovery_path("line1").exists()

    async def test_tcp_transport_listens_on_loopback(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With transport = "tcp" the node listens on 127.0.0.1 at a free port, which the
        discovery file gives, and serves the same protocol there."""
        async with running_node(tmp_path, monkeypatch, ipc='transport = "tcp"') as (
            _node,
            entry,
            token,
        ):
            assert entry.address.startswith("tcp:127.0.0.1:")
            async with open_ipc_client(entry.address, token) as client:
                assert "status" in client.server["methods"]
                assert (await client.call("stats"))["ipc"]["connections"] == 1


class TestService:
    async def test_status_and_shutdown_of_a_pywats_node_run_process(self, tmp_path: Path) -> None:
        """Against a real `pywats-node run` process: `pywats-node status` prints its tree,
        and `node.shutdown` over IPC stops it in order (exit 0) and removes its discovery
        file and socket."""
        from ._node import write_config

        config = write_config(tmp_path / "svc", "svc", "")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        }
        cli = [sys.executable, "-m", "pywats_actors._cli"]
        path = tmp_path / "run" / "pywats-node" / "svc.ipc.json"
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process,
                [*cli, "run", "--config", str(config)],
                env=env,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            process = await nursery.start(run)
            with trio.fail_after(30):
                while not path.exists():
                    await trio.sleep(0.05)
            entry = msgspec.json.decode(path.read_bytes(), type=Discovered)
            assert entry.pid == process.pid
            done = await trio.run_process(
                [*cli, "status", "--instance", "svc"],
                env=env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.decode().startswith(f"instance svc  pid {process.pid}  ")
            async with open_ipc_client(entry.address, read_ipc_token(entry.token_file)) as c:
                assert await c.call("node.shutdown") == {"stopping": True}
            with trio.fail_after(30):
                await process.wait()
        assert process.returncode == 0
        assert not path.exists()
        assert not Path(entry.address.removeprefix("unix:")).exists()
