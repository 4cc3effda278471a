"""A WATS-compatible server for tests, demos and benchmarks, with fault injection.

Usage::

    from pywats_actors.emulator import Faults, open_emulator

    async with open_emulator(token="t0k3n", faults=Faults(error_503=0.1), seed=1) as emu:
        ...  # a client at emu.url with token "t0k3n"
        print(emu.stats().accepted)
        print(emu.deliveries())  # every accepted submission, resends included

It speaks the part of the WATS REST API a station agent uses (submit WSJF, read it back, server
version, ping), validates every report strictly with :mod:`pywats_actors.report`, stores reports
in memory or in a SQLite file, and misbehaves on request: latency, 401, 429, 500, 503, HTML
answers, hangs, connection resets, and a ``down`` switch. ``docs/emulator.md`` has the details
and the command line (``pywats-node emulator``).
"""

from __future__ import annotations

from .._http_server import HttpLimits as HttpLimits
from ._app import EMULATED_VERSION as EMULATED_VERSION
from ._app import DeliveryPage as DeliveryPage
from ._app import EmulatorStats as EmulatorStats
from ._app import FaultsUpdate as FaultsUpdate
from ._faults import Fault as Fault
from ._faults import Faults as Faults
from ._server import Emulator as Emulator
from ._server import open_emulator as open_emulator
from ._store import Delivery as Delivery

__all__ = [
    "EMULATED_VERSION",
    "Delivery",
    "DeliveryPage",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "Faults",
    "FaultsUpdate",
    "HttpLimits",
    "open_emulator",
]
