"""The task observation: ``{"obs": <base obs>, "task": k}``, the one data path of psp_rl.

:class:`TaskObservation` puts the task id inside every observation and forwards ``set_task`` to every
variant wrapper below it, so the variant and the reported task always agree.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from psp_rl.envs.variant import VariantWrapper, check_num_tasks, check_task

__all__ = ["TaskObservation"]


class TaskObservation(gym.Wrapper):
    """Expose the task: observations become ``{"obs": <base obs>, "task": k}``.

    ``set_task(k)`` takes effect at the next ``reset`` (never mid-episode) and is forwarded to every
    :class:`VariantWrapper` below, so the variant and the reported task always agree. ``info["task_id"]``
    is set at every step and reset; ``info["task_switched"]`` is ``True`` in the reset info and on the first
    step of the first episode of a new task, ``False`` otherwise. ``reset(options={"task": k})`` switches
    immediately.

    Example::

        env = TaskObservation(PermuteObservation(gym.make("CartPole-v1"), num_tasks=3), task=0, num_tasks=3)
        obs, info = env.reset(seed=0)      # obs["task"] == 0
        env.set_task(2)
        obs, info = env.reset()            # obs["task"] == 2, info["task_switched"] is True

    :param env: the (variant) environment.
    :param task: the initial task.
    :param num_tasks: number of tasks ``K``.
    """

    def __init__(self, env: gym.Env, task: int, num_tasks: int) -> None:
        super().__init__(env)
        self.num_tasks = check_num_tasks(num_tasks)
        self.task = check_task(task, self.num_tasks)
        self._pending: int | None = None
        self._announce = False
        self.observation_space = spaces.Dict(
            {"obs": env.observation_space, "task": spaces.Discrete(self.num_tasks)}
        )
        self._forward_variant(self.task)

    def variant_wrappers(self) -> list[VariantWrapper]:
        """The variant wrappers below this one, outermost first."""
        found = []
        env: Any = self.env
        while isinstance(env, gym.Wrapper):
            if isinstance(env, VariantWrapper):
                found.append(env)
            env = env.env
        return found

    def _forward_variant(self, task: int) -> None:
        for wrapper in self.variant_wrappers():
            if wrapper.num_tasks != self.num_tasks:
                raise ValueError(
                    f"{type(wrapper).__name__} has {wrapper.num_tasks} variants but TaskObservation has "
                    f"num_tasks={self.num_tasks}: build both with the same K."
                )
            wrapper.set_variant(task)

    def set_task(self, task: int) -> None:
        """Run task ``task`` from the next ``reset`` on.

        :param task: the task index in ``[0, K)``.
        :raises ValueError: when ``task`` is out of range.
        """
        self._pending = check_task(task, self.num_tasks)

    @property
    def pending_task(self) -> int | None:
        """The task requested by :meth:`set_task` that the next ``reset`` will start, if any."""
        return self._pending

    def _observation(self, obs: Any) -> dict[str, Any]:
        return {"obs": obs, "task": np.int64(self.task)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if options and "task" in options:
            options = dict(options)
            self.set_task(options.pop("task"))
        switched = False
        if self._pending is not None:
            new, self._pending = self._pending, None
            if new != self.task:
                self.task, switched = new, True
                self._forward_variant(new)
        self._announce = switched
        obs, info = self.env.reset(seed=seed, options=options)
        info["task_id"] = self.task
        info["task_switched"] = switched
        return self._observation(obs), info

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["task_id"] = self.task
        info["task_switched"] = self._announce
        self._announce = False
        return self._observation(obs), reward, terminated, truncated, info
