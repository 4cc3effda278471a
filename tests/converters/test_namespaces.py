"""The worker's isolation (converters/_namespaces.py), in real processes.

Each test runs ``_ns_driver.py`` in a subprocess: it calls ``isolate()`` and reports what the
isolated worker sees as JSON lines on a descriptor the test opened. The subprocess is the
launcher; the worker is its child. Every test ends with no process of ours left running.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from converters import _namespaces
from converters._namespaces import NamespaceError, inner_pid, isolate

MODULE = Path(_namespaces.__file__).resolve()
DRIVER = Path(__file__).resolve().parent / "_ns_driver.py"
TEMP_BYTES = 1 << 20
NAMESPACES = ["user", "pid", "net", "mnt", "ipc"]
UNSHARE = shutil.which("unshare")
SYSTEM_PYTHON = "/usr/bin/python3"
IS_ROOT = os.geteuid() == 0
MODES = [pytest.param("auto", id="namespaces"), pytest.param("off", id="no-namespaces")]


@dataclass
class Run:
    """One driver run: the launcher process and the files its worker reports into."""

    process: subprocess.Popen[bytes]
    out: Path
    pids: Path
    temp_dir: Path

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def record(self, key: str) -> Any:
        found = [record[key] for record in self.records() if key in record]
        assert found, f"no {key!r} record in {self.records()}"
        return found[0]

    def wait_for(self, key: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [record[key] for record in self.records() if key in record]
            if found:
                return found[0]
            assert self.process.poll() is None, f"driver exited {self.process.returncode}"
            time.sleep(0.02)
        raise AssertionError(f"no {key!r} record within {timeout} s: {self.records()}")

    def finish(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)


def start(
    folder: Path,
    *,
    mode: str = "auto",
    actions: tuple[str, ...] = (),
    command: tuple[str, ...] = (sys.executable, str(DRIVER)),
    module: Path = MODULE,
    user: int | None = None,
    node: bool = False,
    extra_fds: tuple[int, ...] = (),
    **config: Any,
) -> Run:
    """Start the driver (directly, or below a node-like parent process when ``node``)."""
    temp_dir = folder / "temp"
    temp_dir.mkdir()
    out, pids = folder / "out.jsonl", folder / "pids.txt"
    out.touch()
    pids.touch()
    if user is not None:
        os.chown(temp_dir, user, user)
    with (
        open(out, "a") as out_file,
        open(pids, "a") as pids_file,
        open(folder / "stderr.txt", "wb") as stderr,
    ):
        if config.pop("temp_dir_missing", False):
            temp_dir = folder / "missing"
        config.update(
            module=str(module), mode=mode, temp_dir=str(temp_dir), temp_bytes=TEMP_BYTES,
            hide=config.get("hide", []), out_fd=out_file.fileno(), pids_fd=pids_file.fileno(),
            actions=list(actions),
        )  # fmt: skip
        argv = [*command, json.dumps(config)]
        if node:  # a parent that starts the driver and then just waits, as the node would
            script = "import subprocess, sys, time\n"
            fds = [out_file.fileno(), pids_file.fileno()]
            script += f"subprocess.Popen({argv!r}, pass_fds={fds!r})\n"
            script += "time.sleep(60)\n"
            argv = [sys.executable, "-c", script]
        process = subprocess.Popen(
            argv,
            pass_fds=(out_file.fileno(), pids_file.fileno(), *extra_fds),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
    return Run(process, out, pids, temp_dir)


def alive(line: str) -> bool:
    """A pid file line ("kind pid starttime") names a process still running (not a zombie)."""
    _, pid, started = line.split()
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return False
    return fields[19].decode() == started and fields[0] not in (b"Z", b"X")


def assert_all_gone(run: Run, timeout: float = 5.0) -> None:
    """Every process the worker reported is gone, and none of them forks on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        survivors = [line for line in run.pids.read_text().splitlines() if alive(line)]
        if not survivors:
            break
        time.sleep(0.05)
    assert not survivors, f"left running: {survivors}"
    size = run.pids.stat().st_size
    time.sleep(0.3)
    assert run.pids.stat().st_size == size, "a process still forks"


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """No child of this test process (or below it) runs once a test is over."""
    yield
    left = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
                process.kill()
        except psutil.Error:
            continue
    assert not left, f"processes left running: {[p.pid for p in left]}"


def test_worker_is_pid_1_of_new_namespaces_with_loopback_down_and_alone_in_proc(
    tmp_path: Path,
) -> None:
    run = start(tmp_path, actions=("ids",))
    assert run.finish() == 0
    isolation = run.record("isolation")
    assert isolation["namespaces"] == NAMESPACES
    assert isolation["note"] == ""
    ids = run.record("ids")
    assert ids["pid"] == 1
    for ns in NAMESPACES:
        assert ids["ns"][ns] != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert ids["up"] == {"lo": False}
    assert ids["connect"] == "ENETUNREACH"
    assert ids["processes"] == [1]
    assert ids["nested_userns"] == "ENOSPC"  # no capabilities to regain in a nested one


def test_file_tree_is_read_only_outside_the_temp_folder(tmp_path: Path) -> None:
    folder = tmp_path / "outside"
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"]) / f"ns-test-{os.getpid()}.txt"
    targets = [str(folder / "new.txt"), str(site)]
    try:
        run = start(tmp_path, actions=("write",), write=targets)
        assert run.finish() == 0
        assert run.record("write") == dict.fromkeys(targets, "EROFS")
    finally:
        site.unlink(missing_ok=True)
    assert not (folder / "new.txt").exists()


def test_temp_folder_is_a_private_tmpfs_of_the_given_size(tmp_path: Path) -> None:
    run = start(tmp_path, actions=("fill",))
    assert run.finish() == 0
    assert run.record("isolation")["temp_tmpfs"] is True
    assert run.record("fill") == {"written": TEMP_BYTES, "error": "ENOSPC"}
    assert list(run.temp_dir.iterdir()) == []  # the tmpfs was the worker's alone


def test_hidden_file_and_folder_cannot_be_opened(tmp_path: Path) -> None:
    """A hidden file and a hidden folder both refuse to open (EACCES: mode 0, and no capability
    left to override it), cannot be written, and are untouched outside."""
    secret = tmp_path / "token.txt"
    secret.write_text("s3cret")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "report.json").write_text("{}")
    missing = str(tmp_path / "missing")
    paths = [str(secret), str(spool)]
    run = start(tmp_path, actions=("read", "write"), hide=[*paths, missing], read=paths,
                write=[str(spool / "new")])  # fmt: skip
    assert run.finish() == 0
    assert run.record("isolation")["hidden"] == paths
    assert run.record("read") == {str(secret): "EACCES", str(spool): "EACCES"}
    assert run.record("write") == {str(spool / "new"): "EACCES"}
    assert secret.read_text() == "s3cret"


def test_no_capabilities_and_no_new_privileges(tmp_path: Path) -> None:
    run = start(tmp_path, actions=("status",))
    assert run.finish() == 0
    assert run.record("isolation")["capabilities_dropped"] is True
    status = run.record("status")
    for key in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert int(status[key], 16) == 0, key
    assert status["NoNewPrivs"] == "1"


@pytest.mark.parametrize("mode", MODES)
def test_exit_code_is_relayed(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, exit=7)
    assert run.finish() == 7


@pytest.mark.parametrize("mode", MODES)
def test_death_by_signal_is_relayed_as_that_signal(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, exit="SIGSEGV")
    assert run.finish() == -signal.SIGSEGV
    # PID 1 of a namespace ignores a kill() it sends itself; the driver then faults for real.
    ignored = [record for record in run.records() if "self_kill_ignored" in record]
    assert bool(ignored) == (mode == "auto")


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_to_the_launcher_reaches_the_worker_handler(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, actions=("sigterm", "wait"))
    run.wait_for("ready")
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 0
    assert run.record("sigterm") is True


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_to_a_worker_without_handler_ends_it_as_sigterm(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, actions=("wait",))
    run.wait_for("ready")
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == -signal.SIGTERM


@pytest.mark.parametrize("mode", MODES)
def test_soft_cpu_limit_ends_the_worker_as_sigxcpu(tmp_path: Path, mode: str) -> None:
    """As PID 1 the worker ignores SIGXCPU: the launcher sees the limit fire and does it."""
    run = start(tmp_path, mode=mode, actions=("burn",))
    assert run.finish() == -signal.SIGXCPU


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_re_arming_its_cpu_limit_is_not_killed(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, actions=("rearm",))
    assert run.finish() == 0


@pytest.mark.parametrize("mode", MODES)
def test_everything_the_worker_left_is_killed_when_it_exits(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, actions=("leftovers",))
    assert run.finish() == 0
    kinds = {line.split()[0] for line in run.pids.read_text().splitlines()}
    assert kinds == {"daemon", "ignorer", "chain"}
    assert_all_gone(run)


@pytest.mark.parametrize("mode", MODES)
def test_node_death_kills_launcher_worker_and_all_below(tmp_path: Path, mode: str) -> None:
    run = start(tmp_path, mode=mode, actions=("leftovers", "wait"), node=True)
    worker = int(run.wait_for("ready"))
    (launcher,) = psutil.Process(run.process.pid).children()
    assert inner_pid(launcher.pid) == worker
    run.process.kill()
    run.finish()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(pid) for pid in (launcher.pid, worker)):
        time.sleep(0.02)
    assert not _running(launcher.pid)
    assert not _running(worker)
    assert_all_gone(run)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("mode", MODES)
def test_inner_pid_names_the_worker_and_killing_it_ends_the_launcher(
    tmp_path: Path, mode: str
) -> None:
    run = start(tmp_path, mode=mode, actions=("wait",))
    worker = int(run.wait_for("ready"))
    assert inner_pid(run.process.pid) == worker
    os.kill(worker, signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    assert inner_pid(run.process.pid) is None


def _fd_targets(pid: int) -> set[str]:
    folder = f"/proc/{pid}/fd"
    return {os.readlink(f"{folder}/{fd}") for fd in os.listdir(folder)}


def test_launcher_closes_the_protocol_pipes_so_the_node_sees_eof(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        run = start(tmp_path, actions=("wait",), extra_fds=(write_end,), closes=[write_end])
        os.close(write_end)
        worker = int(run.wait_for("ready"))
        pipe = os.readlink(f"/proc/self/fd/{read_end}")
        assert pipe in _fd_targets(worker)
        assert pipe not in _fd_targets(run.process.pid)
        os.kill(worker, signal.SIGKILL)
        assert select.select([read_end], [], [], 10)[0] == [read_end]
        assert os.read(read_end, 1) == b""  # end-of-file: no process holds the write end
        assert run.finish() == -signal.SIGKILL
    finally:
        os.close(read_end)


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_a_temp_folder_that_cannot_be_mounted_is_noted_or_refused(
    tmp_path: Path, mode: str
) -> None:
    run = start(tmp_path, mode=mode, temp_dir_missing=True)
    missing = f"no tmpfs on the temporary folder: mount {tmp_path / 'missing'}: No such file"
    if mode == "required":
        assert run.finish() == 3  # raised in the worker; the launcher relays its exit
        assert missing in run.record("error")
    else:
        assert run.finish() == 0
        isolation = run.record("isolation")
        assert isolation["temp_tmpfs"] is False
        assert isolation["namespaces"] == NAMESPACES
        assert missing in isolation["note"]


def _in_exhausted_user_namespace(tmp_path: Path, limits: tuple[str, ...], **kw: Any) -> Run:
    """Run the driver as root of a fresh user namespace whose namespace limits are 0."""
    assert UNSHARE is not None
    writes = " && ".join(f"echo 0 > /proc/sys/user/max_{name}_namespaces" for name in limits)
    script = f'{writes} && exec "$@"'
    command = (UNSHARE, "--user", "--map-root-user", "sh", "-c", script, "sh", sys.executable,
               str(DRIVER))  # fmt: skip
    return start(tmp_path, command=command, **kw)


needs_unshare = pytest.mark.skipif(UNSHARE is None, reason="needs util-linux unshare(1)")


@needs_unshare
def test_required_raises_when_no_namespace_can_be_had(tmp_path: Path) -> None:
    run = _in_exhausted_user_namespace(tmp_path, ("user", "pid"), mode="required")
    assert run.finish() == 3
    error = run.record("error")
    assert run.record("errno") == 28  # ENOSPC
    assert "namespaces are required but user namespaces are not allowed for uid 0" in error
    assert "ENOSPC" in error


@needs_unshare
def test_auto_runs_without_namespaces_and_says_why(tmp_path: Path) -> None:
    run = _in_exhausted_user_namespace(tmp_path, ("user", "pid"), actions=("ids", "status"))
    assert run.finish() == 0
    isolation = run.record("isolation")
    assert isolation["namespaces"] == []
    assert "ENOSPC" in isolation["note"]
    assert run.record("ids")["pid"] != 1
    assert int(run.record("status")["CapEff"], 16) == 0


@needs_unshare
def test_root_without_user_namespaces_enters_the_other_four(tmp_path: Path) -> None:
    run = _in_exhausted_user_namespace(
        tmp_path, ("user",), mode="required", actions=("ids", "write"), write=[str(tmp_path / "x")]
    )
    assert run.finish() == 0
    isolation = run.record("isolation")
    assert isolation["namespaces"] == ["pid", "net", "mnt", "ipc"]
    assert "user namespaces are not allowed" in isolation["note"]
    assert run.record("ids")["pid"] == 1
    assert run.record("write") == {str(tmp_path / "x"): "EROFS"}


def test_mounts_are_made_read_only_one_by_one_without_mount_setattr(tmp_path: Path) -> None:
    """The pre-5.12 fallback, forced through the driver's seam (mount_setattr raising ENOSYS)."""
    secret = tmp_path / "token.txt"
    secret.write_text("s3cret")
    run = start(
        tmp_path,
        actions=("write", "read", "fill"),
        no_mount_setattr=True,
        hide=[str(secret)],
        write=[str(tmp_path / "x")],
        read=[str(secret), "/dev/zero"],
    )
    assert run.finish() == 0
    note = run.record("isolation")["note"]
    assert note.startswith("no mount_setattr: mounts made read-only one by one"), note
    assert run.record("write") == {str(tmp_path / "x"): "EROFS"}
    assert run.record("read") == {str(secret): "EACCES", "/dev/zero": "\0" * 64}
    assert run.record("fill")["error"] == "ENOSPC"


@pytest.mark.skipif(not IS_ROOT, reason="switching to uid 65534 needs root")
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"needs {SYSTEM_PYTHON}")
def test_unprivileged_user_gets_the_same_isolation_from_a_copied_module() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ns-test-"))
    try:
        folder.chmod(0o755)
        module, driver = folder / "_namespaces.py", folder / "_ns_driver.py"
        shutil.copy(MODULE, module)
        shutil.copy(DRIVER, driver)
        open_folder = folder / "open"
        open_folder.mkdir(mode=0o777)
        open_folder.chmod(0o777)
        target = str(open_folder / "x")
        run = start(folder, command=(SYSTEM_PYTHON, str(driver)), module=module, user=65534,
                    actions=("ids", "status", "write", "fill"), write=[target])  # fmt: skip
        assert run.finish() == 0
        isolation = run.record("isolation")
        assert isolation["namespaces"] == NAMESPACES, isolation["note"]
        assert isolation["capabilities_dropped"] is True
        assert run.record("ids")["pid"] == 1
        assert run.record("write") == {target: "EROFS"}
        assert run.record("fill") == {"written": TEMP_BYTES, "error": "ENOSPC"}
        status = run.record("status")
        assert status["Uid"].split()[0] == "65534"
        assert int(status["CapEff"], 16) == 0
        assert status["NoNewPrivs"] == "1"
    finally:
        shutil.rmtree(folder)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, required or off"):
        isolate(mode="on", temp_dir="/tmp", temp_bytes=1, hide=(), launcher_closes=())


def test_a_multithreaded_caller_is_refused_before_anything_happens() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(10,))
    thread.start()
    try:
        with pytest.raises(NamespaceError, match="needs a single thread"):
            isolate(mode="off", temp_dir="/tmp", temp_bytes=1, hide=(), launcher_closes=())
    finally:
        release.set()
        thread.join(10)
