"""Akka-style exponential backoff between restarts.

The delay after the *n*-th consecutive failure (n counts from 0) is
``min(max, min * 2**n) * (1 + random() * random_factor)``: the jitter only ever adds, so many
failing children spread out instead of hitting a backend at the same moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._errors import InvalidSpec

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay restarts of a child: ``min * 2**n`` capped at ``max``, plus one-sided jitter.

    Args:
        min: the first delay in seconds; must be positive.
        max: the cap in seconds; at least ``min``.
        random_factor: jitter as a fraction of the delay, from 0 (none) to 1 (up to double).
        reset_after: seconds of running without failure after which the failure count returns
            to zero; ``None`` means ``min`` (Akka's default).

    Raises:
        InvalidSpec: the values break the rules above (they are Akka's).
    """

    min: float
    max: float
    random_factor: float = 0.2
    reset_after: float | None = None

    def __post_init__(self) -> None:
        if not (self.min > 0 and math.isfinite(self.min)):
            raise InvalidSpec(f"backoff min must be a positive number of seconds, got {self.min}")
        if not (self.max >= self.min and math.isfinite(self.max)):
            raise InvalidSpec(f"backoff max ({self.max}) must be at least min ({self.min})")
        if not 0 <= self.random_factor <= 1:
            raise InvalidSpec(f"backoff random_factor must be in [0, 1], got {self.random_factor}")
        if self.reset_after is not None and not self.reset_after > 0:
            raise InvalidSpec(f"backoff reset_after must be positive, got {self.reset_after}")

    @property
    def stable_after(self) -> float:
        """Seconds of clean running that reset the failure count."""
        return self.min if self.reset_after is None else self.reset_after

    def delay(self, failures: int, rand: float) -> float:
        """The delay before the restart that follows *failures* earlier consecutive failures.

        Args:
            failures: consecutive failures before this one (0 for the first).
            rand: a number in ``[0, 1)``, normally from ``random.random``.
        """
        base = self.max if failures >= 64 else min(self.max, self.min * 2**failures)
        return base * (1 + rand * self.random_factor)
