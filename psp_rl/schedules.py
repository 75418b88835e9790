"""Task schedules: which task each sub-environment runs, and the callback that drives them during training.

Kinds:

- ``sequential`` — ``steps_per_task`` environment steps (summed over sub-envs) on task 0, then task 1, ...,
  repeated for ``cycles`` cycles: the continual-learning setting.
- ``round_robin`` — per episode: episode ``e`` of sub-env ``i`` runs task ``(i + e) mod K``.
- ``random`` — per episode: a task drawn uniformly from ``(seed, i, e)``.
- ``parallel`` — sub-env ``i`` always runs task ``i mod K`` (all tasks at once; needs ``n_envs >= K``).

Every schedule is a pure function of the global step count and of the per-sub-env episode counters, so a
resumed run continues exactly where it stopped.

Example::

    from stable_baselines3 import PPO
    from psp_rl.schedules import TaskScheduleCallback, make_schedule

    schedule = make_schedule("sequential", num_tasks=5, steps_per_task=30_000)
    model = PPO("MultiInputPolicy", vec_env)   # vec_env from Suite.make_vec_env
    model.learn(schedule.total_timesteps, callback=TaskScheduleCallback(schedule))
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["SCHEDULE_KINDS", "TaskSchedule", "TaskScheduleCallback", "make_schedule"]

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
            close = difflib.get_close_matches(str(self.kind), SCHEDULE_KINDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown schedule kind {self.kind!r}.{hint} Available kinds: {list(SCHEDULE_KINDS)}."
            )
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


class TaskScheduleCallback(BaseCallback):
    """Drive the tasks of the training VecEnv from a :class:`TaskSchedule`.

    After every step it works out the task of each sub-env's *next* episode and sends it with
    ``training_env.env_method("set_task", k, indices=[...])`` (only when it changes). SB3 VecEnvs reset a
    finished sub-env inside ``step``, so the request always lands at a reset: one episode = one task.
    It records ``train/task`` (mean task of the steps just taken) and, for sequential schedules,
    ``train/phase``.

    Resume: the state is a pure function of ``num_timesteps`` and the per-sub-env episode counters;
    save :meth:`state_dict` with a checkpoint and call :meth:`load_state_dict` before ``learn``. Build the
    resumed VecEnv with ``initial_tasks=schedule.initial_tasks(n_envs, num_timesteps, episode_counts)``
    so the first episodes also follow the schedule. Calling ``learn`` again on the same run (with
    ``reset_num_timesteps=False``) keeps the counters.

    :param schedule: the schedule.
    :param verbose: 1 prints each task switch request.
    """

    def __init__(self, schedule: TaskSchedule, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.schedule = schedule
        self.episode_counts: list[int] = []
        self.running_tasks: list[int] = []
        self.current_phase = 0
        self.current_task: int | None = schedule.phase_task(0)
        self._requested: list[int | None] = []
        self._loaded_counts: list[int] | None = None

    # ------------------------------------------------------------------------------ state (resume)
    def state_dict(self) -> dict[str, Any]:
        """The callback state to store in a checkpoint (JSON-serialisable)."""
        counts = self.episode_counts or self._loaded_counts or []
        return {"schedule": self.schedule.to_dict(), "episode_counts": [int(c) for c in counts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the episode counters saved by :meth:`state_dict`.

        :param state: the saved state.
        :raises ValueError: when the state belongs to a different schedule.
        """
        saved = state.get("schedule")
        if saved is not None and saved != self.schedule.to_dict():
            raise ValueError(
                f"This checkpoint was made with schedule {saved}, not {self.schedule.to_dict()}: "
                "resume with the same suite and schedule."
            )
        counts = [int(c) for c in state.get("episode_counts", [])]
        if self.episode_counts and counts:  # training already started: apply now
            self._check_counts(counts, len(self.episode_counts))
            self.episode_counts = counts
        else:
            self._loaded_counts = counts or None

    @staticmethod
    def _check_counts(counts: list[int], n_envs: int) -> None:
        if counts and len(counts) != n_envs:
            raise ValueError(
                f"The saved schedule state has episode counters for {len(counts)} sub-envs but the training "
                f"VecEnv has {n_envs}: resume with n_envs={len(counts)}."
            )

    # ------------------------------------------------------------------------------------- hooks
    def _on_training_start(self) -> None:
        n_envs = self.training_env.num_envs
        if self.schedule.kind == "parallel" and n_envs < self.schedule.num_tasks:
            raise ValueError(
                f"The parallel schedule runs task i mod K on sub-env i, so it needs n_envs >= K="
                f"{self.schedule.num_tasks}, got n_envs={n_envs}: raise n_envs or use round_robin."
            )
        if self._loaded_counts is not None:  # load_state_dict (resume from a checkpoint)
            counts, self._loaded_counts = self._loaded_counts, None
        elif len(self.episode_counts) == n_envs:  # a further learn() call on the same run
            counts = self.episode_counts
        else:
            counts = [0] * n_envs
        self._check_counts(counts, n_envs)
        self.episode_counts = list(counts)
        try:
            self.running_tasks = [int(t) for t in self.training_env.get_attr("task")]
        except AttributeError:
            self.running_tasks = self.schedule.initial_tasks(n_envs, self.num_timesteps, self.episode_counts)
        self._requested = [None] * n_envs
        self._request_next_tasks()

    def _on_step(self) -> bool:
        dones = self.locals.get("dones")
        if dones is not None:
            for i, done in enumerate(np.asarray(dones).reshape(-1)):
                if done:
                    self.episode_counts[i] += 1
        infos = self.locals.get("infos") or []
        for i, info in enumerate(infos):
            if isinstance(info, dict) and "task_id" in info:
                self.running_tasks[i] = int(info["task_id"])
        self._request_next_tasks()
        self.logger.record("train/task", float(np.mean(self.running_tasks)))
        if self.schedule.is_sequential:
            self.logger.record("train/phase", self.current_phase)
        return True

    def _request_next_tasks(self) -> None:
        """Send each sub-env the task of its next episode, grouped by task, only when it changed."""
        step = self.num_timesteps
        self.current_phase = self.schedule.phase_at(step)
        self.current_task = self.schedule.phase_task(self.current_phase)
        by_task: dict[int, list[int]] = defaultdict(list)
        for i, count in enumerate(self.episode_counts):
            task = self.schedule.task_for(i, count + 1, step)
            if task != self._requested[i]:
                by_task[task].append(i)
                self._requested[i] = task
        for task, indices in by_task.items():
            self.training_env.env_method("set_task", task, indices=indices)
            if self.verbose >= 1:
                print(f"step {step}: next episode of sub-envs {indices} runs task {task}")
