"""From TOML text to a :class:`NodeConfig`, with every problem named by its path.

Two steps, because migration happens between them: the text is parsed into plain TOML values
(a syntax error becomes a line and column), and those values are converted to the schema with
``msgspec.convert`` (what ``msgspec.toml.decode(text, type=NodeConfig)`` does in one call).

msgspec stops at the first error and words it for programmers (`` Expected `int` >= 1 - at
`$.upload.concurrency` ``). When conversion fails, :func:`convert_config` walks the values
against the schema itself, checks each key with msgspec, and reports *every* problem in the
operator's words: ``$.upload.concurrency: expected an integer >= 1 and <= 16, got 0``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
import tomllib
from typing import Any, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from ._problems import ConfigProblem, render_value
from ._schema import NodeConfig

__all__ = ["ConfigDecoder", "expected_text"]

_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_PATH = re.compile(r" - at `\$(.*)`$")
_SECRET_KEYS = frozenset({"token"})
_HINTS = {
    "$.node": "add a [node] table with station_namespace (pywats-node config init writes one)",
    "$.node.station_namespace": "pywats-node config init writes a fresh one",
    "$.watch[].id": 'give each [[watch]] a unique id, such as id = "line1"',
}


def expected_text(annotation: object) -> str:
    """Describe what a value of the *annotation* type looks like, for an error message."""
    return _describe(mi.type_info(annotation))


class ConfigDecoder:
    """Parses and converts configuration text; build one and reuse it.

    ``msgspec.convert`` caches the schema's type information on the Struct classes the first
    time it sees them, so one instance serves every load and reload.
    """

    def __init__(self, schema: type[NodeConfig] = NodeConfig) -> None:
        self._schema = schema

    def parse(self, data: bytes) -> tuple[dict[str, Any] | None, ConfigProblem | None]:
        """Parse *data* as TOML: ``(values, None)``, or ``(None, problem)`` for bad syntax."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            return None, ConfigProblem(
                path="$",
                message="the file is not UTF-8 text",
                line=line,
                column=column,
            )
        try:
            return tomllib.loads(text), None
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = _SYNTAX_POSITION.search(message)
            line, column = (int(match[1]), int(match[2])) if match else (0, 0)
            if match:
                message = message[: match.start()]
            return None, ConfigProblem(
                path="$",
                message=f"TOML syntax error: {message}",
                line=line,
                column=column,
            )

    def convert(self, values: dict[str, Any]) -> NodeConfig | tuple[ConfigProblem, ...]:
        """Convert parsed *values* to the schema, or return every problem found."""
        try:
            return msgspec.convert(
                values,
                self._schema,
                strict=True,
                str_keys=True,
                builtin_types=(_dt.datetime, _dt.date, _dt.time),
            )
        except msgspec.ValidationError as exc:
            problems: list[ConfigProblem] = []
            _check_struct(values, self._schema, "$", problems)
            if not problems:  # the walk should always find it; never hide the error
                problems.append(ConfigProblem(path="$", message=str(exc)))
            return tuple(problems)


def _struct_class(annotation: object) -> type[msgspec.Struct] | None:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def _item_struct(annotation: object) -> type[msgspec.Struct] | None:
    """The Struct class of a ``tuple[Struct, ...]`` annotation (``[[watch]]``), else None."""
    if get_origin(annotation) is tuple:
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return _struct_class(args[0])
    return None


def _check_struct(
    values: object, cls: type[msgspec.Struct], path: str, problems: list[ConfigProblem]
) -> None:
    if not isinstance(values, dict):
        problems.append(_problem(path, f"expected a table, got {render_value(values)}", values))
        return
    fields = {field.encode_name: field for field in msgspec.structs.fields(cls)}
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(fields)
            problems.append(ConfigProblem(path=f"{path}.{key}", message=f"unknown key; {hint}"))
    for key, field in fields.items():
        key_path = f"{path}.{key}"
        if key not in values:
            if field.required:
                advice = _HINTS.get(re.sub(r"\[\d+\]", "[]", key_path))
                message = "required key is missing" + (f"; {advice}" if advice else "")
                problems.append(ConfigProblem(path=key_path, message=message))
            continue
        _check_value(values[key], field.type, key_path, problems)


def _check_value(
    value: object, annotation: object, path: str, problems: list[ConfigProblem]
) -> None:
    struct = _struct_class(annotation)
    if struct is not None:
        _check_struct(value, struct, path, problems)
        return
    item = _item_struct(annotation)
    if item is not None:
        if not isinstance(value, list):
            message = f"expected an array of tables ([[...]]), got {render_value(value)}"
            problems.append(_problem(path, message, value))
            return
        for index, element in enumerate(value):
            _check_struct(element, item, f"{path}[{index}]", problems)
        return
    try:
        msgspec.convert(value, annotation, strict=True, str_keys=True)
    except msgspec.ValidationError as exc:
        problems.append(_leaf_problem(value, annotation, path, str(exc)))


def _leaf_problem(value: object, annotation: object, path: str, error: str) -> ConfigProblem:
    info = mi.type_info(annotation)
    where = _AT_PATH.search(error)
    inner = where[1] if where else ""
    element = re.fullmatch(r"\[(\d+)\]", inner)
    if inner and element and isinstance(value, list):
        # one element of an array is wrong: point at it
        index = int(element[1])
        item_info = _unwrap(info)
        if isinstance(item_info, mi.VarTupleType | mi.ListType) and index < len(value):
            return _problem(
                f"{path}[{index}]",
                _expected_got(_describe(item_info.item_type), value[index], path),
                value[index],
            )
    if inner:
        return _problem(path + inner, _lower_first(error[: where.start()] if where else error))
    return _problem(path, _expected_got(_describe(info), value, path), value)


def _problem(path: str, message: str, value: object = None) -> ConfigProblem:
    return ConfigProblem(path=path, message=message, value=None if _is_secret(path) else value)


def _is_secret(path: str) -> bool:
    return path.rsplit(".", 1)[-1] in _SECRET_KEYS


def _expected_got(expected: str, value: object, path: str) -> str:
    shown = "a value that is not shown (it is a secret)" if _is_secret(path) else None
    return f"expected {expected}, got {shown or render_value(value)}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _unwrap(info: mi.Type) -> mi.Type:
    return info.type if isinstance(info, mi.Metadata) else info


def _describe(info: mi.Type) -> str:
    if isinstance(info, mi.Metadata):
        extra = info.extra or {}
        expected = extra.get("expected")
        return str(expected) if expected else _describe(info.type)
    if isinstance(info, mi.BoolType):
        return "true or false"
    if isinstance(info, mi.IntType):
        return _bounded("an integer", info.ge, info.gt, info.le, info.lt)
    if isinstance(info, mi.FloatType):
        return _bounded("a number", info.ge, info.gt, info.le, info.lt)
    if isinstance(info, mi.StrType):
        return _string(info)
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(render_value(v) for v in info.values)
    if isinstance(info, mi.UnionType):
        return " or ".join(_describe(member) for member in info.types)
    if isinstance(info, mi.VarTupleType | mi.ListType):
        low, high = info.min_length or 0, info.max_length
        if low and high is not None:
            count = f"{low} to {high} items"
        elif low:
            count = f"at least {low} item" + "s" * (low > 1)
        elif high is not None:
            count = f"at most {high} items"
        else:
            count = "items"
        return f"an array of {count}, each {_describe(info.item_type)}"
    if isinstance(info, mi.DictType | mi.StructType):
        return "a table"
    return "a value of another kind"


def _bounded(
    noun: str, ge: float | None, gt: float | None, le: float | None, lt: float | None
) -> str:
    bounds = [
        f"{op} {render_value(bound)}"
        for op, bound in ((">=", ge), (">", gt), ("<=", le), ("<", lt))
        if bound is not None
    ]
    return f"{noun} {' and '.join(bounds)}" if bounds else noun


def _string(info: mi.StrType) -> str:
    low, high = info.min_length or 0, info.max_length
    if low == 1:
        text = "a non-empty string" + (f" of at most {high} characters" if high else "")
    elif low and high is not None:
        text = f"a string of {low} to {high} characters"
    elif low:
        text = f"a string of at least {low} characters"
    elif high is not None:
        text = f"a string of at most {high} characters"
    else:
        text = "a string"
    if info.pattern:
        text += f" matching {info.pattern}"
    return text
