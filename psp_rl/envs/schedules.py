"""Task schedules: which task each sub-environment runs when (pure functions of the step count).

Kinds:

- ``sequential`` — ``steps_per_task`` environment steps (summed over sub-envs) on task 0, then task 1, ...,
  repeated for ``cycles`` cycles: the continual-learning setting.
- ``round_robin`` — per episode: episode ``e`` of sub-env ``i`` runs task ``(i + e) mod K``.
- ``random`` — per episode: a task drawn uniformly from ``(seed, i, e)``.
- ``parallel`` — sub-env ``i`` always runs task ``i mod K`` (all tasks at once; needs ``n_envs >= K``).

Every schedule is a pure function of the global step count and of the per-sub-env episode counters, so a
resumed run continues exactly where it stopped. :class:`psp_rl.continual.TaskScheduleCallback` applies a
schedule to a training VecEnv.

Example::

    from stable_baselines3 import PPO
    from psp_rl import TaskScheduleCallback, make_schedule

    schedule = make_schedule("sequential", num_tasks=5, steps_per_task=30_000)
    model = PPO("MultiInputPolicy", vec_env)   # vec_env from Suite.make_vec_env
    model.learn(schedule.total_timesteps, callback=TaskScheduleCallback(schedule))
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np

from psp_rl.utils import unknown

__all__ = ["SCHEDULE_KINDS", "TaskSchedule", "make_schedule"]

SCHEDULE_KINDS = ("sequential", "round_robin", "random", "parallel")


@dataclass(frozen=True)
class TaskSchedule:
    """Which task runs when. Build it with :func:`make_schedule`.

    :param kind: one of :data:`SCHEDULE_KINDS`.
    :param num_tasks: number of tasks ``K``.
    :param steps_per_task: environment steps per phase (for ``sequential``, per task).
    :param cycles: how many times the ``K`` phases repeat.
    :param seed: seed of the ``random`` kind.
    :param added_steps: tasks added after the schedule (:meth:`grow`): one phase each, of this many
        steps, for the last ``len(added_steps)`` of the ``num_tasks`` tasks; the schedule's own phases
        cover the first ``num_tasks - len(added_steps)`` tasks.
    """

    kind: str
    num_tasks: int
    steps_per_task: int
    cycles: int = 1
    seed: int = 0
    added_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise unknown("schedule kind", self.kind, SCHEDULE_KINDS)
        for name in ("num_tasks", "steps_per_task", "cycles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"schedule {name} must be a positive integer, got {value!r}.")
        object.__setattr__(self, "added_steps", tuple(self.added_steps))
        for value in self.added_steps:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"the steps of an added task must be a positive integer, got {value!r}.")
        if self.added_steps and (not self.is_sequential or len(self.added_steps) >= self.num_tasks):
            raise ValueError(
                "tasks can be added to a sequential schedule that keeps at least one of its own."
            )

    @property
    def base_tasks(self) -> int:
        """The tasks of the schedule's own phases (all of them unless tasks were added)."""
        return self.num_tasks - len(self.added_steps)

    @property
    def _base_phases(self) -> int:
        return self.base_tasks * self.cycles

    @property
    def _base_steps(self) -> int:
        return self._base_phases * self.steps_per_task

    def grow(self, num_tasks: int, steps_per_task: int | None = None) -> TaskSchedule:
        """The schedule followed by one phase for each new task ``K .. num_tasks - 1``, in order.

        :param num_tasks: the new number of tasks, larger than ``K``.
        :param steps_per_task: steps of each new phase (default: ``steps_per_task``).
        :return: the grown schedule; its first phases are this one's, unchanged.
        :raises ValueError: for ``num_tasks`` not larger than ``K`` or a schedule that is not sequential.
        """
        if not self.is_sequential:
            raise ValueError(
                f"tasks can only be added to a sequential schedule (one task after another), not {self.kind!r}."
            )
        if (
            isinstance(num_tasks, bool)
            or not isinstance(num_tasks, (int, np.integer))
            or num_tasks <= self.num_tasks
        ):
            raise ValueError(
                f"the schedule holds K={self.num_tasks} tasks: num_tasks must be larger, got {num_tasks!r}."
            )
        steps = self.steps_per_task if steps_per_task is None else steps_per_task
        added = (steps,) * (int(num_tasks) - self.num_tasks)
        return dataclasses.replace(self, num_tasks=int(num_tasks), added_steps=self.added_steps + added)

    @property
    def is_sequential(self) -> bool:
        """Whether one task is trained at a time (phases have a task)."""
        return self.kind == "sequential"

    @property
    def num_phases(self) -> int:
        """Number of phases: ``K * cycles`` (plus one per added task)."""
        return self._base_phases + len(self.added_steps)

    @property
    def total_timesteps(self) -> int:
        """Length of the whole schedule in environment steps: ``K * steps_per_task * cycles`` (plus the
        added tasks' phases)."""
        return self._base_steps + sum(self.added_steps)

    def continues(self, saved: dict[str, Any]) -> bool:
        """Whether this schedule is the one described by ``saved`` (a :meth:`to_dict`), or grew from it:
        the same phases first, tasks added after them.

        :param saved: a schedule description.
        """
        try:
            other = TaskSchedule(**{**saved, "added_steps": tuple(saved.get("added_steps", ()))})
        except (TypeError, ValueError):
            return False
        cut = len(self.added_steps) - (self.num_tasks - other.num_tasks)  # this one's added steps kept
        if not 0 <= cut <= len(self.added_steps):
            return False
        return (
            dataclasses.replace(self, num_tasks=other.num_tasks, added_steps=self.added_steps[:cut]) == other
        )

    def phase_boundaries(self) -> list[int]:
        """Step counts at which each phase ends: ``[N, 2N, ..., total_timesteps]``.

        For ``sequential`` these are the task switches; for the other kinds, evenly spaced evaluation points.
        """
        own = [self.steps_per_task * (i + 1) for i in range(self._base_phases)]
        return own + [self._base_steps + int(s) for s in np.cumsum(self.added_steps, dtype=np.int64)]

    def phase_task(self, phase_index: int) -> int | None:
        """The task trained in a phase (``sequential``), or ``None`` for mixed schedules.

        :param phase_index: in ``[0, num_phases)``.
        """
        if not 0 <= phase_index < self.num_phases:
            raise ValueError(f"phase_index must be in [0, {self.num_phases - 1}], got {phase_index}.")
        if phase_index >= self._base_phases:  # an added task
            return self.base_tasks + phase_index - self._base_phases
        return phase_index % self.base_tasks if self.is_sequential else None

    def phase_at(self, num_timesteps: int) -> int:
        """The phase that contains a global step count (the last phase past the end).

        :param num_timesteps: global environment steps so far.
        """
        step = int(num_timesteps)
        if step < self._base_steps:
            return step // self.steps_per_task
        if not self.added_steps:
            return self._base_phases - 1
        return min(bisect.bisect_right(self.phase_boundaries(), step), self.num_phases - 1)

    def task_for(self, env_index: int, episode: int, num_timesteps: int) -> int:
        """The task of episode ``episode`` of sub-env ``env_index`` when it starts at ``num_timesteps``.

        :param env_index: sub-environment index.
        :param episode: episode index within that sub-environment (0 = first).
        :param num_timesteps: global environment steps when the episode starts.
        :return: a task in ``[0, K)``.
        """
        if self.kind == "sequential":
            return cast(int, self.phase_task(self.phase_at(num_timesteps)))
        if self.kind == "round_robin":
            return (env_index + episode) % self.num_tasks
        if self.kind == "random":
            rng = np.random.default_rng([self.seed, env_index, episode])
            return int(rng.integers(self.num_tasks))
        return env_index % self.num_tasks  # parallel

    def initial_tasks(
        self, n_envs: int, num_timesteps: int = 0, episode_counts: list[int] | None = None
    ) -> list[int]:
        """The task each sub-env should start with (to build the VecEnv; also when resuming).

        :param n_envs: number of sub-environments.
        :param num_timesteps: global steps already done (resume).
        :param episode_counts: episodes already finished per sub-env (resume).
        """
        counts = episode_counts or [0] * n_envs
        return [self.task_for(i, counts[i], num_timesteps) for i in range(n_envs)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-serialisable description (``added_steps`` only when tasks were added)."""
        data = asdict(self)
        data["added_steps"] = [int(s) for s in self.added_steps]
        if not self.added_steps:
            del data["added_steps"]
        return data


def make_schedule(
    kind: str, num_tasks: int, *, steps_per_task: int, cycles: int = 1, seed: int = 0
) -> TaskSchedule:
    """Build a task schedule.

    Example::

        schedule = make_schedule("sequential", 3, steps_per_task=1000, cycles=2)
        schedule.phase_boundaries()   # [1000, 2000, 3000, 4000, 5000, 6000]
        schedule.phase_task(4)        # 1

    :param kind: ``"sequential"``, ``"round_robin"``, ``"random"`` or ``"parallel"``.
    :param num_tasks: number of tasks ``K``.
    :param steps_per_task: environment steps per phase.
    :param cycles: repetitions of the ``K`` phases.
    :param seed: seed of the ``random`` kind.
    :return: the schedule.
    """
    return TaskSchedule(kind, num_tasks, steps_per_task, cycles, seed)
