"""The configuration's error tree.

Everything that can go wrong with finding, reading, checking or writing a configuration file,
and with claiming an instance::

    PywatsError
    └── ConfigError                    .path: the file (or lock file) concerned
        ├── ConfigNotFound             no file at .path
        ├── ConfigInvalid              the file exists but cannot be used; .problems lists
        │   │                          every problem found, each with its path and message
        │   ├── ConfigSyntaxError      not TOML at all; .line .column
        │   └── ConfigVersionUnsupported  written for a newer pywats-node; .version .supported
        ├── ConfigWriteError           writing a file failed (disk full, permissions...)
        ├── ConfigExists               ``config init`` refused to overwrite an existing file
        └── InstanceLocked             another node runs this instance; .instance .pid

``ConfigInvalid`` collects *all* the problems a file has, so an operator fixes them in one
round; its ``str()`` lists them one per line.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import PywatsError
from ._problems import ConfigProblem

__all__ = [
    "ConfigError",
    "ConfigExists",
    "ConfigInvalid",
    "ConfigNotFound",
    "ConfigSyntaxError",
    "ConfigVersionUnsupported",
    "ConfigWriteError",
    "InstanceLocked",
]


class ConfigError(PywatsError):
    """Something is wrong with a configuration file or an instance.

    Attributes:
        path: the file concerned (the configuration file, or the lock file).
    """

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class ConfigNotFound(ConfigError):
    """There is no configuration file at :attr:`path` (``pywats-node config init`` writes one)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no configuration file at {path}; create one with: pywats-node config init",
            path=path,
        )


class ConfigInvalid(ConfigError):
    """The file exists but cannot be used.

    Attributes:
        problems: every problem found, in the order they appear in the file; never empty.
    """

    def __init__(self, path: Path, problems: tuple[ConfigProblem, ...]) -> None:
        lines = "\n".join(f"  {problem}" for problem in problems)
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{path}: {count}:\n{lines}", path=path)
        self.problems = problems


class ConfigSyntaxError(ConfigInvalid):
    """The file is not valid TOML (or not UTF-8); nothing in it was looked at.

    Attributes:
        line: the line of the error, 1-based (0 when unknown).
        column: the column of the error, 1-based (0 when unknown).
    """

    def __init__(self, path: Path, problem: ConfigProblem) -> None:
        super().__init__(path, (problem,))
        self.line = problem.line
        self.column = problem.column


class ConfigVersionUnsupported(ConfigInvalid):
    """The file's ``schema_version`` is newer than this pywats-node understands.

    Attributes:
        version: the file's schema version.
        supported: the newest schema version this pywats-node reads.
    """

    def __init__(self, path: Path, problem: ConfigProblem, version: int, supported: int) -> None:
        super().__init__(path, (problem,))
        self.version = version
        self.supported = supported


class ConfigWriteError(ConfigError):
    """Writing a configuration file failed; the previous file, if any, is unchanged."""


class ConfigExists(ConfigError):
    """``config init`` found a file already there and was not told to overwrite it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass --force to overwrite it", path=path)


class InstanceLocked(ConfigError):
    """Another node process holds this instance's lock: one node per instance.

    Attributes:
        instance: the instance name.
        pid: the process id written in the lock file by its holder, or ``None`` if unreadable.
        path: the lock file.
    """

    def __init__(self, instance: str, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"instance {instance!r} is already running ({holder}; lock file {path}); "
            "stop that node first, or start this one with another --instance",
            path=path,
        )
        self.instance = instance
        self.pid = pid
