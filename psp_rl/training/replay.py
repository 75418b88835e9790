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

from collections.abc import Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.utils import unknown

__all__ = ["REPLAY_AT_SWITCH", "ReplaySwitchCallback"]

#: the choices of ``replay.at_switch``
REPLAY_AT_SWITCH: tuple[str, ...] = ("reset", "keep")


class ReplaySwitchCallback(BaseCallback):
    """Empty the replay buffer when a sequential schedule moves to a new task (``at_switch="reset"``).

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param at_switch: ``"reset"`` or ``"keep"``.
    :param verbose: 1 prints a line per reset.
    """

    def __init__(self, schedule: TaskSchedule, at_switch: str = "reset", verbose: int = 0) -> None:
        super().__init__(verbose)
        if at_switch not in REPLAY_AT_SWITCH:
            raise unknown("replay.at_switch", at_switch, REPLAY_AT_SWITCH)
        self.schedule = schedule
        self.at_switch = at_switch
        self.reset_phase = 0  # the last phase whose buffer was emptied (phase 0 starts empty)
        self.resets = 0

    def state_dict(self) -> dict[str, Any]:
        """:return: the position to save with a checkpoint."""
        return {"reset_phase": self.reset_phase, "resets": self.resets}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: a position saved by :meth:`state_dict`."""
        self.reset_phase = int(state.get("reset_phase", 0))
        self.resets = int(state.get("resets", 0))

    def _on_step(self) -> bool:
        if self.at_switch != "reset" or not self.schedule.is_sequential:
            return True
        phase = self.schedule.phase_at(self.num_timesteps)
        if phase <= self.reset_phase:
            return True
        task = self.schedule.phase_task(phase)
        running = [info.get("task_id") for info in self.locals.get("infos", [])]
        if running and all(t == task for t in running):  # every sub-env has started the new task
            buffer: Any = getattr(self.model, "replay_buffer", None)
            if buffer is not None:
                buffer.reset()
                self.resets += 1
                if self.verbose >= 1:
                    print(f"step {self.num_timesteps}: replay buffer emptied for task {task}")
            self.reset_phase = phase
        return True

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
