"""Task-observation VecEnvs: from a suite, or from your own environments (one factory per task).

Bring your own variants: a list of per-task environment factories becomes a VecEnv whose observations
are ``{"obs", "task"}`` and whose sub-envs switch task with ``set_task`` (at the next reset), so any PSP
policy and :class:`psp_rl.TaskScheduleCallback` work with it unchanged::

    import gymnasium as gym
    from stable_baselines3 import PPO
    import psp_rl

    env_fns = [lambda: gym.make("CartPole-v1"), lambda: gym.make("CartPole-v1", max_episode_steps=200)]
    schedule = psp_rl.make_schedule("sequential", num_tasks=2, steps_per_task=20_000)
    vec_env = psp_rl.make_task_vec_env(env_fns, n_envs=4, schedule=schedule)
    model = PPO(psp_rl.PSPActorCriticPolicy, vec_env)
    model.learn(schedule.total_timesteps, callback=psp_rl.TaskScheduleCallback(schedule))

Stable-Baselines3 is imported only when a VecEnv is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.envs.task import TaskObservation
from psp_rl.envs.variant import VariantWrapper, check_num_tasks, check_task, positive_int

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["TaskEnvs", "check_task_spaces", "make_task_env", "make_task_vec_env", "task_vec_env"]


class TaskEnvs(VariantWrapper):
    """Variant ``k`` is the environment built by ``env_fns[k]`` (built on first use, then kept).

    Every task's environment must have the same observation and action spaces; :func:`make_task_vec_env`
    and :func:`make_task_env` check all of them when they are built (:func:`check_task_spaces`), and the
    first reset of a new task checks it again and names the task whose spaces differ. A task's environment whose first reset
    comes without a seed is seeded from the last seed this wrapper was reset with and the task id, so the
    environments built later are as reproducible as the first one.

    :param env_fns: one factory per task, ``env_fns[k]() -> gym.Env``.
    :param task: the initial task.
    """

    family = "factories"

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], task: int = 0) -> None:
        num_tasks = check_num_tasks(len(_check_factories(env_fns)))
        task = check_task(task, num_tasks)
        self.env_fns = list(env_fns)
        self.envs: dict[int, gym.Env] = {task: self.env_fns[task]()}
        self._base_seed: int | None = None
        self._was_reset: set[int] = set()
        super().__init__(self.envs[task], num_tasks, seed=0, task=task)
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space

    def task_env(self, task: int) -> gym.Env:
        """The environment of one task (built now if it was not yet).

        :param task: the task id.
        :raises ValueError: when its spaces differ from the first task's.
        """
        task = check_task(task, self.num_tasks)
        if task not in self.envs:
            env = self.env_fns[task]()
            for name in ("observation_space", "action_space"):
                if getattr(env, name) != getattr(self, name):
                    env.close()
                    raise ValueError(
                        f"the env of task {task} has {name} {getattr(env, name)}, but the other tasks have "
                        f"{getattr(self, name)}: every task's env must share its spaces (wrap them to match)."
                    )
            self.envs[task] = env
        return self.envs[task]

    switches_mid_episode = False  # another env, with its own state, cannot take over an episode

    def _apply_variant(self, task: int) -> None:
        self.env = self.task_env(task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        task = self._pending if self._pending is not None else self.variant
        if seed is not None:
            self._base_seed = int(seed)
        elif task not in self._was_reset and self._base_seed is not None:
            seed = int(np.random.SeedSequence([self._base_seed, task]).generate_state(1)[0])
        self._was_reset.add(task)
        return super().reset(seed=seed, options=options)

    def close(self) -> None:  # noqa: D102
        for env in self.envs.values():
            env.close()


def _check_factories(env_fns: Sequence[Callable[[], gym.Env]]) -> list[Callable[[], gym.Env]]:
    if isinstance(env_fns, (str, bytes)) or not isinstance(env_fns, Sequence) or not env_fns:
        raise ValueError("env_fns must be a non-empty list of environment factories, one per task.")
    for k, fn in enumerate(env_fns):
        if not callable(fn):
            raise ValueError(
                f"env_fns[{k}] is {fn!r}, not a factory: pass a function that builds the env, "
                "e.g. lambda: gym.make('CartPole-v1')."
            )
    return list(env_fns)


def check_task_spaces(env_fns: Sequence[Callable[[], gym.Env]], where: str = "env_fns") -> None:
    """Build every task's environment once and check that all have the same observation and action spaces
    (then close them): a mismatch is found now rather than when the task is first trained, maybe a phase
    later.

    :param env_fns: one factory per task.
    :param where: what holds the factories, for the message.
    :raises ValueError: naming, for each space that differs, which tasks have which space.
    """
    found: dict[str, list[tuple[gym.Space, list[int]]]] = {"observation_space": [], "action_space": []}
    for k, fn in enumerate(_check_factories(env_fns)):
        env = fn()
        try:
            for name, groups in found.items():
                space = getattr(env, name)
                for seen, tasks in groups:
                    if seen == space:
                        tasks.append(k)
                        break
                else:
                    groups.append((space, [k]))
        finally:
            env.close()
    differ = [
        f"{name}: " + "; ".join(f"{_ids(t)} {'have' if len(t) > 1 else 'has'} {space}" for space, t in groups)
        for name, groups in found.items()
        if len(groups) > 1
    ]
    if differ:
        raise ValueError(
            f"the environments of {where} differ in {' and in '.join(differ)}: every task's environment must "
            "have the same spaces (wrap them to match, e.g. pad the observations or map the actions)."
        )


def _ids(tasks: list[int]) -> str:
    return ("tasks " if len(tasks) > 1 else "task ") + ", ".join(map(str, tasks))


def make_task_env(
    env_fns: Sequence[Callable[[], gym.Env]], task: int = 0, check_spaces: bool = True
) -> TaskObservation:
    """One environment with ``{"obs", "task"}`` observations over your per-task environments.

    :param env_fns: one factory per task.
    :param task: the initial task.
    :param check_spaces: build every task's environment once now to check that their spaces match
        (:func:`check_task_spaces`); otherwise a task whose spaces differ is found when it is first used.
    :return: the environment; ``set_task(k)`` switches at the next reset.
    """
    if check_spaces:
        check_task_spaces(env_fns)
    envs = TaskEnvs(env_fns, task)
    return TaskObservation(envs, task=task, num_tasks=envs.num_tasks)


def task_vec_env(
    make_env: Callable[[int], gym.Env],
    tasks: Sequence[int],
    seed: int = 0,
    vec_env_cls: type[VecEnv] | None = None,
    monitor_dir: str | Path | None = None,
) -> VecEnv:
    """A VecEnv of task-observation envs, sub-env ``i`` starting on ``tasks[i]``.

    Each sub-env is wrapped in SB3's ``Monitor`` outside the task wrapper, so ``info["episode"]`` exists
    and also holds ``task_id``.

    :param make_env: ``make_env(task) -> env`` with ``{"obs", "task"}`` observations (any further entries,
        such as a suite's ``"coord"``, travel along unchanged) and ``set_task``.
    :param tasks: the initial task of each sub-env.
    :param seed: sub-env ``i`` is seeded with ``seed + i`` at its first reset.
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``.
    :param monitor_dir: if given, each Monitor writes ``<monitor_dir>/<i>.monitor.csv``.
    :return: the VecEnv.
    """
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    if monitor_dir is not None:
        os.makedirs(monitor_dir, exist_ok=True)

    def factory(rank: int, task: int) -> Callable[[], gym.Env]:
        def _init() -> gym.Env:
            env = make_env(task)
            env.action_space.seed(seed + rank)
            filename = None if monitor_dir is None else os.path.join(str(monitor_dir), str(rank))
            return Monitor(env, filename=filename, info_keywords=("task_id",))

        return _init

    cls: Any = vec_env_cls or DummyVecEnv
    vec_env = cls([factory(i, t) for i, t in enumerate(tasks)])
    vec_env.seed(seed)
    return vec_env


def initial_tasks_for(
    num_tasks: int,
    n_envs: int,
    schedule: TaskSchedule | None = None,
    initial_tasks: Sequence[int] | None = None,
    where: str = "this environment",
) -> list[int]:
    """The checked initial task of each sub-env: given, else the schedule's, else task 0 everywhere.

    :param num_tasks: number of tasks ``K``.
    :param n_envs: number of sub-envs.
    :param schedule: a schedule whose :meth:`~TaskSchedule.initial_tasks` to use.
    :param initial_tasks: explicit tasks, one per sub-env.
    :param where: what holds the tasks, for messages.
    """
    n_envs = positive_int(n_envs, "n_envs")
    if initial_tasks is not None:
        tasks = list(initial_tasks)
    elif schedule is not None:
        if schedule.num_tasks != num_tasks:
            raise ValueError(
                f"the schedule has num_tasks={schedule.num_tasks} but {where} has K={num_tasks}: "
                "build the schedule with the same number of tasks."
            )
        tasks = schedule.initial_tasks(n_envs)
    else:
        tasks = [0] * n_envs
    if len(tasks) != n_envs:
        raise ValueError(
            f"initial_tasks has {len(tasks)} entries but n_envs={n_envs}: give one task per sub-env."
        )
    return [check_task(t, num_tasks, where) for t in tasks]


def make_task_vec_env(
    env_fns: Sequence[Callable[[], gym.Env]],
    n_envs: int = 1,
    schedule: TaskSchedule | None = None,
    seed: int = 0,
    initial_tasks: Sequence[int] | None = None,
    vec_env_cls: type[VecEnv] | None = None,
    monitor_dir: str | Path | None = None,
) -> VecEnv:
    """Your per-task environments as a task-observation VecEnv (no suite YAML needed).

    :param env_fns: one factory per task, ``env_fns[k]() -> gym.Env``; all with the same spaces, checked
        now by building each once (:func:`check_task_spaces`).
    :param n_envs: number of sub-environments.
    :param schedule: the task schedule to start from (its first tasks); drive it during training with
        :class:`psp_rl.TaskScheduleCallback`. Default: every sub-env starts on task 0.
    :param seed: sub-env ``i`` is seeded with ``seed + i`` at its first reset.
    :param initial_tasks: the task of each sub-env, instead of the schedule's.
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``.
    :param monitor_dir: if given, each Monitor writes ``<monitor_dir>/<i>.monitor.csv``.
    :return: the VecEnv, observations ``Dict({"obs": ..., "task": Discrete(K)})``.
    """
    fns = _check_factories(env_fns)
    tasks = initial_tasks_for(len(fns), n_envs, schedule, initial_tasks, where="env_fns")
    check_task_spaces(fns)
    return task_vec_env(
        lambda task: make_task_env(fns, task, check_spaces=False), tasks, seed, vec_env_cls, monitor_dir
    )
