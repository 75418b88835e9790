"""What happens to an off-policy replay buffer when the task changes (preset key ``replay.at_switch``).

- ``reset`` (default, as Continual World): the buffer is emptied once every sub-env runs the new
  phase's task. Under per-task weights (PSP keys, ``separate``) a kept buffer keeps training each old
  task on a now fixed set of its own transitions — the offline-RL failure that wrecks a learnt task —
  so the buffer holds only the current task's transitions. The reset waits until the last sub-env has
  finished its old-task episode (one episode, one task), so no trailing old-task transition is replayed
  for a whole phase. Between the phase's start and the reset nothing trains (the model's
  ``learning_starts`` is held past the step counter): the old task's phase ended at its boundary, where it
  was evaluated, and gradient steps on its buffer at the new phase's restarted learning rate would go on
  changing it -- in a ``separate`` network too, which must not forget (measured: a ``dqn-psp`` variant
  0.67 → 0.21 in such a tail).
- ``keep``: the buffer is left alone (SB3's behaviour): old tasks' transitions stay until overwritten.

``replay.learning_starts`` says when training resumes after a reset. ``once`` (default, SB3's behaviour):
``hyperparams.learning_starts`` holds only at the start of the run, so the first gradient burst of every later
phase samples a buffer of a few hundred transitions at the phase's full learning rate. ``each_phase``: every
emptied buffer first takes ``learning_starts`` new-task transitions (with SB3's warm-up actions: uniformly
random for DQN, SAC and TD3) before training resumes, as in the first phase.

A reset that waits for the sub-envs goes into every checkpoint, so a resumed run neither resets twice nor
skips a reset; the buffer itself is saved with the checkpoint (``checkpoint.save_replay_buffer``, on by
default). Preset section (off-policy algorithms)::

    replay: {at_switch: reset, learning_starts: once}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from psp_rl.checks import check_choice
from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.envs.schedules import TaskSchedule

__all__ = [
    "OFF_POLICY",
    "REPLAY_AT_SWITCH",
    "REPLAY_LEARNING_STARTS",
    "ReplayReset",
    "ReplaySettings",
    "refill_steps",
]

#: the algorithms with a replay buffer
OFF_POLICY: tuple[str, ...] = ("dqn", "sac", "td3")
#: the choices of ``replay.at_switch``
REPLAY_AT_SWITCH: tuple[str, ...] = ("reset", "keep")
#: the choices of ``replay.learning_starts``
REPLAY_LEARNING_STARTS: tuple[str, ...] = ("once", "each_phase")
#: ``learning_starts`` while training is held between a phase's start and its buffer's reset
HOLD = 2**62


def refill_steps(model: Any, learning_starts: str, hyperparams: Mapping[str, Any]) -> int:
    """The env steps an emptied buffer takes before training resumes: ``hyperparams.learning_starts`` (or the
    algorithm's default) with ``replay.learning_starts: each_phase``, else 0.

    :param model: the off-policy SB3 model.
    :param learning_starts: ``replay.learning_starts`` (``once`` or ``each_phase``).
    :param hyperparams: the preset's ``hyperparams``.
    """
    if learning_starts != "each_phase":
        return 0
    default = inspect.signature(type(model)).parameters["learning_starts"].default
    return int(hyperparams.get("learning_starts", default))


@dataclasses.dataclass(frozen=True)
class ReplaySettings:
    """The ``replay`` section (off-policy algorithms).

    :param at_switch: ``reset`` (emptied when a new task starts) or ``keep`` (SB3's behaviour).
    :param learning_starts: ``once`` (SB3's) or ``each_phase`` (an emptied buffer refills first).
    """

    at_switch: str = "reset"
    learning_starts: str = "once"


@register
class ReplayReset(Mechanism):
    """Empty the replay buffer when a sequential schedule moves to a new task (``at_switch="reset"``).

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param at_switch: ``"reset"`` or ``"keep"``.
    :param learning_starts: ``"once"``: training resumes right after a reset (SB3's behaviour);
        ``"each_phase"``: the model's ``learning_starts`` moves to ``hyperparams.learning_starts`` steps
        after each reset, so the emptied buffer first takes that many new-task transitions.
    :param hyperparams: the preset's ``hyperparams`` (their ``learning_starts``).
    :param verbose: 1 prints a line per reset.
    """

    NAME = "replay"
    Settings = ReplaySettings

    @classmethod
    def check_settings(cls, settings: ReplaySettings, algo: str) -> None:  # noqa: D102
        check_choice("replay.at_switch", settings.at_switch, REPLAY_AT_SWITCH)
        check_choice("replay.learning_starts", settings.learning_starts, REPLAY_LEARNING_STARTS)
        if settings.learning_starts == "each_phase" and settings.at_switch != "reset":
            raise ValueError(
                "replay.learning_starts: each_phase waits for an emptied buffer to refill; it needs "
                "replay.at_switch: reset (with keep the buffer is never emptied: use learning_starts: once)."
            )

    @classmethod
    def enabled(cls, settings: ReplaySettings, algo: str) -> bool:  # noqa: D102
        return algo in OFF_POLICY and settings.at_switch == "reset"

    @classmethod
    def from_settings(cls, settings: ReplaySettings, setup: Setup) -> ReplayReset:  # noqa: D102
        return cls(
            setup.schedule, settings.at_switch, settings.learning_starts, hyperparams=setup.hyperparams
        )

    def __init__(
        self,
        schedule: TaskSchedule,
        at_switch: str = "reset",
        learning_starts: str = "once",
        hyperparams: Mapping[str, Any] | None = None,
        verbose: int = 0,
    ) -> None:
        self.check_settings(ReplaySettings(at_switch, learning_starts), "dqn")
        super().__init__(schedule.phase_boundaries(), verbose)
        self.schedule = schedule
        self.at_switch = at_switch
        self.learning_starts = learning_starts
        self.hyperparams = dict(hyperparams or {})
        self.refill = 0  # env steps of a refill (set when attached to the model)
        self.pending: list[int] = []  # phases begun whose buffer waits for every sub-env to run their task
        self.resets = 0
        self.resume_at: int | None = None  # the model's learning_starts after the last reset, if moved
        self.held: int | None = None  # the model's learning_starts before training was held, while it is

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        state: dict[str, Any] = {"pending": list(self.pending), "resets": self.resets}
        state.update({"resume_at": self.resume_at} if self.resume_at is not None else {})
        return {**state, **({"held": self.held} if self.held is not None else {})}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: D102
        self.pending = [int(p) for p in state.get("pending", [])]
        self.resets = int(state.get("resets", 0))
        self.resume_at = int(state["resume_at"]) if state.get("resume_at") is not None else None
        self.held = int(state["held"]) if state.get("held") is not None else None

    def _init_callback(self) -> None:
        self.refill = refill_steps(self.model, self.learning_starts, self.hyperparams)

    def _on_training_start(self) -> None:
        model: Any = self.model
        if self.resume_at is not None:  # a resumed run still waits for the refill it was in
            model.learning_starts = max(model.learning_starts, self.resume_at)
        if self.held is not None:  # ... or for the reset that ends a hold
            model.learning_starts = HOLD

    def on_phase_start(self, phase: int) -> None:
        """Empty the buffer for ``phase``'s task once every sub-env runs it.

        :param phase: the phase that begins.
        """
        if self.at_switch == "reset" and self.schedule.is_sequential:
            self.pending.append(phase)
            model: Any = self.model
            if self.held is None:  # no gradient step until the reset
                self.held = int(model.learning_starts)
                model.learning_starts = HOLD

    def _on_step(self) -> bool:
        while self.pending and self.sub_envs_run(self.schedule.phase_task(self.pending[0])):
            self._reset(self.pending.pop(0))
        return True

    def _reset(self, phase: int) -> None:
        buffer: Any = getattr(self.model, "replay_buffer", None)
        model: Any = self.model
        self.resets += 1
        if self.held is not None and not self.pending:  # the last pending reset: training resumes
            model.learning_starts, self.held = self.held, None
        if buffer is None:
            return
        buffer.reset()
        if self.refill:
            self.resume_at = self.num_timesteps + self.refill
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
