"""What happens to an off-policy replay buffer when the task changes (preset key ``replay.at_switch``).

- ``reset`` (default, as Continual World): the buffer is emptied once every sub-env runs the new
  phase's task. Under per-task weights (PSP keys, ``separate``) a kept buffer keeps training each old
  task on a now fixed set of its own transitions — the offline-RL failure that wrecks a learnt task —
  so the buffer holds only the current task's transitions. The reset waits until the last sub-env has
  finished its old-task episode (one episode, one task), so no trailing old-task transition is replayed
  for a whole phase.
- ``keep``: the buffer is left alone (SB3's behaviour): old tasks' transitions stay until overwritten.

``replay.learning_starts`` says when training resumes after a reset. ``once`` (default, SB3's behaviour):
``hyperparams.learning_starts`` holds only at the start of the run, so the first gradient burst of every later
phase samples a buffer of a few hundred transitions at the phase's full learning rate. ``each_phase``: every
emptied buffer first takes ``learning_starts`` new-task transitions (with SB3's warm-up actions: uniformly
random for DQN, SAC and TD3) before training resumes, as in the first phase.

The callback's position (the last phase whose buffer was reset) goes into every checkpoint, so a resumed
run neither resets twice nor skips a reset; the buffer itself is saved with the checkpoint
(``checkpoint.save_replay_buffer``, on by default).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.training.switch import PhaseSwitchCallback

__all__ = ["REPLAY_AT_SWITCH", "REPLAY_LEARNING_STARTS", "ReplaySwitchCallback", "refill_steps"]

#: the choices of ``replay.at_switch``
REPLAY_AT_SWITCH: tuple[str, ...] = ("reset", "keep")
#: the choices of ``replay.learning_starts``
REPLAY_LEARNING_STARTS: tuple[str, ...] = ("once", "each_phase")


def refill_steps(model: Any, replay: Mapping[str, Any], hyperparams: Mapping[str, Any]) -> int:
    """The env steps an emptied buffer takes before training resumes: ``hyperparams.learning_starts`` (or the
    algorithm's default) with ``replay.learning_starts: each_phase``, else 0.

    :param model: the off-policy SB3 model.
    :param replay: the preset's ``replay`` section.
    :param hyperparams: the preset's ``hyperparams``.
    """
    if replay.get("learning_starts", "once") != "each_phase":
        return 0
    default = inspect.signature(type(model)).parameters["learning_starts"].default
    return int(hyperparams.get("learning_starts", default))


class ReplaySwitchCallback(PhaseSwitchCallback):
    """Empty the replay buffer when a sequential schedule moves to a new task (``at_switch="reset"``).

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param at_switch: ``"reset"`` or ``"keep"``.
    :param learning_starts: ``0``: training resumes right after a reset (SB3's behaviour); ``n > 0``: the
        model's ``learning_starts`` moves to ``n`` steps after each reset, so the emptied buffer first takes
        ``n`` new-task transitions (``replay.learning_starts: each_phase`` passes ``hyperparams.learning_starts``).
    :param verbose: 1 prints a line per reset.
    """

    KEY = "replay.at_switch"
    CHOICES = REPLAY_AT_SWITCH

    def __init__(
        self, schedule: TaskSchedule, at_switch: str = "reset", learning_starts: int = 0, verbose: int = 0
    ) -> None:
        super().__init__(schedule, at_switch, verbose)
        if isinstance(learning_starts, bool) or not isinstance(learning_starts, int) or learning_starts < 0:
            raise ValueError(f"learning_starts must be an integer >= 0, got {learning_starts!r}.")
        self.learning_starts = learning_starts
        self.resume_at: int | None = None  # the model's learning_starts after the last reset, if moved

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        return {
            **super().state_dict(),
            **({"resume_at": self.resume_at} if self.resume_at is not None else {}),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: D102
        super().load_state_dict(state)
        self.resume_at = int(state["resume_at"]) if state.get("resume_at") is not None else None

    def _on_training_start(self) -> None:
        if self.resume_at is not None:  # a resumed run still waits for the refill it was in
            model: Any = self.model
            model.learning_starts = max(model.learning_starts, self.resume_at)

    def ready(self, phase: int) -> bool:
        """Every sub-env has started the new phase's task (one episode, one task)."""
        task = self.schedule.phase_task(phase)
        running = [info.get("task_id") for info in self.locals.get("infos", [])]
        return bool(running) and all(t == task for t in running)

    def on_switch(self, phase: int) -> None:  # noqa: D102
        buffer: Any = getattr(self.model, "replay_buffer", None)
        if buffer is not None:
            buffer.reset()
            if self.learning_starts:
                self.resume_at = self.num_timesteps + self.learning_starts
                model: Any = self.model  # an off-policy algorithm
                model.learning_starts = self.resume_at
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
