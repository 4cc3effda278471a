"""The parent's checks of what a worker says: nothing a worker sends is believed unchecked.

Anything running in a worker (a plug-in's import-time code, a thread it started) can write frames
to the protocol pipe, so each message is held against what the parent asked:

* ``Hello`` must list exactly the converters the parent asked that worker to load (their
  references in order, the configured names), and, once a domain's converters are known, the
  same converters as before;
* an answer must be of the kind asked (``Scores`` for a ``Detect``, ``Done``/``Refused`` for a
  ``Request``; the job number is checked as frames arrive, :mod:`converters._process`), name the
  converter asked for, or, when the worker detected, one of its domain's converters, namely
  the one its scores make the best;
* scores name only the domain's converters, each a finite number in ``[0, 1]``.

A message that fails a check is a protocol violation: the file fails (``Crashed`` with
``cause="protocol_violation"``), the worker is killed and replaced; the pool goes on.
What a converter is called in report ids, its version and whether it keeps source ids are
never taken from a worker after the domain's first start, and a plug-in never keeps source
ids (:mod:`converters._domains`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ._detection import choose
from ._protocol import ConverterInfo, ConverterSetup, Done, Hello, Refused, Scores

__all__ = ["answer_violation", "hello_violation", "scores_violation"]

_MAX_LISTED = 5


def scores_violation(scores: Mapping[str, float], aliases: Sequence[str]) -> str | None:
    """What is wrong with detection scores from a worker whose converters are ``aliases``."""
    foreign = [alias for alias in scores if alias not in aliases]
    if foreign:
        return f"scores name converters it does not run: {_listed(foreign)}"
    for alias, score in scores.items():
        if not (isinstance(score, float) and math.isfinite(score) and 0.0 <= score <= 1.0):
            return f"the score of {alias!r} is {score!r}, not a number in [0, 1]"
    return None


def answer_violation(
    answer: Done | Refused | Scores,
    *,
    detect_only: bool,
    converter: str | None,
    aliases: Sequence[str],
    eligible: Sequence[str],
    poll: bool = False,
) -> str | None:
    """What is wrong with ``answer`` to a job that asked for ``converter`` (``None``: detect
    first) of a worker whose converters are ``aliases`` (configuration order), of which
    ``eligible`` take part in auto-detection; ``None`` when it is an answer the parent may
    take.

    ``detect_only``: the job was a ``Detect`` (only ``Scores`` answer it). ``poll``: the job
    was a ``Poll`` (a ``Done`` has one key per report; only such a ``Done`` has keys).
    """
    if isinstance(answer, Scores):
        if not detect_only:
            return "detection scores answered a conversion"
        return scores_violation(answer.scores, aliases)
    if detect_only:
        return f"a {type(answer).__name__} answer to a detection"
    if isinstance(answer, Done) and (answer.keys is not None) != poll:
        return "keys in the answer to a conversion" if not poll else "no keys in a poll's answer"
    if (
        isinstance(answer, Done)
        and answer.keys is not None
        and (len(answer.keys) != len(answer.reports))
    ):
        return f"{len(answer.keys)} keys for {len(answer.reports)} reports in a poll's answer"
    if converter is not None:
        if answer.converter != converter:
            return f"the answer names converter {answer.converter!r}, not {converter!r}"
        if answer.scores is not None:
            return "detection scores in the answer to a conversion by name"
        if isinstance(answer, Refused) and answer.kind == "unrecognised":
            return "'unrecognised' answered a conversion by name"
        return None
    if answer.scores is None:
        return "no detection scores in the answer to a detection"
    problem = scores_violation(answer.scores, aliases)
    if problem is not None:
        return problem
    best = choose(answer.scores, eligible)
    if isinstance(answer, Refused) and answer.kind == "unrecognised":
        if answer.converter is not None or best is not None:
            return f"'unrecognised', but its scores choose {best!r}"
        return None
    if answer.converter != best:
        return f"the answer names converter {answer.converter!r}; its scores choose {best!r}"
    return None


def hello_violation(
    hello: Hello, asked: Sequence[ConverterSetup], known: Sequence[ConverterInfo] | None
) -> str | None:
    """What is wrong with a worker's ``Hello`` when it was asked to load ``asked``; ``known``:
    the domain's converters as the parent recorded them at its first start (``None`` before).

    Load failures are not checked here beyond their references (they fail the start anyway).
    """
    refs = [item.ref for item in asked]
    failed = [failure.ref for failure in hello.failures]
    if any(ref not in refs for ref in failed):
        return f"it reports load failures of converters it was not given: {_listed(failed)}"
    if failed:
        return None
    loaded = [info.ref for info in hello.converters]
    if loaded != refs:
        return f"it reports converters {_listed(loaded)}; it was given {_listed(refs)}"
    for item, info in zip(asked, hello.converters, strict=True):
        if item.alias is not None and info.alias != item.alias:
            return f"it reports {info.ref!r} as {info.alias!r}; it was named {item.alias!r}"
    aliases = [info.alias for info in hello.converters]
    if len(set(aliases)) != len(aliases):
        return f"it reports one name twice: {_listed(aliases)}"
    if known is not None:
        for info, before in zip(hello.converters, known, strict=True):
            if (info.alias, info.name, info.version) != (before.alias, before.name, before.version):
                return (
                    f"it reports {info.ref!r} as {info.name!r} {info.version!r} named "
                    f"{info.alias!r}; the domain's first worker said {before.name!r} "
                    f"{before.version!r} named {before.alias!r}"
                )
    return None


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(repr(item) for item in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else (shown or "none")
