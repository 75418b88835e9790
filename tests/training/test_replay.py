"""The replay buffer at a task switch: emptied once every sub-env runs the new task, or kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import CallbackList

import psp_rl
from psp_rl.training import TaskScheduleCallback, resolve_config, train
from psp_rl.training.replay import ReplaySwitchCallback


def run_dqn(at_switch: str, n_envs: int = 2) -> tuple[DQN, ReplaySwitchCallback]:
    # CartPole episodes of an untrained greedy Q-network can last a few hundred steps: 1000 steps per
    # task leave every sub-env time to finish its task-0 episode
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=1000)
    schedule = suite.make_schedule()
    model = DQN(psp_rl.PSPDQNPolicy, suite.make_vec_env(n_envs=n_envs, seed=0), learning_starts=50,
                buffer_size=5000, seed=0, policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    replay = ReplaySwitchCallback(schedule, at_switch)
    model.learn(schedule.total_timesteps, callback=CallbackList([TaskScheduleCallback(schedule), replay]))
    return model, replay


def test_reset_keeps_only_the_new_tasks_transitions() -> None:
    model, replay = run_dqn("reset")
    tasks = ReplaySwitchCallback.buffer_tasks(model)
    assert replay.resets == 1 and replay.reset_phase == 1
    assert len(tasks) > 0 and set(tasks.tolist()) == {1}  # no trailing task-0 transition survives


def test_keep_leaves_old_transitions() -> None:
    model, replay = run_dqn("keep")
    tasks = ReplaySwitchCallback.buffer_tasks(model)
    assert replay.resets == 0 and set(tasks.tolist()) == {0, 1}


def test_state_round_trip_and_bad_choice() -> None:
    schedule = psp_rl.make_schedule("sequential", 3, steps_per_task=10)
    replay = ReplaySwitchCallback(schedule)
    replay.load_state_dict({"reset_phase": 2, "resets": 2})
    assert replay.state_dict() == {"reset_phase": 2, "resets": 2}
    with pytest.raises(ValueError, match="Unknown replay.at_switch 'rest'. Did you mean 'reset'"):
        ReplaySwitchCallback(schedule, "rest")
    with pytest.raises(ValueError, match="replay.at_switch"):
        resolve_config("dqn-psp", sets=["replay.at_switch=forget"])
    with pytest.raises(ValueError, match="Unknown replay key"):
        resolve_config("dqn-psp", sets=["replay.size=3"])


def test_train_saves_the_buffer_and_the_reset_position(tmp_path: Path) -> None:
    cfg = resolve_config(
        "dqn-psp", "cartpole-permuted", num_tasks=2, steps_per_task=1000, run_dir=str(tmp_path),
        sets=["hyperparams.learning_starts=50", "hyperparams.buffer_size=5000", "policy_kwargs.net_arch=[8]",
              "eval.episodes=1"],
    )  # fmt: skip
    result = train(cfg, progress_bar=False, verbose=0)
    checkpoints = sorted((result.run_path / "checkpoints").glob("step_*"))
    last = checkpoints[-1]
    assert (last / "replay_buffer.pkl").is_file()
    import json

    state = json.loads((last / "state.json").read_text())
    assert state["callbacks"]["replay"] == {"reset_phase": 1, "resets": 1}
    assert set(np.unique(ReplaySwitchCallback.buffer_tasks(result.model)).tolist()) == {1}
