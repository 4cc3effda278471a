"""``pywats-node convert FILE --explain``: every converter's score and what came of the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from converters import ConversionResult, Detection

__all__ = ["print_explanation"]

_EXIT_OK = 0
_EXIT_INVALID = 2


def print_explanation(
    file: str,
    detection: Detection,
    converter: str | None,
    result: ConversionResult,
    out: TextIO,
) -> int:
    """Print the scores (best first), the decision and the outcome; return the exit code
    ``convert`` returns for that outcome (0 converted, 2 refused)."""
    from converters import ACCEPT_THRESHOLD, Converted

    from .node._pipeline import describe_failure

    path = Path(file)
    out.write(f"{path.name} ({path.stat().st_size:,} bytes)\n")
    rows = [(alias, detection.scores[alias], "") for alias in detection.eligible]
    rows += [(alias, detection.scores[alias], "disabled") for alias in detection.hints]
    rows.sort(key=lambda row: -row[1])  # stable: configuration order among equal scores
    width = max([len(alias) for alias, _, _ in rows] + [9])
    out.write(f"  {'converter':<{width}}  score\n")
    for alias, score, note in rows:
        mark = "  <- chosen" if alias == detection.chosen else ""
        if note:
            mark = f"  ({note}: never chosen)"
        elif score >= ACCEPT_THRESHOLD and alias != detection.chosen:
            mark = "  (confident too)"
        out.write(f"  {alias:<{width}}  {score:.2f}{mark}\n")
    for domain, why in detection.unavailable.items():
        out.write(f"  (plug-in domain {domain} could not answer: {why})\n")
    out.write(f"auto-detection takes the single best score of at least {ACCEPT_THRESHOLD:.2f}: ")
    if detection.chosen is not None:
        out.write(f"{detection.chosen}\n")
    else:
        out.write("none\n")
        if detection.reason:
            out.write(f"why: {detection.reason}\n")
    if converter is not None:
        out.write(f"converted with --converter {converter} (detection not used)\n")
    if isinstance(result, Converted):
        out.write(
            f"outcome: converted by {result.converter_name} {result.converter_version}: "
            f"{len(result.reports)} report(s)\n"
        )
        return _EXIT_OK
    kind, reason, _ = describe_failure(result)
    out.write(f"outcome: {kind}: {reason}\n")
    return _EXIT_INVALID
