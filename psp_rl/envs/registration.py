"""Gymnasium registration of the shipped suites: ``psp_rl/<suite>-v0`` and ``psp_rl/<suite>-multitask-v0``.

``import psp_rl`` registers every suite in ``envs/`` twice:

- ``psp_rl/<suite>-v0`` runs one task (``gym.make(id, task=k)``, default 0) until ``set_task``;
- ``psp_rl/<suite>-multitask-v0`` draws a uniformly random task at every reset from its seeded generator
  (:class:`~psp_rl.envs.sampling.UniformTaskSampling`), for training loops without a task schedule such as
  RL Zoo's ``python -m rl_zoo3.train --env psp_rl/cartpole-permuted-multitask-v0 --gym-packages psp_rl``.

Both take ``task_sampling="fixed"|"uniform"`` to choose the other behaviour.
"""

from __future__ import annotations

import gymnasium as gym

from psp_rl.envs.sampling import TASK_SAMPLING, UniformTaskSampling
from psp_rl.resources import list_yaml

__all__ = ["make_suite_env", "multitask_env_id", "register_suites", "suite_env_id"]


def suite_env_id(name: str) -> str:
    """The Gymnasium id of a shipped suite: ``psp_rl/<name>-v0``."""
    return f"psp_rl/{name}-v0"


def multitask_env_id(name: str) -> str:
    """The Gymnasium id of a shipped suite that draws a uniformly random task at every reset:
    ``psp_rl/<name>-multitask-v0``."""
    return f"psp_rl/{name}-multitask-v0"


def make_suite_env(
    suite: str,
    task: int = 0,
    seed: int | None = None,
    render_mode: str | None = None,
    task_sampling: str = "fixed",
) -> gym.Env:
    """Gymnasium entry point of the registered suites (``gym.make("psp_rl/<suite>-v0", task=k)``).

    :param suite: suite name or path.
    :param task: the task (with ``task_sampling="uniform"``: the task built before the first reset).
    :param seed: optional seed for a first reset (and the action space).
    :param render_mode: passed to the base environment.
    :param task_sampling: ``"fixed"``: task ``task`` until ``set_task``; ``"uniform"``: a uniformly random
        task at every reset.
    :return: the environment, observations ``{"obs", "task"}``.
    :raises ValueError: on an unknown suite or ``task_sampling``.
    """
    from psp_rl.envs.suites import load_suite  # suites re-exports this module's names

    if task_sampling not in TASK_SAMPLING:
        raise ValueError(
            f"task_sampling must be one of {list(TASK_SAMPLING)}, got {task_sampling!r}: 'fixed' runs one task, "
            "'uniform' draws a task at every reset."
        )
    env: gym.Env = load_suite(suite).make_env(task, render_mode=render_mode)
    if task_sampling == "uniform":
        env = UniformTaskSampling(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def register_suites() -> list[str]:
    """Register every suite found in ``envs/`` with Gymnasium as ``psp_rl/<name>-v0`` (one task) and
    ``psp_rl/<name>-multitask-v0`` (a uniformly random task per episode); idempotent.

    :return: the registered ids.
    """
    ids = []
    for name in list_yaml("envs"):
        for env_id, sampling in ((suite_env_id(name), "fixed"), (multitask_env_id(name), "uniform")):
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point="psp_rl.envs.registration:make_suite_env",
                    kwargs={"suite": name, "task_sampling": sampling},
                )
            ids.append(env_id)
    return ids
