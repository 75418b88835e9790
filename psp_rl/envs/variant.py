"""The base of every variant family: a wrapper that holds all ``K`` variants and switches at ``reset``.

Also the argument checks every environment module shares (``K`` and task ids), the generator
that makes variant ``k`` a function of ``(seed, k)`` alone, and the continuous task coordinate that a
family may report (:meth:`VariantWrapper.coordinate`).
"""

from __future__ import annotations

import zlib
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = [
    "VariantWrapper",
    "check_num_tasks",
    "check_task",
    "coordinate_families",
    "positive_int",
    "variant_rng",
]


def positive_int(value: Any, where: str) -> int:
    """:param value: a count (any integer type).
    :param where: its name, for the message.
    :return: the value as an ``int``.
    :raises ValueError: unless it is a positive integer.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where} must be a positive integer, got {value!r}.")
    return int(value)


def check_num_tasks(num_tasks: Any) -> int:
    """:param num_tasks: a number of tasks ``K``.
    :return: ``K`` as an ``int``.
    :raises ValueError: unless ``K`` is a positive integer.
    """
    return positive_int(num_tasks, "num_tasks")


def check_task(task: Any, num_tasks: int, where: str = "this environment") -> int:
    """:param task: a task id (any integer type).
    :param num_tasks: the number of tasks ``K``.
    :param where: what holds the tasks, for the message.
    :return: the id as an ``int``.
    :raises ValueError: naming ``K`` when the id is not an integer in ``[0, K)``.
    """
    if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)):
        raise ValueError(f"task must be an integer in [0, {num_tasks - 1}] (K={num_tasks}), got {task!r}.")
    if not 0 <= int(task) < num_tasks:
        raise ValueError(
            f"task {int(task)} is out of range: {where} has K={num_tasks} tasks, "
            f"use a task in [0, {num_tasks - 1}]."
        )
    return int(task)


def variant_rng(seed: int, task: int, family: str) -> np.random.Generator:
    """A generator that depends only on ``(seed, task, family)``.

    :param seed: the variant seed.
    :param task: the variant index.
    :param family: the family name.
    """
    return np.random.default_rng([int(seed), int(task), zlib.crc32(family.encode())])


class VariantWrapper(gym.Wrapper):
    """Base class of the variant families: holds all ``K`` variants, switches at the next ``reset``.

    :param env: the environment to wrap.
    :param num_tasks: number of variants ``K``.
    :param seed: variant seed; variant ``k`` depends only on ``(seed, k)``.
    :param task: the variant used from the first ``reset``.
    """

    family: str = "variant"
    #: whether :meth:`coordinate` reports a number (a class-level promise, read by suite checks)
    reports_coordinate: bool = False

    def __init__(self, env: gym.Env, num_tasks: int, seed: int = 0, task: int = 0) -> None:
        super().__init__(env)
        self.num_tasks = check_num_tasks(num_tasks)
        self.variant_seed = int(seed)
        self.variant = check_task(task, self.num_tasks)
        self._pending: int | None = self.variant

    def set_variant(self, task: int) -> None:
        """Use variant ``task`` from the next ``reset`` on.

        :param task: the variant index in ``[0, K)``.
        """
        self._pending = check_task(task, self.num_tasks)

    #: whether :meth:`switch_now` may change the variant inside an episode (not for separate envs per task)
    switches_mid_episode: bool = True

    def switch_now(self, task: int) -> None:
        """Make variant ``task`` current right away, inside the running episode (an unsignalled switch,
        for evaluating task inference); :meth:`set_variant` is the switch at the next ``reset``.

        :param task: the variant index in ``[0, K)``.
        :raises ValueError: for a family whose variants cannot change inside an episode.
        """
        if not self.switches_mid_episode:
            raise ValueError(
                f"{type(self).__name__}: the variants are separate environments, so one cannot take over "
                "inside an episode; switch at a reset (set_variant) instead."
            )
        self.variant, self._pending = check_task(task, self.num_tasks), None
        self._apply_variant(self.variant)

    def _apply_variant(self, task: int) -> None:
        """Make variant ``task`` current (called at ``reset``)."""

    def coordinate(self) -> float | None:
        """The continuous task coordinate ``s`` in ``[0, 1)`` of what the environment runs now, or ``None``.

        A family whose task moves continuously (``drift``: the phase of the drift) reports it, and
        :class:`~psp_rl.envs.task.TaskObservation` with ``coordinate=True`` puts it in ``obs["coord"]``.
        Families that report one set the class attribute ``reports_coordinate = True``.

        :return: ``None`` here (a family without a coordinate).
        """
        return None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._pending is not None:
            self.variant, self._pending = self._pending, None
            self._apply_variant(self.variant)
        return super().reset(seed=seed, options=options)


def coordinate_families() -> list[str]:
    """The names of the variant families that report a continuous task coordinate (e.g. ``["drift"]``).

    :return: sorted ``family`` names of every imported :class:`VariantWrapper` subclass with
        ``reports_coordinate = True``.
    """
    found: set[str] = set()
    todo: list[type[VariantWrapper]] = [VariantWrapper]
    while todo:
        cls = todo.pop()
        if cls.reports_coordinate:
            found.add(cls.family)
        todo.extend(cls.__subclasses__())
    return sorted(found)
