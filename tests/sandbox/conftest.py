"""The hostile plug-in suite's harness: one node run per (user, station), shared by the tests of
that station's attacks and run when the first of them needs it; the throwaway service user,
made once per session when root (and removed again)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from .._unprivileged import (
    ServiceUser,
    create_service_user,
    remove_service_user,
    unavailable_reason,
)
from ._attacks import station_of
from ._station import RUN, StationResult, kill_marked, run_station

PARALLEL = 2
"""Stations run at once (each is a node and its workers, mostly waiting)."""


class Stations:
    """Runs each station once per user and keeps its result for the tests that judge it.

    The first test that needs a user's stations starts all the stations of that user the
    session's tests need (``wanted``), :data:`PARALLEL` at a time, in the tests' order."""

    def __init__(self, factory: pytest.TempPathFactory, wanted: list[tuple[str, str]]) -> None:
        self._factory = factory
        self._wanted = wanted
        self._executor = ThreadPoolExecutor(PARALLEL, thread_name_prefix="station")
        self._futures: dict[tuple[str, str], Future[StationResult]] = {}
        self._service: ServiceUser | None = None
        self._service_skip: str | None = None

    def service_user(self) -> ServiceUser:
        """The throwaway user (made on first use); skips the test when there can be none."""
        if self._service is None and self._service_skip is None:
            self._service_skip = unavailable_reason()
            if self._service_skip is None:
                try:
                    self._service = create_service_user()
                except OSError as exc:
                    self._service_skip = str(exc)
        if self._service is None:
            pytest.skip(self._service_skip or "no service user")
        return self._service

    def _submit(self, user: str, station: str, service: ServiceUser | None) -> None:
        if (user, station) not in self._futures:
            root = self._factory.mktemp(f"{user}-{station}")
            logs = self._factory.mktemp(f"{user}-{station}-logs")
            self._futures[(user, station)] = self._executor.submit(
                run_station, root, logs, station, user, service
            )

    def result(self, user: str, station: str) -> StationResult:
        """The station's run as ``user`` (``root`` or ``service-user``), run now if needed.

        Raises:
            RuntimeError: the station could not be run (the cause is chained).
        """
        if os.geteuid() != 0:
            pytest.skip(
                "the hostile suite runs the node as root and as a throwaway user: it needs root"
            )
        service = self.service_user() if user == "service-user" else None
        for wanted_user, wanted_station in self._wanted:
            if wanted_user == user:
                self._submit(user, wanted_station, service)
        self._submit(user, station, service)
        try:
            return self._futures[(user, station)].result()
        except Exception as exc:  # every test of the station reports it
            raise RuntimeError(f"the {station} station could not be run as {user}") from exc

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._executor.shutdown(wait=True)
        kill_marked(f"hx{RUN}")
        if self._service is not None:
            remove_service_user(self._service)


def _wanted(items: list[pytest.Item]) -> list[tuple[str, str]]:
    """The (user, station) runs the session's tests of this suite need, in their order."""
    wanted: dict[tuple[str, str], None] = {}
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "user" not in params or not item.nodeid.startswith("tests/sandbox/"):
            continue
        if "station" in params:
            wanted[(params["user"], params["station"])] = None
        elif "attack" in params:
            wanted[(params["user"], station_of(params["attack"], params["moment"]))] = None
    return list(wanted)


@pytest.fixture(scope="session")
def stations(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stations]:
    """The stations of this session (removes the service user and kills what is left)."""
    runs = Stations(tmp_path_factory, _wanted(request.session.items))
    try:
        yield runs
    finally:
        runs.close()
        with contextlib.suppress(OSError):
            for stale in Path("/tmp").glob(f"pywats-hostile-{RUN}-*"):
                stale.unlink()
