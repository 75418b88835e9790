"""A finished (or interrupted) run continued with more tasks: `train(resume=RUN, num_tasks=K2)` and
`psp-rl train --resume RUN --num-tasks K2` grow the agent and continue the matrix, metrics, curves and
checkpoints in the same run folder; `psp-rl eval` then evaluates every task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from callback_fakes import StopAt
from test_train import STEPS, FirstStep, scalar_steps, tiny_config

from psp_rl.cli import main
from psp_rl.training import RunResult, train
from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.training.saved_runs import evaluate_run

ADDED = 128  # steps per added task


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return train(tiny_config(tmp_path_factory.mktemp("base")), progress_bar=False, verbose=0)


def copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


def test_grown_run_continues_in_the_same_folder(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    probe = FirstStep()
    result = train(
        resume=run, num_tasks=3, steps_per_task=ADDED, progress_bar=False, verbose=0, callbacks=[probe]
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert probe.start == 2 * STEPS and probe.first_task == [2, 2]  # the new variant, on every sub-env
    assert metrics["num_tasks"] == 3 and metrics["num_timesteps"] >= 2 * STEPS + ADDED
    assert metrics["phase_boundaries"] == [STEPS, 2 * STEPS, 2 * STEPS + ADDED]
    assert metrics["phase_tasks"] == [0, 1, 2]
    matrix = metrics["perf_matrix"]
    assert [len(row) for row in matrix] == [3, 3, 3]
    assert matrix[:2] == [[*row, None] for row in base_run.metrics["perf_matrix"]]  # the old rows, kept
    assert None not in matrix[2]
    assert metrics["avg_performance"] == pytest.approx(sum(matrix[2]) / 3)
    # the added task's curve starts with an evaluation when the growth begins, so it has an AUC
    start = [h for h in metrics["eval_history"] if h["step"] == 2 * STEPS and not h["phase_end"]]
    assert start and start[0]["normalized"][2] is not None
    assert metrics["task_auc"][2] is not None
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["num_tasks"] == 3 and cfg["phase_boundaries"] == metrics["phase_boundaries"]
    assert cfg["grown"] == [{"from_tasks": 2, "num_tasks": 3, "steps_per_task": ADDED}]
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None and checkpoint.name == f"step_{2 * STEPS + ADDED:012d}"
    assert result.model.policy.num_tasks == 3
    assert max(scalar_steps(run, "train/task")) >= 2 * STEPS + ADDED - 64  # the same TensorBoard curves
    assert max(scalar_steps(run, "eval/task_2/normalized")) == 2 * STEPS + ADDED


def test_psp_rl_eval_on_a_grown_run_evaluates_every_task(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    assert (
        main(
            [
                "train",
                "--resume",
                str(run),
                "--num-tasks",
                "3",
                "--steps-per-task",
                str(ADDED),
                "--no-progress",
            ]
        )
        == 0
    )
    result = evaluate_run(run, episodes=1)
    assert len(result["returns"]) == 3 and len(result["normalized"]) == 3
    assert main(["eval", str(run), "--episodes", "1"]) == 0


def test_an_interrupted_growth_resumes_without_num_tasks(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(
            resume=run,
            num_tasks=4,
            steps_per_task=ADDED,
            progress_bar=False,
            verbose=0,
            callbacks=[StopAt(2 * STEPS + ADDED + 32, KeyboardInterrupt)],
        )
    evaluated = evaluate_run(run, episodes=1)  # run/model.zip holds 2 tasks: the interrupt's checkpoint 4
    assert len(evaluated["returns"]) == 4 and "checkpoints" in evaluated["source"]
    result = train(resume=run, progress_bar=False, verbose=0)
    assert result.metrics["num_tasks"] == 4 and len(result.metrics["perf_matrix"]) == 4
    assert result.metrics["phase_boundaries"][-1] == 2 * STEPS + 2 * ADDED


def test_a_growth_that_crashed_before_its_first_checkpoint(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    with pytest.raises(RuntimeError):
        train(
            resume=run,
            num_tasks=3,
            steps_per_task=ADDED,
            progress_bar=False,
            verbose=0,
            callbacks=[StopAt(2 * STEPS + 32)],
        )
    with pytest.raises(ValueError, match="finish the growth with psp-rl train --resume"):
        evaluate_run(run, episodes=1)  # every model on disk predates the growth
    result = train(resume=run, progress_bar=False, verbose=0)  # the recorded growth is carried out
    assert result.metrics["num_tasks"] == 3 and None not in result.metrics["perf_matrix"][2]


def test_growth_of_an_unfinished_run_finishes_its_own_tasks_first(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        train(tiny_config(tmp_path), progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 96)])
    (run,) = (tmp_path / "runs").iterdir()
    result = train(resume=run, num_tasks=3, steps_per_task=ADDED, progress_bar=False, verbose=0)
    assert result.metrics["phase_tasks"] == [0, 1, 2]
    assert [len(row) for row in result.metrics["perf_matrix"]] == [3, 3, 3]
    assert result.metrics["perf_matrix"][0][2] is None  # task 2 did not exist at the end of phase 0
    assert None not in result.metrics["perf_matrix"][1] + result.metrics["perf_matrix"][2]


def test_twice_grown_run_and_default_steps(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    train(resume=run, num_tasks=3, steps_per_task=ADDED, progress_bar=False, verbose=0)
    result = train(resume=run, num_tasks=4, progress_bar=False, verbose=0)  # the last phase's steps
    assert result.metrics["phase_boundaries"] == [STEPS, 2 * STEPS, 2 * STEPS + ADDED, 2 * STEPS + 2 * ADDED]
    assert [len(row) for row in result.metrics["perf_matrix"]] == [4] * 4


def test_growth_errors_name_the_fix(base_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(base_run.run_path, tmp_path)
    with pytest.raises(ValueError, match="larger number"):
        train(resume=run, num_tasks=2, progress_bar=False, verbose=0)
    with pytest.raises(ValueError, match="give num_tasks too"):
        train(resume=run, steps_per_task=ADDED, progress_bar=False, verbose=0)
    with pytest.raises(ValueError, match="resume=RUN_DIR"):
        train(tiny_config(tmp_path), num_tasks=3, progress_bar=False, verbose=0)
    assert main(["train", "--resume", str(run), "--steps-per-task", "64"]) == 2
    assert main(["train", "--resume", str(run), "--num-tasks", "1"]) == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["num_tasks"] == 2  # nothing was changed


DQN_SETS = [
    "policy_kwargs.net_arch=[16]",
    "eval.episodes=1",
    "hyperparams.learning_starts=64",
    "hyperparams.train_freq=32",
    "hyperparams.gradient_steps=1",
    "hyperparams.buffer_size=2000",
    "rehearsal.states_per_task=64",
    "rehearsal.batch_size=16",
]


@pytest.mark.parametrize(
    ("agent", "sets"),
    [
        ("dqn-psp", DQN_SETS),  # replay buffer, rehearsal memory
        ("ppo-psp", ["normalize=true"]),  # per-task observation statistics
        ("ppo-psp", ["ewc.lambda=10", "ewc.fisher_samples=32"]),  # EWC anchors and Fisher sums
        ("ppo-psp", ["policy_kwargs.mode=onehot", "ewc.lambda=10", "ewc.fisher_samples=32"]),
    ],
    ids=["dqn-rehearsal", "ppo-normalize", "ppo-ewc", "ppo-onehot-ewc"],
)
def test_every_per_task_state_grows(tmp_path: Path, agent: str, sets: list[str]) -> None:
    first = train(tiny_config(tmp_path, *sets, agent=agent), progress_bar=False, verbose=0)
    result = train(resume=first.run_path, num_tasks=3, steps_per_task=ADDED, progress_bar=False, verbose=0)
    assert result.metrics["num_tasks"] == 3 and None not in result.metrics["perf_matrix"][2]
    checkpoint = find_latest_checkpoint(first.run_path)
    assert checkpoint is not None and checkpoint.name == f"step_{2 * STEPS + ADDED:012d}"
    if "normalize=true" in sets:
        from stable_baselines3.common.vec_env import VecNormalize

        from psp_rl.training.normalize import TaskVecNormalize

        env = result.model.get_vec_normalize_env()
        assert isinstance(env, TaskVecNormalize) and env.num_tasks == 3
        assert env.task_obs_rms(2).count > 1  # the added task's own statistics, updated
        assert isinstance(VecNormalize.load(str(checkpoint / "vecnormalize.pkl"), env.venv), TaskVecNormalize)
