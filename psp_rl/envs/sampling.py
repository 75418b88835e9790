"""Task sampling per episode: an env that draws a uniformly random task at every reset.

:class:`UniformTaskSampling` turns a task-observation env (one task until told otherwise) into a
multi-task env for plain training loops that know nothing about task schedules, such as RL Zoo's
``train.py``: each episode runs one task, drawn at its reset from the wrapper's own seeded generator.
The registered ids ``psp_rl/<suite>-multitask-v0`` (:func:`~psp_rl.envs.suites.register_suites`) are
the shipped suites wrapped in it.

Example::

    env = UniformTaskSampling(load_suite("cartpole-permuted").make_env(0))
    obs, info = env.reset(seed=3)   # obs["task"]: a task drawn from seed 3, the same every time
    obs, info = env.reset()         # the next draw of the same generator
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

__all__ = ["TASK_SAMPLING", "UniformTaskSampling"]

#: the values of the ``task_sampling`` argument of the registered suites: ``fixed`` (one task, the
#: ``task`` argument, until ``set_task``) or ``uniform`` (a uniformly random task at every reset)
TASK_SAMPLING = ("fixed", "uniform")


class UniformTaskSampling(gym.Wrapper):
    """Draw the task of every episode uniformly from ``[0, K)`` at its ``reset``.

    ``reset(seed=s)`` restarts the draws from ``s`` (so a seeded reset always starts the same task and
    the following unseeded resets repeat the same sequence); before any seeded reset the draws come from
    fresh entropy. ``reset(options={"task": k})`` runs task ``k`` for that one episode instead of a draw.
    The wrapped env must take tasks with ``set_task(k)`` at its next reset and have ``num_tasks``, as
    :class:`~psp_rl.envs.task.TaskObservation` does; the observation's ``"task"`` entry and
    ``info["task_id"]`` report the drawn task.

    :param env: a task-observation env (e.g. ``Suite.make_env(0)``).
    :raises ValueError: when ``env`` has no ``set_task`` method or no ``num_tasks``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        try:
            num_tasks = env.get_wrapper_attr("num_tasks")
            set_task = env.get_wrapper_attr("set_task")
        except AttributeError as error:
            raise ValueError(
                f"UniformTaskSampling needs an env with num_tasks and set_task(k) (a TaskObservation, e.g. "
                f"Suite.make_env(0)), got {env!r}: {error}"
            ) from None
        if not callable(set_task):
            raise ValueError(f"UniformTaskSampling: set_task of {env!r} is not a method.")
        self.num_tasks = int(num_tasks)
        self._set_task = set_task
        self._rng: np.random.Generator | None = None

    def set_task(self, task: int) -> None:
        """Refuse: this env draws its own task at every reset.

        :param task: ignored.
        :raises ValueError: always; the message names the alternatives.
        """
        raise ValueError(
            f"set_task({task!r}) on an env that draws a uniformly random task at every reset "
            "(task_sampling='uniform', psp_rl/<suite>-multitask-v0): run one episode of a given task with "
            "reset(options={'task': k}), or make the env with task_sampling='fixed' to set tasks."
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng()
        if not (options and "task" in options):
            self._set_task(int(self._rng.integers(self.num_tasks)))
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        return self.env.step(action)
