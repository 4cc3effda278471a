"""The catalogue of attacks the hostile plug-in (``plugins/hostile.py``) carries out.

Each attack belongs to a group, and the suite runs one node (a *station*) per group and user,
with a plug-in folder per attack and moment. Attacks share a station when one succeeding cannot
spoil the evidence of another. An attack that can take the node down when it succeeds (killing
it, forged answers, a huge answer) gets a station per moment: otherwise, where every worker
imports every plug-in (before the trust domains), its import-time variant would keep the node
from starting and hide what the other moments do.

``visible`` is what the node (or the sandbox, through the plug-in's own error) must show of the
attempt: a regular expression that a line of the file's error sidecar or of the node's log about
that folder must match.
"""

from __future__ import annotations

from dataclasses import dataclass

MOMENTS = ("import", "convert", "thread")
"""When the plug-in attacks: while imported, in convert(), from a thread started at import."""

USERS = ("root", "service-user")
"""Who runs the node: root, or a throwaway system user made by the suite (root only)."""

BLOCKED = (
    r"hostile [a-z-]+ \((import|convert|thread)\) blocked"  # the plug-in's error (an errno)
    r"|SIGSYS|signal 31|bad system call"  # the worker was killed by the seccomp filter
)
PROTOCOL = r"protocol|unexpected answer|without being asked|unknown converter|not asked for"
LEFTOVERS = r"left processes|processes (were )?left|still running|left behind|survived"
FULL = r"(ENOSPC|EDQUOT|No space left|Disk quota exceeded).* after writing \d+ MiB"
NAMES_THE_VICTIM = r"victim\.json"
"""A kept id that collides is an error naming both files: the sidecar names the other one."""


@dataclass(frozen=True)
class Attack:
    """One attack of the class a plug-in can try.

    Attributes:
        name: the plug-in's ``SETTINGS["attack"]`` and the test id.
        station: the group of attacks whose stations it shares.
        visible: what the sidecar or a log line about its folder must match; ``None`` when
            there is nothing to block (a patch of the plug-in's own process).
        what: one line for the test's failure message.
        convert_fails: made from ``convert()``, the attack fails the file (``error/``): the
            plug-in raises when refused, and a worker the filter killed, or that broke the
            protocol, is ``Crashed`` on the retry too. False for attacks whose file may
            convert (processes left behind are killed, a patch of its own process is
            harmless, a claimed id is ignored).
    """

    name: str
    station: str
    visible: str | None
    what: str
    convert_fails: bool = True


ATTACKS: tuple[Attack, ...] = (
    # secrets: reading what belongs to the node
    Attack("read-config", "secrets", BLOCKED, "read the configuration file"),
    Attack("read-token", "secrets", BLOCKED, "read the token file"),
    Attack("read-spool", "secrets", BLOCKED, "read the spool database"),
    Attack("read-environ", "secrets", BLOCKED, "read /proc/<node>/environ"),
    Attack("read-memory", "secrets", BLOCKED, "read the node's memory (/proc/<node>/mem)"),
    Attack("ptrace", "secrets", BLOCKED, "ptrace-attach to the node"),
    Attack("read-other-folder", "secrets", BLOCKED, "read another watch folder's files"),
    Attack("read-host-file", "secrets", BLOCKED, "read a root-only file of the machine"),
    Attack("disable-lockdown", "secrets", BLOCKED, "no-op the lock-down, then read the token"),
    Attack(
        "patch-csv",
        "secrets",
        None,
        "patch the CSV converter in sys.modules",
        convert_fails=False,
    ),
    Attack(
        "keep-ids",
        "secrets",
        NAMES_THE_VICTIM,
        "claim keeps_source_ids and take another's id",
        convert_fails=False,
    ),
    # escape: doing what a converter never needs
    Attack("shell", "escape", BLOCKED, "run /bin/sh -c"),
    Attack("program", "escape", BLOCKED, "run another program (/usr/bin/expr)"),
    Attack("tcp", "escape", BLOCKED, "open TCP connections (the server, a listener)"),
    Attack("udp", "escape", BLOCKED, "send a UDP datagram"),
    Attack("unix-path", "escape", BLOCKED, "connect to a pathname Unix socket"),
    Attack("unix-abstract", "escape", BLOCKED, "connect to an abstract Unix socket"),
    Attack("netlink", "escape", BLOCKED, "dump the host's interfaces over netlink"),
    Attack("unshare-mount", "escape", BLOCKED, "mount a tmpfs in new user/mount namespaces"),
    Attack("keyctl", "escape", BLOCKED, "read the session keyring's id (keyctl)"),
    Attack("bpf", "escape", BLOCKED, "create a BPF map"),
    Attack("io-uring", "escape", BLOCKED, "set up an io_uring"),
    Attack("perf-event", "escape", BLOCKED, "open a perf event"),
    Attack("write-pth", "escape", BLOCKED, "write a .pth file into site-packages"),
    Attack("write-config-dir", "escape", BLOCKED, "write a file next to the configuration"),
    Attack("write-spool-dir", "escape", BLOCKED, "write a file into the spool's folder"),
    Attack("write-shared-tmp", "escape", BLOCKED, "write a file into the shared /tmp"),
    Attack("fill-temp", "escape", FULL, "fill the temporary folder past its limit"),
    Attack(
        "daemon",
        "escape",
        f"{LEFTOVERS}|{BLOCKED}",
        "subreaper off, setsid daemon",
        convert_fails=False,
    ),
    Attack(
        "fork-loop",
        "escape",
        f"{LEFTOVERS}|{BLOCKED}",
        "a child that keeps forking",
        convert_fails=False,
    ),
    # each of these took the node down before trust domains and the parent's distrust: a node
    # of their own (the three moments of each share it: every plug-in file is a domain)
    Attack("kill-node", "kill", BLOCKED, "kill(node, SIGKILL)"),
    Attack("forge-other-name", "forge", f"{PROTOCOL}|{BLOCKED}", "an answer as another converter"),
    Attack("forge-future-job", "forge", f"{PROTOCOL}|{BLOCKED}", "an answer to a future job"),
    Attack("forge-unknown", "forge-unknown", f"{PROTOCOL}|{BLOCKED}", "an unknown converter"),
    Attack("forge-huge", "forge-huge", f"{PROTOCOL}|{BLOCKED}", "a 1,000,000-step answer"),
)


def station_of(attack: Attack, moment: str) -> str:
    """The station that carries ``attack`` at ``moment``: its group's, whatever the moment
    (each (attack, moment) is a plug-in file, so a trust domain, of its own)."""
    return attack.station


def station_plan() -> dict[str, list[tuple[Attack, str]]]:
    """Every station and the (attack, moment) plug-ins it carries, in a stable order."""
    plan: dict[str, list[tuple[Attack, str]]] = {}
    for attack in ATTACKS:
        for moment in MOMENTS:
            plan.setdefault(station_of(attack, moment), []).append((attack, moment))
    return plan


STATIONS = tuple(station_plan())


def folder_id(attack: str, moment: str) -> str:
    """The watch folder (and plug-in file stem) of one attack at one moment."""
    return f"{attack}-{moment}"
