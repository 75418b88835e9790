"""A drifting actuator (the drift family's ``action_gain``) and ``pendulum-flip-drift``, whose phases conflict."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from psp_rl.envs import PhysicsDrift, load_suite, make_variant_env, register_suites, suite_env_id

SUITE = "pendulum-flip-drift"
PERIOD = 20_000  # the suite's drift period
TORQUES = np.linspace(-2.0, 2.0, 41)  # Pendulum-v1's action space, on a grid
# (angle, angular velocity): tilted either way, moving either way, near the top and near the bottom
STATES = [(0.3, 0.0), (-0.5, 0.5), (0.1, -1.0), (2.5, -1.0), (-2.8, 0.3)]


def _drift(env: gym.Env) -> PhysicsDrift:
    while not isinstance(env, PhysicsDrift):
        env = env.env  # type: ignore[attr-defined]
    return env


def _suite_env() -> tuple[gym.Env, PhysicsDrift]:
    env = load_suite(SUITE).make_env(0)
    return env, _drift(env)


def _applied_torque(env: gym.Env, drift: PhysicsDrift, step: int, torque: float) -> tuple[float, Any]:
    """The torque the pendulum receives for ``torque`` with the drift clock at ``step``, and the next obs."""
    drift.set_drift_step(step)
    env.reset(seed=1)
    obs, *_ = env.step(np.array([torque], dtype=np.float32))
    return float(env.unwrapped.last_u), obs  # type: ignore[attr-defined]


def test_the_suite_spec() -> None:
    suite = load_suite(SUITE)
    assert suite.coordinate and suite.num_tasks == 1 and suite.spec["description"]
    (entry,) = suite.spec["variants"]
    assert entry["family"] == "drift" and entry["period"] == PERIOD
    # every regime recurs: the run spans several whole periods
    schedule = suite.spec["schedule"]
    assert schedule["steps_per_task"] * schedule["cycles"] >= 2 * PERIOD
    assert schedule["steps_per_task"] % PERIOD == 0


def test_registered_id_passes_gymnasiums_checker_and_reverses_the_torque() -> None:
    register_suites()
    env = gym.make(suite_env_id(SUITE))
    with pytest.warns(UserWarning):  # "different from the unwrapped version": it is a wrapper stack
        check_env(env, skip_render_check=True)
    drift = _drift(env)
    assert _applied_torque(env, drift, 0, 1.5)[0] == pytest.approx(1.5)
    assert _applied_torque(env, drift, PERIOD // 2, 1.5)[0] == pytest.approx(-1.5)
    env.close()


def _episode(env: gym.Env, seed: int, steps: int = 40) -> dict[str, list[Any]]:
    obs, info = env.reset(seed=seed)
    seen: dict[str, list[Any]] = {"obs": [obs["obs"]], "coord": [obs["coord"]], "reward": [], "drift": []}
    seen["drift"].append(info["drift"])
    actions = np.random.default_rng(0).uniform(-2.0, 2.0, size=(steps, 1)).astype(np.float32)
    for action in actions:
        obs, reward, _, _, info = env.step(action)
        for key, value in (("obs", obs["obs"]), ("coord", obs["coord"]), ("reward", reward)):
            seen[key].append(value)
        seen["drift"].append(info["drift"])
    return seen


def _same(a: dict[str, list[Any]], b: dict[str, list[Any]], keys: tuple[str, ...]) -> bool:
    return all(np.array_equal(np.stack(a[k]), np.stack(b[k])) for k in keys if k != "drift") and (
        "drift" not in keys or a["drift"] == b["drift"]
    )


EVERYTHING = ("obs", "coord", "reward", "drift")


def test_same_seed_same_episode_and_the_clock_changes_it() -> None:
    env, drift = _suite_env()
    first = _episode(env, seed=3)
    assert _same(first, _episode(env, seed=3), EVERYTHING), "a seeded reset restarts the clock: it repeats"
    assert _same(first, _episode(_suite_env()[0], seed=3), EVERYTHING), "a rebuilt env repeats it too"
    drift.set_drift_step(PERIOD // 2)  # the same seed, half a period later: the torque is reversed
    half = _episode(env, seed=3)
    assert np.array_equal(first["obs"][0], half["obs"][0]), "the same start"
    assert not _same(first, half, ("obs",)) and not _same(first, half, ("reward",)), "another episode"
    env.close()


@pytest.mark.parametrize("step", [0, 2_000, 7_000, 13_000])
def test_the_transform_repeats_every_period_and_the_clock_wraps(step: int) -> None:
    env, drift = _suite_env()
    torque, obs = _applied_torque(env, drift, step, 1.2)
    later, obs_later = _applied_torque(env, drift, step + PERIOD, 1.2)
    assert later == pytest.approx(torque, abs=1e-6)
    np.testing.assert_allclose(obs_later["obs"], obs["obs"], atol=1e-5)
    np.testing.assert_allclose(obs_later["coord"], obs["coord"], atol=1e-5)  # the phase wraps
    assert drift.get_drift_step() == step + PERIOD + 1  # while the clock itself runs on
    half, _ = _applied_torque(env, drift, step + PERIOD // 2, 1.2)
    assert half == pytest.approx(-torque, abs=1e-6) and abs(torque) > 0.1
    env.close()


def _cost_after(
    env: gym.Env, drift: PhysicsDrift, step: int, state: tuple[float, float], torque: float
) -> float:
    """The reward of the state one step of ``torque`` leads to (Pendulum's reward of a step is the cost of
    the state it starts from, so the second step, with no torque, scores the first step's action)."""
    env.reset()
    drift.set_drift_step(step)
    env.unwrapped.state = np.array(state, dtype=np.float64)  # type: ignore[attr-defined]
    env.step(np.array([torque], dtype=np.float32))
    _, reward, *_ = env.step(np.zeros(1, dtype=np.float32))
    return float(reward)


@pytest.mark.parametrize("phase", [0.0, 0.1, 0.4])
def test_the_best_torque_at_s_is_the_opposite_one_at_s_plus_half(phase: float) -> None:
    env, drift = _suite_env()
    env.reset(seed=0)
    step, opposite = round(phase * PERIOD), round((phase + 0.5) * PERIOD)
    for state in STATES:
        here = [_cost_after(env, drift, step, state, u) for u in TORQUES]
        there = [_cost_after(env, drift, opposite, state, u) for u in TORQUES]
        best_here, best_there = TORQUES[int(np.argmax(here))], TORQUES[int(np.argmax(there))]
        assert best_here != 0.0 and best_there == pytest.approx(-best_here), state
        # the oracle of phase s is a poor action at s + 1/2: worse than doing nothing there
        nothing = there[len(TORQUES) // 2]
        assert there[int(np.argmax(here))] < nothing < max(there), state
    env.close()


def test_action_gain_needs_continuous_actions_and_a_range() -> None:
    with pytest.raises(ValueError, match="action_gain.*Box action space"):
        make_variant_env("CartPole-v1", [{"family": "drift", "action_gain": [-1.0, 1.0], "period": 10}])
    with pytest.raises(ValueError, match=r"action_gain' must be \[low, high\]"):
        make_variant_env("Pendulum-v1", [{"family": "drift", "action_gain": [1.0, -1.0], "period": 10}])
    with pytest.raises(ValueError, match="or 'action_gain'"):
        make_variant_env("Pendulum-v1", [{"family": "drift", "period": 10}])
