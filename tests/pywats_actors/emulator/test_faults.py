"""Fault settings and the seeded dice that apply them."""

from __future__ import annotations

import msgspec
import pytest

from pywats_actors.emulator import Fault, Faults
from pywats_actors.emulator._faults import FaultDice


def _rolls(dice: FaultDice, count: int) -> list[tuple[Fault | None, float]]:
    return [dice.roll() for _ in range(count)]


class TestFaults:
    def test_default_is_no_fault(self) -> None:
        """Faults() injects nothing and adds no latency."""
        dice = FaultDice(Faults(), seed=1)
        assert _rolls(dice, 100) == [(None, 0.0)] * 100

    def test_probabilities_may_not_exceed_one(self) -> None:
        """Probabilities are slices of one draw, so together they cannot pass 1."""
        with pytest.raises(ValueError, match=r"add up to 1\.2"):
            Faults(error_500=0.6, reset=0.6)

    def test_probability_range_is_checked_on_decode(self) -> None:
        """A probability outside [0, 1] is refused with its field's path."""
        with pytest.raises(msgspec.ValidationError, match=r"\$\.hang"):
            msgspec.json.decode(b'{"hang": 1.5}', type=Faults)

    def test_unknown_fault_is_refused(self) -> None:
        """A misspelt fault name is an error, not silently ignored."""
        with pytest.raises(msgspec.ValidationError, match="eror_500"):
            msgspec.json.decode(b'{"eror_500": 0.5}', type=Faults)

    @pytest.mark.parametrize("value", ["", " 1", "1\r\nX-Evil: 1", "é"])
    def test_retry_after_must_be_a_header_value(self, value: str) -> None:
        """Retry-After text that cannot be sent as a header is refused up front."""
        with pytest.raises(ValueError, match="retry_after"):
            Faults(retry_after=value)

    def test_down_for_needs_down(self) -> None:
        """down_for without down makes no sense and is refused."""
        with pytest.raises(ValueError, match="down_for"):
            Faults(down_for=1.0)


class TestFaultDice:
    def test_same_seed_same_faults(self) -> None:
        """Two dice with the same seed and faults give the same sequence."""
        faults = Faults(error_500=0.2, reset=0.1, latency=0.05, jitter=0.02)
        assert _rolls(FaultDice(faults, 42), 200) == _rolls(FaultDice(faults, 42), 200)

    def test_other_seed_other_faults(self) -> None:
        """A different seed gives a different sequence."""
        faults = Faults(error_500=0.5)
        assert _rolls(FaultDice(faults, 1), 100) != _rolls(FaultDice(faults, 2), 100)

    def test_frequencies_follow_the_probabilities(self) -> None:
        """Over many draws each fault occurs about as often as its probability says."""
        dice = FaultDice(Faults(error_500=0.3, throttle=0.1, hang=0.05), seed=7)
        rolls = [fault for fault, _ in _rolls(dice, 20000)]
        assert rolls.count(Fault.ERROR_500) / 20000 == pytest.approx(0.3, abs=0.02)
        assert rolls.count(Fault.THROTTLE) / 20000 == pytest.approx(0.1, abs=0.02)
        assert rolls.count(Fault.HANG) / 20000 == pytest.approx(0.05, abs=0.01)
        assert rolls.count(None) / 20000 == pytest.approx(0.55, abs=0.02)

    def test_certain_fault_always_occurs(self) -> None:
        """A probability of 1 means every request."""
        dice = FaultDice(Faults(reset_after_store=1.0), seed=3)
        assert {fault for fault, _ in _rolls(dice, 50)} == {Fault.RESET_AFTER_STORE}

    def test_latency_stays_within_the_jitter(self) -> None:
        """Latency varies by at most the jitter either way, and is never negative."""
        dice = FaultDice(Faults(latency=0.1, jitter=0.05), seed=5)
        delays = [delay for _, delay in _rolls(dice, 1000)]
        assert min(delays) >= 0.05 - 1e-9
        assert max(delays) <= 0.15 + 1e-9
        assert max(delays) - min(delays) > 0.08
        dice = FaultDice(Faults(latency=0.01, jitter=0.05), seed=5)
        assert min(delay for _, delay in _rolls(dice, 1000)) == 0.0

    def test_replaced_dice_go_on_with_the_sequence(self) -> None:
        """New faults without a seed continue the random sequence instead of restarting it."""
        faults = Faults(error_500=0.5)
        whole = _rolls(FaultDice(faults, 9), 20)
        dice = FaultDice(faults, 9)
        first = _rolls(dice, 10)
        rest = _rolls(dice.replaced(faults), 10)
        assert first + rest == whole

    def test_replaced_dice_with_a_seed_restart(self) -> None:
        """New faults with a seed restart the sequence from that seed."""
        faults = Faults(error_500=0.5)
        dice = FaultDice(faults, 9)
        _rolls(dice, 10)
        again = dice.replaced(faults, seed=9)
        assert again.seed == 9
        assert _rolls(again, 20) == _rolls(FaultDice(faults, 9), 20)


class TestRejectFault:
    async def test_reject_refuses_submissions_only(self) -> None:
        """The reject fault answers report submissions with 400 and stores nothing, while the
        server's other routes keep working."""
        import httpx

        from pywats_actors.emulator import Faults, open_emulator

        from .conftest import TOKEN, encode, make_report

        async with open_emulator(token=TOKEN, faults=Faults(reject=1.0), seed=3) as emu:
            headers = {"Authorization": f"Basic {TOKEN}", "Content-Type": "application/json"}
            async with httpx.AsyncClient(base_url=emu.url, headers=headers) as http:
                answer = await http.post("/api/Report/WSJF", content=encode(make_report()))
                version = await http.get("/api/App/Version")
            stats = emu.stats()
        assert answer.status_code == 400
        assert "Injected rejection" in answer.text
        assert version.status_code == 200
        assert stats.ids == []
        assert stats.faults["reject"] == 1
