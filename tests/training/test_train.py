"""End-to-end training with a tiny budget: the run folder, resume, interrupts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from callback_fakes import TINY, StopAt
from stable_baselines3.common.callbacks import BaseCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from psp_rl.training import RUN_FILES, RunResult, train
from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.training.config import TrainConfig, resolve_config

STEPS = 256  # per task


def tiny_config(tmp_path: Path, *sets: str, agent: str = "ppo-psp") -> TrainConfig:
    return resolve_config(
        agent,
        "cartpole-permuted",
        num_tasks=2,
        steps_per_task=STEPS,
        n_envs=2,
        device="cpu",
        run_dir=str(tmp_path / "runs"),
        sets=[*TINY, *sets] if agent == "ppo-psp" else list(sets),
    )


def events_files(run_path: Path) -> list[Path]:
    """The run's TensorBoard event files in the order they were created: by the time stamp and the
    writer counter in ``events.out.tfevents.<time>.<host>.<pid>.<counter>`` (as numbers: ``.10``
    after ``.9``)."""
    files = (run_path / "tb_1").glob("events.out.tfevents.*")
    return sorted(files, key=lambda p: (int(p.name.split(".")[3]), int(p.name.split(".")[-1])))


def scalar_steps(run_path: Path, tag: str) -> list[int]:
    steps: list[int] = []
    for events in events_files(run_path):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            steps += [e.step for e in acc.Scalars(tag)]
    return steps


class FirstStep(BaseCallback):
    """Record the step counter when training (re)starts."""

    def __init__(self) -> None:
        super().__init__()
        self.start: int | None = None
        self.first_task: list[int] | None = None

    def _on_training_start(self) -> None:
        self.start = self.num_timesteps
        self.first_task = [int(t) for t in self.training_env.get_attr("task")]

    def _on_step(self) -> bool:
        return True


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    tmp = tmp_path_factory.mktemp("train")
    return train(tiny_config(tmp), progress_bar=False, verbose=0, command=["psp-rl", "train", "--tiny"])


def test_run_folder_has_every_file(finished_run: RunResult) -> None:
    run = finished_run.run_path
    assert run.name.startswith("cartpole-permuted__ppo-psp__s0__")
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assert list((run / "tb_1").glob("events.out.tfevents.*"))
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None and checkpoint.name == f"step_{2 * STEPS:012d}"
    assert (run / "command.txt").read_text() == "psp-rl train --tiny\n"
    versions = json.loads((run / "versions.json").read_text())
    assert {"python", "torch", "stable_baselines3", "gymnasium", "psp_rl"} <= set(versions)


def test_config_yaml_is_fully_resolved(finished_run: RunResult) -> None:
    data = yaml.safe_load((finished_run.run_path / "config.yaml").read_text())
    assert data["num_tasks"] == 2 and data["steps_per_task"] == STEPS
    assert data["phase_boundaries"] == [STEPS, 2 * STEPS]
    assert data["suite_spec"]["env_id"] == "CartPole-v1"
    assert data["policy_kwargs"]["context"] == "binary"
    assert TrainConfig.from_dict(data) == finished_run.config


def test_metrics_json(finished_run: RunResult) -> None:
    metrics = json.loads((finished_run.run_path / "metrics.json").read_text())
    assert len(metrics["perf_matrix"]) == 2 and len(metrics["perf_matrix"][0]) == 2
    assert metrics["num_timesteps"] >= 2 * STEPS
    for key in ("avg_performance", "forgetting", "forgetting_per_task", "phase_auc", "eval_history"):
        assert key in metrics
    assert metrics["avg_performance"] == pytest.approx(sum(metrics["perf_matrix"][-1]) / 2)
    first_row = metrics["perf_matrix"][0]
    assert metrics["forgetting"] == pytest.approx(first_row[0] - metrics["perf_matrix"][-1][0])
    assert metrics["forward_transfer"] is None  # no reference run given
    assert [h["phase"] for h in metrics["eval_history"]] == [-1, 0, 1]


def test_tensorboard_tags(finished_run: RunResult) -> None:
    acc = EventAccumulator(str(finished_run.run_path / "tb_1"))
    acc.Reload()
    tags = acc.Tags()
    for tag in (
        "eval/task_0/return",
        "eval/task_1/return",
        "continual/avg_performance",
        "continual/forgetting",
        "train/task",
    ):
        assert tag in tags["scalars"], tag
    assert "continual/perf_matrix" in tags["images"]
    assert scalar_steps(finished_run.run_path, "eval/task_0/return")[0] == 0


def test_table_and_summary(finished_run: RunResult) -> None:
    summary = finished_run.summary()
    assert "tensorboard --logdir" in summary
    assert summary.count("\n   0 ") == 1 and "\n   1 " in summary
    assert "episodes per task):" in summary and finished_run.metrics["eval_deterministic"] is True
    # the header says how the episodes were played and what the scores are
    stochastic = dataclasses.replace(
        finished_run, metrics={**finished_run.metrics, "eval_deterministic": False, "metric": "success"}
    )
    assert "stochastic episodes per task; scores: success rates):" in stochastic.summary()


def test_resume_after_crash_continues_counter_and_schedule(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    with pytest.raises(RuntimeError, match="stopped"):
        train(cfg, progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 96)])
    (run,) = (tmp_path / "runs").iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None and checkpoint.name == f"step_{STEPS:012d}"  # the phase-end checkpoint
    assert not (run / "metrics.json").exists()

    probe = FirstStep()
    result = train(
        resume=run, progress_bar=False, verbose=0, callbacks=[probe], command="psp-rl train --resume x"
    )
    assert probe.start == STEPS  # not 0: the counter continues from the checkpoint
    assert probe.first_task == [1, 1]  # phase 2 of the schedule: task 1 on every sub-env
    assert result.model.num_timesteps >= 2 * STEPS
    assert len(result.metrics["perf_matrix"]) == 2
    assert [h["phase"] for h in result.metrics["eval_history"]] == [-1, 0, 1]
    assert (run / "command.txt").read_text().splitlines()[-1] == "psp-rl train --resume x"

    # Same TensorBoard folder; the resumed events file continues from the checkpoint step.
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("tb_")) == ["tb_1"]
    files = events_files(run)
    assert len(files) == 2
    acc = EventAccumulator(str(files[-1]))
    acc.Reload()
    resumed = [e.step for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    assert resumed and min(resumed) >= STEPS
    assert scalar_steps(run, "train/task")[-1] >= 2 * STEPS - 64


def test_keyboard_interrupt_saves_a_checkpoint_then_resumes(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 96, KeyboardInterrupt)])
    (run,) = (tmp_path / "runs").iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None
    stopped = json.loads((checkpoint / "state.json").read_text())["num_timesteps"]
    assert STEPS + 96 <= stopped < 2 * STEPS

    probe = FirstStep()
    result = train(resume=run, progress_bar=False, verbose=0, callbacks=[probe])
    assert probe.start == stopped
    assert result.model.num_timesteps >= 2 * STEPS
    assert len(result.metrics["perf_matrix"]) == 2


def test_resume_of_a_finished_run_writes_nothing(
    finished_run: RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    run = finished_run.run_path
    before = {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    result = train(resume=run, progress_bar=False)
    err = capsys.readouterr().err
    assert "is finished" in err and f"--resume {run} --num-tasks 3" in err and f"psp-rl eval {run}" in err
    assert result.model is None  # nothing trained
    assert result.metrics["perf_matrix"] == finished_run.metrics["perf_matrix"]
    assert result.metrics["num_timesteps"] == finished_run.model.num_timesteps
    assert {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


def test_resume_after_the_newest_checkpoint_was_deleted_trains_again(tmp_path: Path) -> None:
    """Deleting the newest checkpoint of a finished run is how a user asks to train from an earlier one."""
    result = train(tiny_config(tmp_path), progress_bar=False, verbose=0)
    first, last = sorted((result.run_path / "checkpoints").glob("step_*"))
    shutil.rmtree(last)
    probe = FirstStep()
    train(resume=result.run_path, progress_bar=False, verbose=0, callbacks=[probe])
    assert probe.start == STEPS and (result.run_path / "checkpoints" / last.name).is_dir()


class FailAtStart(BaseCallback):
    """Raise ``error`` when training starts, before the first step."""

    def __init__(self, error: type[BaseException]) -> None:
        super().__init__()
        self.error = error

    def _on_training_start(self) -> None:
        raise self.error("failed at the start")

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_start_leaves_no_run_folder(tmp_path: Path, error: type[BaseException]) -> None:
    with pytest.raises(error):
        train(tiny_config(tmp_path), progress_bar=False, verbose=0, callbacks=[FailAtStart(error)])
    assert list((tmp_path / "runs").iterdir()) == []  # created, then removed: nothing was trained


def test_a_failure_after_the_first_step_keeps_the_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="stopped"):
        train(tiny_config(tmp_path), progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 50)])
    (run,) = (tmp_path / "runs").iterdir()
    assert find_latest_checkpoint(run) is not None  # kept, to be resumed


def test_resume_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a run folder"):
        train(resume=tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config(tmp_path).to_dict()))
    with pytest.raises(ValueError, match="no complete checkpoint"):
        train(resume=tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--device auto or cpu"):
        train(tiny_config(tmp_path, "device=cuda"), progress_bar=False, verbose=0)


@pytest.mark.parametrize("agent", ["dqn-psp", "a2c-psp"])
def test_other_presets_train_and_resume(tmp_path: Path, agent: str) -> None:
    sets = ["policy_kwargs.net_arch=[16]", "eval.episodes=1"]
    if agent == "dqn-psp":
        sets += [
            "hyperparams.learning_starts=64",
            "hyperparams.train_freq=32",
            "hyperparams.gradient_steps=1",
            "hyperparams.buffer_size=2000",
        ]
    cfg = tiny_config(tmp_path, *sets, agent=agent)
    with pytest.raises(RuntimeError):
        train(cfg, progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 50)])
    (run,) = (tmp_path / "runs").iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None
    if agent == "dqn-psp":
        assert (checkpoint / "replay_buffer.pkl").is_file()
        assert (checkpoint / "keep_best.pt").is_file()  # the preset ends each phase on its best weights
    probe = FirstStep()
    result = train(resume=run, progress_bar=False, verbose=0, callbacks=[probe])
    assert probe.start == STEPS
    assert len(result.metrics["perf_matrix"]) == 2


class ReplayAtStart(BaseCallback):
    """Record the replay buffer's fill position when training (re)starts."""

    def __init__(self) -> None:
        super().__init__()
        self.pos: int | None = None

    def _on_training_start(self) -> None:
        self.pos = int(self.model.replay_buffer.pos)

    def _on_step(self) -> bool:
        return True


def test_off_policy_checkpoints_hold_the_replay_buffer_by_default(
    tmp_path: Path, finished_run: RunResult
) -> None:
    assert TrainConfig().checkpoint["save_replay_buffer"] is True
    ppo_checkpoint = find_latest_checkpoint(finished_run.run_path)
    assert ppo_checkpoint is not None and not (ppo_checkpoint / "replay_buffer.pkl").exists()
    cfg = TrainConfig.from_dict(  # no checkpoint key: the defaults
        {
            "algo": "dqn",
            "suite": "cartpole-permuted",
            "num_tasks": 2,
            "steps_per_task": STEPS,
            "n_envs": 2,
            "device": "cpu",
            "run_dir": str(tmp_path / "runs"),
            "policy_kwargs": {"net_arch": [16]},
            "hyperparams": {"learning_starts": 64, "train_freq": 32, "buffer_size": 2000},
            "eval": {"episodes": 1},
            "replay": {"at_switch": "keep"},  # the buffer as SB3 fills it
        }
    )
    with pytest.raises(RuntimeError):
        train(cfg, progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 50)])
    (run,) = (tmp_path / "runs").iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None and (checkpoint / "replay_buffer.pkl").is_file()
    probe = ReplayAtStart()
    train(resume=run, progress_bar=False, verbose=0, callbacks=[probe])
    # the saved transitions: one row per VecEnv step of the 2 sub-envs, but the checkpoint's own step,
    # which SB3 stores after the callbacks have run
    assert probe.pos == STEPS // 2 - 1


def test_normalized_observations_round_trip(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "normalize={norm_reward: false}")
    result = train(cfg, progress_bar=False, verbose=0)
    assert (result.run_path / "vecnormalize.pkl").is_file()
    checkpoint = find_latest_checkpoint(result.run_path)
    assert checkpoint is not None and (checkpoint / "vecnormalize.pkl").is_file()


def test_reference_run_gives_forward_transfer(finished_run: RunResult, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, f"reference={finished_run.run_path}")
    result = train(cfg, progress_bar=False, verbose=0)
    metrics: dict[str, Any] = result.metrics
    assert metrics["reference_auc"] == finished_run.metrics["task_auc"]
    assert len(metrics["forward_transfer_per_task"]) == 2


@pytest.mark.expensive
def test_main_job_learns_and_keeps_the_tasks(tmp_path: Path) -> None:
    """The README's main job (ppo-psp on cartpole-permuted, 5 x 50k steps; about a minute on one core)."""
    result = train(
        resolve_config("ppo-psp", "cartpole-permuted", run_dir=str(tmp_path)), progress_bar=False, verbose=0
    )
    assert result.metrics["avg_performance"] > 0.7
    assert result.metrics["forgetting"] < 0.15


def test_ewc_preset_key_consolidates_checkpoints_and_resumes(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "policy_kwargs.mode=shared", "ewc.lambda=10.0", "ewc.fisher_samples=32")
    with pytest.raises(RuntimeError, match="stopped"):
        train(cfg, progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 96)])
    (run,) = (tmp_path / "runs").iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None and (checkpoint / "ewc.pt").is_file()
    saved = torch.load(checkpoint / "ewc.pt", weights_only=True)
    assert int(saved["num_consolidated"]) == 1  # task 0 consolidated at its phase end
    assert any(key.startswith("fisher.") and float(value.abs().sum()) > 0 for key, value in saved.items())

    result = train(resume=run, progress_bar=False, verbose=0)
    final = torch.load(find_latest_checkpoint(run) / "ewc.pt", weights_only=True)
    # The resumed run kept task 0's anchor (the last phase needs none: nothing trains after it).
    assert int(final["num_consolidated"]) == 1
    for key, value in saved.items():
        if key.startswith("fisher."):
            assert torch.equal(final[key], value), key
    assert result.model.num_timesteps >= 2 * STEPS


def test_ewc_config_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ewc.lambda must be a number >= 0"):
        tiny_config(tmp_path, "ewc.lambda=-1")
    with pytest.raises(ValueError, match="Did you mean 'lambda'"):
        tiny_config(tmp_path, "ewc.lamda=1")
    with pytest.raises(ValueError, match="ppo and a2c"):
        resolve_config("dqn-psp", "cartpole-permuted", sets=["ewc.lambda=1"])
