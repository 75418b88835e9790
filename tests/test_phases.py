"""The phase clock: each phase end and start given once, in order, also across a resume and a growth."""

from __future__ import annotations

import pytest

from psp_rl.phases import PhaseClock, PhaseEvent


def test_events_come_once_and_in_order() -> None:
    clock = PhaseClock([100, 200, 300])
    assert clock.due(0) == []
    assert clock.due(99) == []
    assert clock.due(100) == [PhaseEvent("end", 0), PhaseEvent("start", 1)]
    assert clock.due(150) == []
    # a step that passes two boundaries at once gives both ends, each followed by its next start
    assert clock.due(300) == [
        PhaseEvent("end", 1),
        PhaseEvent("start", 2),
        PhaseEvent("end", 2, last=True),
    ]
    assert clock.due(400) == []


def test_a_grown_run_gets_the_start_of_its_first_added_phase() -> None:
    clock = PhaseClock([100, 200])
    clock.due(200)
    saved = clock.state_dict()
    grown = PhaseClock([100, 200, 300])
    grown.load_state_dict(saved)
    assert grown.due(200) == [PhaseEvent("start", 2)]
    assert grown.due(300) == [PhaseEvent("end", 2, last=True)]


def test_skip_to_places_a_resumed_clock_after_the_events_already_given() -> None:
    clock = PhaseClock([100, 200, 300])
    clock.skip_to(100)  # a checkpoint written at the end of phase 0
    assert clock.due(110) == []
    assert clock.due(200) == [PhaseEvent("end", 1), PhaseEvent("start", 2)]
    fresh = PhaseClock([100, 200])
    fresh.skip_to(0)
    assert fresh.due(100) == [PhaseEvent("end", 0), PhaseEvent("start", 1)]


@pytest.mark.parametrize("bounds", [[100, 100], [0, 100], [200, 100]])
def test_boundaries_must_increase(bounds: list[int]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        PhaseClock(bounds)
