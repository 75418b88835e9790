"""Per-task observation statistics: isolation between tasks, mixed batches, save / load, sync, train()."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from callback_fakes import TINY, StopAt
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

from psp_rl.envs import load_suite
from psp_rl.training import train
from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.training.config import TrainConfig, resolve_config
from psp_rl.training.normalize import (
    TaskRunningMeanStd,
    TaskVecNormalize,
    eval_vec_normalize,
    make_vec_normalize,
)

STEPS = 256  # per task


def cartpole_env(tasks: list[int]):  # noqa: ANN201
    return load_suite("cartpole-permuted", num_tasks=2).make_vec_env(len(tasks), seed=0, initial_tasks=tasks)


def run_steps(env: VecNormalize, n: int) -> None:
    env.reset()
    for _ in range(n):
        env.step(np.array([env.action_space.sample() for _ in range(env.num_envs)]))


def switch_all(env: VecNormalize, task: int) -> None:
    env.env_method("set_task", task)
    env.reset()  # the switch takes effect at the reset


def probe(task: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"obs": rng.normal(size=(5, 4)).astype(np.float32), "task": np.full(5, task)}


def test_training_task_1_leaves_task_0_inputs_unchanged() -> None:
    env = TaskVecNormalize(cartpole_env([0, 0]))
    shared = VecNormalize(cartpole_env([0, 0]), norm_obs_keys=["obs"])  # SB3: one set of statistics
    for e in (env, shared):
        run_steps(e, 100)
    before, before_shared = env.normalize_obs(probe(0))["obs"], shared.normalize_obs(probe(0))["obs"]
    count0 = env.task_obs_rms(0).count
    assert count0 > 100 and env.task_obs_rms(1).count < 1  # task 1 has seen nothing yet
    for e in (env, shared):
        switch_all(e, 1)
        run_steps(e, 200)  # every episode after the switch runs task 1
    np.testing.assert_array_equal(env.normalize_obs(probe(0))["obs"], before)
    assert env.task_obs_rms(0).count == count0
    assert env.task_obs_rms(1).count > 200
    assert not np.allclose(env.normalize_obs(probe(1))["obs"], before)
    assert not np.allclose(shared.normalize_obs(probe(0))["obs"], before_shared)  # what per-task avoids


def test_mixed_batches_equal_per_task_batches() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(loc=3.0, scale=2.0, size=(40, 4))
    tasks = rng.integers(0, 3, size=40)
    mixed, split = TaskRunningMeanStd(3, (4,)), TaskRunningMeanStd(3, (4,))
    mixed.update(x, tasks)
    for k in range(3):
        split.update(x[tasks == k], np.full(int((tasks == k).sum()), k))
    for k in range(3):
        np.testing.assert_allclose(mixed[k].mean, split[k].mean)
        np.testing.assert_allclose(mixed[k].var, split[k].var)
        assert mixed[k].count == pytest.approx(split[k].count)
        alone = RunningMeanStd(shape=(4,))
        alone.update(x[tasks == k])
        np.testing.assert_allclose(mixed[k].mean, alone.mean)

    env = TaskVecNormalize(cartpole_env([0, 1, 0]))
    run_steps(env, 60)  # a batch that mixes tasks updates each task with its own samples
    assert env.task_obs_rms(0).count == pytest.approx(2 * 61 + 1e-4)
    assert env.task_obs_rms(1).count == pytest.approx(61 + 1e-4)
    obs = {"obs": x.astype(np.float32), "task": tasks % 2}
    out = env.normalize_obs(obs)["obs"]
    for k in range(2):
        rows = obs["task"] == k
        alone = env.normalize_obs({"obs": obs["obs"][rows], "task": np.full(int(rows.sum()), k)})["obs"]
        np.testing.assert_array_equal(out[rows], alone)
    # one sample (a terminal observation) and replay-buffer shapes (B, 1) give the same values
    np.testing.assert_array_equal(
        env.normalize_obs({"obs": obs["obs"][3], "task": obs["task"][3]})["obs"], out[3]
    )
    np.testing.assert_array_equal(env.normalize_obs({**obs, "task": obs["task"][:, None]})["obs"], out)
    raw = env.get_original_obs()  # real observations of tasks [0, 1, 0]: no clipping
    back = env.unnormalize_obs(env.normalize_obs(raw))["obs"]
    np.testing.assert_allclose(back, raw["obs"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(env.normalize_obs(obs)["task"], obs["task"])  # ids stay ids
    with pytest.raises(ValueError, match="K=2"):
        env.normalize_obs({"obs": obs["obs"][:2], "task": np.array([0, 2])})


def test_save_load_and_sync_keep_the_per_task_statistics(tmp_path: Path) -> None:
    env = TaskVecNormalize(cartpole_env([0, 1]))
    run_steps(env, 50)
    env.save(str(tmp_path / "vecnormalize.pkl"))
    loaded = VecNormalize.load(str(tmp_path / "vecnormalize.pkl"), cartpole_env([1, 1]))
    assert isinstance(loaded, TaskVecNormalize)
    for k in range(2):
        np.testing.assert_array_equal(loaded.task_obs_rms(k).mean, env.task_obs_rms(k).mean)
        np.testing.assert_array_equal(
            loaded.normalize_obs(probe(k))["obs"], env.normalize_obs(probe(k))["obs"]
        )

    evaluation = eval_vec_normalize(cartpole_env([1]), env)
    assert isinstance(evaluation, TaskVecNormalize) and not evaluation.training and not evaluation.norm_reward
    sync_envs_normalization(env, evaluation)
    for k in range(2):
        np.testing.assert_array_equal(
            evaluation.normalize_obs(probe(k))["obs"], env.normalize_obs(probe(k))["obs"]
        )
    assert evaluation.obs_rms["obs"] is not env.obs_rms["obs"]  # a copy: evaluation never moves training
    count = env.task_obs_rms(1).count
    run_steps(evaluation, 20)
    assert evaluation.task_obs_rms(1).count == count


def test_per_task_false_gives_sb3_single_statistics() -> None:
    single = make_vec_normalize(cartpole_env([0]), {"per_task": False, "norm_reward": False})
    assert type(single) is VecNormalize and single.norm_obs_keys == ["obs"] and not single.norm_reward
    assert type(eval_vec_normalize(cartpole_env([0]), single)) is VecNormalize
    assert isinstance(make_vec_normalize(cartpole_env([0]), True), TaskVecNormalize)
    with pytest.raises(ValueError, match="per_task must be true or false"):
        make_vec_normalize(cartpole_env([0]), {"per_task": "yes"})
    with pytest.raises(ValueError, match="TaskObservation"):
        TaskVecNormalize(_box_env())


def _box_env():  # noqa: ANN202
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: gym.make("CartPole-v1")])


class CountsAtStart(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.counts: list[float] | None = None

    def _on_training_start(self) -> None:
        env = self.model.get_vec_normalize_env()
        assert isinstance(env, TaskVecNormalize)
        self.counts = [env.task_obs_rms(k).count for k in range(2)]

    def _on_step(self) -> bool:
        return True


def normalized_config(run_dir: Path, *sets: str) -> TrainConfig:
    return resolve_config(
        "ppo-psp",
        "cartpole-permuted",
        num_tasks=2,
        steps_per_task=STEPS,
        n_envs=2,
        device="cpu",
        run_dir=str(run_dir),
        sets=[*TINY, "normalize=true", *sets],
    )


def test_train_with_normalize_true_resumes_per_task_statistics(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="stopped"):
        train(normalized_config(tmp_path), progress_bar=False, verbose=0, callbacks=[StopAt(STEPS + 96)])
    (run,) = tmp_path.iterdir()
    checkpoint = find_latest_checkpoint(run)
    assert checkpoint is not None
    saved = VecNormalize.load(str(checkpoint / "vecnormalize.pkl"), cartpole_env([0, 0]))
    assert isinstance(saved, TaskVecNormalize)
    counts = [saved.task_obs_rms(k).count for k in range(2)]
    assert counts[0] > STEPS and counts[1] < STEPS  # phase 0 trained task 0 (task 1 barely started)

    # A missing statistics file is an error naming the file and the fix, not a silent fresh start.
    shutil.move(checkpoint / "vecnormalize.pkl", tmp_path.parent / "stash.pkl")
    with pytest.raises(ValueError, match=r"vecnormalize\.pkl is missing.*Put the file back"):
        train(resume=run, progress_bar=False, verbose=0)
    shutil.move(tmp_path.parent / "stash.pkl", checkpoint / "vecnormalize.pkl")

    probe_cb = CountsAtStart()
    result = train(resume=run, progress_bar=False, verbose=0, callbacks=[probe_cb])
    # the resumed run continues the saved statistics (plus its first reset: 2 task-1 observations)
    assert probe_cb.counts == pytest.approx([counts[0], counts[1] + 2])
    final = VecNormalize.load(str(run / "vecnormalize.pkl"), cartpole_env([0, 0]))
    assert isinstance(final, TaskVecNormalize) and final.task_obs_rms(1).count > STEPS
    assert len(result.metrics["perf_matrix"]) == 2


def test_train_with_per_task_false_uses_one_set_of_statistics(tmp_path: Path) -> None:
    # built directly: the config's normalize mapping takes per_task once validation knows the key
    cfg = dataclasses.replace(
        normalized_config(tmp_path), normalize={"per_task": False, "norm_reward": False}
    )
    result = train(cfg, progress_bar=False, verbose=0)
    env = result.model.get_vec_normalize_env()
    assert type(env) is VecNormalize and not env.norm_reward
    assert (
        type(VecNormalize.load(str(result.run_path / "vecnormalize.pkl"), cartpole_env([0]))) is VecNormalize
    )
