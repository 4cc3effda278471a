"""The worker's seccomp filter: forbidden calls kill the process with SIGSYS, ordinary life goes
on, every thread is covered, and the module needs nothing but the standard library.

Each case runs a real child Python that installs the filter and then does one thing; the parent
reads the child's fate from its exit status, as the converter pool will.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from converters import _seccomp

MODULE = Path(_seccomp.__file__)
KILLED = -signal.SIGSYS
MACHINE = os.uname().machine
needs_seccomp = pytest.mark.skipif(not _seccomp.available(), reason="no seccomp filters here")

# Runs before every snippet: no core files, the filter (unless told not to), a raw syscall().
PRELUDE = """\
import ctypes, os, resource, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
{load}
if {install}:
    _seccomp.install()
print("installed", flush=True)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
_COLUMN = _seccomp._ARCHES[os.uname().machine].column
_NUMBERS = {{**_seccomp._FORBIDDEN_NUMBERS, **_seccomp._CHECKED_NUMBERS}}

def syscall(name, *args):
    number = _NUMBERS[name][_COLUMN] if isinstance(name, str) else name
    return libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
"""
LOAD_PACKAGE = "from converters import _seccomp"
LOAD_FILE = f"""\
import importlib.util
_spec = importlib.util.spec_from_file_location("_seccomp", {str(MODULE)!r})
_seccomp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_seccomp)"""


def run(snippet: str, *, install: bool = True, load: str = LOAD_PACKAGE) -> tuple[int, str]:
    """Run ``snippet`` in a fresh Python after the prelude; its exit status and stdout."""
    script = PRELUDE.format(load=load, install=install) + textwrap.dedent(snippet)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout + done.stderr


# One forbidden thing each, with harmless arguments: only the call number and the checked
# arguments decide. Each prints "survived" if it comes back.
CLONE = """\
pid = syscall("clone", {flags} | 17, 0, 0, 0, 0)  # 17: SIGCHLD
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
print("survived", pid > 0)
"""
FORBIDDEN_CASES = {
    "ptrace": 'syscall("ptrace", 2, os.getppid(), 0, 0)  # PEEKDATA, not attached\n',
    "process_vm_readv": 'syscall("process_vm_readv", os.getppid(), 0, 0, 0, 0, 0)\n',
    "socket-inet": "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).close()\n",
    "socket-unix": "import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()\n",
    "socket-netlink": "import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()\n",
    "unshare": 'syscall("unshare", 0x10000000)  # CLONE_NEWUSER\n',
    "mount": 'syscall("mount", 0, 0, 0, 0, 0)\n',
    "keyctl": 'syscall("keyctl", 0, -3, 0)  # GET_KEYRING_ID of the session keyring\n',
    "bpf": 'syscall("bpf", -1, 0, 0)\n',
    "perf_event_open": 'syscall("perf_event_open", 0, 0, -1, -1, 0)\n',
    "io_uring_setup": 'syscall("io_uring_setup", 0, 0)\n',
    "clone-newuser": CLONE.format(flags=0x10000000),
    "clone-newuser-high-bits": CLONE.format(flags=(1 << 32) | 0x10000000),
    "tiocsti": """\
import fcntl, termios
_, tty = os.openpty()
try:
    fcntl.ioctl(tty, termios.TIOCSTI, b"x")
except OSError:
    pass
""",
    "tiocsti-high-bits": """\
_, tty = os.openpty()
x = ctypes.c_char(b"x")
libc.syscall(ctypes.c_long(_NUMBERS["ioctl"][_COLUMN]), ctypes.c_long(tty),
             ctypes.c_ulong((1 << 32) | 0x5412), ctypes.byref(x))
""",
    "tioclinux": '_, tty = os.openpty()\nsyscall("ioctl", tty, 0x541C, 0)\n',
}
if MACHINE == "x86_64":
    FORBIDDEN_CASES["x32-getpid"] = "syscall(0x40000000 | 39, 0)\n"
NAMESPACE_FLAGS = {
    "NEWNS": 0x00020000,
    "NEWCGROUP": 0x02000000,
    "NEWUTS": 0x04000000,
    "NEWIPC": 0x08000000,
    "NEWPID": 0x20000000,
    "NEWNET": 0x40000000,
}


@needs_seccomp
class TestForbiddenKills:
    @pytest.mark.parametrize("case", sorted(FORBIDDEN_CASES))
    def test_forbidden_call_kills_with_sigsys(self, case: str) -> None:
        """The process dies by SIGSYS at the forbidden call, after the filter was installed."""
        code, out = run(FORBIDDEN_CASES[case] + 'print("survived")\n')
        assert (code, out) == (KILLED, "installed\n")

    @pytest.mark.parametrize("case", sorted(FORBIDDEN_CASES))
    def test_same_call_without_the_filter_survives(self, case: str) -> None:
        """Control: without the filter the same snippet runs to its end, so the death above
        is the filter's doing."""
        code, out = run(FORBIDDEN_CASES[case] + 'print("survived")\n', install=False)
        assert code == 0, out
        assert out.endswith("survived\n")

    @pytest.mark.parametrize("flag", sorted(NAMESPACE_FLAGS))
    def test_clone_with_any_namespace_flag_kills(self, flag: str) -> None:
        code, out = run(CLONE.format(flags=NAMESPACE_FLAGS[flag]))
        assert (code, out) == (KILLED, "installed\n")

    @pytest.mark.parametrize("install", [True, False], ids=["filtered", "control"])
    def test_clone3_fails_with_enosys(self, install: bool) -> None:
        """clone3 (here asking for a new user namespace) returns ENOSYS under the filter and
        the process lives on; without the filter the same call makes a child."""
        snippet = """\
        args = (ctypes.c_uint64 * 8)(0x10000000, 0, 0, 0, 17)  # flags, ..., exit_signal
        pid = syscall(435, ctypes.addressof(args), ctypes.sizeof(args))  # clone3, everywhere
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
        print(pid > 0, ctypes.get_errno() if pid < 0 else 0)
        """
        code, out = run(snippet, install=install)
        assert (code, out) == (
            0,
            f"installed\nFalse {errno.ENOSYS}\n" if install else "installed\nTrue 0\n",
        )

    def test_clone_with_only_high_bits_still_forks(self) -> None:
        """The kernel ignores clone's high 32 flag bits, and so does the filter: a plain fork
        with them set works."""
        code, out = run(CLONE.format(flags=1 << 40))
        assert (code, out) == (0, "installed\nsurvived True\n")


ORDINARY = {
    "files": """\
import tempfile
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "a.txt")
    with open(path, "w") as f:
        f.write("hello")
    with open(path) as f:
        assert f.read() == "hello"
    os.rename(path, path + ".bak")
    os.unlink(path + ".bak")
""",
    "thread-started-after-install": """\
import threading
seen = []
t = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
t.start()
t.join(10)
assert seen and seen[0] != threading.get_native_id()
""",
    "fork-and-waitpid": """\
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 7
""",
    "subprocess-true": """\
import subprocess
assert subprocess.run(["/bin/true"], timeout=10).returncode == 0
""",
    "socketpair": """\
import socket
a, b = socket.socketpair()
a.sendall(b"ping")
assert b.recv(4) == b"ping"
""",
    "time": """\
import time
start = time.monotonic()
time.sleep(0.01)
assert time.monotonic() > start and time.time() > 1.7e9 and time.process_time() >= 0
""",
    "mmap": """\
import mmap, tempfile
anonymous = mmap.mmap(-1, 4096)
anonymous[:4] = b"abcd"
with tempfile.TemporaryFile() as f:
    f.write(b"0123456789")
    f.flush()
    assert mmap.mmap(f.fileno(), 0)[2:5] == b"234"
""",
    "select-and-harmless-ioctl": """\
import fcntl, select, struct, termios
r, w = os.pipe()
os.write(w, b"xyz")
assert select.select([r], [], [], 5)[0] == [r]
waiting = fcntl.ioctl(r, termios.FIONREAD, struct.pack("i", 0))
assert struct.unpack("i", waiting)[0] == 3
""",
    "prctl-other-than-pdeathsig": """\
assert libc.prctl(15, b"conv", 0, 0, 0) == 0  # PR_SET_NAME
assert open("/proc/self/comm").read().strip() == "conv"
""",
}


@needs_seccomp
class TestOrdinaryLife:
    @pytest.mark.parametrize("case", sorted(ORDINARY))
    def test_keeps_working_after_install(self, case: str) -> None:
        code, out = run(ORDINARY[case] + 'print("ok")\n')
        assert (code, out) == (0, "installed\nok\n")

    def test_imports_after_install(self) -> None:
        """Modules first imported after the filter (msgspec's C extension among them) load
        and work."""
        snippet = """\
        assert "msgspec" not in sys.modules and "json" not in sys.modules
        import json, msgspec, sqlite3, xml.etree.ElementTree, zipfile
        assert msgspec.json.decode(json.dumps({"a": [1]}).encode()) == {"a": [1]}
        assert sqlite3.connect(":memory:").execute("select 41 + 1").fetchone() == (42,)
        print("ok")
        """
        code, out = run(snippet, load=LOAD_FILE)
        assert (code, out) == (0, "installed\nok\n")

    def test_status_shows_filter_and_no_new_privs(self) -> None:
        snippet = """\
        print("".join(l for l in open("/proc/self/status") if l.startswith(("Seccomp", "NoNew"))))
        """
        code, out = run(snippet)
        assert code == 0, out
        assert re.search(r"^NoNewPrivs:\s+1$", out, re.M), out
        assert re.search(r"^Seccomp:\s+2$", out, re.M), out
        assert re.search(r"^Seccomp_filters:\s+1$", out, re.M), out

    def test_pdeathsig_cannot_be_changed(self) -> None:
        """prctl(PR_SET_PDEATHSIG) fails with EPERM and the signal set before stays."""
        snippet = """\
        assert libc.prctl(1, 9, 0, 0, 0) == -1  # PR_SET_PDEATHSIG(SIGKILL)
        print(ctypes.get_errno())
        value = ctypes.c_int(-1)
        assert libc.prctl(2, ctypes.byref(value), 0, 0, 0) == 0  # PR_GET_PDEATHSIG
        print(value.value)
        """
        # SIGTERM as the parent-death signal, set before the filter
        load = LOAD_PACKAGE + "\nctypes.CDLL(None).prctl(1, 15, 0, 0, 0)"
        code, out = run(snippet, load=load)
        assert (code, out) == (0, f"installed\n{errno.EPERM}\n{signal.SIGTERM.value}\n")


@needs_seccomp
class TestThreads:
    def test_thread_started_before_install_is_filtered(self) -> None:
        """TSYNC: a thread that existed before install() carries the filter and dies (the
        whole process with it) on a forbidden call."""
        # The thread is started by the loading code, before the prelude installs the filter.
        before = """
import socket, threading
go = threading.Event()
def later():
    go.wait(10)
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t = threading.Thread(target=later)
t.start()
"""
        after = """\
t_status = open(f"/proc/self/task/{t.native_id}/status").read()
print([l for l in t_status.splitlines() if l.startswith("Seccomp:")][0].split())
go.set()
t.join(10)
print("survived")
"""
        code, out = run(after, load=LOAD_PACKAGE + before)
        assert (code, out) == (KILLED, "installed\n['Seccomp:', '2']\n")


class TestBuilder:
    def test_unknown_architecture_is_refused(self) -> None:
        with pytest.raises(_seccomp.SeccompError) as caught:
            _seccomp._build_filter("sparc64")
        assert caught.value.errno == errno.ENOTSUP
        assert "sparc64" in str(caught.value)

    def test_install_on_unknown_architecture_changes_nothing(self) -> None:
        """install() raises SeccompError before touching the process (run in a child, with
        the architecture name replaced)."""
        load = LOAD_PACKAGE + "\n_seccomp._machine = lambda: 'x86_64 (32-bit process)'\n"
        snippet = """\
def state():
    return [l for l in open("/proc/self/status") if l.startswith(("Seccomp", "NoNew"))]
before = state()
try:
    _seccomp.install()
except _seccomp.SeccompError as e:
    print(type(e).__name__, isinstance(e, OSError), "32-bit process" in str(e))
print(state() == before, len(before))
"""
        code, out = run(snippet, install=False, load=load)
        assert (code, out) == (0, "installed\nSeccompError True True\nTrue 3\n")

    def test_available_here(self) -> None:
        """This machine (Linux 6.18, x86_64 or aarch64) has seccomp filters."""
        if MACHINE not in {"x86_64", "aarch64"}:
            pytest.skip(f"no table expected for {MACHINE}")
        assert _seccomp.available()

    def test_forbidden_names(self) -> None:
        assert {"ptrace", "socket", "mount", "unshare", "bpf", "io_uring_setup"} <= (
            _seccomp.FORBIDDEN
        )
        assert not {"socketpair", "clone", "clone3", "ioctl", "prctl"} & _seccomp.FORBIDDEN


HEADERS = {
    0: Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    1: Path("/usr/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("column", sorted(HEADERS))
def test_numbers_match_the_kernel_headers(column: int) -> None:
    """Every call number in the module equals the installed kernel headers' (x86_64's own
    table; the generic table of aarch64 and riscv64); names the (older) headers lack are
    calls from 424 on, numbered alike everywhere; a None means the header has no such call."""
    header = HEADERS[column]
    if not header.exists():
        pytest.skip(f"{header} is not installed")
    defined = {
        name: int(number)
        for name, number in re.findall(r"#define __NR_(\w+)\s+(\d+)\s*$", header.read_text(), re.M)
    }
    tables = {**_seccomp._FORBIDDEN_NUMBERS, **_seccomp._CHECKED_NUMBERS}
    for name, numbers in tables.items():
        number = numbers[column]
        if number is None:
            assert name not in defined, name
        elif name in defined:
            assert defined[name] == number, name
        else:
            assert number >= 424, f"{name} missing from {header} but numbered {number}"


# A tiny classic-BPF interpreter for the four opcodes the builder uses: the programs of
# architectures this machine cannot run are still checked verdict by verdict.
def evaluate(program: list[tuple[int, int, int, int]], nr: int, arch: int, args: list[int]) -> int:
    data = (
        (nr & 0xFFFFFFFF).to_bytes(4, "little")
        + arch.to_bytes(4, "little")
        + bytes(8)
        + b"".join(a.to_bytes(8, "little") for a in [*args, 0, 0, 0, 0, 0, 0][:6])
    )
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:
            acc = int.from_bytes(data[k : k + 4], "little")
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x45:
            pc += jt if acc & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", sorted(_seccomp._ARCHES))
def test_program_verdicts(machine: str) -> None:
    arch = _seccomp._ARCHES[machine]
    program = _seccomp._build_filter(machine)
    assert len(program) < 4096
    for index, (code, jt, jf, _) in enumerate(program):
        if code in (0x15, 0x45):
            assert index + 1 + max(jt, jf) < len(program)

    def number(name: str) -> int:
        value = {**_seccomp._FORBIDDEN_NUMBERS, **_seccomp._CHECKED_NUMBERS}[name][arch.column]
        assert value is not None
        return value

    kill, allow = 0x80000000, 0x7FFF0000
    read = 0 if machine == "x86_64" else 63
    assert evaluate(program, read, arch.audit, []) == allow
    assert evaluate(program, read, 0x40000003, []) == kill  # AUDIT_ARCH_I386
    for name in _seccomp.FORBIDDEN:
        if _seccomp._FORBIDDEN_NUMBERS[name][arch.column] is not None:
            assert evaluate(program, number(name), arch.audit, []) == kill, name
    assert evaluate(program, number("clone3"), arch.audit, []) == 0x50000 | errno.ENOSYS
    assert evaluate(program, number("clone"), arch.audit, [0x11]) == allow
    assert evaluate(program, number("clone"), arch.audit, [0x10000011]) == kill
    assert evaluate(program, number("ioctl"), arch.audit, [0, 0x5412]) == kill
    assert evaluate(program, number("ioctl"), arch.audit, [0, 0x5413]) == allow
    assert evaluate(program, number("prctl"), arch.audit, [1, 9]) == 0x50000 | errno.EPERM
    assert evaluate(program, number("prctl"), arch.audit, [2, 0]) == allow
    assert evaluate(program, 0x40000000 | read, arch.audit, []) == (kill if arch.x32 else allow)


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to user nobody needs root")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3")
@needs_seccomp
def test_copied_module_runs_alone_as_nobody() -> None:
    """The module copied alone into a folder works under the system Python as user nobody:
    it needs neither this project, its venv, nor privileges."""
    folder = tempfile.mkdtemp(prefix="seccomp-copy-")
    try:
        os.chmod(folder, 0o755)
        shutil.copy(MODULE, Path(folder, "_seccomp.py"))
        driver = """\
import os, resource, socket, sys, threading
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves it out
import _seccomp
assert _seccomp.available()
_seccomp.install()
t = threading.Thread(target=lambda: None)
t.start()
t.join(10)
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(os.getuid(), [m for m in sys.modules if m.startswith(("converters", "msgspec"))])
print([l.split()[1] for l in open("/proc/self/status") if l.startswith(("Seccomp:", "NoNew"))])
sys.stdout.flush()
socket.socket(socket.AF_INET, socket.SOCK_STREAM)
print("survived")
"""
        Path(folder, "driver.py").write_text(driver)
        os.chmod(Path(folder, "driver.py"), 0o644)
        done = subprocess.run(
            ["/usr/bin/python3", "-I", "driver.py"],
            cwd=folder,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(folder)
    assert (done.returncode, done.stdout) == (KILLED, f"{NOBODY} []\n['1', '2']\n"), done.stderr
