"""Meta-World v3 tasks for suites (``task_env: {kind: metaworld}``), as Continual World builds them.

Continual World (Wołczyk et al., 2021, ``awarelab/continual_world``) trains on single Meta-World tasks
whose object and goal positions are drawn anew at every reset (its default ``random_init_all``), in
episodes of 200 steps, and reports the success rate: an episode succeeds when ``info["success"]`` was true
at any of its steps. :func:`make_metaworld_env` builds that from the installed Meta-World:

- the task's settings come from ``metaworld.MT1(name)`` (its first goal), then the random vector is
  unfrozen and drawn from the environment's own generator at every reset, so a seed given to ``reset``
  (which Meta-World ignores) reseeds it and makes the episode reproducible;
- ``TimeLimit(max_episode_steps)`` (Meta-World's own limit of 500 steps is never reached);
- observations as ``float32`` in a ``Box(-inf, inf, (39,))`` shared by every task (the bounds of the goal
  entries differ between tasks; Continual World also removes them);
- ``info["is_success"]`` (:class:`~psp_rl.envs.task_envs.EpisodeSuccess`), read by the evaluation of a
  suite with ``metric: success``.

Continual World appends a one-hot task id to the observation; in psp_rl the id travels in
``obs["task"]`` as for every suite. Needs the optional extra ``metaworld`` (``pip install
"psp-rl[metaworld]"``).

Example::

    env = make_metaworld_env("hammer-v3")
    obs, info = env.reset(seed=0)    # obs.shape == (39,), float32
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

__all__ = ["MetaWorldTask", "check_metaworld_name", "make_metaworld_env"]


def _metaworld(what: str) -> Any:
    from psp_rl.envs.task_envs import require_extra

    return require_extra("metaworld", "metaworld", what)


def check_metaworld_name(name: str, where: str = "this suite") -> None:
    """:param name: a Meta-World v3 task name, e.g. ``hammer-v3``.
    :param where: what names it, for the message.
    :raises ValueError: on an unknown name (with the closest one).
    :raises MissingExtraError: when ``metaworld`` is not installed.
    """
    from psp_rl.utils import did_you_mean

    names = _metaworld(where).MT1.ENV_NAMES
    if name not in names:
        raise ValueError(
            f"{where}: {name!r} is not a Meta-World v3 task.{did_you_mean(name, names, list_valid=False)}"
        )


@functools.cache
def _mt1_task(name: str) -> tuple[Any, Any]:
    """The environment class of a task and its settings (with a first goal), from ``metaworld.MT1`` (which
    draws 50 goals: built once per process)."""
    check_metaworld_name(name)
    benchmark = _metaworld(f"the Meta-World task {name!r}").MT1(name, seed=0)
    return benchmark.train_classes[name], benchmark.train_tasks[0]


class MetaWorldTask(gym.Wrapper):
    """A Meta-World task as a plain Gymnasium environment: seedable resets, ``float32`` observations in a
    space shared by all tasks.

    It is also the ``unwrapped`` end of its wrapper chain (the MuJoCo environment stays reachable as
    :attr:`mujoco_env`): Meta-World environments define ``compute_reward`` (a goal-conditioned interface for
    their own dict observations), which would make Stable-Baselines3 (``check_env``, HER) take this flat
    task for a goal-conditioned one.

    :param env: a Meta-World environment (optionally under ``TimeLimit``) whose task is set.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.mujoco_env: Any = env.unwrapped
        self._own_spec: EnvSpec | None = None
        shape = env.observation_space.shape
        self.observation_space = spaces.Box(-np.inf, np.inf, shape, np.float32)

    @property
    def unwrapped(self) -> gym.Env:  # type: ignore[override]
        """This wrapper (see the class docstring); the Meta-World environment is :attr:`mujoco_env`."""
        return self

    @property
    def spec(self) -> EnvSpec | None:  # type: ignore[override]
        """The spec of the end of the chain, as an environment holds its own: ``gym.make`` sets it on
        ``env.unwrapped`` (this wrapper), so ``gym.make("psp_rl/cw10-v0")`` works."""
        return self._own_spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._own_spec = value

    @property
    def _np_random(self) -> np.random.Generator | None:  # type: ignore[override]
        """The Meta-World environment's generator (what ``reset(seed=...)`` reseeds), where checkers such as
        Gymnasium's ``check_env`` look for it on ``env.unwrapped``."""
        return self.mujoco_env._np_random

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.mujoco_env.seed(int(seed))  # Meta-World ignores reset(seed=...): reseed its generator
        obs, info = self.env.reset(options=options)
        return np.asarray(obs, dtype=np.float32), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return np.asarray(obs, dtype=np.float32), float(reward), terminated, truncated, info


def make_metaworld_env(
    name: str,
    max_episode_steps: int = 200,
    env_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """One Meta-World v3 task with goals drawn at every reset (see the module docstring).

    :param name: the task, e.g. ``push-wall-v3``.
    :param max_episode_steps: episode length (Continual World: 200).
    :param env_kwargs: keyword arguments of the Meta-World environment class (e.g. ``width``).
    :param render_mode: passed to the environment.
    :return: ``EpisodeSuccess(MetaWorldTask(TimeLimit(env)))``.
    :raises MissingExtraError: when ``metaworld`` is not installed.
    """
    from psp_rl.envs.task_envs import EpisodeSuccess

    env_class, task = _mt1_task(name)
    env = env_class(render_mode=render_mode, **dict(env_kwargs or {}))
    env.set_task(task)
    env._freeze_rand_vec = (
        False  # a new object / goal position at every reset (Continual World's random_init_all)
    )
    env.seeded_rand_vec = True  # ... drawn from env.np_random, which reset(seed=...) reseeds
    env.seed(0)
    limited = gym.wrappers.TimeLimit(env, max_episode_steps=int(max_episode_steps))
    return EpisodeSuccess(MetaWorldTask(limited))
