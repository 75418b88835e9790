"""What a PSP policy's ``predict`` refuses, for PPO, DQN, SAC and TD3: a missing task, a plain array, a task
batch that does not match the observations, an id out of range, NaN / inf; and what it still takes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv

import psp_rl
from psp_rl.policies.obs_checks import check_observation

K = 2
SUITES = {
    "ppo": "cartpole-permuted",
    "dqn": "cartpole-permuted",
    "sac": "pendulum-permuted",
    "td3": "pendulum-permuted",
}


@pytest.fixture(scope="module", params=list(SUITES))
def model(request: pytest.FixtureRequest) -> BaseAlgorithm:
    name = request.param
    algo, policy = {
        "ppo": (PPO, psp_rl.PSPActorCriticPolicy),
        "dqn": (DQN, psp_rl.PSPDQNPolicy),
        "sac": (SAC, psp_rl.PSPSACPolicy),
        "td3": (TD3, psp_rl.PSPTD3Policy),
    }[name]
    env = psp_rl.load_suite(SUITES[name], num_tasks=K).make_vec_env(n_envs=2, seed=0)
    kwargs = dict(n_steps=8, batch_size=8) if name == "ppo" else dict(learning_starts=0)
    return algo(policy, env, policy_kwargs=dict(net_arch=[8]), seed=0, **kwargs)


def obs_dim(model: BaseAlgorithm) -> int:
    return int(model.observation_space["obs"].shape[0])  # type: ignore[index]


def test_a_missing_task_entry_names_the_task_wrapper(model: BaseAlgorithm) -> None:
    with pytest.raises(ValueError, match=r"needs a 'task' entry.*psp_rl's task wrapper.*make_vec_env"):
        model.predict({"obs": np.zeros(obs_dim(model), np.float32)})


def test_a_plain_array_is_refused_with_the_dict_it_needs(model: BaseAlgorithm) -> None:
    with pytest.raises(ValueError, match=r"acts on dict observations.*got ndarray of shape \(2, \d\)"):
        model.predict(np.zeros((2, obs_dim(model)), np.float32))


def test_task_ids_must_match_the_observations_one_to_one(model: BaseAlgorithm) -> None:
    one = np.zeros(obs_dim(model), np.float32)
    with pytest.raises(ValueError, match=r"'task' entry has shape \(2,\) but 'obs' holds 1 observation"):
        model.predict({"obs": one, "task": np.array([0, 1])})
    with pytest.raises(ValueError, match=r"'task' entry has shape \(1,\) but 'obs' holds 3 observation"):
        model.predict({"obs": np.zeros((3, obs_dim(model)), np.float32), "task": np.array([1])})
    with pytest.raises(ValueError, match=r"'obs' entry has shape \(5,\).*one observation of shape"):
        model.predict({"obs": np.zeros(5, np.float32), "task": 0})


def test_an_id_out_of_range_or_not_an_integer_is_refused(model: BaseAlgorithm) -> None:
    one = np.zeros(obs_dim(model), np.float32)
    with pytest.raises(ValueError, match=rf"task id {K} is out of range: this policy holds K={K}"):
        model.predict({"obs": one, "task": K})
    with pytest.raises(ValueError, match="task ids must be integers"):
        model.predict({"obs": one, "task": 1.0})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(model: BaseAlgorithm, bad: float) -> None:
    obs = np.zeros((2, obs_dim(model)), np.float32)
    obs[1, 2] = bad
    with pytest.raises(
        ValueError,
        match=r"'obs' entry holds NaN or inf values \(1 of \d+ values, the first at "
        r"index \(1, 2\)\).*VecCheckNan",
    ):
        model.predict({"obs": obs, "task": np.array([0, 1])}, deterministic=True)


def test_good_observations_still_act(model: BaseAlgorithm) -> None:
    obs = model.get_env().reset()  # type: ignore[union-attr]
    actions, _ = model.predict(obs, deterministic=True)
    assert len(actions) == 2
    single = {"obs": obs["obs"][0], "task": np.int8(1)}  # one observation, any integer dtype
    action, _ = model.predict(single, deterministic=True)
    assert np.shape(action) == model.action_space.shape
    column = {"obs": obs["obs"], "task": np.array([[0], [1]], dtype=np.uint8)}  # (B, 1) ids
    np.testing.assert_array_equal(
        model.predict(column, deterministic=True)[0],
        model.predict({"obs": obs["obs"], "task": np.array([0, 1])}, deterministic=True)[0],
    )


def test_dqn_exploring_predict_checks_too() -> None:
    env = psp_rl.load_suite("cartpole-permuted", num_tasks=K).make_vec_env(n_envs=1, seed=0)
    model = DQN(psp_rl.PSPDQNPolicy, env, policy_kwargs=dict(net_arch=[8]), learning_starts=0)
    model.exploration_rate = 1.0  # every call takes the random action: SB3 never converts the observation
    with pytest.raises(ValueError, match="needs a 'task' entry"):
        model.predict({"obs": np.zeros((1, 4), np.float32)})


def test_learning_is_untouched() -> None:
    """The rollouts of an off-policy algorithm pass through predict: a short run still learns."""
    env = psp_rl.load_suite("pendulum-permuted", num_tasks=K).make_vec_env(n_envs=2, seed=0)
    model = TD3(psp_rl.PSPTD3Policy, env, policy_kwargs=dict(net_arch=[8]), learning_starts=8, seed=0)
    model.learn(32)
    assert model.num_timesteps == 32


def test_the_coordinate_entry_is_checked_like_the_others() -> None:
    space = gym.spaces.Dict(
        {
            "obs": gym.spaces.Box(-1, 1, (3,)),
            "task": gym.spaces.Discrete(1),
            "coord": gym.spaces.Box(0, 1, (1,)),
        }
    )
    good = {"obs": np.zeros((2, 3), np.float32), "task": np.zeros(2, np.int64), "coord": np.zeros((2, 1))}
    assert check_observation(good, space, 1)["task"].dtype == np.int64
    with pytest.raises(ValueError, match=r"lacks|add \['coord'\]"):
        check_observation({"obs": good["obs"], "task": good["task"]}, space, 1)
    with pytest.raises(ValueError, match=r"'coord' entry has shape \(1, 1\) but 'obs' holds 2"):
        check_observation({**good, "coord": np.zeros((1, 1))}, space, 1)
    with pytest.raises(ValueError, match="'coord' entry holds NaN"):
        check_observation({**good, "coord": np.array([[0.5], [np.nan]])}, space, 1)
    with pytest.raises(ValueError, match=r"remove \['extra'\]"):
        check_observation({**good, "extra": 1}, space, 1)


def test_channel_last_images_are_taken_as_sb3_takes_them() -> None:
    space = gym.spaces.Dict(
        {"obs": gym.spaces.Box(0, 255, (3, 7, 7), np.uint8), "task": gym.spaces.Discrete(2)}
    )
    first = {"obs": np.zeros((4, 7, 7, 3), np.uint8), "task": np.array([0, 1, 0, 1])}
    assert check_observation(first, space, 2)["obs"].shape == (4, 7, 7, 3)
    assert check_observation({"obs": np.zeros((3, 7, 7), np.uint8), "task": 1}, space, 2)["task"] == 1


def test_a_plain_vec_env_still_gets_the_construction_error() -> None:
    with pytest.raises(ValueError, match="TaskObservation"):
        PPO(psp_rl.PSPActorCriticPolicy, DummyVecEnv([lambda: gym.make("CartPole-v1")]))
