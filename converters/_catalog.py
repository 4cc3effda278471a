"""What a converter says about itself: its kind, a summary and its arguments, for people and GUIs.

``pywats-node converters`` lists every installed converter with this, and a worker asked to
describe its converters (``Setup.describe``) sends it in its ``Hello``. A plug-in's description
comes from a worker, so the parent bounds and cleans every text of it before showing it
(:func:`cleaned`): a description is shown, never obeyed.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import msgspec

from ._protocol import ArgumentDoc, ConverterDescription, ConverterInfo

__all__ = ["ArgumentDoc", "CatalogEntry", "ConverterDescription", "cleaned", "describe_class"]

_SUMMARY_LIMIT = 300
_DOC_LIMIT = 600
_TYPE_LIMIT = 200
_MAX_ARGUMENTS = 100
_SCHEMA_LIMIT = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class CatalogEntry(msgspec.Struct, frozen=True):
    """One converter of a pool, as ``pywats-node converters`` lists it.

    Attributes:
        info: what the pool knows of it (name, version, reference, patterns).
        description: its kind, summary and arguments.
        detection: its part in auto-detection (``on``, ``hint``: disabled, ``off``: by name
            only).
        domain: its trust domain (``builtin`` or the plug-in's).
    """

    info: ConverterInfo
    description: ConverterDescription
    detection: str
    domain: str


def describe_class(alias: str, cls: type[Any]) -> ConverterDescription:
    """Describe the converter class ``cls``, configured as ``alias``."""
    arguments_cls = getattr(cls, "Arguments", None)
    arguments: list[ArgumentDoc] = []
    schema = "{}"
    if isinstance(arguments_cls, type) and issubclass(arguments_cls, msgspec.Struct):
        docs = _attribute_docs(inspect.getdoc(arguments_cls) or "")
        info = msgspec.inspect.type_info(arguments_cls)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            arguments.append(
                ArgumentDoc(
                    field.encode_name,
                    _type_text(field.type),
                    None if field.required else _default_text(field),
                    docs.get(field.name, ""),
                )
            )
        try:
            schema = msgspec.json.encode(msgspec.json.schema(arguments_cls)).decode()
        except Exception:  # a type JSON Schema cannot express: the listing goes on
            schema = "{}"
    doc = inspect.getdoc(cls) or ""
    return ConverterDescription(
        alias=alias,
        kind=str(getattr(cls, "kind", "file")),
        summary=doc.strip().split("\n\n", 1)[0].replace("\n", " "),
        arguments=arguments,
        schema=schema,
    )


def cleaned(description: ConverterDescription) -> ConverterDescription:
    """``description`` with every text bounded and stripped of control and bidi characters
    (a plug-in's description, shown on an operator's terminal)."""
    return ConverterDescription(
        alias=_clean(description.alias, 64),
        kind=_clean(description.kind, 16),
        summary=_clean(description.summary, _SUMMARY_LIMIT),
        arguments=[
            ArgumentDoc(
                _clean(a.name, 64),
                _clean(a.type, _TYPE_LIMIT),
                None if a.default is None else _clean(a.default, _TYPE_LIMIT),
                _clean(a.doc, _DOC_LIMIT),
            )
            for a in description.arguments[:_MAX_ARGUMENTS]
        ],
        schema=description.schema if len(description.schema) <= _SCHEMA_LIMIT else "{}",
    )


def _clean(text: str, limit: int) -> str:
    text = _CONTROL.sub("", text.replace("\t", " ").replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ATTRIBUTE = re.compile(r"^(\s+)([A-Za-z_][\w, ]*?):\s*(.*)$")


def _attribute_docs(doc: str) -> dict[str, str]:
    """Field name -> text, from a Google-style ``Attributes:`` section (``a, b: text``
    documents both)."""
    docs: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return docs
    current: list[str] = []
    indent: int | None = None
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith(" "):
            break  # the next section
        match = _ATTRIBUTE.match(line)
        if match and (indent is None or len(match[1]) == indent):
            indent = len(match[1])
            current = [name.strip() for name in match[2].split(",")]
            for name in current:
                docs[name] = match[3].strip()
        elif line.strip() and current:
            for name in current:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


def _default_text(field: msgspec.inspect.Field) -> str:
    value = field.default
    if value is msgspec.NODEFAULT and field.default_factory is not msgspec.NODEFAULT:
        try:
            value = field.default_factory()
        except Exception:
            return "(computed)"
    try:
        return msgspec.json.encode(value).decode()
    except Exception:
        return repr(value)


def _type_text(t: msgspec.inspect.Type) -> str:
    mi = msgspec.inspect
    if isinstance(t, mi.UnionType):
        return " or ".join(_type_text(member) for member in t.types)
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.IntType | mi.FloatType):
        word = "integer" if isinstance(t, mi.IntType) else "number"
        bounds = [
            f"{op} {v}"
            for op, v in ((">=", t.ge), (">", t.gt), ("<=", t.le), ("<", t.lt))
            if v is not None
        ]
        return " ".join([word, *bounds])
    if isinstance(t, mi.StrType):
        return "string" + (f" matching {t.pattern}" if t.pattern else "")
    if isinstance(t, mi.LiteralType):
        return " | ".join(msgspec.json.encode(v).decode() for v in t.values)
    if isinstance(t, mi.ListType | mi.TupleType | mi.VarTupleType | mi.SetType):
        item = getattr(t, "item_type", None)
        if item is None:
            return "list"
        text = _type_text(item)
        return f"list of ({text})" if " | " in text or " or " in text else f"list of {text}"
    if isinstance(t, mi.DictType):
        return f"table of {_type_text(t.value_type)}"
    if isinstance(t, mi.StructType):
        return f"table ({t.cls.__name__})"
    return type(t).__name__.removesuffix("Type").lower() or "value"
