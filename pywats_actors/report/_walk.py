"""Generic knowledge of the model's shape: per-class field tables and a tree walk.

The codec uses the tables to find unknown keys in raw JSON; validation walks the tree to find
unknown keys that clash with known ones, and a test compares the tables' float fields with the
fields validation checks for finiteness. Tables are built once per class from the Structs' own
annotations, so a field added to the model is covered without touching this module.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Union, get_args, get_origin

import msgspec

from ._base import UNKNOWN_FIELDS_KEY, WsjfObject

__all__ = ["ChildField", "StructSchema", "struct_schema", "walk_objects"]


class ChildField(NamedTuple):
    """A field that holds model objects."""

    attr: str
    key: str
    cls: type[WsjfObject]
    is_list: bool


class StructSchema(NamedTuple):
    """The shape of one model class.

    Attributes:
        known_keys: the JSON keys the class reads, including a tag field such as ``type``.
        keys: JSON key of each attribute.
        children: the fields holding model objects.
        float_fields: attributes whose type allows a ``float`` (JSON cannot carry NaN or infinity).
        get_children: returns the values of ``children`` in one call (a tuple, even for one).
    """

    known_keys: frozenset[str]
    keys: Mapping[str, str]
    children: tuple[ChildField, ...]
    float_fields: tuple[str, ...]
    get_children: Callable[[WsjfObject], tuple[Any, ...]]


@functools.cache
def struct_schema(cls: type[WsjfObject]) -> StructSchema:
    """Return (and cache) the :class:`StructSchema` of a model class."""
    keys: dict[str, str] = {}
    children: list[ChildField] = []
    float_fields: list[str] = []
    for field in msgspec.structs.fields(cls):
        if field.encode_name == UNKNOWN_FIELDS_KEY:
            continue
        keys[field.name] = field.encode_name
        child = _model_class_in(field.type)
        if child is not None:
            children.append(ChildField(field.name, field.encode_name, *child))
        if float in _members(field.type):
            float_fields.append(field.name)
    known = set(keys.values())
    tag_field = cls.__struct_config__.tag_field
    if tag_field is not None:
        known.add(tag_field)
    attrs = [child.attr for child in children]
    return StructSchema(
        frozenset(known), keys, tuple(children), tuple(float_fields), _getter(attrs)
    )


def _getter(attrs: list[str]) -> Callable[[WsjfObject], tuple[Any, ...]]:
    """``operator.attrgetter`` that always returns a tuple."""
    if not attrs:
        return lambda obj: ()
    if len(attrs) == 1:
        single = operator.attrgetter(attrs[0])
        return lambda obj: (single(obj),)
    return operator.attrgetter(*attrs)


def walk_objects(obj: WsjfObject, path: str = "$") -> Iterator[tuple[str, WsjfObject]]:
    """Yield ``(json_path, object)`` for ``obj`` and every model object below it, in document
    order. Iterative, so a deep step tree cannot exhaust the interpreter stack."""
    pending: list[tuple[str, WsjfObject]] = [(path, obj)]
    while pending:
        path, obj = pending.pop()
        yield path, obj
        schema = struct_schema(type(obj))
        found: list[tuple[str, WsjfObject]] = []
        for child, value in zip(schema.children, schema.get_children(obj), strict=True):
            if not value:  # UNSET, None and () are all false; a Struct is true
                continue
            if child.is_list:
                found.extend(
                    (f"{path}.{child.key}[{index}]", item) for index, item in enumerate(value)
                )
            else:
                found.append((f"{path}.{child.key}", value))
        pending.extend(reversed(found))


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union type, or the type itself."""
    return get_args(annotation) if get_origin(annotation) is Union else (annotation,)


def _model_class_in(annotation: Any) -> tuple[type[WsjfObject], bool] | None:
    """Find the model class in ``X``, ``tuple[X, ...]``, or either inside ``Maybe[...]``."""
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, WsjfObject):
            return member, False
        if get_origin(member) is tuple:
            item = get_args(member)[0]
            if isinstance(item, type) and issubclass(item, WsjfObject):
                return item, True
    return None
