"""Checks that need more than one value, or the file system, to decide.

They run after the file has been converted to the schema and its paths made absolute, and they
report every problem they find rather than the first. None of them changes anything on disk:
"creatable" means the nearest existing parent is a folder this user can write to.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

from ._problems import ConfigProblem, render_value
from ._schedules import schedule_problems
from ._schema import ConversionSection, NodeConfig, ServerSection, WatchFolder

__all__ = ["check_config", "watch_folder_notes"]


def check_config(
    config: NodeConfig, *, config_file: str, config_mode: int | None
) -> list[ConfigProblem]:
    """Every problem of a converted, resolved *config*, section by section.

    Args:
        config: the configuration, with absolute paths.
        config_file: the configuration file's path, for messages.
        config_mode: the configuration file's permission bits, or ``None`` when the text does
            not come from a file yet (it will be written with mode 0600).
    """
    problems: list[ConfigProblem] = []
    folders = _Folders()
    problems += _node(config, folders)
    problems += _server(config.server, config_file, config_mode)
    problems += _ordering(config)
    problems += _watches(config.watch)
    problems += _conversion(config.conversion)
    problems += schedule_problems(config)
    return problems


def watch_folder_notes(config: NodeConfig) -> list[str]:
    """What stands in the way of each watch folder on this computer right now.

    These are notes, not problems: a watch folder is often on a share that is mounted after the
    node starts, or made by the test executive later, and one folder's trouble must not keep the
    node (and every other folder) from running. The node starts, reports such a folder as
    missing, and takes its files once it can (``docs/operators.md``).
    """
    notes: list[str] = []
    for index, watch in enumerate(config.watch):
        where = f"$.watch[{index}]"
        if problem := _folder_problem(watch.path):
            notes.append(f"{where}.path: {problem}; the node waits for this folder")
            continue
        for key, name in (("done_folder", watch.done_folder), ("error_folder", watch.error_folder)):
            target = os.path.join(watch.path, name)
            if os.path.lexists(target) and not os.path.isdir(target):
                notes.append(
                    f"{where}.{key}: {target} exists but is not a folder; files of this folder "
                    "are converted and uploaded but stay in place until it is a folder"
                )
    return notes


class _Folders:
    """Checks folders, reporting a broken one once: not again for each folder inside it."""

    def __init__(self) -> None:
        self._broken: list[str] = []

    def problem(self, path: str) -> str | None:
        if any(_inside(path, broken) for broken in self._broken):
            return None
        problem = _folder_problem(path)
        if problem:
            self._broken.append(path)
        return problem


def _node(config: NodeConfig, folders: _Folders) -> Iterator[ConfigProblem]:
    namespace = config.node.station_namespace
    if uuid.UUID(namespace).int == 0:
        yield ConfigProblem(
            path="$.node.station_namespace",
            message="the nil UUID is not a namespace; pywats-node config init writes a fresh one",
            value=namespace,
        )
    if problem := folders.problem(config.node.data_dir):
        yield ConfigProblem(path="$.node.data_dir", message=problem, value=config.node.data_dir)
    spool = config.spool.path
    if os.path.lexists(spool) and not os.path.isfile(spool):
        yield ConfigProblem(path="$.spool.path", message=f"{spool} is not a file", value=spool)
    elif problem := folders.problem(os.path.dirname(spool)):
        yield ConfigProblem(path="$.spool.path", message=problem, value=spool)


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        port_is_zero = parts.port == 0  # .port raises ValueError when malformed
    except ValueError as exc:
        return f"expected an http:// or https:// URL, got {render_value(url)} ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port_is_zero:
        return f"expected an http:// or https:// URL with a host, got {render_value(url)}"
    if parts.query or parts.fragment:
        return (
            f"expected the server's root URL without ?query or #fragment, got {render_value(url)}"
        )
    return None


def _server(
    server: ServerSection, config_file: str, config_mode: int | None
) -> Iterator[ConfigProblem]:
    if server.base_url:
        if problem := _url_problem(server.base_url):
            yield ConfigProblem(path="$.server.base_url", message=problem, value=server.base_url)
        if not server.token and not server.token_file:
            yield ConfigProblem(
                path="$.server",
                message=(
                    "no API token: set token_file (a file holding the token from WATS Control "
                    "Panel, mode 0600) or token"
                ),
            )
    elif server.token or server.token_file:
        yield ConfigProblem(
            path="$.server.base_url",
            message="empty, but a token is set: set the server's URL, or remove the token",
        )
    if server.token and server.token_file:
        yield ConfigProblem(
            path="$.server.token_file",
            message="set token or token_file, not both",
            value=server.token_file,
        )
    if server.token:
        if not _is_token_text(server.token):
            yield ConfigProblem(
                path="$.server.token",
                message="must be printable ASCII without spaces or line breaks (value not shown)",
            )
        if config_mode is not None and config_mode & 0o077:
            yield ConfigProblem(
                path="$.server.token",
                message=(
                    f"the token is in {config_file}, which group or others can access "
                    f"(mode {config_mode & 0o777:04o}); run: chmod 600 {config_file} "
                    "(or move the token to a token_file)"
                ),
            )
    if server.token_file and (problem := _token_file_problem(server.token_file)):
        yield ConfigProblem(path="$.server.token_file", message=problem, value=server.token_file)
    if isinstance(server.verify_tls, str) and not os.access(server.verify_tls, os.R_OK):
        yield ConfigProblem(
            path="$.server.verify_tls",
            message=f"cannot read the CA bundle {server.verify_tls}",
            value=server.verify_tls,
        )


def _is_token_text(token: str) -> bool:
    return token.isascii() and token.isprintable() and not any(c.isspace() for c in token)


def _token_file_problem(path: str) -> str | None:
    """Why the token file at *path* cannot be used, or ``None``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"{path} does not exist; write the API token into it, then run: chmod 600 {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_mode & 0o077:
        return (
            f"{path} can be accessed by group or others (mode {info.st_mode & 0o777:04o}) but "
            f"holds a secret; run: chmod 600 {path}"
        )
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(8193)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    except UnicodeDecodeError:
        return f"{path} is not text; it must hold the API token alone"
    token = text.strip()
    if not token:
        return f"{path} is empty; write the API token from WATS Control Panel into it"
    if len(text) > 8192 or not _is_token_text(token):
        return f"{path} must hold the API token alone, on one line"
    return None


def _folder_problem(path: str) -> str | None:
    """Why *path* cannot be used as a folder (existing and writable, or creatable)."""
    if os.path.isdir(path):
        if os.access(path, os.W_OK | os.X_OK):
            return None
        return f"{path} is not writable by this user"
    if os.path.lexists(path):
        return f"{path} exists but is not a folder"
    parent = os.path.dirname(path)
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{path} cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created: {parent} is not writable by this user"
    return None


def _ordering(config: NodeConfig) -> Iterator[ConfigProblem]:
    upload, spool = config.upload, config.spool
    if upload.backoff_cap < upload.backoff_base:
        yield ConfigProblem(
            path="$.upload.backoff_cap",
            message=f"{upload.backoff_cap:g} is below backoff_base ({upload.backoff_base:g})",
            value=upload.backoff_cap,
        )
    if upload.breaker_max_open < upload.breaker_open_for:
        yield ConfigProblem(
            path="$.upload.breaker_max_open",
            message=(
                f"{upload.breaker_max_open:g} is below breaker_open_for "
                f"({upload.breaker_open_for:g})"
            ),
            value=upload.breaker_max_open,
        )
    if spool.keep_sent_bodies_days > spool.keep_sent_days:
        yield ConfigProblem(
            path="$.spool.keep_sent_bodies_days",
            message=(
                f"{spool.keep_sent_bodies_days:g} is more than keep_sent_days "
                f"({spool.keep_sent_days:g}): a body cannot outlive its record"
            ),
            value=spool.keep_sent_bodies_days,
        )


def _inside(path: str, folder: str) -> bool:
    """Whether *path* is *folder* or inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _conversion(conversion: ConversionSection) -> Iterator[ConfigProblem]:
    from converters import AUTO_DETECTED  # the light part of the converters package

    for index, name in enumerate(conversion.disabled):
        if name not in AUTO_DETECTED:
            yield ConfigProblem(
                path=f"$.conversion.disabled[{index}]",
                message=f"{name!r} is not a built-in converter that auto-detection asks; "
                f"those are: {', '.join(sorted(AUTO_DETECTED))}",
                value=name,
            )
    for index, ref in enumerate(conversion.plugins):
        if ref in AUTO_DETECTED or ref == "auto":
            yield ConfigProblem(
                path=f"$.conversion.plugins[{index}]",
                message=f"{ref!r} is a built-in converter (built-ins take part in "
                "auto-detection unless disabled); list plug-ins here",
                value=ref,
            )


def _watches(watches: tuple[WatchFolder, ...]) -> Iterator[ConfigProblem]:
    real = [os.path.realpath(watch.path) for watch in watches]
    first_id: dict[str, int] = {}
    first_path: dict[str, int] = {}
    for index, watch in enumerate(watches):
        where = f"$.watch[{index}]"
        if watch.id in first_id:
            yield ConfigProblem(
                path=f"{where}.id",
                message=f"{watch.id!r} is already the id of $.watch[{first_id[watch.id]}]",
                value=watch.id,
            )
        first_id.setdefault(watch.id, index)
        if real[index] in first_path:
            other = watches[first_path[real[index]]]
            yield ConfigProblem(
                path=f"{where}.path",
                message=f"{watch.path} is already watched by {other.id!r}",
                value=watch.path,
            )
        first_path.setdefault(real[index], index)
        if watch.done_folder == watch.error_folder:
            yield ConfigProblem(
                path=f"{where}.error_folder",
                message=f"the same folder as done_folder ({watch.done_folder!r})",
                value=watch.error_folder,
            )
        yield from _nesting(watches, real, index)
        yield from _unit(watch, where)


def _unit(watch: WatchFolder, where: str) -> Iterator[ConfigProblem]:
    """Folder-unit settings that do not fit together."""
    if watch.unit == "file":
        for key, default in (
            ("unit_sibling", "optional"),
            ("unit_marker", ""),
            ("unit_min_files", 1),
            ("unit_quiet", 10.0),
        ):
            if getattr(watch, key) != default:
                yield ConfigProblem(
                    path=f"{where}.{key}",
                    message='applies to folder units only; set unit = "folder" or remove it',
                    value=getattr(watch, key),
                )
        return
    if watch.converter == "auto":
        yield ConfigProblem(
            path=f"{where}.unit",
            message="folder units need a folder converter named in converter (such as "
            '"klippel"); auto-detection reads single files',
            value=watch.unit,
        )
    if watch.after_success == "keep":
        yield ConfigProblem(
            path=f"{where}.after_success",
            message='"keep" is for single files; a folder unit is moved ("move") or deleted '
            '("delete") once its reports are stored',
            value=watch.after_success,
        )
    if watch.recursive:
        yield ConfigProblem(
            path=f"{where}.recursive",
            message="folder units are the sub-folders of path; recursive does not apply",
            value=watch.recursive,
        )
    if watch.unit_marker and ("/" in watch.unit_marker or "\\" in watch.unit_marker):
        yield ConfigProblem(
            path=f"{where}.unit_marker",
            message="a file-name glob without '/' (the marker is looked for in the unit's folder)",
            value=watch.unit_marker,
        )


def _nesting(
    watches: tuple[WatchFolder, ...], real: list[str], index: int
) -> Iterator[ConfigProblem]:
    watch, here = watches[index], real[index]
    for other_index, other in enumerate(watches):
        there = real[other_index]
        if other_index == index or here == there:
            continue
        for kind, name in (("done", other.done_folder), ("error", other.error_folder)):
            if _inside(here, os.path.join(there, name)):
                yield ConfigProblem(
                    path=f"$.watch[{index}].path",
                    message=(
                        f"{watch.path} is inside the {kind} folder of watch {other.id!r}; "
                        f"its files would be taken again"
                    ),
                    value=watch.path,
                )
        if other.recursive and _inside(here, there):
            yield ConfigProblem(
                path=f"$.watch[{index}].path",
                message=(
                    f"{watch.path} is inside {other.id!r}, which is recursive; "
                    "its files would be taken twice"
                ),
                value=watch.path,
            )
