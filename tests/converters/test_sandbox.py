"""The sandbox really holds: Landlock denies files, TCP and signals outside the worker's own
temporary folder; the environment is scrubbed; the level is probed and reported."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterPool,
    Crashed,
    PoolSettings,
    Rejected,
    SandboxUnavailable,
    open_converter_pool,
    probe_sandbox,
)
from converters._landlock import abi_version
from converters._protocol import Locked, Probe
from converters._sandbox import Observed, compose_level, judge, observe

from .conftest import LANDLOCKED, NAMESPACE, plugin, settings

CHAOS = plugin("Chaos")
needs_landlock = pytest.mark.skipif(not LANDLOCKED, reason="the kernel offers no Landlock")


@contextlib.contextmanager
def tcp_listener() -> Iterator[socket.socket]:
    """A non-blocking TCP listener on 127.0.0.1 (``accept()`` raises while nobody connected)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        yield listener


async def attempt(pool_settings: PoolSettings, command: str) -> object:
    """One file (``command`` for the test converter) through a pool of its own."""
    async with open_converter_pool(
        pool_settings, converters=[CHAOS], station_namespace=NAMESPACE
    ) as pool:
        return await convert(pool, command)


async def convert(pool: ConverterPool, command: str) -> object:
    with trio.fail_after(30):
        return await pool.convert(command.encode(), "file.txt", "chaos")


def secret_file(tmp_path: Path) -> Path:
    """A readable file outside every path the sandbox allows."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("s3cret")
    return secret


class TestLevel:
    def test_probe_names_the_layers_the_kernel_offers(self) -> None:
        """The prediction names each layer the kernel offers, strongest first, and
        rlimits-only with every layer turned off, saying why."""
        info = probe_sandbox()
        expected = compose_level(
            namespaces=info.namespaces, seccomp=info.seccomp, landlock_abi=abi_version()
        )
        assert info.level == expected
        assert info.level.endswith("rlimits")
        if abi_version() >= 1:
            assert f"landlock-abi{abi_version()}" in info.level
        off = probe_sandbox("off", namespaces="off", seccomp="off")
        assert (off.level, off.landlock_abi) == ("rlimits-only", 0)
        for layer in ("Landlock", "namespaces", "seccomp"):
            assert f"{layer} turned off by the settings" in off.note

    async def test_pool_reports_the_level_its_workers_reached(self) -> None:
        """The pool's sandbox level (property and statistics) is what its workers reached, and
        on this machine it is what the kernel offers: the probes held."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            assert pool.sandbox_level == probe_sandbox().level
            assert pool.statistics().sandbox_level == pool.sandbox_level
            probes = {probe.name: probe.held for probe in pool.sandbox.probes}
            assert probes == {"files": True, "tcp": True}

    async def test_without_landlock_everything_still_works_and_says_so(self) -> None:
        """With Landlock off, files convert; the level leaves Landlock out and says why."""
        async with open_converter_pool(
            settings(landlock="off"), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            assert "landlock" not in pool.sandbox_level
            assert not pool.sandbox.landlocked
            assert "Landlock turned off by the settings" in pool.sandbox.note
            assert isinstance(await convert(pool, "fine"), Converted)

    async def test_with_every_layer_off_it_is_rlimits_only(self) -> None:
        """With namespaces, seccomp and Landlock off, files still convert at rlimits-only,
        and the canary file the worker must not read opened (the probe says so)."""
        async with open_converter_pool(
            settings(landlock="off", namespaces="off", seccomp="off"),
            converters=[CHAOS],
            station_namespace=NAMESPACE,
        ) as pool:
            assert pool.sandbox_level == "rlimits-only"
            probes = {probe.name: probe.held for probe in pool.sandbox.probes}
            assert probes == {"files": False, "tcp": False}
            assert isinstance(await convert(pool, "fine"), Converted)

    async def test_required_landlock_refuses_to_start_without_it(self) -> None:
        """landlock = "required" on a kernel without Landlock is a clear start error."""
        if LANDLOCKED:
            async with open_converter_pool(
                settings(landlock="required"), converters=[CHAOS], station_namespace=NAMESPACE
            ) as pool:
                assert pool.sandbox.landlocked
        else:
            with pytest.raises(SandboxUnavailable):
                async with open_converter_pool(
                    settings(landlock="required"), converters=[CHAOS], station_namespace=NAMESPACE
                ):
                    pass  # pragma: no cover


def landlock_alone(**overrides: object) -> PoolSettings:
    """Settings with Landlock as the only layer (besides rlimits): what it denies is its own."""
    return settings(namespaces="off", seccomp="off", **overrides)


@needs_landlock
class TestLandlockDenies:
    """Landlock alone (namespaces and seccomp off), as on a kernel that offers only it."""

    async def test_reading_outside_the_allowed_paths(self, tmp_path: Path) -> None:
        """A converter cannot read a file outside the Python installation, its code and its own
        temporary folder, although the same user can read it."""
        secret = secret_file(tmp_path)
        result = await attempt(landlock_alone(), f"read {secret}")
        assert isinstance(result, Rejected)
        assert result.reason.startswith("PermissionError: [Errno 13] Permission denied")

    async def test_writing_outside_its_temporary_folder(self, tmp_path: Path) -> None:
        """A converter cannot create a file outside its private temporary folder."""
        target = tmp_path / "escaped.txt"
        result = await attempt(landlock_alone(), f"write {target}")
        assert isinstance(result, Rejected)
        assert "Permission denied" in result.reason
        assert not target.exists()

    async def test_tcp_connect(self) -> None:
        """A converter cannot connect a TCP socket, even to a listener on 127.0.0.1."""
        with tcp_listener() as listener:
            port = listener.getsockname()[1]
            result = await attempt(landlock_alone(), f"connect {port}")
            assert isinstance(result, Rejected)
            assert result.reason == "PermissionError: [Errno 13] Permission denied"
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody got through

    @pytest.mark.skipif(abi_version() < 6, reason="signal scoping needs Landlock ABI 6")
    async def test_signalling_the_node(self) -> None:
        """A converter cannot send signals to processes outside its sandbox (the node)."""
        result = await attempt(landlock_alone(), f"kill-parent {os.getpid()}")
        assert isinstance(result, Rejected)
        assert "Operation not permitted" in result.reason

    async def test_the_same_file_is_readable_without_landlock(self, tmp_path: Path) -> None:
        """Control: with Landlock off the read succeeds, so the denial above is Landlock's."""
        secret = secret_file(tmp_path)
        result = await attempt(landlock_alone(landlock="off"), f"read {secret}")
        assert isinstance(result, Converted)
        assert b"READ-s3cret" in result.reports[0].wsjf

    def test_restrict_self_in_a_plain_process(self, tmp_path: Path) -> None:
        """The binding on its own: after restrict_self a process reads only what it was granted
        and writes only in its read-write folder."""
        allowed = tmp_path / "rw"
        allowed.mkdir()
        secret = secret_file(tmp_path)
        code = (
            "import sys; from converters._landlock import restrict_self\n"
            "from converters._sandbox import code_paths\n"
            f"restrict_self(read_only=code_paths(), read_write=[{str(allowed)!r}])\n"
            f"open({str(allowed / 'ok.txt')!r}, 'w').write('ok')\n"
            f"try: open({str(secret)!r}).read(); print('read')\n"
            "except PermissionError: print('denied')\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert out.stdout.strip() == "denied"
        assert (allowed / "ok.txt").read_text() == "ok"


needs_isolation = pytest.mark.skipif(
    not probe_sandbox().isolated, reason="the kernel offers this user no namespaces"
)


@needs_isolation
class TestFullSandbox:
    """Every layer on, as on this machine: namespaces, seccomp, Landlock and rlimits."""

    async def test_writing_outside_its_temporary_folder(self, tmp_path: Path) -> None:
        """The file system is read-only to the worker, wherever its owner could write."""
        target = tmp_path / "escaped.txt"
        result = await attempt(settings(), f"write {target}")
        assert isinstance(result, Rejected)
        assert "Read-only file system" in result.reason
        assert not target.exists()

    async def test_a_socket_ends_the_worker(self) -> None:
        """Creating a socket (here to connect to a listener on 127.0.0.1) is a forbidden system
        call: the worker dies by SIGSYS, on the retry too, and nobody got through."""
        with tcp_listener() as listener:
            port = listener.getsockname()[1]
            result = await attempt(settings(), f"connect {port}")
            assert isinstance(result, Crashed)
            assert "SIGSYS" in result.description
            assert result.attempts == 2
            with pytest.raises(BlockingIOError):
                listener.accept()

    async def test_the_node_is_not_even_visible(self) -> None:
        """In its own PID namespace the worker cannot name the node's process at all."""
        result = await attempt(settings(), f"kill-parent {os.getpid()}")
        assert isinstance(result, Rejected)
        assert result.reason.startswith("ProcessLookupError")

    async def test_hidden_paths_cannot_be_read(self, tmp_path: Path) -> None:
        """A path in hide_paths cannot be opened by the worker, even when Landlock would grant
        it (here it lies inside a granted read_paths folder)."""
        granted = tmp_path / "granted"
        granted.mkdir()
        (granted / "token.txt").write_text("s3cret-token")
        async with open_converter_pool(
            settings(
                read_paths=(str(granted),),
                hide_paths=(str(granted / "token.txt"),),
            ),
            converters=[CHAOS],
            station_namespace=NAMESPACE,
        ) as pool:
            result = await convert(pool, f"read {granted / 'token.txt'}")
            assert pool.sandbox.hidden == (str(granted / "token.txt"),)
        assert isinstance(result, Rejected)
        assert result.reason.startswith("PermissionError: [Errno 13] Permission denied")

    async def test_the_temporary_folder_is_a_size_limited_tmpfs(self) -> None:
        """Writing more than temp_mb into the temporary folder fails with ENOSPC; the disk
        beneath is untouched."""
        async with open_converter_pool(
            settings(temp_mb=1), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            assert pool.sandbox.temp_tmpfs
            result = await convert(pool, "fill 2")
        assert isinstance(result, Rejected)
        assert "No space left on device" in result.reason


class TestIsolation:
    async def test_temporary_folder_is_private_and_writable(self) -> None:
        """The working directory is a private temporary folder the converter may write in."""
        result = await attempt(settings(), "tmp")
        assert isinstance(result, Converted)
        assert b"TMP-fine" in result.reports[0].wsjf

    async def test_environment_is_scrubbed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A worker sees only the variables Python needs, not the node's (secrets included)."""
        monkeypatch.setenv("PYWATS_TOKEN", "do-not-leak")
        result = await attempt(settings(), "env")
        assert isinstance(result, Rejected)
        names = set(result.reason.split())
        assert "PYWATS_TOKEN" not in names
        assert names <= {"HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "LD_LIBRARY_PATH"}
        cwd = result.where
        assert cwd is not None
        assert os.path.basename(cwd).startswith("pywats-worker-")
        assert not os.path.exists(cwd)  # removed with the worker


class TestCpuLimit:
    def test_the_per_file_allowance_is_rearmed_only_when_it_moves(self) -> None:
        """arm_cpu_limit() leaves ``seconds`` of CPU from now under the hard lifetime limit;
        armed again within the same CPU second it finds the limit in place and leaves it; a
        limit moved by someone else is put back. (In a child process: the limit is real.)"""
        code = (
            "import resource, time\n"
            "from converters._sandbox import arm_cpu_limit, cpu_used\n"
            "resource.setrlimit(resource.RLIMIT_CPU, (100, 100))\n"
            "calls = []\n"
            "real = resource.setrlimit\n"
            "resource.setrlimit = lambda *a: (calls.append(a), real(*a))\n"
            "arm_cpu_limit(5); first = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "arm_cpu_limit(5); second = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "real(resource.RLIMIT_CPU, (90, 100))\n"
            "arm_cpu_limit(5); third = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "arm_cpu_limit(500); capped = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "expected = int(cpu_used()) + 1 + 5\n"
            "print(first[0] == expected, first == second == third, first[1], len(calls), capped)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert out.stdout.split() == ["True", "True", "100", "3", "(100,", "100)"]


def _locked(**changes: object) -> Locked:
    values: dict[str, object] = {
        "landlock_abi": 7,
        "namespaces": ["user", "pid", "net", "mnt", "ipc"],
        "temp_tmpfs": True,
        "hidden": ["/etc/pywats/node.toml"],
        "seccomp": True,
        "probes": [Probe("files", True, "PermissionError EACCES"), Probe("tcp", True, "x")],
        "notes": [],
    }
    values.update(changes)
    return Locked(**values)  # type: ignore[arg-type]


_SEEN = Observed(
    no_new_privs=True,
    seccomp=True,
    capabilities=0,
    namespaces=("user", "pid", "net", "mnt", "ipc"),
)


class TestJudge:
    """The parent believes a layer only when the worker's probes and /proc agree."""

    def test_everything_agrees(self) -> None:
        """Claims that /proc confirms and probes that held make the full level."""
        info = judge(_locked(), _SEEN)
        assert info.level == "namespaces+seccomp+landlock-abi7+rlimits"
        assert info.isolated
        assert info.seccomp
        assert info.landlocked
        assert info.temp_tmpfs
        assert info.hidden == ("/etc/pywats/node.toml",)
        assert info.note == ""

    def test_namespaces_the_parent_does_not_see_do_not_count(self) -> None:
        """A namespace claimed but shared with the parent is not in force."""
        seen = msgspec.structs.replace(_SEEN, namespaces=("user", "pid"))
        info = judge(_locked(), seen)
        assert not info.isolated
        assert info.level == "seccomp+landlock-abi7+rlimits"
        assert "not seen: ipc, mnt, net" in info.note
        assert info.hidden == ()
        assert not info.temp_tmpfs

    def test_namespaces_do_not_count_while_the_worker_has_capabilities(self) -> None:
        """A worker /proc shows with capabilities left is not isolated, whatever it claims."""
        info = judge(_locked(), msgspec.structs.replace(_SEEN, capabilities=0x20))
        assert not info.isolated
        assert "kept capabilities (0x20)" in info.note

    def test_a_filter_proc_does_not_show_does_not_count(self) -> None:
        """Seccomp claimed while /proc shows no filter (or no no_new_privs) is not in force."""
        for seen in (
            msgspec.structs.replace(_SEEN, seccomp=False),
            msgspec.structs.replace(_SEEN, no_new_privs=False),
        ):
            assert not judge(_locked(), seen).seccomp
        assert (
            "seccomp claimed"
            in judge(_locked(), msgspec.structs.replace(_SEEN, seccomp=False)).note
        )

    def test_a_canary_that_opened_voids_landlock(self) -> None:
        """Landlock is not in force when the canary file outside the allowed paths opened, or
        when the files probe is missing."""
        opened = _locked(probes=[Probe("files", False, "/tmp/c could be read")])
        assert judge(opened, _SEEN).landlock_abi == 0
        assert "could be read" in judge(opened, _SEEN).note
        assert judge(_locked(probes=[]), _SEEN).landlock_abi == 0

    def test_a_worker_that_cannot_be_inspected_gets_no_credit(self) -> None:
        """Without /proc, nothing but the rlimits is believed."""
        info = judge(_locked(), None)
        assert info.level == "rlimits-only"
        assert "could not be inspected" in info.note

    def test_observe_sees_this_process_as_the_parent_does(self) -> None:
        """observe() of the test process itself: no namespace of its own, and what its
        status says about no_new_privs and seccomp."""
        seen = observe(os.getpid())
        assert seen is not None
        assert seen.namespaces == ()
        status = Path("/proc/self/status").read_text()
        assert seen.no_new_privs == ("NoNewPrivs:\t1" in status)
        assert observe(2**22 + 12345) is None  # no such process
