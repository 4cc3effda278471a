"""One thing wrong with a configuration, and how values are shown in messages."""

from __future__ import annotations

import json
import math

import msgspec

__all__ = ["ConfigProblem", "render_value"]

_MAX_SHOWN = 80


class ConfigProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a configuration file.

    ``str(problem)`` is ``"<path>: <message>"``, for example
    ``$.upload.concurrency: expected an integer >= 1 and <= 16, got 0``.

    Attributes:
        path: where the problem is, in msgspec's notation: ``$`` is the whole file,
            ``$.upload.concurrency`` a key, ``$.watch[1].path`` a key of the second
            ``[[watch]]`` table.
        message: what is wrong and, where there is something to do, how to fix it.
        value: the offending value as written in the file; ``None`` when there is none or
            when it is a secret (a token is never repeated).
        line: the line of a TOML syntax error (1-based), else 0.
        column: the column of a TOML syntax error (1-based), else 0.
    """

    path: str
    message: str
    value: object = None
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"line {self.line}, column {self.column}: {self.message}"
        return f"{self.path}: {self.message}"


def render_value(value: object) -> str:
    """Show a TOML value the way it would be written in the file, shortened if long.

    Strings get double quotes, booleans are ``true``/``false``, tables and arrays are shown
    as TOML-ish inline values.
    """
    text = _render(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        inner = ", ".join(f"{key} = {_render(item)}" for key, item in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    return str(value)
