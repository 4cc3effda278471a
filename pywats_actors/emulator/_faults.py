"""Fault injection for the emulator: what can go wrong, and a seeded die that decides when.

A :class:`Faults` record describes the misbehaviour wanted; it is set when the emulator starts
and can be replaced while it runs (in-process, or over ``POST /_emulator/faults``). For each
``/api`` request, while any fault or latency is set, the :class:`FaultDice` draws exactly two
numbers from one seeded :class:`random.Random`: one picks at most one fault (the probabilities
are slices of [0, 1)), the other the latency jitter. So the same seed and the same order of
requests give the same faults.
"""

from __future__ import annotations

import enum
import random
from typing import Annotated, Final

import msgspec

__all__ = ["Fault", "FaultDice", "Faults"]

_Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Delay = Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)]


class Fault(enum.Enum):
    """One injected misbehaviour, as counted in the emulator's statistics."""

    UNAUTHORIZED = "unauthorized"
    """401, as if the token were wrong."""
    THROTTLE = "throttle"
    """429 with ``Retry-After``."""
    ERROR_500 = "error_500"
    """500 Internal Server Error."""
    ERROR_503 = "error_503"
    """503 Service Unavailable with ``Retry-After``."""
    HTML_200 = "html_200"
    """200 OK with an HTML page, as a captive portal or login proxy would give."""
    HANG = "hang"
    """Read the request, then never answer."""
    RESET = "reset"
    """Read the request, then reset the connection (TCP RST) without processing it."""
    RESET_AFTER_STORE = "reset_after_store"
    """Process and store the report, then reset instead of answering: the ambiguous outcome."""
    REJECT = "reject"
    """400 for a report submission, as when the server's own rules refuse a report our
    validation accepts; the report is not stored. Other requests are answered normally."""


class Faults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The misbehaviour wanted from the emulator. The default is none at all.

    Attributes:
        latency: seconds to wait before answering each ``/api`` request.
        jitter: the latency varies uniformly by up to this many seconds either way.
        unauthorized: probability of a 401.
        throttle: probability of a 429 carrying ``Retry-After: <retry_after>``.
        error_500: probability of a 500.
        error_503: probability of a 503 carrying ``Retry-After: <retry_after>``.
        html_200: probability of a 200 whose body is an HTML page instead of JSON.
        hang: probability that the request is read and never answered.
        reset: probability that the connection is reset (RST) instead of answered; the report
            is not stored.
        reset_after_store: probability that the report is stored and the connection then reset
            instead of answered.
        reject: probability that a report submission is refused with 400 and a message, as
            the server's own rules would (only submissions; the report is not stored).
        retry_after: the ``Retry-After`` value sent with 429 and 503, verbatim (so a test can
            send an HTTP-date or garbage), or ``None`` to send none.
        down: refuse connections: the listening socket is closed and open connections are
            reset. The admin API goes down with it.
        down_for: with ``down``, come back up by itself after this many seconds. Required when
            ``down`` is set over the admin API, which would otherwise lock itself out.

    The probabilities must add up to at most 1.
    """

    latency: _Delay = 0.0
    jitter: _Delay = 0.0
    unauthorized: _Probability = 0.0
    throttle: _Probability = 0.0
    error_500: _Probability = 0.0
    error_503: _Probability = 0.0
    html_200: _Probability = 0.0
    hang: _Probability = 0.0
    reset: _Probability = 0.0
    reset_after_store: _Probability = 0.0
    reject: _Probability = 0.0
    retry_after: str | None = "1"
    down: bool = False
    down_for: Annotated[float, msgspec.Meta(gt=0.0, le=86400.0)] | None = None

    def __post_init__(self) -> None:
        total = sum(getattr(self, fault.value) for fault in Fault)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:g}, more than 1")
        if self.retry_after is not None and not _is_header_value(self.retry_after):
            raise ValueError("retry_after must be printable ASCII on one line")
        if self.down_for is not None and not self.down:
            raise ValueError("down_for needs down = true")


def _is_header_value(text: str) -> bool:
    return text.isascii() and text.isprintable() and text == text.strip() and bool(text)


NO_FAULTS: Final = Faults()


class FaultDice:
    """Decides, request by request, which fault (if any) to inject and how long to wait.

    Args:
        faults: the probabilities and latency.
        seed: the seed of the random sequence.
    """

    def __init__(self, faults: Faults, seed: int) -> None:
        self._random = random.Random(seed)
        self.seed = seed
        self.faults = faults
        self._slices: list[tuple[float, Fault]] = []
        edge = 0.0
        for fault in Fault:
            probability = getattr(faults, fault.value)
            if probability > 0.0:
                edge += probability
                self._slices.append((edge, fault))
        self._quiet = not self._slices and faults.latency == 0.0 and faults.jitter == 0.0

    def replaced(self, faults: Faults, seed: int | None = None) -> FaultDice:
        """Dice for *faults* that go on with this random sequence, or restart it from *seed*."""
        dice = FaultDice(faults, self.seed if seed is None else seed)
        if seed is None:
            dice._random = self._random
        return dice

    def roll(self) -> tuple[Fault | None, float]:
        """The fault for the next request (``None`` for none) and the seconds to wait first."""
        if self._quiet:
            return None, 0.0
        pick = self._random.random()
        spread = self._random.random()
        delay = max(0.0, self.faults.latency + (2.0 * spread - 1.0) * self.faults.jitter)
        for edge, fault in self._slices:
            if pick < edge:
                return fault, delay
        return None, delay
