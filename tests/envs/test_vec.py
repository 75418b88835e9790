"""Task-observation VecEnvs from your own per-task environments (no suite YAML)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import psp_rl
from psp_rl.envs import TaskEnvs, make_task_env, make_task_vec_env


def cartpoles(lengths: list[float]) -> list:
    def make(length: float):
        def _init() -> gym.Env:
            env = gym.make("CartPole-v1")
            env.unwrapped.length = length
            env.unwrapped.polemass_length = env.unwrapped.masspole * length
            return env

        return _init

    return [make(length) for length in lengths]


def test_make_task_env_passes_check_env_and_switches_at_reset() -> None:
    env = make_task_env(cartpoles([0.5, 1.5]), task=0)
    check_env(env, warn=False)
    obs, info = env.reset(seed=0)
    assert obs["task"] == 0 and info["task_id"] == 0
    env.set_task(1)
    env.step(env.action_space.sample())
    assert env.unwrapped.length == 0.5  # not mid-episode
    obs, info = env.reset()
    assert obs["task"] == 1 and info["task_switched"] and env.unwrapped.length == 1.5


def test_task_envs_are_built_once_and_checked_for_matching_spaces() -> None:
    calls = []

    def counted() -> gym.Env:
        calls.append(1)
        return gym.make("CartPole-v1")

    envs = TaskEnvs([counted, counted])
    assert len(calls) == 1  # task 1 is built when first used
    for task in (1, 0, 1):
        envs.set_variant(task)
        envs.reset()
    assert len(calls) == 2
    mixed = TaskEnvs([lambda: gym.make("CartPole-v1"), lambda: gym.make("Pendulum-v1")])
    mixed.set_variant(1)
    with pytest.raises(ValueError, match="task 1 has observation_space .* share its spaces"):
        mixed.reset()


def test_bad_factories_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="non-empty list of environment factories"):
        TaskEnvs([])
    with pytest.raises(ValueError, match=r"env_fns\[1\] is .*not a factory"):
        TaskEnvs([lambda: gym.make("CartPole-v1"), gym.make("CartPole-v1")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="out of range: env_fns has K=2"):
        make_task_vec_env(cartpoles([0.5, 1.0]), n_envs=1, initial_tasks=[2])
    with pytest.raises(ValueError, match="schedule has num_tasks=3"):
        make_task_vec_env(
            cartpoles([0.5, 1.0]), schedule=psp_rl.make_schedule("sequential", 3, steps_per_task=10)
        )


def test_own_variants_train_with_a_schedule() -> None:
    schedule = psp_rl.make_schedule("sequential", num_tasks=2, steps_per_task=128)
    vec_env = make_task_vec_env(cartpoles([0.5, 1.5]), n_envs=2, schedule=schedule, seed=0)
    assert vec_env.observation_space["task"] == gym.spaces.Discrete(2)
    model = PPO(
        psp_rl.PSPActorCriticPolicy,
        vec_env,
        n_steps=32,
        batch_size=32,
        seed=0,
        policy_kwargs=dict(net_arch=[8, 8]),
    )
    callback = psp_rl.TaskScheduleCallback(schedule)
    model.learn(schedule.total_timesteps, callback=callback)
    assert model.num_timesteps >= schedule.total_timesteps
    tasks = np.asarray(vec_env.get_attr("task"))
    assert (tasks == 1).all()  # the second phase runs task 1 everywhere
    assert {vec_env.envs[i].unwrapped.length for i in range(2)} == {1.5}


def test_spaces_that_differ_are_found_when_the_vec_env_is_built() -> None:
    built: list[int] = []

    def make(env_id: str, k: int):
        def _init() -> gym.Env:
            built.append(k)
            return gym.make(env_id)

        return _init

    fns = [make("CartPole-v1", 0), make("CartPole-v1", 1), make("Acrobot-v1", 2)]
    with pytest.raises(
        ValueError,
        match=r"differ in observation_space: tasks 0, 1 have Box\(.*\(4,\).*; task 2 has Box\(.*\(6,\).* and "
        r"in action_space: tasks 0, 1 have Discrete\(2\); task 2 has Discrete\(3\): every task's",
    ):
        make_task_vec_env(fns, n_envs=2)  # task 2 never runs first: found all the same
    assert sorted(built) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"differ in action_space: task 0 has Discrete\(2\); task 1 has Box"):
        make_task_env([lambda: gym.make("CartPole-v1"), lambda: _pendulum_as_cartpole_obs()])
    built.clear()
    vec_env = make_task_vec_env(fns[:2], n_envs=2)  # every task built once to check, then the sub-envs
    assert sorted(built) == [0, 0, 0, 1] and vec_env.num_envs == 2


def _pendulum_as_cartpole_obs() -> gym.Env:
    env = gym.make("Pendulum-v1")
    return gym.wrappers.TransformObservation(
        env, lambda o: np.zeros(4, np.float32), gym.make("CartPole-v1").observation_space
    )
