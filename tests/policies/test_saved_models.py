"""Agents saved by earlier releases load with today's code and act identically.

``tests/data/models_v0_1_0/`` holds agents saved by psp_rl 0.1.0 before its modules moved into
``nn/``, ``envs/`` and ``training/`` (written by ``tests/data/make_saved_models.py``), with their
deterministic actions on a fixed batch of observations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

import psp_rl

DATA = Path(__file__).resolve().parents[1] / "data"
ALGOS = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "td3": TD3}
SAVED = sorted(DATA.glob("models_*/*.zip"))


def test_fixtures_are_there() -> None:
    assert len(SAVED) >= 7, SAVED  # one per algorithm, and the three contexts and the baselines


@pytest.mark.parametrize("path", SAVED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_saved_agent_loads_and_acts_identically(path: Path) -> None:
    torch.set_num_threads(1)
    model = ALGOS[path.stem.split("_")[0]].load(path, device="cpu")
    assert isinstance(
        model.policy,
        (psp_rl.PSPActorCriticPolicy, psp_rl.PSPDQNPolicy, psp_rl.PSPSACPolicy, psp_rl.PSPTD3Policy),
    )
    expected = np.load(path.with_suffix(".npz"))
    actions, _ = model.predict({"obs": expected["obs"], "task": expected["task"]}, deterministic=True)
    np.testing.assert_allclose(actions, expected["actions"], rtol=1e-5, atol=1e-6)
