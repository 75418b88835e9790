"""Every env step the agent takes is counted: keep_best's validation episodes next to the training steps, in
metrics.json, the run summary and the checkpoints (a resumed run keeps counting)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psp_rl
from psp_rl.evaluation.episodes import StepCounter
from psp_rl.training import TrainConfig, train

CONFIG = {
    "algo": "dqn",
    "suite": "cartpole-permuted",
    "num_tasks": 2,
    "steps_per_task": 600,
    "device": "cpu",
    "policy_kwargs": {"net_arch": [8]},
    "hyperparams": {"learning_starts": 100, "buffer_size": 2000},
    "eval": {"episodes": 1},
}


def test_a_step_counter_counts_every_sub_envs_step() -> None:
    env = StepCounter(psp_rl.load_suite("cartpole-permuted", num_tasks=1).make_vec_env(n_envs=3, seed=0))
    env.reset()
    for _ in range(5):
        env.step([env.action_space.sample() for _ in range(3)])
    assert env.steps == 15


def test_validation_episodes_are_counted_and_survive_a_resume(tmp_path: Path) -> None:
    cfg = TrainConfig.from_dict(
        {**CONFIG, "keep_best": {"freq": 100, "episodes": 2}, "run_dir": str(tmp_path)}
    )
    result = train(cfg, progress_bar=False, verbose=0)
    record = result.metrics["interaction"]
    assert record["training"] == 1200 and record["keep_best"] > 0
    assert record["total"] == record["training"] + record["keep_best"]
    assert f"{record['keep_best']} keep_best" in result.summary()
    # resumed from the phase-0 checkpoint: the validation steps before it are kept, the rest counted again
    first, last = sorted((result.run_path / "checkpoints").glob("step_*"))
    shutil.rmtree(last)
    (result.run_path / "metrics.json").unlink()
    resumed = train(resume=result.run_path, progress_bar=False, verbose=0)
    assert resumed.metrics["interaction"] == record


def test_without_validation_only_training_steps_count(tmp_path: Path) -> None:
    result = train(TrainConfig.from_dict({**CONFIG, "run_dir": str(tmp_path)}), progress_bar=False, verbose=0)
    assert result.metrics["interaction"] == {"training": 1200, "total": 1200}
    assert "env steps: 1200 training = 1200" in result.summary()
    assert json.loads((result.run_path / "metrics.json").read_text())["interaction"]["total"] == 1200
