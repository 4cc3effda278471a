"""The step tree of one CSV report: rows' steps grouped into sequences by their ``sequence``
cell (in order of first appearance), depth-first ids, statuses rolled up (the worst of
terminated, error, failed; else passed), and the step that caused the UUT failure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec
from msgspec import UNSET

from pywats_actors.report import SequenceCallInfo, Step

__all__ = ["step_tree"]

_WORST_FIRST = ("T", "E", "F")


def step_tree(
    steps: Sequence[tuple[str, Step]], name: str, version: str | None
) -> tuple[Step, int | None]:
    """The root sequence ``name`` of ``(sequence cell, step)`` pairs (an empty cell puts the
    step at the top), and the id of the first failed step (``None`` when none failed)."""
    top: list[Step | tuple[str, list[Step]]] = []
    sequences: dict[str, list[Step]] = {}
    for sequence, step in steps:
        if not sequence:
            top.append(step)
        elif sequence in sequences:
            sequences[sequence].append(step)
        else:
            sequences[sequence] = [step]
            top.append((sequence, sequences[sequence]))
    ids = iter(range(1, 1 << 31))
    failed: list[int] = []
    root = _sequence(name, version, top, ids, failed)
    return root, (failed[0] if failed else None)


def _sequence(
    name: str,
    version: str | None,
    children: Sequence[Step | tuple[str, list[Step]]],
    ids: Iterator[int],
    failed: list[int],
) -> Step:
    own_id = next(ids)
    built: list[Step] = []
    for child in children:
        if isinstance(child, tuple):
            built.append(_sequence(child[0], None, child[1], ids, failed))
            continue
        child_id = next(ids)
        caused = child.status == "F" and not failed
        if caused:
            failed.append(child_id)
        built.append(
            msgspec.structs.replace(child, id=child_id, caused_uut_failure=caused or UNSET)
        )
    statuses = {step.status for step in built}
    status = next((s for s in _WORST_FIRST if s in statuses), "P")
    return Step(
        id=own_id,
        group="M",
        step_type="SequenceCall",
        name=name,
        status=status,
        seq_call=SequenceCallInfo(
            path=name, name=name, version=UNSET if version is None else version
        ),
        steps=tuple(built),
    )
