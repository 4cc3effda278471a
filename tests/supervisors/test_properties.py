"""Property: random crash schedules against the restart-intensity rules."""

from __future__ import annotations

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisors import (
    Backoff,
    ChildExited,
    ExitKind,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
)
from supervisors.testing import EventRecorder, PuppetChild

schedules = st.lists(
    st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]), st.integers(0, 3)), max_size=25
)


def expected_give_up(crash_times: list[float], intensity: int, period: float) -> int | None:
    """Index of the crash that must make the supervisor give up, if any."""
    for i, t in enumerate(crash_times):
        in_window = [u for u in crash_times[: i + 1] if u > t - period]
        if len(in_window) > intensity:
            return i
    return None


class TestCrashScheduleProperty:
    @settings(max_examples=150, deadline=None)
    @given(
        n_children=st.integers(1, 4),
        strategy=st.sampled_from(list(Strategy)),
        intensity=st.integers(0, 5),
        period=st.sampled_from([1.0, 5.0, 30.0]),
        backoff=st.booleans(),
        schedule=schedules,
    )
    def test_permanent_children_survive_while_intensity_allows(
        self,
        n_children: int,
        strategy: Strategy,
        intensity: int,
        period: float,
        backoff: bool,
        schedule: list[tuple[float, int]],
    ) -> None:
        """A permanent child is never left dead unless intensity was exceeded, and the
        supervisor gives up exactly at the first crash that exceeds it."""
        rec = EventRecorder()
        kids = [PuppetChild(f"c{i}") for i in range(n_children)]
        bo = Backoff(min=0.25, max=2, random_factor=0) if backoff else None
        sup = Supervisor(
            [k.spec(backoff=bo) for k in kids],
            strategy=strategy,
            intensity=intensity,
            period=period,
            observers=[rec],
        )
        outcome: dict[str, object] = {}

        async def scenario() -> None:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(sup.run)
                    for wait, index in schedule:
                        await trio.sleep(wait)
                        kid = kids[index % n_children]
                        if kid.running and not sup.statistics().stopping:
                            kid.crash()
                            await trio.testing.wait_all_tasks_blocked()
                    await trio.sleep(10)  # longer than any backoff
                    outcome["all_running"] = all(k.running for k in kids)
                    await sup.stop()
            except* SupervisorGaveUp as group:
                outcome["gave_up"] = group.exceptions[0]

        trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

        crashes = [e.time for e in rec.of_type(ChildExited) if e.reason.kind is ExitKind.CRASHED]
        must_give_up = expected_give_up(crashes, intensity, period)
        if must_give_up is None:
            assert "gave_up" not in outcome
            assert outcome["all_running"] is True
        else:
            assert isinstance(outcome.get("gave_up"), SupervisorGaveUp)
            assert must_give_up == len(crashes) - 1  # nothing crashed after giving up
            assert not any(k.running for k in kids)


def test_expected_give_up_helper_matches_otp_rule() -> None:
    """The oracle itself: 3 crashes within 5 s exceed intensity 2; spread out they do not."""
    assert expected_give_up([0, 1, 2], 2, 5) == 2
    assert expected_give_up([0, 5, 10], 2, 5) is None
    assert expected_give_up([0], 0, 5) == 0
