"""Task schedules: which task each sub-environment runs when (pure functions of the step count).

Kinds:

- ``sequential`` — ``steps_per_task`` environment steps (summed over sub-envs) on task 0, then task 1, ...,
  repeated for ``cycles`` cycles: the continual-learning setting.
- ``round_robin`` — per episode: episode ``e`` of sub-env ``i`` runs task ``(i + e) mod K``.
- ``random`` — per episode: a task drawn uniformly from ``(seed, i, e)``.
- ``parallel`` — sub-env ``i`` always runs task ``i mod K`` (all tasks at once; needs ``n_envs >= K``).

Every schedule is a pure function of the global step count and of the per-sub-env episode counters, so a
resumed run continues exactly where it stopped. :class:`psp_rl.training.TaskScheduleCallback` applies a
schedule to a training VecEnv.

Example::

    from stable_baselines3 import PPO
    from psp_rl import TaskScheduleCallback, make_schedule

    schedule = make_schedule("sequential", num_tasks=5, steps_per_task=30_000)
    model = PPO("MultiInputPolicy", vec_env)   # vec_env from Suite.make_vec_env
    model.learn(schedule.total_timesteps, callback=TaskScheduleCallback(schedule))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
    """

    kind: str
    num_tasks: int
    steps_per_task: int
    cycles: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise unknown("schedule kind", self.kind, SCHEDULE_KINDS)
        for name in ("num_tasks", "steps_per_task", "cycles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"schedule {name} must be a positive integer, got {value!r}.")

    @property
    def is_sequential(self) -> bool:
        """Whether one task is trained at a time (phases have a task)."""
        return self.kind == "sequential"

    @property
    def num_phases(self) -> int:
        """Number of phases: ``K * cycles``."""
        return self.num_tasks * self.cycles

    @property
    def total_timesteps(self) -> int:
        """Length of the whole schedule in environment steps: ``K * steps_per_task * cycles``."""
        return self.num_phases * self.steps_per_task

    def phase_boundaries(self) -> list[int]:
        """Step counts at which each phase ends: ``[N, 2N, ..., total_timesteps]``.

        For ``sequential`` these are the task switches; for the other kinds, evenly spaced evaluation points.
        """
        return [self.steps_per_task * (i + 1) for i in range(self.num_phases)]

    def phase_task(self, phase_index: int) -> int | None:
        """The task trained in a phase (``sequential``), or ``None`` for mixed schedules.

        :param phase_index: in ``[0, num_phases)``.
        """
        if not 0 <= phase_index < self.num_phases:
            raise ValueError(f"phase_index must be in [0, {self.num_phases - 1}], got {phase_index}.")
        return phase_index % self.num_tasks if self.is_sequential else None

    def phase_at(self, num_timesteps: int) -> int:
        """The phase that contains a global step count (the last phase past the end).

        :param num_timesteps: global environment steps so far.
        """
        return min(int(num_timesteps) // self.steps_per_task, self.num_phases - 1)

    def task_for(self, env_index: int, episode: int, num_timesteps: int) -> int:
        """The task of episode ``episode`` of sub-env ``env_index`` when it starts at ``num_timesteps``.

        :param env_index: sub-environment index.
        :param episode: episode index within that sub-environment (0 = first).
        :param num_timesteps: global environment steps when the episode starts.
        :return: a task in ``[0, K)``.
        """
        if self.kind == "sequential":
            return self.phase_at(num_timesteps) % self.num_tasks
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
        """A JSON/YAML-serialisable description."""
        return asdict(self)


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
