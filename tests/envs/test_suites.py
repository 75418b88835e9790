"""Task suites: YAML specs, name resolution, VecEnvs, normalisation, Gymnasium registration."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import VecNormalize
from test_wrappers import variant_trace

import psp_rl
from psp_rl import resources
from psp_rl.envs.suites import Suite, load_suite, register_suites
from psp_rl.resources import find_yaml, list_yaml, load_yaml

SHIPPED = [
    "cartpole-permuted",
    "cartpole-actions",
    "cartpole-physics",
    "pendulum-physics",
    "pendulum-permuted",
    "mountaincar-drift",
    "pendulum-drift",
    "acrobot-permuted",
]


def _write(tmp_path: Path, spec: dict, name: str = "mine") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# ------------------------------------------------------------------------------------- resources
def test_shipped_suites_are_listed() -> None:
    found = list_yaml("envs")
    assert set(SHIPPED) <= set(found)
    assert find_yaml("envs", "cartpole-permuted") == found["cartpole-permuted"]
    assert find_yaml("envs", "cartpole-permuted.yaml") == found["cartpole-permuted"]
    assert find_yaml("envs", str(found["cartpole-permuted"])) == found["cartpole-permuted"]


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(ValueError, match="Did you mean 'cartpole-permuted'") as info:
        load_suite("cartpole-permute")
    assert "pendulum-physics" in str(info.value), "the message lists the available suites"
    with pytest.raises(ValueError, match="Unknown preset folder"):
        find_yaml("suites", "x")


def test_packaged_presets_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "psp_rl"
    (package / "presets" / "envs").mkdir(parents=True)
    (tmp_path / "envs").mkdir()
    (package / "presets" / "envs" / "a.yaml").write_text("num_tasks: 1\n")
    (tmp_path / "envs" / "a.yaml").write_text("num_tasks: 2\n")
    (tmp_path / "envs" / "b.yaml").write_text("num_tasks: 3\n")
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    assert load_yaml(find_yaml("envs", "a")) == {"num_tasks": 1}
    assert load_yaml(find_yaml("envs", "b")) == {"num_tasks": 3}


def test_load_yaml_needs_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_yaml(path)


# ------------------------------------------------------------------------------------ the specs
@pytest.mark.parametrize("name", SHIPPED)
def test_check_env_on_every_shipped_suite(name: str) -> None:
    suite = load_suite(name)
    assert suite.name == name and suite.spec["description"]
    json.dumps(suite.spec)  # fully resolved and serialisable
    for task in {0, suite.num_tasks - 1}:
        check_env(suite.make_env(task), warn=False)


def test_default_suite_shape() -> None:
    suite = load_suite("cartpole-permuted")
    assert suite.num_tasks == 5
    assert suite.env_id == "CartPole-v1"
    assert 30_000 <= suite.spec["schedule"]["steps_per_task"] <= 100_000
    assert suite.total_timesteps == 5 * suite.spec["schedule"]["steps_per_task"]


def test_unknown_yaml_key(tmp_path: Path) -> None:
    spec = load_yaml(find_yaml("envs", "cartpole-permuted"))
    spec["num_task"] = spec.pop("num_tasks")
    with pytest.raises(ValueError, match="'num_task'.*Did you mean 'num_tasks'"):
        load_suite(_write(tmp_path, spec))
    nested = load_yaml(find_yaml("envs", "cartpole-permuted"))
    nested["schedule"]["step_per_task"] = 10
    with pytest.raises(ValueError, match="Did you mean 'steps_per_task'"):
        load_suite(_write(tmp_path, nested))
    with pytest.raises(ValueError, match="Did you mean 'max'"):
        load_suite("cartpole-permuted", overrides={"normalize": {"maxi": 1}})
    with pytest.raises(ValueError, match="Did you mean 'permute_obs'"):
        load_suite("cartpole-permuted", overrides={"variants": [{"family": "permute_ob"}]})


def test_overrides(tmp_path: Path) -> None:
    suite = load_suite(
        "cartpole-permuted",
        num_tasks=3,
        steps_per_task=1000,
        overrides={"schedule.cycles": 2, "variant_seed": 4},
    )
    assert suite.num_tasks == 3
    assert suite.total_timesteps == 3 * 1000 * 2
    assert suite.spec["variant_seed"] == 4
    assert suite.make_schedule().phase_boundaries()[-1] == 6000
    # the resolved spec rebuilds the same suite
    again = load_suite(_write(tmp_path, suite.spec))
    assert again.spec == suite.spec


def test_same_seed_same_rollouts_different_tasks_differ() -> None:
    suite = load_suite("pendulum-physics")

    def rollout(task: int, seed: int) -> np.ndarray:
        env = suite.make_env(task, seed=seed)
        obs, _ = env.reset(seed=seed)
        out = []
        for _ in range(25):
            obs, *_ = env.step(env.action_space.sample())
            out.append(obs["obs"])
        return np.array(out)

    np.testing.assert_array_equal(rollout(1, 3), rollout(1, 3))
    assert not np.allclose(rollout(1, 3), rollout(2, 3)), "different physics must give different rollouts"


def test_task_out_of_range() -> None:
    suite = load_suite("cartpole-physics")
    with pytest.raises(ValueError, match="K=5"):
        suite.make_env(5)
    with pytest.raises(ValueError, match="K=5"):
        suite.normalize(7, 1.0)
    with pytest.raises(ValueError, match="K=5"):
        suite.make_vec_env(2, initial_tasks=[0, 5])


def test_unknown_physics_attribute_from_spec() -> None:
    suite = load_suite(
        "cartpole-physics", overrides={"variants": [{"family": "physics", "values": [{"mass": 1}] * 5}]}
    )
    with pytest.raises(ValueError, match="no numeric attribute 'mass'. Did you mean 'mass") as info:
        suite.make_env(0)
    assert "gravity" in str(info.value) and "total_mass" not in str(info.value)


# ------------------------------------------------------------------------------------- vec envs
def test_make_vec_env_monitor_sees_the_task() -> None:
    suite = load_suite("cartpole-permuted")
    vec_env = suite.make_vec_env(n_envs=2, seed=0, initial_tasks=[1, 3])
    obs = vec_env.reset()
    assert set(obs) == {"obs", "task"}
    assert list(obs["task"]) == [1, 3]
    episodes = []
    for _ in range(200):
        obs, _, dones, infos = vec_env.step(np.array([0, 0]))
        episodes += [info["episode"] for info, done in zip(infos, dones) if done]
    assert episodes, "CartPole pushed one way ends within 200 steps"
    assert {ep["task_id"] for ep in episodes} == {1, 3}


def test_parallel_schedule_reports_distinct_tasks() -> None:
    suite = load_suite("cartpole-permuted", overrides={"schedule": {"kind": "parallel"}})
    vec_env = suite.make_vec_env(n_envs=suite.num_tasks, seed=0)
    vec_env.reset()
    _, _, _, infos = vec_env.step(np.zeros(suite.num_tasks, dtype=np.int64))
    assert sorted(info["task_id"] for info in infos) == list(range(suite.num_tasks))


def test_make_eval_envs_one_per_task() -> None:
    suite = load_suite("cartpole-actions")
    eval_envs = suite.make_eval_envs(seed=1)
    assert len(eval_envs) == suite.num_tasks
    for k, env in enumerate(eval_envs):
        assert env.num_envs == 1
        assert int(env.reset()["task"][0]) == k


def test_vec_normalize_on_obs_key() -> None:
    suite = load_suite("pendulum-physics")
    vec_env = VecNormalize(suite.make_vec_env(n_envs=2, seed=0, initial_tasks=[0, 3]), norm_obs_keys=["obs"])
    obs = vec_env.reset()
    for _ in range(20):
        obs, *_ = vec_env.step(np.zeros((2, 1), dtype=np.float32))
    assert list(obs["task"]) == [0, 3], "the task id must not be normalised"
    assert np.all(np.abs(obs["obs"]) <= vec_env.clip_obs)
    assert vec_env.obs_rms["obs"].count > 20


def test_drift_suite_reports_value() -> None:
    env = load_suite("mountaincar-drift").make_env(1, seed=0)
    _, _, _, _, info = env.step(1)
    assert 0.002 <= info["drift"]["gravity"] <= 0.003


# ---------------------------------------------------------------------------------- normalisation
def test_normalize() -> None:
    cart = load_suite("cartpole-permuted")
    assert cart.normalize(0, 500.0) == pytest.approx(1.0)
    assert cart.normalize(4, 250.0) == pytest.approx(0.5)
    np.testing.assert_allclose(cart.normalize(1, np.array([0.0, 500.0])), [0.0, 1.0])
    pend = load_suite("pendulum-physics")
    assert pend.normalize(0, -1230.0) == pytest.approx(0.0)
    assert pend.normalize(0, -150.0) == pytest.approx(1.0)
    per_task = load_suite(
        "cartpole-actions",
        overrides={"normalize": {"kind": "reference", "random": [10, 20], "reference": 110}},
    )
    assert per_task.normalize(1, 65.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="num_tasks=2"):
        load_suite(
            "cartpole-actions",
            overrides={"normalize": {"kind": "reference", "random": [1, 2, 3], "reference": 9}},
        )


# -------------------------------------------------------------------------------------- registry
def test_gym_registration() -> None:
    ids = register_suites()
    assert {f"psp_rl/{n}-v0" for n in SHIPPED} <= set(ids)
    assert register_suites() == ids, "registration is idempotent"
    env = gym.make("psp_rl/cartpole-physics-v0", task=3)
    obs, info = env.reset(seed=0)
    assert int(obs["task"]) == 3 and info["task_id"] == 3
    assert env.unwrapped.gravity == pytest.approx(15.0)
    with pytest.raises(ValueError, match="K=5"):
        gym.make("psp_rl/cartpole-physics-v0", task=9)


def test_package_level_api() -> None:
    suite = psp_rl.load_suite("cartpole-permuted")
    assert isinstance(suite, psp_rl.Suite)


def test_suite_from_mapping_any_gym_id() -> None:
    suite = Suite(
        {
            "env_id": "Acrobot-v1",
            "num_tasks": 2,
            "variants": [
                {"family": "physics", "grid": {"LINK_MASS_1": [1.0, 2.0]}},
                {"family": "permute_obs"},
                {"family": "permute_actions"},
            ],
            "schedule": {"kind": "random", "steps_per_task": 100},
            "normalize": {"kind": "reference", "random": -500, "reference": -80},
        },
        name="acrobot",
    )
    check_env(suite.make_env(1), warn=False)
    assert suite.make_env(1).unwrapped.LINK_MASS_1 == 1.0  # applied at the first reset
    env = suite.make_env(1, seed=0)
    assert env.unwrapped.LINK_MASS_1 == 2.0
    with pytest.raises(ValueError, match="needs the key 'env_id'"):
        Suite({"num_tasks": 2, "schedule": {"steps_per_task": 10}})


# ------------------------------------------------------------------------------ stability under K
def _max_tasks(name: str, wanted: int = 8) -> int:
    """The largest K (up to ``wanted``) a suite can be built with: a physics ``values`` list caps it."""
    spec = load_yaml(find_yaml("envs", name))
    caps = [len(v["values"]) for v in spec.get("variants") or [] if "values" in v]
    return min([wanted, *caps])


def _suite_trace(suite: Suite, task: int, seed: int = 5, steps: int = 20) -> dict:
    """Spaces, variant parameters, normalisation and a rollout of fixed actions of one task of a suite."""
    return {**variant_trace(suite.make_env(task), seed, steps), "normalize": suite.normalize(task, -100.0)}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suite_variants_do_not_depend_on_num_tasks(name: str) -> None:
    large_k = _max_tasks(name)  # 8, or the length of a physics values list
    large = load_suite(name, num_tasks=large_k)
    small_ks = sorted({3, load_suite(name).num_tasks} - {large_k})  # K=3 and the shipped K
    assert small_ks and all(k < large_k for k in small_ks)
    for small_k in small_ks:
        small = load_suite(name, num_tasks=small_k)
        for k in range(small_k):
            assert _suite_trace(small, k) == _suite_trace(large, k), (
                f"{name}: task {k} changed from K={small_k} to K={large_k}"
            )


def test_drift_suite_phases_follow_van_der_corput() -> None:
    for num_tasks in (3, 8):
        env = load_suite("mountaincar-drift", num_tasks=num_tasks).make_env(0)
        phase = env.get_wrapper_attr("phase")
        assert [phase(k) for k in range(3)] == [0.0, 0.5, 0.25]
