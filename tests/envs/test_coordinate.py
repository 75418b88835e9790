"""The continuous task coordinate: ``obs["coord"]``, the drift phase, next to the task id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.buffers import DictReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from psp_rl.envs import (
    PermuteObservation,
    PhysicsDrift,
    Suite,
    TaskObservation,
    VariantWrapper,
    load_suite,
    make_variant_env,
    register_suites,
)
from psp_rl.envs.variant import coordinate_families

DRIFT_SUITES = ["pendulum-drift", "mountaincar-drift"]
COORD_SPACE = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
GRAVITY = {"family": "drift", "attribute": "gravity", "low": 0.002, "high": 0.003, "period": 16}
PENDULUM = {"family": "drift", "attributes": {"g": [6.0, 14.0], "m": [0.7, 1.5]}, "period": 10}


def _drift(env: gym.Env) -> PhysicsDrift:
    found = [w for w in env.variant_wrappers() if isinstance(w, PhysicsDrift)]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0]


def _assert_coord(obs: dict[str, Any]) -> float:
    coord = obs["coord"]
    assert isinstance(coord, np.ndarray) and coord.dtype == np.float32 and coord.shape == (1,)
    assert 0.0 <= coord[0] < 1.0
    return float(coord[0])


def _assert_physics_matches(env: gym.Env, obs: dict[str, Any]) -> None:
    drift = _drift(env)
    s = _assert_coord(obs)
    for name in drift.ranges:  # the value at the reported phase is the value on env.unwrapped
        assert getattr(env.unwrapped, name) == pytest.approx(drift.value_at_phase(s, name), rel=1e-5)


# ------------------------------------------------------------------------------------- the space
@pytest.mark.parametrize("name", DRIFT_SUITES)
def test_gymnasium_check_env_on_drift_suites_with_coord(name: str) -> None:
    suite = load_suite(name)
    assert suite.coordinate and suite.spec["coordinate"] is True
    for task in {0, suite.num_tasks - 1}:
        env = suite.make_env(task)
        assert list(env.observation_space.spaces) == ["obs", "task", "coord"]
        assert env.observation_space["coord"] == COORD_SPACE
        assert env.observation_space["task"] == spaces.Discrete(suite.num_tasks)
        # skip_close_check: that check re-makes the env from env.spec, which a stack of wrappers built
        # outside gym.make cannot do (the env is closed below). A seeded reset restarts the drift clock
        # (at its origin), so seeded episodes repeat, physics included, as check_env asks.
        with pytest.warns(UserWarning):  # "different from the unwrapped version": it is a wrapper stack
            check_env(env, skip_render_check=True, skip_close_check=True)
        env.close()


@pytest.mark.parametrize("name", DRIFT_SUITES)
def test_the_registered_drift_ids_pass_gymnasiums_checker(name: str) -> None:
    register_suites()
    env = gym.make(f"psp_rl/{name}-v0")
    with pytest.warns(UserWarning):  # "different from the unwrapped version": it is a wrapper stack
        check_env(env, skip_render_check=True)
    env.close()


def _episode(env: gym.Env, seed: int | None, steps: int = 30) -> list[Any]:
    obs, info = env.reset(seed=seed)
    seen = [obs["obs"].copy(), obs["coord"].copy(), dict(info["drift"])]
    env.action_space.seed(0)
    for _ in range(steps):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        seen += [obs["obs"].copy(), obs["coord"].copy(), float(reward), dict(info["drift"])]
    return seen


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        x == y if isinstance(x, (dict, float)) else np.array_equal(x, y) for x, y in zip(a, b)
    )


@pytest.mark.parametrize("name", DRIFT_SUITES)
def test_a_seeded_reset_reproduces_an_episode_and_an_unseeded_one_keeps_the_drift_going(name: str) -> None:
    env = load_suite(name).make_env(0)
    first = _episode(env, seed=5)
    later = _episode(env, seed=None)  # the clock runs on: other physics
    assert not _same(first, later) and later[1] != first[1]
    assert _same(_episode(env, seed=5), first)  # the seed brings the episode back, physics included
    assert env.get_wrapper_attr("get_drift_step")() == 30


def test_a_clock_set_from_a_checkpoint_survives_the_seeded_first_reset() -> None:
    env = load_suite("mountaincar-drift").make_env(1)
    env.get_wrapper_attr("set_drift_step")(1234)  # what a resumed run does before its first reset
    env.reset(seed=3)
    assert env.get_wrapper_attr("get_drift_step")() == 1234
    for _ in range(4):
        env.step(1)
    env.reset(seed=3)  # a seeded reset starts the clock again from where it was set
    assert env.get_wrapper_attr("get_drift_step")() == 1234


def test_pendulum_drift_suite() -> None:
    suite = load_suite("pendulum-drift")
    assert suite.num_tasks == 1 and suite.env_id == "Pendulum-v1"
    (entry,) = suite.spec["variants"]
    assert entry["family"] == "drift" and entry["phase_per_task"] is False
    assert entry["period"] == suite.spec["schedule"]["steps_per_task"]  # one period per task phase
    env = suite.make_env(0)
    assert isinstance(env.action_space, spaces.Box)  # continuous actions for SAC / TD3
    obs, info = env.reset(seed=0)
    assert set(info["drift"]) == {"g", "m"} and obs["coord"][0] == 0.0
    assert info["drift"] == pytest.approx({"g": 10.0, "m": 1.1})  # a sine starts in the middle
    drift = _drift(env)
    assert drift.value_at_phase(0.25, "g") == pytest.approx(14.0)
    assert drift.value_at_phase(0.25, "m") == pytest.approx(1.5)
    assert drift.value_at_phase(0.75, "g") == pytest.approx(6.0)
    assert drift.value_at_phase(0.75, "m") == pytest.approx(0.7)
    assert suite.normalize(0, -1230.0) == pytest.approx(0.0) and suite.normalize(0, -150.0) == pytest.approx(
        1.0
    )


def test_gym_registration_carries_coord() -> None:
    register_suites()
    for name in DRIFT_SUITES:
        env = gym.make(f"psp_rl/{name}-v0")
        assert env.observation_space["coord"] == COORD_SPACE
        obs, _ = env.reset(seed=0)
        _assert_coord(obs)
        obs, *_ = env.step(env.action_space.sample())
        _assert_coord(obs)


# ---------------------------------------------------------------------------------- the values
def test_coord_advances_with_steps_and_wraps() -> None:
    env = make_variant_env("MountainCar-v0", [GRAVITY], task=1, num_tasks=2, coordinate=True)
    obs, _ = env.reset(seed=0)
    coords = [_assert_coord(obs)]
    for _ in range(40):
        obs, _, terminated, truncated, _ = env.step(1)  # no push: MountainCar does not end in 40 steps
        assert not (terminated or truncated)
        coords.append(_assert_coord(obs))
    # variant 1 starts at phase 1/2; a step ran with clock t - 1 once it has advanced the clock to t
    expected = [0.5] + [((n - 1) / 16 + 0.5) % 1.0 for n in range(1, 41)]
    np.testing.assert_allclose(coords, expected, atol=1e-7)
    diffs = np.diff(coords[1:])
    assert np.sum(diffs < 0) == 2, "40 steps of a 16-step period wrap twice"
    assert np.all(diffs[diffs > 0] == pytest.approx(1 / 16))
    assert env.coordinate() == pytest.approx(coords[-1])


@pytest.mark.parametrize("kind", ["sine", "linear"])
def test_coord_is_the_phase_of_the_physics(kind: str) -> None:
    env = make_variant_env(
        "Pendulum-v1",
        [{**PENDULUM, "kind": kind}],
        task=2,
        num_tasks=4,
        coordinate=True,
        env_kwargs={"max_episode_steps": 7},  # episodes end inside a period: the clock runs on across them
    )
    obs, _ = env.reset(seed=0)
    _assert_physics_matches(env, obs)
    assert obs["coord"][0] == pytest.approx(0.25)  # variant 2 starts at phase van_der_corput(2)
    env.action_space.seed(0)
    seen = set()
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        _assert_physics_matches(env, obs)
        assert info["drift"]["g"] == pytest.approx(env.unwrapped.g)
        seen.add(round(float(obs["coord"][0]), 4))
        if terminated or truncated:
            obs, _ = env.reset()
            _assert_physics_matches(env, obs)
    assert len(seen) == 10, "every phase of a 10-step period is seen"


def test_coord_follows_a_task_switch_and_the_clock() -> None:
    env = make_variant_env("MountainCar-v0", [GRAVITY], task=0, num_tasks=4, coordinate=True)
    env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step(1)
    _assert_physics_matches(env, obs)
    env.set_task(3)
    obs, _, _, _, info = env.step(1)
    assert info["task_id"] == 0 and obs["coord"][0] == pytest.approx(5 / 16)  # not mid-episode
    obs, info = env.reset()
    assert info["task_switched"] and obs["task"] == 3
    assert obs["coord"][0] == pytest.approx((6 / 16 + 0.75) % 1.0)  # variant 3 starts at phase 3/4
    _assert_physics_matches(env, obs)
    env.get_wrapper_attr("set_drift_step")(11)
    assert env.coordinate() == pytest.approx((6 / 16 + 0.75) % 1.0), "the physics applied has not changed"
    obs, _ = env.reset()
    assert obs["coord"][0] == pytest.approx((11 / 16 + 0.75) % 1.0)
    _assert_physics_matches(env, obs)


def _rollout(env: gym.Env, seed: int = 3, steps: int = 25) -> list:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [(obs["obs"].tolist(), obs["coord"].tolist())]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append((obs["obs"].tolist(), obs["coord"].tolist(), float(reward)))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((obs["obs"].tolist(), obs["coord"].tolist()))
    return out


@pytest.mark.parametrize("name", DRIFT_SUITES)
def test_coord_is_deterministic_for_a_seed(name: str) -> None:
    assert _rollout(load_suite(name).make_env(0)) == _rollout(load_suite(name).make_env(0))


def test_coord_rounding_to_one_wraps_to_zero() -> None:
    env = make_variant_env("MountainCar-v0", [GRAVITY], coordinate=True)
    drift = _drift(env)
    drift.coordinate = lambda: 1.0 - 1e-10  # type: ignore[method-assign]  # float32 would round it to 1.0
    obs, _ = env.reset(seed=0)
    assert obs["coord"][0] == 0.0 and env.coordinate() == 0.0


# -------------------------------------------------------------------------------------- the wrappers
def test_coordinate_false_is_unchanged() -> None:
    env = make_variant_env("MountainCar-v0", [GRAVITY])
    assert list(env.observation_space.spaces) == ["obs", "task"]
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"obs", "task"}
    assert env.coordinate() == pytest.approx(0.0)  # the phase can still be read, it is not in obs
    suite = load_suite("mountaincar-drift", overrides={"coordinate": False})
    assert suite.spec["coordinate"] is False
    assert list(suite.make_env(0).observation_space.spaces) == ["obs", "task"]
    assert load_suite("cartpole-permuted").spec["coordinate"] is False


def test_variant_wrapper_reports_no_coordinate_by_default() -> None:
    assert VariantWrapper(gym.make("CartPole-v1"), 1).coordinate() is None
    assert PermuteObservation(gym.make("CartPole-v1"), 1).coordinate() is None
    assert coordinate_families() == ["drift"]
    assert make_variant_env("CartPole-v1", [{"family": "permute_obs"}]).coordinate() is None


def test_task_observation_needs_a_family_with_a_coordinate() -> None:
    with pytest.raises(ValueError, match=r"reports a continuous task coordinate \(drift\).*permute_obs"):
        make_variant_env("CartPole-v1", [{"family": "permute_obs"}], coordinate=True)
    with pytest.raises(ValueError, match="no variant wrapper"):
        TaskObservation(gym.make("CartPole-v1"), task=0, num_tasks=1, coordinate=True)
    with pytest.raises(ValueError, match="True or False"):
        TaskObservation(gym.make("CartPole-v1"), task=0, num_tasks=1, coordinate="yes")  # type: ignore[arg-type]
    stacked = [GRAVITY, {**GRAVITY, "attribute": "force", "low": 0.001, "high": 0.002}]
    with pytest.raises(ValueError, match="exactly one.*attributes"):
        make_variant_env("MountainCar-v0", stacked, coordinate=True)
    make_variant_env("MountainCar-v0", stacked)  # stacking without the coordinate works as before


# ------------------------------------------------------------------------------ several attributes
def test_drift_of_several_attributes() -> None:
    env = make_variant_env("Pendulum-v1", [{**PENDULUM, "kind": "linear"}], coordinate=True)
    obs, info = env.reset(seed=0)
    assert info["drift"] == {"g": 6.0, "m": pytest.approx(0.7)}  # a triangle wave starts at low
    for _ in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
    assert info["drift"] == pytest.approx({"g": 6.0 + 8.0 * 0.8, "m": 0.7 + 0.8 * 0.8})  # t = 4 of 10
    drift = _drift(env)
    assert drift.attribute == "g" and drift.value(4) == pytest.approx(12.4)
    assert drift.value(4, attribute="m") == pytest.approx(1.34)
    assert drift.values(4) == pytest.approx({"g": 12.4, "m": 1.34})
    with pytest.raises(ValueError, match="Did you mean 'm'"):
        drift.value(4, attribute="mm")


def test_drift_attribute_options_are_checked() -> None:
    base = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match="not both"):
        PhysicsDrift(base, 1, attribute="g", low=1, high=2, attributes={"m": [1, 2]}, period=10)
    with pytest.raises(ValueError, match=r"missing \['high'\]"):
        PhysicsDrift(base, 1, attribute="g", low=1, period=10)
    with pytest.raises(ValueError, match="non-empty mapping"):
        PhysicsDrift(base, 1, attributes={}, period=10)
    with pytest.raises(ValueError, match="two numbers"):
        PhysicsDrift(base, 1, attributes={"g": [1, 2, 3]}, period=10)
    with pytest.raises(ValueError, match="low <= high"):
        PhysicsDrift(base, 1, attributes={"g": [6, 14], "m": [1.5, 0.7]}, period=10)
    with pytest.raises(ValueError, match="Did you mean 'g'"):
        PhysicsDrift(base, 1, attributes={"gg": [6, 14]}, period=10)


# ----------------------------------------------------------------------------------- suite specs
def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "env_id": "MountainCar-v0",
        "num_tasks": 2,
        "variants": [GRAVITY],
        "schedule": {"kind": "sequential", "steps_per_task": 100},
        **extra,
    }


def test_suite_coordinate_key_is_checked(tmp_path: Path) -> None:
    assert Suite(_spec(coordinate=True)).spec["coordinate"] is True
    assert Suite(_spec()).spec["coordinate"] is False
    with pytest.raises(ValueError, match="coordinate must be true or false"):
        Suite(_spec(coordinate="yes"))
    with pytest.raises(ValueError, match=r"coordinate: true needs a variant family .*\(drift\)"):
        Suite(_spec(coordinate=True, variants=[{"family": "permute_obs"}]))
    with pytest.raises(ValueError, match="add a drift entry"):
        load_suite("cartpole-permuted", overrides={"coordinate": True})
    stacked = [GRAVITY, {**GRAVITY, "attribute": "force", "low": 0.001, "high": 0.002}]
    with pytest.raises(ValueError, match="exactly one variant entry.*attributes"):
        Suite(_spec(coordinate=True, variants=stacked))
    with pytest.raises(ValueError, match="Unknown key 'coordinates'.*Did you mean 'coordinate'"):
        Suite(_spec(coordinates=True))
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_spec(coordinate=True)))
    assert load_suite(path).make_env(1).observation_space["coord"] == COORD_SPACE


def test_yaml_drift_with_attributes(tmp_path: Path) -> None:
    spec = _spec(env_id="Pendulum-v1", coordinate=True, variants=[PENDULUM])
    path = tmp_path / "pend.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = load_suite(path).make_env(0, seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert set(info["drift"]) == {"g", "m"}
    with pytest.raises(ValueError, match="Did you mean 'attributes'"):
        Suite(_spec(variants=[{**PENDULUM, "attributes_": PENDULUM["attributes"]}]))


# ------------------------------------------------------------------------------------- VecEnvs
@pytest.mark.parametrize("name", DRIFT_SUITES)
def test_dummy_vec_env_carries_coord(name: str) -> None:
    suite = load_suite(name)
    vec_env = suite.make_vec_env(n_envs=2, seed=0)
    assert isinstance(vec_env, DummyVecEnv)
    assert vec_env.observation_space["coord"] == COORD_SPACE
    obs = vec_env.reset()
    assert set(obs) == {"obs", "task", "coord"}
    assert obs["coord"].shape == (2, 1) and obs["coord"].dtype == np.float32
    buffer = DictReplayBuffer(16, vec_env.observation_space, vec_env.action_space, device="cpu", n_envs=2)
    for _ in range(5):
        actions = np.array([vec_env.action_space.sample() for _ in range(2)])
        next_obs, rewards, dones, infos = vec_env.step(actions)
        buffer.add(obs, next_obs, actions, rewards, dones, infos)
        obs = next_obs
    assert 0.0 < obs["coord"][0, 0] < 1.0
    np.testing.assert_allclose(vec_env.env_method("coordinate"), obs["coord"][:, 0], atol=1e-7)
    sample = buffer.sample(4)
    assert sample.observations["coord"].shape == (4, 1)
    assert bool(((sample.observations["coord"] >= 0) & (sample.observations["coord"] < 1)).all())
    evals = suite.make_eval_envs()
    assert all("coord" in env.reset() for env in evals)


def test_vec_normalize_leaves_coord_alone() -> None:
    vec_env = VecNormalize(load_suite("pendulum-drift").make_vec_env(n_envs=2, seed=0), norm_obs_keys=["obs"])
    obs = vec_env.reset()
    for _ in range(3):
        obs, *_ = vec_env.step(np.zeros((2, 1), dtype=np.float32))
    np.testing.assert_allclose(obs["coord"][:, 0], [2 / 40000] * 2, atol=1e-7)
