"""Task schedules: phases, per-episode kinds, argument checks (pure functions of the step count)."""

from __future__ import annotations

import pytest

from psp_rl.envs.schedules import TaskSchedule, make_schedule

SPEC = {
    "env_id": "CartPole-v1",
    "num_tasks": 3,
    "variants": [{"family": "permute_obs"}],
    "schedule": {"kind": "sequential", "steps_per_task": 200},
}


def test_sequential_phases() -> None:
    s = make_schedule("sequential", 3, steps_per_task=100, cycles=2)
    assert s.total_timesteps == 600
    assert s.phase_boundaries() == [100, 200, 300, 400, 500, 600]
    assert [s.phase_task(i) for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert [s.task_for(0, 0, t) for t in (0, 99, 100, 250, 399, 599, 10_000)] == [0, 0, 1, 2, 0, 2, 2]
    assert s.initial_tasks(4) == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="phase_index"):
        s.phase_task(6)


def test_mixed_schedules() -> None:
    rr = make_schedule("round_robin", 3, steps_per_task=50)
    assert [rr.task_for(1, e, 0) for e in range(4)] == [1, 2, 0, 1]
    assert rr.phase_task(0) is None and rr.phase_boundaries() == [50, 100, 150]
    par = make_schedule("parallel", 4, steps_per_task=10)
    assert par.initial_tasks(6) == [0, 1, 2, 3, 0, 1]
    assert par.task_for(2, 99, 12345) == 2
    rnd = make_schedule("random", 4, steps_per_task=10, seed=1)
    draws = [rnd.task_for(0, e, 0) for e in range(40)]
    assert draws == [
        make_schedule("random", 4, steps_per_task=10, seed=1).task_for(0, e, 0) for e in range(40)
    ]
    assert set(draws) == {0, 1, 2, 3}
    other = [make_schedule("random", 4, steps_per_task=10, seed=2).task_for(0, e, 0) for e in range(40)]
    assert draws != other


def test_bad_schedules() -> None:
    with pytest.raises(ValueError, match="Did you mean 'round_robin'"):
        make_schedule("round-robin", 3, steps_per_task=10)
    with pytest.raises(ValueError, match="steps_per_task"):
        make_schedule("sequential", 3, steps_per_task=0)
    with pytest.raises(ValueError, match="num_tasks"):
        TaskSchedule("sequential", 0, 10)


def test_grown_schedule_appends_one_phase_per_added_task() -> None:
    from psp_rl.envs.schedules import make_schedule

    base = make_schedule("sequential", 2, steps_per_task=10, cycles=2)
    grown = base.grow(4, 5).grow(5)
    assert grown.phase_boundaries() == [10, 20, 30, 40, 45, 50, 60]
    assert [grown.phase_task(i) for i in range(grown.num_phases)] == [0, 1, 0, 1, 2, 3, 4]
    assert [grown.phase_at(t) for t in (0, 39, 40, 44, 45, 59, 60, 99)] == [0, 3, 4, 4, 5, 6, 6, 6]
    assert [grown.task_for(0, 0, t) for t in (0, 10, 40, 45, 50)] == [0, 1, 2, 3, 4]
    assert (
        grown.total_timesteps == 60
        and base.to_dict() == make_schedule("sequential", 2, steps_per_task=10, cycles=2).to_dict()
    )
    assert grown.continues(base.to_dict()) and grown.continues(base.grow(4, 5).to_dict())
    assert grown.continues(grown.to_dict()) and not base.continues(grown.to_dict())
    assert not grown.continues(make_schedule("sequential", 2, steps_per_task=11, cycles=2).to_dict())
    with pytest.raises(ValueError, match="must be larger"):
        base.grow(2)
    with pytest.raises(ValueError, match="sequential"):
        make_schedule("round_robin", 2, steps_per_task=10).grow(3)
