"""A node stand-in for the kill -9 test: enqueues and uploads until it is killed.

Run as ``python crash_child.py <db> <seed>``. It prints ``ready`` once the spool is open, then
``E <id>`` for every report only after ``enqueue`` returned, and ``S <id>`` for every report
only after ``mark_sent`` returned. Standard output is flushed line by line, so whatever the
parent reads was printed after the matching commit.
"""

from __future__ import annotations

import random
import sys
import uuid

import trio

from pywats_actors.spool import SourceInfo, SpoolItem, SpoolSettings, open_spool


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(db: str, seed: int) -> None:
    rng = random.Random(seed)
    settings = SpoolSettings(reserve_free_bytes=0)
    async with open_spool(db, settings) as spool:
        say("ready")

        async def producer(worker: int) -> None:
            n = 0
            while True:
                items = []
                for _ in range(rng.randint(1, 3)):
                    rid = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}-{worker}-{n}"))
                    body = (
                        b'{"id":"'
                        + rid.encode()
                        + b'","pad":"'
                        + b"x" * rng.randint(100, 8000)
                        + b'"}'
                    )
                    source = SourceInfo(
                        path=f"/in/{worker}/{n}.xml",
                        content_hash=f"sha256:{n:064x}",
                        converter="crash-test",
                        converter_version="1",
                    )
                    items.append(SpoolItem(report_id=rid, body=body, source=source))
                    n += 1
                result = await spool.enqueue(items)
                for rid in result.inserted:
                    say(f"E {rid}")

        async def uploader() -> None:
            while True:
                claimed = await spool.claim(2)
                if not claimed:
                    await trio.sleep(0.001)
                for report in claimed:
                    await spool.mark_sent(report.report_id, answer="ok")
                    say(f"S {report.report_id}")

        async with trio.open_nursery() as nursery:
            for worker in range(4):
                nursery.start_soon(producer, worker)
            nursery.start_soon(uploader)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]))
