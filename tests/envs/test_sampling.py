"""UniformTaskSampling and the psp_rl/<suite>-multitask-v0 ids: one random task per episode, seeded."""

import gymnasium as gym
import numpy as np
import pytest

import psp_rl  # noqa: F401  (registers the suites)
from psp_rl.envs import UniformTaskSampling, load_suite, multitask_env_id, register_suites
from psp_rl.envs.registration import make_suite_env

SUITE = "cartpole-permuted"


def _tasks(env: gym.Env, resets: int, seed: int | None = None) -> list[int]:
    first = [int(env.reset(seed=seed)[0]["task"])] if seed is not None else []
    return first + [int(env.reset()[0]["task"]) for _ in range(resets - len(first))]


def test_every_task_appears_over_many_resets():
    env = gym.make(multitask_env_id(SUITE))
    num_tasks = load_suite(SUITE).num_tasks
    tasks = _tasks(env, 400, seed=0)
    counts = np.bincount(tasks, minlength=num_tasks)
    assert len(counts) == num_tasks and counts.min() > 0, counts
    # uniform: each task near 400 / K
    assert counts.min() > 400 / num_tasks / 2, counts


def test_seeded_reset_reproduces_the_draws():
    env = gym.make(multitask_env_id(SUITE))
    first = _tasks(env, 20, seed=7)
    _tasks(env, 5)  # moves the generator on
    assert _tasks(env, 20, seed=7) == first
    assert _tasks(gym.make(multitask_env_id(SUITE)), 20, seed=7) == first
    assert _tasks(env, 20, seed=8) != first


def test_drawn_task_runs_its_variant_for_the_whole_episode():
    suite = load_suite(SUITE)
    env = make_suite_env(SUITE, task_sampling="uniform")
    seen = set()
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        task = int(obs["task"])
        seen.add(task)
        assert info["task_id"] == task
        reference, _ = suite.make_env(task).reset(seed=seed)
        np.testing.assert_array_equal(obs["obs"], reference["obs"])  # the variant, not only the label
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(env.action_space.sample())
            assert int(obs["task"]) == task and info["task_id"] == task
            done = terminated or truncated
    assert len(seen) > 1


def test_fixed_id_stays_on_one_task():
    env = gym.make(f"psp_rl/{SUITE}-v0", task=2)
    assert set(_tasks(env, 30, seed=0)) == {2}


def test_task_option_and_set_task():
    env = make_suite_env(SUITE, task_sampling="uniform")
    assert [int(env.reset(seed=s, options={"task": 3})[0]["task"]) for s in range(5)] == [3] * 5
    with pytest.raises(ValueError, match="reset\\(options=\\{'task': k\\}\\)"):
        env.set_task(1)
    with pytest.raises(ValueError, match="task_sampling must be one of"):
        make_suite_env(SUITE, task_sampling="round-robin")
    with pytest.raises(ValueError, match="num_tasks and set_task"):
        UniformTaskSampling(gym.make("CartPole-v1"))


def test_both_ids_registered():
    ids = register_suites()
    assert f"psp_rl/{SUITE}-v0" in ids and multitask_env_id(SUITE) in ids
    assert gym.registry[multitask_env_id(SUITE)].kwargs["task_sampling"] == "uniform"
