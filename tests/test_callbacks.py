"""Continual evaluation, atomic checkpoints and the progress bar, driven by a stand-in model."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.logger import HParam, Image, KVWriter, Logger

import psp_rl.callbacks as callbacks_module
from psp_rl.callbacks import (
    AtomicCheckpointCallback,
    ContinualEvalCallback,
    TaskProgressBarCallback,
    find_latest_checkpoint,
)


class MemoryWriter(KVWriter):
    """Keeps every dumped (key, value, step)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, int]] = []
        self.excluded: dict[str, tuple[str, ...]] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        for key, value in key_values.items():
            self.records.append((key, value, step))
            self.excluded[key] = key_excluded.get(key) or ()

    def tags(self) -> set[str]:
        return {key for key, _, _ in self.records}

    def values(self, key: str) -> list[tuple[int, Any]]:
        return [(step, value) for k, value, step in self.records if k == key]


class FakeModel:
    """Just enough of an SB3 algorithm for callbacks: a step counter, a logger, save()."""

    def __init__(self, writer: MemoryWriter | None = None, fail_save: bool = False) -> None:
        self.num_timesteps = 0
        self.writer = writer or MemoryWriter()
        self.logger = Logger(folder=None, output_formats=[self.writer])
        self.fail_save = fail_save
        self.saved: list[int] = []

    def get_env(self) -> None:
        return None

    def get_vec_normalize_env(self) -> None:
        return None

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        if self.fail_save:
            raise OSError("disk full")
        Path(path).write_bytes(f"model at {self.num_timesteps}".encode())
        self.saved.append(self.num_timesteps)


# Normalized return of task k at step t: task k improves while it is trained (phase k = steps
# [100k, 100k+100)), and decays by 0.1 per later phase.
BOUNDARIES = [100, 200, 300]


def true_value(task: int, step: int) -> float:
    own_end = BOUNDARIES[task]
    own_start = own_end - 100
    if step <= own_start:
        return 0.0
    if step <= own_end:
        return (step - own_start) / 100
    phases_after = sum(1 for b in BOUNDARIES if own_end < b <= step)
    return 1.0 - 0.1 * phases_after


def make_eval_callback(model: FakeModel, eval_freq: int = 50, **kwargs: Any) -> ContinualEvalCallback:
    envs = ["env0", "env1", "env2"]

    def evaluate_fn(m: FakeModel, env: str, n: int, deterministic: bool) -> float:
        return 500.0 * true_value(envs.index(env), m.num_timesteps)

    cb = ContinualEvalCallback(
        envs,  # type: ignore[arg-type]
        normalize=lambda task, ret: ret / 500.0,
        phase_boundaries=BOUNDARIES,
        phase_tasks=[0, 1, 2],
        n_eval_episodes=1,
        eval_freq=eval_freq,
        evaluate_fn=evaluate_fn,
        **kwargs,
    )
    cb.init_callback(model)  # type: ignore[arg-type]
    return cb


def run(model: FakeModel, cbs: list[Any], until: int, step: int = 10, start: bool = True) -> None:
    if start:
        for cb in cbs:
            cb.on_training_start({"total_timesteps": BOUNDARIES[-1]}, {})
    while model.num_timesteps < until:
        model.num_timesteps += step
        for cb in cbs:
            cb.on_step()


def test_docstring_examples() -> None:
    assert doctest.testmod(callbacks_module).failed == 0


def test_eval_fills_matrix_and_logs() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, hparams={"algo": "ppo", "hyperparams": {"n_steps": 8}})
    run(model, [cb], until=300)

    expected = np.array([[1.0, 0.0, 0.0], [0.9, 1.0, 0.0], [0.8, 0.9, 1.0]])
    np.testing.assert_allclose(cb.matrix.R, expected)
    m = cb.metrics()
    assert m["avg_performance"] == pytest.approx(0.9)
    assert m["forgetting"] == pytest.approx((0.2 + 0.1) / 2)
    assert m["forgetting_per_task"][2] is None
    # evaluations at 0 and every 50 steps (phase ends coincide with 100, 200, 300)
    assert [h["step"] for h in m["eval_history"]] == [0, 50, 100, 150, 200, 250, 300]
    # AUC of task 0 during phase 0: points (0, 0), (50, .5), (100, 1) -> 0.5
    assert m["phase_auc"] == pytest.approx([0.5, 0.5, 0.5])
    assert m["forward_transfer"] is None

    writer = model.writer
    for key in (
        "eval/task_0/return",
        "eval/task_2/normalized",
        "continual/avg_performance",
        "continual/forgetting",
        "continual/perf_matrix",
        "hparams",
    ):
        assert key in writer.tags(), key
    assert [s for s, _ in writer.values("continual/perf_matrix")] == [100, 200, 300]
    assert isinstance(writer.values("continual/perf_matrix")[0][1], Image)
    assert isinstance(writer.values("hparams")[0][1], HParam)
    assert "stdout" in writer.excluded["continual/perf_matrix"]
    assert writer.values("eval/task_0/return")[0] == (0, 0.0)
    assert dict(writer.values("continual/forgetting"))[300] == pytest.approx(0.15)


def test_diagonal_matrix_evaluates_the_current_task_and_everything_at_the_end() -> None:
    model = FakeModel()
    calls: list[tuple[int, str]] = []
    cb = make_eval_callback(model, matrix="diagonal")
    inner = cb.evaluate_fn
    assert inner is not None

    def counting(m: FakeModel, env: str, n: int, deterministic: bool) -> float:
        calls.append((m.num_timesteps, env))
        return inner(m, env, n, deterministic)

    cb.evaluate_fn = counting
    run(model, [cb], until=300)
    # step 0 and in-phase evaluations cover the phase's task, a phase end also the next one's, and
    # the last phase end every task
    assert calls == [
        (0, "env0"), (50, "env0"), (100, "env0"), (100, "env1"), (150, "env1"), (200, "env1"),
        (200, "env2"), (250, "env2"), (300, "env0"), (300, "env1"), (300, "env2"),
    ]  # fmt: skip
    R = cb.matrix.R
    np.testing.assert_allclose(np.diag(R), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(R[-1], [0.8, 0.9, 1.0])
    assert np.isnan(R[0, 2]) and np.isnan(R[1, 0])
    m = cb.metrics()  # the same average performance, forgetting and AUCs as the full matrix
    assert m["avg_performance"] == pytest.approx(0.9)
    assert m["forgetting"] == pytest.approx(0.15)
    assert m["phase_auc"] == pytest.approx([0.5, 0.5, 0.5])
    assert m["perf_matrix"][0][2] is None
    assert m["eval_history"][1]["normalized"] == [0.5, None, None]
    json.dumps(m, allow_nan=False)  # metrics.json stays strict JSON
    logged = {step for step, _ in model.writer.values("continual/avg_performance")}
    assert logged == {300}  # only when every task was evaluated
    assert {s for s, _ in model.writer.values("eval/task_1/return")} == {100, 150, 200, 300}


def test_unknown_matrix_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="Unknown evaluation matrix 'diag'"):
        ContinualEvalCallback(["e"], lambda k, r: r, [10], matrix="diag")  # type: ignore[list-item]


def test_forward_transfer_with_reference() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, reference_auc=[0.0, 0.5, 0.75])
    run(model, [cb], until=300)
    m = cb.metrics()
    # (0.5 - ref) / (1 - ref)
    assert m["forward_transfer_per_task"] == pytest.approx([0.5, 0.0, -1.0])
    assert m["forward_transfer"] == pytest.approx(-0.5 / 3)


def test_eval_state_round_trip_continues_identically() -> None:
    straight = FakeModel()
    cb = make_eval_callback(straight)
    run(straight, [cb], until=300)

    first = FakeModel()
    cb1 = make_eval_callback(first)
    run(first, [cb1], until=160)
    state = json.loads(json.dumps(cb1.state_dict()))  # through JSON, like a checkpoint

    second = FakeModel()
    second.num_timesteps = 160
    cb2 = make_eval_callback(second)
    cb2.load_state_dict(state)
    run(second, [cb2], until=300)
    assert cb2.metrics()["eval_history"] == cb.metrics()["eval_history"]
    np.testing.assert_allclose(cb2.matrix.R, cb.matrix.R)
    # the resumed run logs no second step-0 evaluation
    assert min(s for s, _ in second.writer.values("eval/task_0/return")) == 200


def test_large_steps_cross_several_boundaries() -> None:
    model = FakeModel()
    cb = make_eval_callback(model, eval_freq=0)
    run(model, [cb], until=300, step=250)
    assert len(cb.matrix) == 3  # steps 250 (crosses 100 and 200) and 500 (crosses 300)
    assert [h["phase"] for h in cb.history] == [-1, 0, 1, 2]


def test_checkpoints_at_phase_ends_and_freq(tmp_path: Path) -> None:
    model = FakeModel()
    eval_cb = make_eval_callback(model, eval_freq=0)
    ckpt = AtomicCheckpointCallback(
        tmp_path,
        BOUNDARIES,
        save_freq=70,
        keep=10,
        stateful={"eval": eval_cb},
        extra_state=lambda: {"wall_time_s": 1.5},
    )
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [eval_cb, ckpt], until=300)
    assert model.saved == [70, 100, 140, 200, 210, 280, 300]
    latest = find_latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "step_000000000300"
    state = json.loads((latest / "state.json").read_text())
    assert state["num_timesteps"] == 300
    assert state["extra"] == {"wall_time_s": 1.5}
    assert state["callbacks"]["eval"]["next_phase"] == 3
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["checkpoint"] == latest.name


def test_keep_prunes_old_checkpoints(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, BOUNDARIES, keep=2)
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [ckpt], until=300)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest.json", "step_000000000200", "step_000000000300"]


def test_failed_save_never_becomes_the_latest(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, BOUNDARIES)
    ckpt.init_callback(model)  # type: ignore[arg-type]
    run(model, [ckpt], until=100)
    good = find_latest_checkpoint(tmp_path)
    assert good is not None and good.name == "step_000000000100"

    model.fail_save = True  # the model file is half-written when the save fails
    with pytest.raises(OSError, match="disk full"):
        run(model, [ckpt], until=200, start=False)
    assert find_latest_checkpoint(tmp_path) == good
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert (good / "model.zip").read_bytes() == b"model at 100"


def test_latest_ignores_incomplete_and_stale_entries(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    (folder / "step_000000000100").mkdir(parents=True)
    (folder / "step_000000000100" / "model.zip").write_bytes(b"m")
    (folder / "step_000000000100" / "state.json").write_text("{}")
    # a crashed save (killed before the rename) and a folder missing its state
    (folder / ".tmp-step_000000000200-123").mkdir()
    (folder / ".tmp-step_000000000200-123" / "model.zip").write_bytes(b"half")
    (folder / "step_000000000300").mkdir()
    (folder / "step_000000000300" / "model.zip").write_bytes(b"m")
    # latest.json pointing at a checkpoint that no longer exists
    (folder / "latest.json").write_text(json.dumps({"checkpoint": "step_000000000400"}))
    assert find_latest_checkpoint(tmp_path) == folder / "step_000000000100"
    assert find_latest_checkpoint(tmp_path / "nowhere") is None


def test_same_step_checkpoint_is_replaced(tmp_path: Path) -> None:
    model = FakeModel()
    ckpt = AtomicCheckpointCallback(tmp_path, [])
    ckpt.init_callback(model)  # type: ignore[arg-type]
    model.num_timesteps = 50
    first = ckpt.save_checkpoint()
    second = ckpt.save_checkpoint()
    assert first == second and (second / "state.json").is_file()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "latest.json",
        "step_000000000050",
    ]


def test_progress_bar_shows_current_task() -> None:
    class Source:
        current_task: int | None = 0
        current_phase = 0

    model = FakeModel()
    source = Source()
    bar = TaskProgressBarCallback(source, num_phases=3, total_timesteps=300)
    bar.init_callback(model)  # type: ignore[arg-type]
    bar.on_training_start({}, {})
    assert bar.pbar.desc.startswith("phase 1/3 · task 0")
    model.num_timesteps = 120
    source.current_task, source.current_phase = 1, 1
    bar.on_step()
    assert bar.pbar.n == 120
    assert bar.pbar.desc.startswith("phase 2/3 · task 1")
    source.current_task = None
    bar.on_step()
    assert "all tasks" in bar.pbar.desc
    bar.on_training_end()
    assert bar.pbar is None


def test_eval_callback_argument_errors() -> None:
    with pytest.raises(ValueError, match="one eval env per task"):
        ContinualEvalCallback([], lambda k, r: r, [10])
    with pytest.raises(ValueError, match="phase_tasks"):
        ContinualEvalCallback(["e"], lambda k, r: r, [10, 20], phase_tasks=[0])  # type: ignore[list-item]
    assert math.isinf(ContinualEvalCallback(["e"], lambda k, r: r, [10]).next_eval_step)  # type: ignore[list-item]
