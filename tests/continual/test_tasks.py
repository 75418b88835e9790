"""The schedule callback drives a real (tiny) PPO run: switches land at resets, counters resume."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from psp_rl.continual import TaskScheduleCallback
from psp_rl.envs.schedules import make_schedule
from psp_rl.envs.suites import Suite

SPEC = {
    "env_id": "CartPole-v1",
    "num_tasks": 3,
    "variants": [{"family": "permute_obs"}],
    "schedule": {"kind": "sequential", "steps_per_task": 200},
}


class Recorder(BaseCallback):
    """Records, per step and sub-env, the task id, task_switched, done and the logged train/task."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, list[int], list[bool], list[bool]]] = []
        self.logged: list[float] = []

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        self.rows.append(
            (
                self.num_timesteps,
                [int(i["task_id"]) for i in infos],
                [bool(i["task_switched"]) for i in infos],
                [bool(d) for d in self.locals["dones"]],
            )
        )
        self.logged.append(self.logger.name_to_value["train/task"])
        return True


def _train(kind: str, n_envs: int = 2, steps: int = 600, state: dict | None = None):
    suite = Suite({**SPEC, "schedule": {"kind": kind, "steps_per_task": 200}}, name="tiny")
    schedule = suite.make_schedule()
    vec_env = suite.make_vec_env(n_envs=n_envs, seed=0)
    model = PPO("MultiInputPolicy", vec_env, n_steps=50, batch_size=50, n_epochs=1, seed=0, device="cpu")
    schedule_cb, recorder = TaskScheduleCallback(schedule), Recorder()
    if state is not None:
        schedule_cb.load_state_dict(state)
    model.learn(steps, callback=CallbackList([schedule_cb, recorder]))
    return schedule, schedule_cb, recorder


def test_sequential_switch_lands_at_next_reset() -> None:
    n_envs = 2
    schedule, cb, rec = _train("sequential", n_envs=n_envs)
    for i in range(n_envs):
        episode_start_step = 0  # global step count when the current episode's task was decided
        prev_task = rec.rows[0][1][i]
        assert prev_task == 0
        switches = 0
        prev_done = False
        for step, tasks, switched, dones in rec.rows:
            task = tasks[i]
            if task != prev_task:
                assert prev_done, f"sub-env {i} changed task mid-episode at step {step}"
                switches += 1
                assert switched[i], "the first step of a new task has task_switched=True"
            else:
                assert not switched[i], "task_switched must be set once per switch"
            if prev_done:
                # the episode that just started runs the task scheduled one step earlier
                assert task == schedule.task_for(i, 0, episode_start_step)
            prev_task, prev_done = task, dones[i]
            if dones[i]:
                episode_start_step = step - n_envs  # requested at the previous step
        assert switches == 2, f"sub-env {i} should visit tasks 0 -> 1 -> 2"
        assert prev_task == 2
    assert cb.current_phase == 2 and cb.current_task == 2
    assert rec.logged[0] == 0.0 and rec.logged[-1] == 2.0


def test_round_robin_follows_episode_counts() -> None:
    schedule, cb, rec = _train("round_robin", n_envs=2, steps=300)
    for i in range(2):
        episode = 0
        for _, tasks, _, dones in rec.rows:
            assert tasks[i] == schedule.task_for(i, episode, 0)
            episode += int(dones[i])
        assert cb.state_dict()["episode_counts"][i] == episode
    assert cb.current_task is None


def test_parallel_runs_all_tasks_at_once() -> None:
    _, _, rec = _train("parallel", n_envs=3, steps=150)
    for _, tasks, switched, _ in rec.rows:
        assert tasks == [0, 1, 2]
        assert not any(switched)
    assert rec.logged[-1] == pytest.approx(1.0)


def test_parallel_needs_enough_envs() -> None:
    with pytest.raises(ValueError, match="n_envs >= K=3"):
        _train("parallel", n_envs=2, steps=100)


def test_state_dict_resume() -> None:
    schedule = make_schedule("round_robin", 3, steps_per_task=200)
    cb = TaskScheduleCallback(schedule)
    cb.load_state_dict({"schedule": schedule.to_dict(), "episode_counts": [4, 7]})
    assert cb.state_dict()["episode_counts"] == [4, 7]
    # resumed training continues the round robin from the saved counters
    _, cb2, rec = _train("round_robin", n_envs=2, steps=100, state={"episode_counts": [4, 7]})
    first_done = next(r for r in rec.rows if r[3][0])
    after = rec.rows[rec.rows.index(first_done) + 1]
    assert after[1][0] == schedule.task_for(0, 5, 0)
    assert cb2.state_dict()["episode_counts"][0] >= 5
    with pytest.raises(ValueError, match="same suite and schedule"):
        cb.load_state_dict({"schedule": make_schedule("random", 3, steps_per_task=200).to_dict()})
    with pytest.raises(ValueError, match="n_envs=3"):
        _train("round_robin", n_envs=2, steps=50, state={"episode_counts": [1, 2, 3]})


def test_env_method_set_task_not_set_attr() -> None:
    """The callback switches through ``env_method('set_task')``: the pending task is visible before reset."""
    suite = Suite(SPEC, name="tiny")
    vec_env = suite.make_vec_env(n_envs=2)
    vec_env.reset()
    vec_env.env_method("set_task", 2, indices=[1])
    assert vec_env.get_attr("pending_task") == [None, 2]
    assert vec_env.get_attr("task") == [0, 0]
    obs, *_ = vec_env.step(np.array([0, 0]))
    assert list(obs["task"]) == [0, 0]


def test_counters_survive_a_second_learn_call() -> None:
    suite = Suite({**SPEC, "schedule": {"kind": "round_robin", "steps_per_task": 200}}, name="tiny")
    model = PPO(
        "MultiInputPolicy", suite.make_vec_env(n_envs=2), n_steps=50, batch_size=50, n_epochs=1, seed=0
    )
    cb = TaskScheduleCallback(suite.make_schedule())
    model.learn(100, callback=cb)
    first = list(cb.episode_counts)
    assert sum(first) > 0
    recorder = Recorder()
    model.learn(100, callback=CallbackList([cb, recorder]), reset_num_timesteps=False)
    assert all(b >= a for a, b in zip(first, cb.episode_counts))
    episode = first[0]
    for _, tasks, _, dones in recorder.rows:
        if episode > first[0]:  # from the first reset of the second call on, the round robin continues
            assert tasks[0] == (0 + episode) % 3
        episode += int(dones[0])
