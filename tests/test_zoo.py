"""RL Zoo interop: ``python -m rl_zoo3.train`` trains a psp_rl policy on a registered multi-task suite."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rl_zoo3")

from stable_baselines3 import PPO  # noqa: E402

import psp_rl  # noqa: E402
from psp_rl.envs import load_suite, multitask_env_id  # noqa: E402

SUITE = "cartpole-permuted"
ENV_ID = multitask_env_id(SUITE)

# a zoo hyper-parameter file: the policy by its import path, tiny settings for a fast run (the task drawn per
# episode by the multitask id is tested in tests/envs/test_sampling.py)
HYPERPARAMS = f"""\
{ENV_ID}:
  policy: 'psp_rl.PSPActorCriticPolicy'
  n_timesteps: 100000
  n_envs: 1
  n_steps: 64
  batch_size: 64
  n_epochs: 1
  policy_kwargs:
    net_arch: [8]
"""


def _zoo_train(tmp_path: Path, steps: int = 256) -> Path:
    conf = tmp_path / "ppo.yml"
    conf.write_text(HYPERPARAMS)
    zoo = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "ppo",
        "--env",
        ENV_ID,
        "--gym-packages",
        "psp_rl",
    ]
    options = {"-n": steps, "-f": tmp_path / "logs", "--conf-file": conf, "--seed": 0, "--device": "cpu"}
    command = zoo + [str(item) for pair in options.items() for item in pair] + ["--eval-freq", "-1"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return tmp_path / "logs" / "ppo" / f"{ENV_ID.replace('/', '-')}_1"


def test_zoo_trains_and_saves_a_psp_policy(tmp_path: Path):
    run = _zoo_train(tmp_path)
    model_path = run / f"{ENV_ID.replace('/', '-')}.zip"
    assert model_path.is_file(), sorted(p.name for p in run.iterdir())

    model = PPO.load(model_path, device="cpu")
    assert isinstance(model.policy, psp_rl.PSPActorCriticPolicy)
    assert model.num_timesteps >= 256
    num_tasks = load_suite(SUITE).num_tasks
    assert model.observation_space["task"].n == num_tasks
    obs, _ = load_suite(SUITE).make_env(2).reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(action)
