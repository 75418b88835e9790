"""A callback base that acts once whenever a sequential task schedule moves to a new phase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from psp_rl.envs.schedules import TaskSchedule
from psp_rl.utils import unknown

__all__ = ["PhaseSwitchCallback"]


class PhaseSwitchCallback(BaseCallback):
    """Call :meth:`on_switch` once for every new phase of a sequential schedule (a task switch).

    A subclass names its preset key (:attr:`KEY`, e.g. ``"replay.at_switch"``) and its choices
    (:attr:`CHOICES`); it acts only when the choice is :attr:`ACTS` (``"reset"`` by default). With
    :attr:`AT_RUN_END` it also acts once when the last phase ends (``on_switch(num_phases)``). It says when a switch is ready to be
    handled (:meth:`ready`; by default at the phase's first step) and what it does (:meth:`on_switch`).
    The position -- the last phase handled and how many switches acted -- goes into every checkpoint
    (:meth:`state_dict`), so a resumed run neither acts twice for one phase nor skips one.

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param at_switch: one of :attr:`CHOICES`.
    :param verbose: 1 prints a line per switch.
    """

    #: the preset key of the choice, for error messages
    KEY: str = "at_switch"
    #: the valid choices; ``"reset"`` acts, any other leaves the switch alone
    CHOICES: tuple[str, ...] = ("reset", "keep")
    #: the choice that acts
    ACTS: str = "reset"
    #: also act at the end of the last phase, as if a phase followed it
    AT_RUN_END: bool = False

    def __init__(self, schedule: TaskSchedule, at_switch: str = "reset", verbose: int = 0) -> None:
        if at_switch not in self.CHOICES:
            raise unknown(self.KEY, at_switch, self.CHOICES)
        super().__init__(verbose)
        self.schedule = schedule
        self.at_switch = at_switch
        self.reset_phase = 0  # the last phase handled (phase 0 starts fresh)
        self.resets = 0

    def state_dict(self) -> dict[str, Any]:
        """:return: the position to save with a checkpoint."""
        return {"reset_phase": self.reset_phase, "resets": self.resets}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: a position saved by :meth:`state_dict`."""
        self.reset_phase = int(state.get("reset_phase", 0))
        self.resets = int(state.get("resets", 0))

    def active(self) -> bool:
        """:return: whether this callback acts at task switches at all."""
        return self.at_switch == self.ACTS and self.schedule.is_sequential

    def ready(self, phase: int) -> bool:
        """:param phase: the phase that has begun. :return: whether to handle its switch now."""
        return True

    def on_switch(self, phase: int) -> None:
        """Act on the switch into ``phase`` (called once per phase).

        :param phase: the phase that has begun.
        """
        raise NotImplementedError

    def _on_step(self) -> bool:
        if not self.active():
            return True
        ends = self.schedule.phase_boundaries()
        last = len(ends) if self.AT_RUN_END else len(ends) - 1  # the last phase whose start is handled
        # phase p starts when phase p - 1 ends, at step ends[p - 1]
        while self.reset_phase < last and self.num_timesteps >= ends[self.reset_phase]:
            if not self.ready(self.reset_phase + 1):
                break
            self.on_switch(self.reset_phase + 1)
            self.resets += 1
            self.reset_phase += 1
        return True
