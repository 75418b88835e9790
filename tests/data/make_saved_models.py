"""Write small saved agents and the actions they take, as fixtures for the load tests.

Run from the repository root with the release whose models should keep loading::

    python tests/data/make_saved_models.py tests/data/models_v0_1_0

Every agent trains for a few hundred steps (so its weights and optimiser moved), is saved as
``<name>.zip`` and its deterministic actions on a fixed batch of observations go to ``<name>.npz``
(``obs``, ``task``, ``actions``). ``tests/test_saved_models.py`` loads each zip with the current code
and checks that it acts identically. Only the public API is used, so the script runs on any release.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

import psp_rl

AGENTS = {
    # name: (algorithm, policy, suite, policy_kwargs, hyper-parameters)
    "ppo_binary": (PPO, "PSPActorCriticPolicy", "cartpole-permuted", {}, {"n_steps": 64, "batch_size": 32}),
    "ppo_complex_box": (
        PPO,
        "PSPActorCriticPolicy",
        "pendulum-permuted",
        {"context": "complex"},
        {"n_steps": 64, "batch_size": 32},
    ),
    "a2c_rotation": (
        A2C,
        "PSPActorCriticPolicy",
        "cartpole-permuted",
        {"context": "rotation"},
        {"n_steps": 8},
    ),
    "ppo_separate": (
        PPO,
        "PSPActorCriticPolicy",
        "cartpole-permuted",
        {"mode": "separate"},
        {"n_steps": 64, "batch_size": 32},
    ),
    "dqn_binary": (
        DQN,
        "PSPDQNPolicy",
        "cartpole-permuted",
        {},
        {"learning_starts": 50, "buffer_size": 1000},
    ),
    "sac_binary": (
        SAC,
        "PSPSACPolicy",
        "pendulum-permuted",
        {},
        {"learning_starts": 50, "buffer_size": 1000},
    ),
    "td3_multihead": (
        TD3,
        "PSPTD3Policy",
        "pendulum-permuted",
        {"mode": "multihead"},
        {"learning_starts": 50, "buffer_size": 1000},
    ),
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name, (algo, policy, suite_name, policy_kwargs, hyper) in AGENTS.items():
        suite = psp_rl.load_suite(suite_name, num_tasks=3)
        env = suite.make_vec_env(n_envs=1, seed=0)
        kwargs = {"net_arch": [16, 16], **policy_kwargs}
        model = algo(getattr(psp_rl, policy), env, policy_kwargs=kwargs, seed=0, device="cpu", **hyper)
        model.learn(256)
        model.save(out / f"{name}.zip")
        rng = np.random.default_rng(0)
        space = env.observation_space["obs"]
        obs = rng.uniform(-1.0, 1.0, size=(12, *space.shape)).astype(space.dtype)
        task = np.arange(12, dtype=np.int64) % 3
        actions, _ = model.predict({"obs": obs, "task": task}, deterministic=True)
        np.savez(out / f"{name}.npz", obs=obs, task=task, actions=actions)
        print(f"{name}: {algo.__name__}, actions {actions.reshape(12, -1)[:3].tolist()}...")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/models"))
