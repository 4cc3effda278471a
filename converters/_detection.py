"""Auto-detection's rule: which converter takes a file, and what to say when none does.

Every converter that takes part (``detection="on"``) scores the file's head; the single most
confident one at or above :data:`~converters._sdk.ACCEPT_THRESHOLD` converts it. Two or more
sharing the best score is a tie: nobody converts the file, since guessing could turn it into a
wrong report that nothing would ever flag. Converters with ``detection="hint"`` (built-ins that
the configuration disabled) score too, but only to explain a file nobody took; ``"off"``
converters (a watch folder's own configuration, used by name) are not asked.

The same :func:`choose` runs in the worker (single-domain pools detect and convert in one trip)
and in the parent, which checks the worker's choice against its scores and chooses across
domains. The words of a refusal are the parent's (:func:`unrecognised_reason`): nothing a
worker writes reaches an operator as an instruction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

from ._sdk import ACCEPT_THRESHOLD

__all__ = ["Detection", "choose", "empty_reason", "tied", "unrecognised_reason"]

Detection: TypeAlias = Literal["on", "hint", "off"]
"""How a configured converter takes part in auto-detection (see the module docstring)."""

_SHOWN = 12  # scores listed in a refusal (the best first)


def choose(scores: Mapping[str, float], eligible: Sequence[str]) -> str | None:
    """The converter that takes the file: the only one of ``eligible`` with the best score,
    at least ``ACCEPT_THRESHOLD``; ``None`` when no score reaches it or the best is shared.

    Aliases of ``eligible`` missing from ``scores`` have no opinion; scores of other aliases
    (hints) are ignored.
    """
    best = tied(scores, eligible)
    return best[0] if len(best) == 1 else None


def tied(scores: Mapping[str, float], eligible: Sequence[str]) -> list[str]:
    """Every one of ``eligible`` sharing the best score, if it reaches ``ACCEPT_THRESHOLD``
    (one alias: a clear winner; none: nobody is confident), in ``eligible`` order."""
    top = max((scores[a] for a in eligible if a in scores), default=0.0)
    if top < ACCEPT_THRESHOLD:
        return []
    return [alias for alias in eligible if scores.get(alias) == top]


def empty_reason() -> str:
    """Why an empty file is refused before any converter sees it."""
    return "the file is empty (0 bytes): there is nothing to convert"


def unrecognised_reason(
    scores: Mapping[str, float],
    eligible: Sequence[str],
    hints: Sequence[str],
    head: bytes,
    name: str,
) -> str:
    """Why auto-detection found no converter for a file, for an operator.

    Args:
        scores: every score the converters gave (eligible and hints).
        eligible: the converters that take part, in configuration order.
        hints: disabled built-ins that scored the file only to explain a refusal.
        head: the file's first bytes (to name a known format no converter reads).
        name: the file's name.
    """
    winners = tied(scores, eligible)
    listed = _listed(scores, eligible, hints)
    if len(winners) > 1:
        names = " and ".join(", ".join(winners).rsplit(", ", 1))
        text = (
            f"the file is ambiguous: {names} are equally confident "
            f"({scores[winners[0]]:.2f}); name its converter in the watch folder's "
            f"`converter` setting (confidence: {listed})"
        )
    else:
        text = f"no converter recognised the file (confidence: {listed})"
    disabled = [a for a in hints if scores.get(a, 0.0) >= ACCEPT_THRESHOLD]
    if disabled and not winners:
        best = max(disabled, key=lambda a: scores[a])
        text += (
            f"; the built-in converter {best!r} would take it ({scores[best]:.2f}), but it is "
            "disabled: remove it from `disabled` in [conversion] to convert such files"
        )
    elif not winners:
        from ._known_formats import looks_like  # the parent's only: workers never import it

        known = looks_like(head, name)
        if known is not None:
            text += (
                f"; it looks like {known.description}, which no installed converter reads "
                f"({known.advice})"
            )
    return text


def _listed(scores: Mapping[str, float], eligible: Sequence[str], hints: Sequence[str]) -> str:
    asked = [a for a in eligible if a in scores]
    ranked = sorted((a for a in asked if scores[a] > 0), key=lambda a: -scores[a])  # stable
    parts = [f"{a} {scores[a]:.2f}" for a in ranked[:_SHOWN]]
    rest = len(asked) - len(parts)
    if rest:
        parts.append(f"{'every' if not parts else 'the'} {rest} other{'s' if rest > 1 else ''} 0")
        if len(ranked) > _SHOWN:
            parts[-1] = f"{rest} more below {scores[ranked[_SHOWN]]:.2f}"
    parts += [f"{a} {scores[a]:.2f} (disabled)" for a in hints if scores.get(a, 0.0) > 0]
    return ", ".join(parts) or "none configured"
