"""A hostile plug-in, loaded the documented way and run by the real node, as root and as a
service user: every attack of the class, at import, in convert() and from a thread started at
import, must fail; the node must stay up; no process may outlive it; and the attempt must be
visible (the file's error sidecar, or a line of the node's log about its folder).

Each station (a node run shared by attacks that cannot spoil each other's evidence) runs once,
when the first of its tests needs it; see ``_station.py``.
"""

from __future__ import annotations

import json
import re

import pytest

from converters import PoolSettings

from ._attacks import ATTACKS, MOMENTS, STATIONS, USERS, Attack, station_of
from ._station import LONG, TEMP_MB, StationResult, csv_values
from .conftest import Stations


def _runs(user: str, station: str) -> bool:
    """Whether this run covers ``station`` as ``user``: always as root; as the service user,
    in the short (CI) run, only the stations whose outcome can depend on the node's user (file
    modes, user namespaces of an unprivileged user: ``secrets`` and ``escape``). The others
    test the node's checks of what its workers answer, which are the same for every user;
    they run as both with ``PYWATS_LONG=1``."""
    return LONG or user == "root" or station in ("secrets", "escape")


CASES = [
    pytest.param(user, attack, moment, id=f"{user}-{attack.station}-{attack.name}-{moment}")
    for user in USERS
    for attack in ATTACKS
    for moment in MOMENTS
    if _runs(user, station_of(attack, moment))
]
_WRITTEN = re.compile(r"after writing (\d+) MiB")
STATION_CASES = [
    pytest.param(user, station, id=f"{user}-{station}")
    for user in USERS
    for station in STATIONS
    if _runs(user, station)
]


def _judge(result: StationResult, attack: Attack, moment: str) -> list[str]:
    """Everything that shows the attack worked, or was not seen; empty when it failed visibly."""
    plugin = result.plugins[(attack.name, moment)]
    problems = list(result.node_problems())
    loot = f"LOOT:{plugin.tag}"
    problems += [f"its loot ({loot}) reached {place}" for place in result.places_of(loot)]
    hits = sorted({kind for kind, data in result.received if plugin.tag.encode() in data})
    problems += [f"the {kind} listener received its message" for kind in hits]
    marker_names = set(plugin.markers)
    problems += [f"it wrote {path}" for path in result.markers_found if path in marker_names]
    left = result.marked.get(plugin.comm, [])
    if left:
        problems.append(f"{len(left)} of its processes outlived the node: {', '.join(left[:3])}")
    if attack.name == "keep-ids":
        problems += _kept_id_problems(result)
    outcome = result.outcomes.get(plugin.folder)
    must_fail = moment == "convert" and attack.convert_fails and result.ready
    if attack.name == "keep-ids" and result.ready:  # unless its claim was ignored
        must_fail = not _stored_under_own_id(result, plugin.folder)
    if must_fail and outcome is not None and "attack.txt" not in outcome.error:
        problems.append(f"the attack file did not fail (error/): {outcome}")
    if attack.name == "fill-temp":
        problems += _fill_problems(result, plugin.folder)
    if attack.visible is not None and not problems and not _seen(result, attack, plugin.folder):
        texts = result.about(plugin.folder)
        problems.append(
            f"the attempt left no trace matching {attack.visible!r}; the folder: "
            f"{outcome}; log lines about it: {texts[-5:]}"
        )
    return problems


def _fill_problems(result: StationResult, folder: str) -> list[str]:
    """The temporary folder was full at its limit, not later (the disk outside is not filled)."""
    limit = TEMP_MB or PoolSettings().temp_mb
    written = [int(n) for text in result.about(folder) for n in _WRITTEN.findall(text)]
    over = [n for n in written if n > limit]
    return [f"the temporary folder took {max(over)} MiB; its limit is {limit}"] if over else []


def _seen(result: StationResult, attack: Attack, folder: str) -> bool:
    """The attempt shows in the folder's sidecars or the node's log lines about it (a claimed
    id that the node ignored, storing the report under an id of its own, needs nothing)."""
    assert attack.visible is not None
    if attack.name == "keep-ids" and _stored_under_own_id(result, folder):
        return True
    texts = result.about(folder)
    return any(re.search(attack.visible, text, re.IGNORECASE) for text in texts)


def _kept_id_problems(result: StationResult) -> list[str]:
    victim_id, victim_sn = result.victim
    body = result.server.get(victim_id)
    if body is None:
        return [f"the victim report {victim_id} is not on the server"]
    if json.loads(body).get("sn") != victim_sn:
        return [f"the server's report {victim_id} is not the victim's any more"]
    return []


def _stored_under_own_id(result: StationResult, folder: str) -> bool:
    """The plug-in's report got an id of the node's choosing (its claim was ignored)."""
    victim_id = result.victim[0]
    tag = f"{result.user}.{folder}"
    return any(
        json.loads(body).get("sn") == f"HX-{tag}" and report_id != victim_id
        for report_id, body in result.server.items()
    )


@pytest.mark.parametrize(("user", "attack", "moment"), CASES)
def test_attack_fails_visibly_and_the_node_stays_up(
    stations: Stations, user: str, attack: Attack, moment: str
) -> None:
    result = stations.result(user, station_of(attack, moment))
    problems = _judge(result, attack, moment)
    assert not problems, f"{attack.what} ({moment}, as {user}):\n" + "\n".join(problems)


@pytest.mark.parametrize(("user", "station"), STATION_CASES)
def test_no_secret_of_the_station_leaves_it(stations: Stations, user: str, station: str) -> None:
    """The token, the configuration's secret and the node's environment are nowhere a plug-in
    could have put them: the server, done/ and error/ files, the node's log."""
    result = stations.result(user, station)
    leaks = [
        f"the {what} secret reached {place}"
        for what, secret in result.secrets.items()
        for place in result.places_of(secret)
    ]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize(("user", "station"), STATION_CASES)
def test_no_process_outlives_the_node(stations: Stations, user: str, station: str) -> None:
    result = stations.result(user, station)
    left = result.survivors + [d for found in result.marked.values() for d in found]
    assert not left, "still running after the node stopped:\n" + "\n".join(left)


@pytest.mark.parametrize(("user", "station"), STATION_CASES)
def test_the_node_stays_up_and_other_folders_convert_unchanged(
    stations: Stations, user: str, station: str
) -> None:
    """The node answers to the end (its last CSV files convert) and stops in order; every CSV
    file became exactly its own report; no listener heard from anyone."""
    result = stations.result(user, station)
    problems = list(result.node_problems())
    by_sn: dict[str, list[bytes]] = {}
    for body in result.server.values():
        by_sn.setdefault(json.loads(body).get("sn", ""), []).append(body)
    for sn, values in result.csv_expected.items():
        bodies = by_sn.get(sn, [])
        if not bodies:
            problems.append(f"the CSV report {sn} never reached the server")
        for body in bodies:
            if b"LOOT:" in body or csv_values(body) != values:
                problems.append(f"the CSV report {sn} was changed: {body[:300]!r}")
    problems += [
        f"the {kind} listener was reached: {data[:80]!r}" for kind, data in result.received
    ]
    assert not problems, "\n".join(problems)
