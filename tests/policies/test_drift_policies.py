"""Policies on observations with a continuous task coordinate: drifting contexts and coord_input train
with every algorithm, act on the coordinate, and save / load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl import PSPActorCriticPolicy, PSPDQNPolicy, PSPSACPolicy, PSPTD3Policy


class CoordEnv(gym.Env):
    """A toy env whose observation carries a coordinate that advances 0.01 per step."""

    def __init__(self, continuous: bool) -> None:
        self.observation_space = spaces.Dict(
            {
                "obs": spaces.Box(-1.0, 1.0, (3,), np.float32),
                "task": spaces.Discrete(1),
                "coord": spaces.Box(0.0, 1.0, (1,), np.float32),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else spaces.Discrete(2)
        self.t = 0

    def _obs(self) -> dict[str, Any]:
        s = (self.t * 0.01) % 1.0
        return {
            "obs": self.np_random.uniform(-1, 1, 3).astype(np.float32),
            "task": 0,
            "coord": np.array([s], np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        self.t += 1
        return self._obs(), float(np.sum(action)), False, self.t % 20 == 0, {}


ALGOS = {
    "ppo": (PPO, PSPActorCriticPolicy, False, dict(n_steps=16, batch_size=16, n_epochs=1)),
    "dqn": (DQN, PSPDQNPolicy, False, dict(learning_starts=8, batch_size=8, train_freq=4)),
    "sac": (SAC, PSPSACPolicy, True, dict(learning_starts=8, batch_size=8, train_freq=4)),
    "td3": (TD3, PSPTD3Policy, True, dict(learning_starts=8, batch_size=8, train_freq=4)),
}
SETTINGS = [
    dict(context="complex", drift_context="power"),
    dict(context="rotation", drift_context="geodesic"),
    dict(context="binary", drift_context="interpolate", drift_keys=4),
    dict(context="binary", drift_context="binned", drift_keys=4),
    dict(mode="shared", coord_input=True),
    dict(mode="separate", drift_context="binned", drift_keys=4),  # one network per phase bin
]


def make(algo: str, **policy_kwargs: Any) -> Any:
    cls, policy, continuous, kwargs = ALGOS[algo]
    env = DummyVecEnv([lambda: CoordEnv(continuous)])
    return cls(policy, env, policy_kwargs=dict(net_arch=[8], **policy_kwargs), seed=0, **kwargs)


def obs_at(coords: list[float]) -> dict[str, np.ndarray]:
    n = len(coords)
    rng = np.random.default_rng(0)
    return {
        "obs": np.tile(rng.uniform(-1, 1, 3).astype(np.float32), (n, 1)),
        "task": np.zeros(n, np.int64),
        "coord": np.array(coords, np.float32)[:, None],
    }


def first_output(model: Any, obs: dict[str, np.ndarray]) -> torch.Tensor:
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        if isinstance(model, PPO):
            return model.policy.predict_values(tensor)
        if isinstance(model, DQN):
            return model.q_net(tensor)
        return model.actor(tensor, deterministic=True) if isinstance(model, SAC) else model.actor(tensor)


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize(
    "setting", SETTINGS, ids=lambda s: "-".join(str(s[k]) for k in ("mode", "drift_context") if k in s)
)
def test_trains_acts_on_the_coordinate_and_saves(algo: str, setting: dict, tmp_path: Path) -> None:
    model = make(algo, **setting)
    model.learn(48)
    obs = obs_at([0.1, 0.6])  # the same base observation at two coordinates
    out = first_output(model, obs)
    assert not torch.allclose(out[0], out[1])  # the network sees the coordinate
    model.save(tmp_path / "m.zip")
    loaded = ALGOS[algo][0].load(tmp_path / "m.zip")
    assert torch.equal(first_output(loaded, obs), out)


def test_without_a_coordinate_the_drift_settings_are_an_error() -> None:
    env = DummyVecEnv(
        [
            lambda: gym.wrappers.TransformObservation(  # drop the coord entry
                CoordEnv(False),
                lambda o: {"obs": o["obs"], "task": o["task"]},
                spaces.Dict({"obs": spaces.Box(-1.0, 1.0, (3,), np.float32), "task": spaces.Discrete(1)}),
            )
        ]
    )
    for kwargs in (dict(drift_context="interpolate"), dict(coord_input=True)):
        with pytest.raises(ValueError, match="coordinate: true"):
            PPO(PSPActorCriticPolicy, env, policy_kwargs=kwargs)
