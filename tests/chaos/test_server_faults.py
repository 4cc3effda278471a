"""Scenario: a server that misbehaves in every way a real one does, while files keep coming.

Phases, each while files are dropped: 30 % 5xx with 429s (Retry-After), reports stored but
never answered, connections reset and stalled by the proxy, latency with jitter; then the
server down for a while; then the token refused (revoked) and accepted again. Afterwards the
node drains without a restart, and the history checker accounts for every file and delivery.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from pywats_actors.chaos import ProxyFaults, Toxics
from pywats_actors.emulator import Faults

from ._harness import LONG, SHORT_BREAKER, ChaosRun, NodeProcess, chaos_run, size

pytestmark = pytest.mark.slow

MIXED = Faults(
    error_500=0.15,
    error_503=0.15,
    throttle=0.1,
    retry_after="1",
    reset_after_store=0.05,
    hang=0.02,
    reject=0.03,
)
PROXY_MIXED = ProxyFaults(
    upstream=Toxics(reset_peer=0.0, toxicity=0.15),
    downstream=Toxics(latency=0.02, jitter=0.02, timeout=1.0, toxicity=0.15),
)


async def blips(run: ChaosRun, scope: trio.CancelScope) -> None:
    """Network blips: every open connection reset twice a second (new connections then meet
    the proxy's toxics afresh)."""
    while not scope.cancel_called:
        await trio.sleep(0.5)
        run.proxy.reset_all()


async def drained_after(run: ChaosRun, node: NodeProcess, within: float) -> float:
    """Seconds from now until every report dropped so far is on the server (or rejected)."""
    start = time.monotonic()
    with trio.fail_after(within):
        while run.undelivered():
            assert node.proc.poll() is None, f"node exited {node.proc.returncode}"
            await trio.sleep(0.1)
    return time.monotonic() - start


class TestServerFaults:
    async def test_misbehaving_server_loses_and_repeats_nothing(self, tmp_path: Path) -> None:
        """Through 5xx, 429, rejections, ambiguous resets, stalls, an outage and a revoked
        token, every file is accounted for: on the server whole with one body per id, rejected
        with the server's reason, or (the broken ones) in error/; no restart needed."""
        mixed_for, down_for, revoked_for = size(4, 120), size(2, 60), size(2, 30)
        rate = size(15, 10)
        # the long run keeps the breaker's defaults: its drain time is what a station would see
        upload = "" if LONG else SHORT_BREAKER
        async with chaos_run(tmp_path, seed=23, upload=upload) as run:
            node = run.start()
            await run.wait_ready(node)

            run.drop_broken(3)  # for error/, with the converter's reason
            run.emulator.set_faults(MIXED)
            run.proxy.set_faults(PROXY_MIXED)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(blips, run, nursery.cancel_scope)
                await run.drop_at_rate(mixed_for * rate, rate)
                nursery.cancel_scope.cancel()
            run.emulator.set_faults(Faults())
            run.proxy.set_faults(ProxyFaults())
            run.figures.faults["mixed phase s"] = mixed_for

            run.emulator.set_faults(Faults(down=True))
            await run.drop_at_rate(down_for * rate, rate)
            run.emulator.set_faults(Faults())
            run.figures.faults["down s"] = down_for
            back_from_down = await drained_after(run, node, size(120, 900))
            run.figures.faults["drain after down s"] = round(back_from_down, 2)

            run.emulator.set_faults(Faults(unauthorized=1.0))
            await run.drop_at_rate(revoked_for * rate, rate)
            run.emulator.set_faults(Faults())
            run.figures.faults["token revoked s"] = revoked_for
            back_from_revoked = await drained_after(run, node, size(120, 900))
            run.figures.faults["drain after token restored s"] = round(back_from_revoked, 2)

            run.figures.drain_seconds = await run.drain(node, 120)
            assert await run.stop(node) == 0
            stats = run.emulator.stats()
            verdict = run.verdict()
            run.report("server faults", verdict)
            verdict.assert_ok()
            assert verdict.in_error == 3
            # a rejection whose answer the proxy swallowed is retried, and may then be stored
            assert verdict.rejected <= stats.faults["reject"]
            assert verdict.delivered + verdict.rejected + verdict.in_error == len(run.dropped)
            assert stats.faults["error_500"] + stats.faults["error_503"] > 0
            assert stats.faults["throttle"] > 0
            proxy_faults = run.proxy.stats().faults
            assert proxy_faults.get("reset_peer", 0) > 0
            assert proxy_faults.get("reset_all", 0) > 0
