"""``pywats-node emulator`` as a real process: it starts, serves, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import structlog
import trio

from pywats_actors._cli import main


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    """The in-process runs configure logging onto pytest's captured streams; undo that."""
    yield None
    structlog.reset_defaults()


def _command() -> list[str]:
    script = Path(sys.executable).with_name("pywats-node")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pywats_actors._cli"]


async def _read_lines(process: trio.Process, count: int) -> list[str]:
    assert process.stdout is not None
    data = b""
    with trio.fail_after(20):
        while data.count(b"\n") < count:
            chunk = await process.stdout.receive_some(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines()


@asynccontextmanager
async def _running(*args: str, log: Path) -> AsyncIterator[trio.Process]:
    with log.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [*_command(), "emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


class TestEmulatorCommand:
    async def test_serves_and_stops_on_sigterm(self, tmp_path: Path) -> None:
        """It prints its URL, answers with the given token, and exits 0 soon after SIGTERM."""
        log = tmp_path / "stderr.log"
        async with _running("--token", "cli-token", "--seed", "5", log=log) as process:
            (url,) = await _read_lines(process, 1)
            assert url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                answer = await client.get(
                    "/api/App/Version", headers={"Authorization": "Basic cli-token"}
                )
                stats = await client.get(
                    "/_emulator/stats", headers={"Authorization": "Basic cli-token"}
                )
            assert answer.status_code == 200
            assert stats.json()["seed"] == 5
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                assert await process.wait() == 0
        assert "emulator stopping" in log.read_text()

    async def test_sigint_stops_it_too(self, tmp_path: Path) -> None:
        """SIGINT (Ctrl-C) stops it as cleanly as SIGTERM."""
        async with _running("--token", "t", log=tmp_path / "stderr.log") as process:
            await _read_lines(process, 1)
            process.send_signal(signal.SIGINT)
            with trio.fail_after(10):
                assert await process.wait() == 0

    async def test_generated_token_is_printed(self, tmp_path: Path) -> None:
        """Without --token (or its variable) a random token is made and printed."""
        async with _running(log=tmp_path / "stderr.log") as process:
            url, token_line = await _read_lines(process, 2)
            token = token_line.removeprefix("token: ")
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                answer = await client.get(
                    "/api/App/Version", headers={"Authorization": f"Basic {token}"}
                )
            assert answer.status_code == 200
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                assert await process.wait() == 0

    async def test_faults_from_flags(self, tmp_path: Path) -> None:
        """Fault flags are in force from the start."""
        args = ("--token", "t", "--error-503", "1", "--retry-after", "9")
        async with _running(*args, log=tmp_path / "stderr.log") as process:
            (url,) = await _read_lines(process, 1)
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                answer = await client.get("/api/App/Version", headers={"Authorization": "Basic t"})
            assert (answer.status_code, answer.headers["retry-after"]) == (503, "9")
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                assert await process.wait() == 0

    def test_impossible_faults_exit_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Probabilities adding up to more than 1 are refused with exit code 2."""
        assert main(["emulator", "--error-500", "0.8", "--reset", "0.8"]) == 2
        assert "add up to" in capsys.readouterr().err

    def test_bad_probability_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A probability outside [0, 1] is an argparse usage error."""
        with pytest.raises(SystemExit) as caught:
            main(["emulator", "--hang", "2"])
        assert caught.value.code == 2
        assert "probability" in capsys.readouterr().err

    async def test_port_in_use_exits_1(self, tmp_path: Path) -> None:
        """A port that is taken is a clear error with exit code 1."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with listeners[0]:
            result = await trio.run_process(
                [*_command(), "emulator", "--port", str(port), "--token", "t"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert result.returncode == 1
        assert b"cannot listen" in result.stderr
