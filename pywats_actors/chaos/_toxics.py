"""The faults the TCP fault proxy injects, per direction: toxiproxy's toxics as frozen records.

Directions are named from the client's side: ``upstream`` is what the client sends to the
server, ``downstream`` what the server sends back. Each direction has its own :class:`Toxics`,
and a :class:`ProxyFaults` holds both. Every field can be changed while connections are open:
the proxy reads the record in force at each chunk it forwards.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["ProxyFaults", "Toxics"]

_Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=86400.0)]
_Bytes = Annotated[int, msgspec.Meta(ge=0)]
_Rate = Annotated[int, msgspec.Meta(gt=0)]
_Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Toxics(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What happens to the bytes flowing one way. The default is nothing at all.

    Attributes:
        latency: seconds each chunk waits before it is forwarded.
        jitter: the wait varies uniformly by up to this many seconds either way.
        bandwidth: at most this many bytes per second go through (``None``: no limit).
        reset_peer: reset both sides (TCP RST, ``SO_LINGER`` 0) this many seconds after data
            is first seen in this direction; 0 resets at once, without forwarding that data.
        timeout: stop forwarding (the data is dropped) and close both sides this many seconds
            after the stall began; 0 holds the connection open, silent, until the toxic is
            removed.
        slow_close: when the sending side closes, wait this many seconds before passing the
            close on.
        limit_data: close both sides once this many bytes went through in this direction (the
            chunk that crosses the limit is cut at the limit).
        toxicity: the probability that a connection is affected by these toxics, drawn once
            per connection and direction.
    """

    latency: _Seconds = 0.0
    jitter: _Seconds = 0.0
    bandwidth: _Rate | None = None
    reset_peer: _Seconds | None = None
    timeout: _Seconds | None = None
    slow_close: _Seconds = 0.0
    limit_data: _Bytes | None = None
    toxicity: _Probability = 1.0


_NONE = Toxics()


class ProxyFaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The faults of both directions.

    Attributes:
        upstream: what happens to the bytes the client sends.
        downstream: what happens to the bytes the server sends back.
    """

    upstream: Toxics = _NONE
    downstream: Toxics = _NONE
