"""The hostile plug-in suite (issue 9): converter plug-ins that attack the station they run on,
loaded the documented way (``converter = "/path/plugin.py:Class"``) and run by the real node.

Run it as root (``pytest tests/sandbox``); it skips, saying why, where it cannot run (not root,
no ``useradd``, no mount namespace for the service-user launcher). ``PYWATS_LONG=1`` gives the
threads and the waits more time.

* ``plugins/hostile.py`` is the plug-in: one copy per attack and moment is written next to the
  station's configuration with its settings filled in (``_station.write_plugin``).
* ``_attacks.py`` is the catalogue: each attack's group and what must show of its attempt. To
  add an attack, write ``attack_<name>()`` in the plug-in (return its loot, raise ``Blocked``
  or let the ``OSError`` of a refusal through) and add an :class:`~._attacks.Attack`.
* ``_station.py`` runs one node per (user, station) against the emulator and gathers what
  happened; ``conftest.py`` shares the runs between the tests, two at a time.
* ``test_hostile.py`` judges: per attack, moment and user (its loot must reach nothing, no
  listener may hear it, no marker file may exist, none of its processes may outlive the node,
  and its attempt must show in its error sidecar or a log line about its folder); per station
  (no secret anywhere, no process left, the node up to the end and the CSV folder unchanged).

A failure message lists everything that showed the attack worked, with the places it reached.
"""
