"""Named failpoints: places in the data path where a chaos test can kill or fail the process.

Off unless the environment variable ``PYWATS_FAILPOINTS`` is set when the module is first
imported; then :func:`failpoint` is one global lookup and a comparison. The variable holds
``;``-separated rules, each ``name=action`` with optional modifiers::

    PYWATS_FAILPOINTS="spool.commit=kill@3;disposal.move=error%0.2"

=================  ===============================================================
``kill``           ``SIGKILL`` this process (nothing runs after it: no ``finally``)
``exit``           ``os._exit(86)`` (no clean-up either, but an ordinary exit code)
``error``          raise :class:`FailpointError` (an ``OSError``, as a failing disk does)
``@N``             trigger on the N-th pass only (counted per process, from 1)
``%P``             trigger with probability P on each pass (0 < P <= 1)
=================  ===============================================================

Without ``@N`` or ``%P`` a rule triggers on every pass. The names in :data:`FAILPOINTS` are
the places the product defines; a rule for another name is an error, so a typo in a chaos
test cannot silently test nothing.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "FAILPOINTS",
    "FailpointError",
    "configure_failpoints",
    "failpoint",
    "failpoint_hits",
]

ENV_VAR = "PYWATS_FAILPOINTS"

FAILPOINTS: dict[str, str] = {
    "spool.commit": "inside a spool transaction, after its writes and before COMMIT",
    "pipeline.committed": "after a file's reports are committed, before the file is disposed of",
    "disposal.move": "just before a converted file is moved, deleted or marked",
    "spool.mark_sent": "inside the transaction that marks acknowledged reports sent",
    "sender.answered": "in the upload process, after the server answered, before the node hears",
}
"""Every failpoint the product defines, with where it sits."""

EXIT_CODE = 86
"""The exit status of the ``exit`` action."""


class FailpointError(OSError):
    """Raised by a failpoint whose action is ``error``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"failpoint {name} triggered")
        self.name = name


@dataclass(slots=True)
class _Rule:
    action: str
    nth: int | None = None
    probability: float | None = None
    hits: int = 0

    def fires(self) -> bool:
        self.hits += 1
        if self.nth is not None:
            return self.hits == self.nth
        if self.probability is not None:
            return random.random() < self.probability
        return True


_rules: dict[str, _Rule] | None = None


def _parse(text: str) -> dict[str, _Rule]:
    rules: dict[str, _Rule] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, spec = part.partition("=")
        name = name.strip()
        if not sep or name not in FAILPOINTS:
            known = ", ".join(sorted(FAILPOINTS))
            raise ValueError(f"{ENV_VAR}: {part!r} does not name a failpoint ({known})")
        rule = _Rule(action="")
        if "@" in spec:
            spec, _, nth = spec.partition("@")
            rule.nth = int(nth)
            if rule.nth < 1:
                raise ValueError(f"{ENV_VAR}: {part!r}: @N counts from 1")
        elif "%" in spec:
            spec, _, probability = spec.partition("%")
            rule.probability = float(probability)
            if not 0 < rule.probability <= 1:
                raise ValueError(f"{ENV_VAR}: {part!r}: %P is a probability in (0, 1]")
        if spec not in ("kill", "exit", "error"):
            raise ValueError(f"{ENV_VAR}: {part!r}: the action is kill, exit or error")
        rule.action = spec
        rules[name] = rule
    return rules


def configure_failpoints(text: str | None) -> None:
    """Set the rules from *text* (the variable's syntax); ``None`` or ``""`` turns them off.

    Raises:
        ValueError: a rule names no failpoint, or its action or modifier is not understood.
    """
    global _rules
    _rules = _parse(text) if text else None


def failpoint(name: str, error: Callable[[], Exception] | None = None) -> None:
    """Pass the failpoint *name*: nothing happens unless a rule for it fires.

    Args:
        name: one of :data:`FAILPOINTS`.
        error: makes the exception an ``error`` action raises, where the place has a more
            natural failure than :class:`FailpointError` (SQLite's disk I/O error in the spool).

    Raises:
        FailpointError: the rule's action is ``error`` (or what *error* makes).
    """
    if _rules is None:
        return
    rule = _rules.get(name)
    if rule is None or not rule.fires():
        return
    if rule.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif rule.action == "exit":
        os._exit(EXIT_CODE)
    if error is not None:
        raise error()
    raise FailpointError(name)


def failpoint_hits(name: str) -> int:
    """How often the failpoint *name* was passed while a rule for it was set (for tests)."""
    rule = (_rules or {}).get(name)
    return rule.hits if rule is not None else 0


configure_failpoints(os.environ.get(ENV_VAR))
