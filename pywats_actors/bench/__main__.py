"""``python -m pywats_actors.bench [SUITE] ...``: the same as ``pywats-node bench [SUITE] ...``."""

from __future__ import annotations

import sys

from .._cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
