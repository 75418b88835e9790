"""The task observation: ``{"obs": <base obs>, "task": k}``, the one data path of psp_rl.

:class:`TaskObservation` puts the task id inside every observation and forwards ``set_task`` to every
variant wrapper below it, so the variant and the reported task always agree. With ``coordinate=True`` the
observation also carries the continuous task coordinate ``s`` in ``[0, 1)`` (the drift phase):
``{"obs", "task", "coord"}``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from psp_rl.envs.variant import VariantWrapper, check_num_tasks, check_task, coordinate_families

__all__ = ["TaskObservation"]


class TaskObservation(gym.Wrapper):
    """Expose the task: observations become ``{"obs": <base obs>, "task": k}``.

    ``set_task(k)`` takes effect at the next ``reset`` (never mid-episode) and is forwarded to every
    :class:`VariantWrapper` below, so the variant and the reported task always agree. ``info["task_id"]``
    is set at every step and reset; ``info["task_switched"]`` is ``True`` in the reset info and on the first
    step of the first episode of a new task, ``False`` otherwise. ``reset(options={"task": k})`` switches
    immediately.

    With ``coordinate=True`` the observation space is
    ``Dict({"obs": ..., "task": Discrete(K), "coord": Box(0, 1, (1,), float32)})`` (in that key order) and
    every observation (reset and step) carries ``"coord": np.array([s], float32)``, the
    :meth:`~psp_rl.envs.variant.VariantWrapper.coordinate` of the outermost variant wrapper below that
    reports one, taken after the wrapped ``reset``/``step`` (so for ``drift`` it is the phase of the physics
    on ``env.unwrapped`` at that observation). Exactly one variant wrapper below must report a coordinate
    (families: :func:`~psp_rl.envs.variant.coordinate_families`, i.e. ``drift``); drive several drifting
    attributes from one ``drift`` wrapper (``attributes={...}``) rather than stacking drifts.

    Example::

        env = TaskObservation(PermuteObservation(gym.make("CartPole-v1"), num_tasks=3), task=0, num_tasks=3)
        obs, info = env.reset(seed=0)      # obs["task"] == 0
        env.set_task(2)
        obs, info = env.reset()            # obs["task"] == 2, info["task_switched"] is True

        drift = PhysicsDrift(gym.make("Pendulum-v1"), 1, attribute="g", low=6, high=14, period=1000)
        env = TaskObservation(drift, task=0, num_tasks=1, coordinate=True)
        obs, info = env.reset(seed=0)      # obs["coord"] == array([0.], dtype=float32)

    :param env: the (variant) environment.
    :param task: the initial task.
    :param num_tasks: number of tasks ``K``.
    :param coordinate: also put the continuous task coordinate into ``obs["coord"]``.
    :raises ValueError: with ``coordinate=True``, when no variant wrapper below reports a coordinate, or
        more than one does.
    """

    def __init__(self, env: gym.Env, task: int, num_tasks: int, *, coordinate: bool = False) -> None:
        super().__init__(env)
        self.num_tasks = check_num_tasks(num_tasks)
        self.task = check_task(task, self.num_tasks)
        self._pending: int | None = None
        self._announce = False
        if not isinstance(coordinate, (bool, np.bool_)):
            raise ValueError(f"coordinate must be True or False, got {coordinate!r}.")
        self.has_coordinate = bool(coordinate)
        entries: dict[str, spaces.Space] = {
            "obs": env.observation_space,
            "task": spaces.Discrete(self.num_tasks),
        }
        if self.has_coordinate:
            self._check_coordinate()
            entries["coord"] = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        # an OrderedDict keeps the key order obs, task, coord (a plain dict is sorted by gymnasium)
        self.observation_space = spaces.Dict(OrderedDict(entries))
        self._forward_variant(self.task)

    def _check_coordinate(self) -> None:
        wrappers = self.variant_wrappers()
        reporting = [w for w in wrappers if w.coordinate() is not None]
        if not reporting:
            names = [w.family for w in wrappers]
            raise ValueError(
                "coordinate=True needs a variant family that reports a continuous task coordinate "
                f"({', '.join(coordinate_families())}), but this environment has "
                f"{names or 'no variant wrapper'}: add such a family or use coordinate=False."
            )
        if len(reporting) > 1:
            raise ValueError(
                f"coordinate=True needs exactly one variant wrapper that reports a coordinate, found "
                f"{len(reporting)} ({[w.family for w in reporting]}): drive every drifting attribute from "
                "one drift entry with attributes: {name: [low, high], ...} instead of stacking drifts."
            )

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

    def switch_now(self, task: int) -> None:
        """Run task ``task`` from the next ``step`` on, inside the running episode, without announcing it
        (an unsignalled switch, for evaluating task inference: observations keep reporting the new id,
        ``info["task_switched"]`` stays false). Reach it through a VecEnv with
        ``vec_env.env_method("switch_now", k, indices=[i])``.

        :param task: the task index in ``[0, K)``.
        :raises ValueError: when ``task`` is out of range or a variant family cannot switch mid-episode.
        """
        task = check_task(task, self.num_tasks)
        wrappers = self.variant_wrappers()
        for wrapper in wrappers:
            if not wrapper.switches_mid_episode:
                raise ValueError(
                    f"{type(wrapper).__name__} keeps its variants as separate environments, which cannot take "
                    "over inside an episode: switch tasks at a reset (set_task) instead."
                )
        for wrapper in wrappers:
            wrapper.switch_now(task)
        self.task, self._pending = task, None

    @property
    def pending_task(self) -> int | None:
        """The task requested by :meth:`set_task` that the next ``reset`` will start, if any."""
        return self._pending

    def coordinate(self) -> float | None:
        """The continuous task coordinate now: that of the outermost variant wrapper below reporting one.

        Also reachable from a VecEnv: ``vec_env.env_method("coordinate")``.

        :return: ``s`` in ``[0, 1)`` as stored in ``obs["coord"]`` (float32 precision), or ``None`` when no
            variant wrapper below reports one.
        """
        for wrapper in self.variant_wrappers():
            s = wrapper.coordinate()
            if s is not None:
                s32 = np.float32(float(s) % 1.0)
                # float32 rounding can turn 1 - 1e-9 into 1.0, the same phase as 0.0
                return 0.0 if s32 >= 1.0 else float(s32)
        return None

    def _observation(self, obs: Any) -> dict[str, Any]:
        out = {"obs": obs, "task": np.int64(self.task)}
        if self.has_coordinate:
            s = self.coordinate()
            if s is None:
                raise RuntimeError(
                    "no variant wrapper below reports a coordinate any more, but this TaskObservation "
                    "was built with coordinate=True."
                )
            out["coord"] = np.array([s], dtype=np.float32)
        return out

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
