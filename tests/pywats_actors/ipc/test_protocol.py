"""Protocol conformance of the IPC server, with a client written on msgspec's msgpack."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
import trio

from pywats_actors.ipc import API_LEVEL, METHODS, ErrorCode

from ._node import running_node
from ._raw import Clients

EXPECTED_METHODS = ["converters.list", "hello", "node.shutdown", "stats", "status"]


class TestHandshake:
    async def test_hello_with_the_token_answers_the_api_and_opens_every_method(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A correct hello answers api_level, compatible, server_version, capabilities and the
        method table, after which status answers on the same connection; a wrong token, an
        incompatible version and a first call other than hello each get their error code and
        the connection closed."""
        async with (
            running_node(tmp_path, monkeypatch) as (_node, entry, token),
            contextlib.AsyncExitStack() as stack,
        ):
            path = entry.address.removeprefix("unix:")
            assert entry.address.startswith("unix:")
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(entry.token_file).st_mode) == 0o600
            assert len(token) == 64  # 256 bits in hex
            clients = await stack.enter_async_context(Clients(entry.address))
            raw = await clients.open()
            kind, msgid, error, result = await raw.hello(token)
            assert (kind, msgid, error) == (1, 0, None)
            assert result["api_level"] == API_LEVEL
            assert API_LEVEL in result["compatible"]
            assert result["server_version"]
            assert result["capabilities"] == []
            assert result["methods"] == EXPECTED_METHODS == sorted(METHODS)
            answer = await raw.call(7, "status")
            assert answer[:3] == [1, 7, None]

            for first, code in (
                (lambda r: r.hello("0" * 64), ErrorCode.UNAUTHORIZED),
                (lambda r: r.hello(token, version=99), ErrorCode.INCOMPATIBLE_VERSION),
                (lambda r: r.call(3, "status"), ErrorCode.HANDSHAKE_REQUIRED),
            ):
                other = await clients.open()
                kind, _, error, result = await first(other)
                assert kind == 1
                assert error[0] == code
                assert isinstance(error[1], str)
                assert result is None
                assert await other.closed()
            # the good connection is still served
            assert (await raw.call(8, "stats"))[:3] == [1, 8, None]

    async def test_a_rotated_token_takes_effect_at_the_next_handshake(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After the token file is rotated, the old token is refused and the new one accepted,
        without restarting the node."""
        from pywats_actors.ipc import rotate_token

        async with (
            running_node(tmp_path, monkeypatch) as (_node, entry, token),
            Clients(entry.address) as clients,
        ):
            new = rotate_token(entry.token_file)
            assert new != token
            old = await clients.open()
            assert (await old.hello(token))[2][0] == ErrorCode.UNAUTHORIZED
            fresh = await clients.open()
            assert (await fresh.hello(new))[2] is None


class TestMethods:
    async def test_each_method_answers_what_docs_ipc_md_says(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """status shows the node and its tree (with this very connection), stats the IPC
        counters, converters.list the built-ins; unknown methods and bad params get their
        codes and the connection stays usable; node.shutdown answers, then the node stops and
        removes its discovery file and socket."""
        async with running_node(tmp_path, monkeypatch) as (node, entry, token):
            clients = Clients(entry.address)
            raw = await clients.open()
            await raw.hello(token)
            _, _, error, status = await raw.call(1, "status")
            assert error is None
            assert status["node"]["instance"] == "line1"
            assert status["node"]["pid"] == os.getpid()
            assert status["node"]["uptime"] >= 0
            assert status["node"]["health_url"] == node.health_url  # the node's own, now
            assert entry.health_url == node.health_url  # in the discovery file too
            top = {c["id"]: c for c in status["tree"]["children"]}
            assert {"spool", "uplink", "conversion", "intake", "control", "ipc"} <= set(top)
            assert top["ipc"]["state"] == "running"
            connections = top["ipc"]["supervisors"][0]["children"]
            assert [c["state"] for c in connections] == ["running"]
            assert status["spool"]["pending"] == 0
            assert node.pool is not None
            assert status["sandbox"] == node.pool.sandbox_level

            _, _, error, stats = await raw.call(2, "stats")
            assert error is None
            assert stats["ipc"]["connections"] == 1
            assert stats["ipc"]["requests"] == 3  # hello, status, stats
            assert stats["spool"]["pending"] == 0

            _, _, error, converters = await raw.call(3, "converters.list")
            assert error is None
            assert "wsjf" in {c["info"]["alias"] for c in converters}

            assert (await raw.call(4, "no.such"))[2][0] == ErrorCode.METHOD_NOT_FOUND
            assert (await raw.call(5, "status", {"x": 1}))[2][0] == ErrorCode.INVALID_PARAMS
            await raw.send([0, 6, "status", "not an array"])
            assert (await raw.receive())[2][0] == ErrorCode.INVALID_PARAMS
            await raw.send([0, "id", "status", []])
            assert (await raw.receive())[2][0] == ErrorCode.INVALID_REQUEST
            await raw.send([1, 9, None, None])  # a response from a client
            assert (await raw.receive())[2][0] == ErrorCode.INVALID_REQUEST
            await raw.send([2, "whatever", []])  # notifications are ignored
            assert (await raw.call(10, "status"))[2] is None

            assert await raw.call(11, "node.shutdown") == [1, 11, None, {"stopping": True}]
            assert node.supervisor is not None
            with trio.fail_after(10):
                await node.supervisor.wait_stopped()
            assert not Path(entry.address.removeprefix("unix:")).exists()
            from pywats_actors.ipc import list_instances

            assert list_instances() == []
            await clients.__aexit__()
