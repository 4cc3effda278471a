"""Lazy package attributes: a name is imported from its module the first time it is used.

A package that wants ``import package`` to stay cheap lists the heavy names and their modules
and sets its module-level ``__getattr__`` to :func:`lazy_attributes`. The value is then stored
in the package's namespace, so the second use is an ordinary attribute lookup. Type checkers
see the names through ``if TYPE_CHECKING:`` imports next to the table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, namespace: dict[str, Any], modules: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package* that imports each name of *modules* on first use.

    Args:
        package: the package's ``__name__`` (relative module names are resolved against it).
        namespace: the package's ``globals()``; a loaded value is stored there.
        modules: each lazy name and the module that defines it (``"._pool"``).
    """

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
