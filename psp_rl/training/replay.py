"""What happens to an off-policy replay buffer when the task changes (preset key ``replay.at_switch``).

- ``reset`` (default, as Continual World): the buffer is emptied once every sub-env runs the new
  phase's task. Under per-task weights (PSP keys, ``separate``) a kept buffer keeps training each old
  task on a now fixed set of its own transitions — the offline-RL failure that wrecks a learnt task —
  so the buffer holds only the current task's transitions. The reset waits until the last sub-env has
  finished its old-task episode (one episode, one task), so no trailing old-task transition is replayed
  for a whole phase.
- ``keep``: the buffer is left alone (SB3's behaviour): old tasks' transitions stay until overwritten.

The callback's position (the last phase whose buffer was reset) goes into every checkpoint, so a resumed
run neither resets twice nor skips a reset; the buffer itself is saved with the checkpoint
(``checkpoint.save_replay_buffer``, on by default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.training.switch import PhaseSwitchCallback

__all__ = ["REPLAY_AT_SWITCH", "ReplaySwitchCallback"]

#: the choices of ``replay.at_switch``
REPLAY_AT_SWITCH: tuple[str, ...] = ("reset", "keep")


class ReplaySwitchCallback(PhaseSwitchCallback):
    """Empty the replay buffer when a sequential schedule moves to a new task (``at_switch="reset"``).

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param at_switch: ``"reset"`` or ``"keep"``.
    :param verbose: 1 prints a line per reset.
    """

    KEY = "replay.at_switch"
    CHOICES = REPLAY_AT_SWITCH

    def __init__(self, schedule: TaskSchedule, at_switch: str = "reset", verbose: int = 0) -> None:
        super().__init__(schedule, at_switch, verbose)

    def ready(self, phase: int) -> bool:
        """Every sub-env has started the new phase's task (one episode, one task)."""
        task = self.schedule.phase_task(phase)
        running = [info.get("task_id") for info in self.locals.get("infos", [])]
        return bool(running) and all(t == task for t in running)

    def on_switch(self, phase: int) -> None:  # noqa: D102
        buffer: Any = getattr(self.model, "replay_buffer", None)
        if buffer is not None:
            buffer.reset()
            if self.verbose >= 1:
                print(
                    f"step {self.num_timesteps}: replay buffer emptied for task {self.schedule.phase_task(phase)}"
                )

    @staticmethod
    def buffer_tasks(model: Any) -> np.ndarray:
        """The task ids of the transitions in a model's replay buffer (for tests and diagnostics).

        :param model: an off-policy SB3 model with ``{"obs", "task"}`` observations.
        :return: one task id per stored transition.
        """
        buffer = model.replay_buffer
        size = buffer.buffer_size if buffer.full else buffer.pos
        tasks = buffer.observations["task"][:size]
        return np.asarray(tasks).reshape(size * buffer.n_envs, -1)[:, 0].astype(np.int64)
