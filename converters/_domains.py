"""Trust domains: which converters may share a worker process.

A worker imports every converter it runs, and code run at import time can change any module of
the process; so converters that do not trust each other never share one. The built-in
converters (every reference that resolves into the ``converters`` package: ``wsjf``, ``csv``)
are one domain. Every third-party plug-in module is a domain of its own: a file
(``path.py:Class``), a dotted module outside ``converters`` (``pkg.mod:Class``), an entry point;
configurations of classes from the same module share that module's domain. Each domain has its
own workers (:mod:`converters._domain`), which import only its converters.

The parent decides what a converter is called in report ids: the built-ins' names, versions
and ``keeps_source_ids`` come from their classes, imported by the parent (they are its own
code); a plug-in's from its domain's first ``Hello``, with ``keeps_source_ids`` always false
(only formats that carry an id, WSJF today, keep it), and no plug-in may use the name of a
built-in or of another plug-in (:func:`claim_names`), so plug-ins cannot reach each other's
report ids nor the built-ins'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from ._discovery import BUILTIN_CONVERTERS, load_converter, ref_home
from ._errors import ConverterInvalid
from ._protocol import ConverterInfo, ConverterSetup
from ._settings import ConverterConfig

__all__ = ["BUILTIN_DOMAIN", "DomainPlan", "builtin_infos", "claim_names", "plan_domains"]

BUILTIN_DOMAIN = "builtin"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """One trust domain: the configurations its workers load.

    Attributes:
        id: ``builtin``, or a label of the plug-in module (``misbehaving``, ``pkg.mod``), made
            unique with a suffix.
        trusted: the built-in domain.
        configs: its configurations, in configuration order (references absolute).
        home: ``(kind, key)`` of its code (:func:`converters._discovery.ref_home`).
    """

    id: str
    trusted: bool
    configs: tuple[ConverterConfig, ...]
    home: tuple[str, str]

    def setups(self) -> list[ConverterSetup]:
        """What its workers are asked to load."""
        return [ConverterSetup(c.ref, c.name, dict(c.args), c.detection) for c in self.configs]


def plan_domains(configs: Sequence[ConverterConfig]) -> tuple[DomainPlan, ...]:
    """Group ``configs`` into trust domains, in the order each domain first appears."""
    groups: dict[tuple[str, str], list[ConverterConfig]] = {}
    for config in configs:
        kind, key = ref_home(config.ref)
        home = (BUILTIN_DOMAIN, "") if kind == "builtin" else (kind, key)
        groups.setdefault(home, []).append(config)
    plans: list[DomainPlan] = []
    used: set[str] = set()
    for home, members in groups.items():
        trusted = home[0] == BUILTIN_DOMAIN
        label = BUILTIN_DOMAIN if trusted else _label(*home)
        unique, n = label, 2
        while unique in used:
            unique, n = f"{label}-{n}", n + 1
        used.add(unique)
        plans.append(DomainPlan(unique, trusted, tuple(members), home))
    return tuple(plans)


def builtin_infos(plan: DomainPlan) -> list[ConverterInfo]:
    """The built-in domain's converters as the parent knows them, from their classes.

    Raises:
        ConverterLoadError: a reference into ``converters`` that does not load (not found,
            not a converter).
    """
    infos = []
    for config in plan.configs:
        cls = load_converter(config.ref)
        infos.append(
            ConverterInfo(
                alias=config.name or cls.name,
                name=cls.name,
                version=cls.version,
                ref=config.ref,
                patterns=tuple(getattr(cls, "patterns", ())),
                keeps_source_ids=bool(getattr(cls, "keeps_source_ids", False)),
                kind=str(getattr(cls, "kind", "file")),
            )
        )
    return infos


def plugin_infos(reported: Iterable[ConverterInfo]) -> list[ConverterInfo]:
    """A plug-in domain's converters as its first worker reported them, without the claims a
    plug-in cannot make: it never keeps source ids.

    Raises:
        ConverterInvalid: a declared name that cannot be part of report ids.
    """
    infos = []
    for info in reported:
        if not _NAME_RE.match(info.name):
            raise ConverterInvalid(info.ref, f"its name {info.name!r} is not a valid name")
        infos.append(
            ConverterInfo(
                alias=info.alias,
                name=info.name,
                version=info.version,
                ref=info.ref,
                patterns=tuple(info.patterns),
                keeps_source_ids=False,
                kind=info.kind,
            )
        )
    return infos


def claim_names(
    infos: Sequence[ConverterInfo], home: str, names: dict[str, tuple[str, str]]
) -> dict[str, ConverterInfo]:
    """Record a domain's converters in ``names`` (declared name or alias -> ``(home, ref)``)
    and return them by alias.

    Built-in names are reserved for the built-in domain whether it is configured or not.

    Raises:
        ConverterInvalid: a declared name or an alias another domain uses (naming both
            references); report ids of two domains would collide, or callers could not tell
            them apart.
    """
    for builtin in BUILTIN_CONVERTERS:
        names.setdefault(f"name:{builtin}", (BUILTIN_DOMAIN, builtin))
    claims: list[tuple[str, str, ConverterInfo]] = []
    for info in infos:
        claims.append((f"name:{info.name}", "name", info))
        claims.append((f"alias:{info.alias}", "alias", info))
    for key, what, info in claims:
        owner = names.get(key)
        if owner is not None and owner[0] != home:
            value = key.partition(":")[2]
            if what == "name":
                message = (
                    f"its name {value!r} is taken by {owner[1]!r} in another trust domain "
                    "(report ids would collide); a plug-in needs a name of its own"
                )
            else:
                message = (
                    f"the name {value!r} is used twice (also by {owner[1]!r}); give each "
                    "configuration a name"
                )
            raise ConverterInvalid(info.ref, message)
    for key, _, info in claims:
        names[key] = (home, info.ref)
    return {info.alias: info for info in infos}


def _label(kind: str, key: str) -> str:
    text = PurePath(key).stem if kind == "file" else key
    label = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return label or "plugin"
