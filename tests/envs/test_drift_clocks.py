"""Drift clocks: read / set through a VecEnv, restart for evaluation, saved and restored on resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

from psp_rl.envs import load_suite
from psp_rl.envs.drift_clocks import DriftClockReset, get_drift_steps, set_drift_steps, with_drift_reset
from psp_rl.evaluation.episodes import eval_envs_per_task
from psp_rl.training import train
from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.training.config import TrainConfig, resolve_config
from psp_rl.training.normalize import TaskVecNormalize
from tests.training.callback_fakes import TINY, StopAt

STEPS = 128  # per task

TINY_1 = [*TINY[:-1], "eval.episodes=1"]


def drift_suite(num_tasks: int = 2):  # noqa: ANN201
    return load_suite("mountaincar-drift", num_tasks=num_tasks)


def step_n(venv, n: int) -> None:  # noqa: ANN001
    venv.reset()
    for _ in range(n):
        venv.step(np.array([venv.action_space.sample() for _ in range(venv.num_envs)]))


def test_get_and_set_the_clocks_of_a_vec_env() -> None:
    venv = drift_suite().make_vec_env(n_envs=2, seed=0)
    step_n(venv, 5)
    assert get_drift_steps(venv) == [5, 5]
    rebuilt = TaskVecNormalize(drift_suite().make_vec_env(n_envs=2, seed=0))  # looked through
    assert get_drift_steps(rebuilt) == [0, 0]
    set_drift_steps(rebuilt, [5, 9])
    assert get_drift_steps(rebuilt) == [5, 9]
    set_drift_steps(rebuilt, [])  # nothing saved (a suite without drift): nothing to do
    assert get_drift_steps(rebuilt) == [5, 9]
    with pytest.raises(ValueError, match="same suite and n_envs"):
        set_drift_steps(rebuilt, [1, 2, 3])


def test_suites_without_drift_have_no_clocks() -> None:
    venv = load_suite("cartpole-permuted", num_tasks=2).make_vec_env(n_envs=2)
    assert get_drift_steps(venv) == []
    assert with_drift_reset(venv) is venv
    with pytest.raises(ValueError, match="drifting: \\[\\]"):
        set_drift_steps(venv, [3, 3])


@pytest.mark.parametrize("n_envs", [1, 2])
def test_every_evaluation_starts_the_eval_clocks_at_zero(n_envs: int) -> None:
    envs = eval_envs_per_task(drift_suite(), episodes=2, n_envs=n_envs)
    assert all(isinstance(env, DriftClockReset) for env in envs)
    env = envs[1]
    step_n(env, 30)
    assert get_drift_steps(env) == [30] * n_envs
    env.reset()  # the start of the next evaluation (evaluate_policy resets the VecEnv once)
    assert get_drift_steps(env) == [0] * n_envs
    _, _, _, infos = env.step(np.zeros(n_envs, dtype=np.int64))
    fresh = drift_suite().make_env(1)
    assert infos[0]["drift"]["gravity"] == pytest.approx(fresh.get_wrapper_attr("value")(0, 1))


class ClockAtStart(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.clocks: list[int | None] | None = None

    def _on_training_start(self) -> None:
        self.clocks = get_drift_steps(self.training_env)

    def _on_step(self) -> bool:
        return True


def drift_config(run_dir: Path) -> TrainConfig:
    return resolve_config(
        "ppo-psp",
        "mountaincar-drift",
        num_tasks=2,
        steps_per_task=STEPS,
        n_envs=2,
        device="cpu",
        run_dir=str(run_dir),
        sets=TINY_1,
    )


def saved_clocks(run: Path) -> tuple[int, list[int]]:
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None
    state = json.loads((checkpoint / "state.json").read_text())
    return state["num_timesteps"], state["extra"]["drift_steps"]


def test_resumed_run_continues_the_drift_of_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = train(drift_config(tmp_path / "whole"), progress_bar=False, verbose=0)
    step, clocks = saved_clocks(whole.run_path)
    assert step == 2 * STEPS and clocks == [STEPS, STEPS]  # each of 2 sub-envs took half the steps

    with pytest.raises(RuntimeError, match="stopped"):
        train(drift_config(tmp_path / "split"), progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 64)])
    (run,) = (tmp_path / "split").iterdir()
    assert saved_clocks(run) == (STEPS, [STEPS // 2, STEPS // 2])  # the phase-end checkpoint
    probe = ClockAtStart()
    train(resume=run, progress_bar=False, verbose=0, callbacks=[probe])
    assert probe.clocks == [STEPS // 2, STEPS // 2]  # restored, not restarted at 0
    assert saved_clocks(run) == (step, clocks)
