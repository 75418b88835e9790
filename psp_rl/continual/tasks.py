"""The SB3 callback that drives the tasks of a training VecEnv from a :class:`~psp_rl.envs.TaskSchedule`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from psp_rl.envs.schedules import TaskSchedule

__all__ = ["TaskScheduleCallback"]


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
        :raises ValueError: when the state belongs to a different schedule (one that this schedule grew
            from, by adding tasks after it, is the same schedule so far).
        """
        saved = state.get("schedule")
        if saved is not None and not self.schedule.continues(saved):
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
