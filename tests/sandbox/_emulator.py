"""The WATS emulator as a process of its own (``pywats-node emulator``), for a node that runs as a
process too; what it stored is read back over its admin API."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

_START_TIMEOUT = 20.0


class EmulatorProcess:
    """An emulator on 127.0.0.1, any free port, accepting ``token``.

    Raises:
        RuntimeError: it did not print its URL within 20 s (its standard error is the message).
    """

    def __init__(self, token: str, log: Path) -> None:
        self.token = token
        self._log = log.open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pywats_actors._cli", "emulator", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={"PYWATS_EMULATOR_TOKEN": token, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], _START_TIMEOUT)
        line = self._proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"the emulator did not start: {log.read_text()[-2000:]}")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])

    def _get(self, path: str) -> bytes:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Basic {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            data: bytes = answer.read()
            return data

    def delivered_ids(self) -> list[str]:
        """The report id of every accepted submission, in order (resends included)."""
        ids: list[str] = []
        after = 0
        while True:
            page = json.loads(self._get(f"/_emulator/deliveries?after={after}&limit=1000"))
            ids += [row["report_id"] for row in page["deliveries"]]
            if page.get("next_after") is None:
                return ids
            after = page["next_after"]

    def reports(self) -> dict[str, bytes]:
        """Every stored report's WSJF body, by id."""
        return {
            report_id: self._get(f"/api/report/wsjf/{report_id}")
            for report_id in dict.fromkeys(self.delivered_ids())
        }

    def wait_for(self, report_id: str, timeout: float) -> bool:
        """Whether ``report_id`` was delivered within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if report_id in self.delivered_ids():
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()
