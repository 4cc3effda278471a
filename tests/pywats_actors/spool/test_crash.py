"""kill -9 at a random moment loses nothing that was acknowledged and leaves a sound file."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import trio

from pywats_actors.spool import ReportState, SpoolSettings, open_reader, open_spool

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 3


async def run_and_kill(db: Path, seed: int, delay: float) -> tuple[list[str], list[str]]:
    """Start the child, let it work for *delay* seconds after it is ready, SIGKILL it, and
    return the ids it acknowledged (enqueued, sent)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, str(CHILD), str(db), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    data = bytearray()
    try:
        with trio.fail_after(60):
            while b"ready\n" not in data:
                chunk = await process.stdout.receive_some()
                assert chunk, "the child exited before it was ready"
                data += chunk

        async def read_all() -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.receive_some():
                data.extend(chunk)

        # The pipe still holds what the child printed before it died: read it to EOF.
        with trio.fail_after(delay + 60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_all)
                await trio.sleep(delay)
                process.send_signal(signal.SIGKILL)
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await process.wait()
    assert process.returncode == -signal.SIGKILL
    lines = bytes(data).split(b"\n")[:-1]  # a torn last line cannot hold an acknowledgement
    enqueued = [line[2:].decode() for line in lines if line.startswith(b"E ")]
    sent = [line[2:].decode() for line in lines if line.startswith(b"S ")]
    return enqueued, sent


class TestKill9:
    async def test_every_acknowledged_report_survives_sigkill(self, tmp_path: Path) -> None:
        """Across several SIGKILLs at random moments, each report whose enqueue returned is
        in the spool, each report whose mark_sent returned is sent, and the file passes
        quick_check with nothing quarantined."""
        db = tmp_path / "spool.db"
        rng = random.Random()
        seed = rng.randrange(1 << 30)
        enqueued: list[str] = []
        sent: list[str] = []
        delays = []
        for round_ in range(ROUNDS):
            delay = rng.uniform(0.05, 0.8)
            delays.append(delay)
            e, s = await run_and_kill(db, seed + round_, delay)
            enqueued += e
            sent += s
        context = f"seed {seed}, delays {delays}"
        assert enqueued, f"the child acknowledged nothing ({context})"

        with open_reader(db) as reader:
            assert reader.check() == ["ok"], context
            assert reader.verify_rows() == [], context
        async with open_spool(db, SpoolSettings(reserve_free_bytes=0)) as spool:
            missing = []
            for rid in enqueued:
                try:
                    await spool.show(rid)
                except KeyError:
                    missing.append(rid)
            assert missing == [], context
            for rid in sent:
                assert (await spool.show(rid)).summary.state is ReportState.SENT, context
            stats = spool.statistics()
        assert stats.pending + stats.sent >= len(set(enqueued))
