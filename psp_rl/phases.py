"""Phase events: where a run stands in its task schedule, and the SB3 callback base that acts on them.

A sequential schedule trains one task per phase; phase ``p`` ends at env step ``phase_boundaries[p]``
and phase ``p + 1`` starts at that same step. :class:`PhaseClock` turns the step counter into those
events, each once; :class:`PhaseCallback` is the SB3 callback base of everything that acts on them
(the continual mechanisms, the evaluation, the checkpoints). Inside a
:class:`~psp_rl.continual.events.PhaseEvents` dispatcher the events come from the dispatcher's one
clock; a :class:`PhaseCallback` used on its own runs a clock of its own. Below both the continual
mechanisms and the evaluation, so both can build on it.

Example::

    >>> clock = PhaseClock([100, 200])
    >>> clock.due(50)
    []
    >>> [(e.kind, e.phase, e.last) for e in clock.due(100) + clock.due(250)]
    [('end', 0, False), ('start', 1, False), ('end', 1, True)]
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["PhaseCallback", "PhaseClock", "PhaseEvent"]


class PhaseEvent(NamedTuple):
    """One phase event.

    :param kind: ``"end"`` (the phase's training is over) or ``"start"`` (its first step).
    :param phase: the phase index.
    :param last: an ``"end"`` of the run's last phase (nothing trains after it).
    """

    kind: str
    phase: int
    last: bool = False


class PhaseClock:
    """The phase events a step counter has passed, each given once.

    A phase end comes before the start of the phase after it. A run that was grown after its last phase
    ended (more boundaries given with :meth:`set_boundaries`) gets the start of the first added phase at
    the next call of :meth:`due`.

    :param phase_boundaries: the env steps at which the phases end (increasing).
    """

    def __init__(self, phase_boundaries: Sequence[int]) -> None:
        self.phase_boundaries: list[int] = []
        self.ended = 0  # phases whose end was given
        self.started = 1  # phases whose start was given (phase 0 starts with the run)
        self.set_boundaries(phase_boundaries)

    def set_boundaries(self, phase_boundaries: Sequence[int]) -> None:
        """:param phase_boundaries: the env steps at which the phases end (a grown run has more)."""
        bounds = [int(b) for b in phase_boundaries]
        if any(b <= a for a, b in zip([0, *bounds], bounds)):
            raise ValueError(f"phase boundaries must be increasing positive env steps, got {bounds}.")
        self.phase_boundaries = bounds

    @property
    def num_phases(self) -> int:
        """The number of phases."""
        return len(self.phase_boundaries)

    def due(self, step: int) -> list[PhaseEvent]:
        """The events passed at ``step`` and not given before, in order; they count as given.

        :param step: the env step counter (``model.num_timesteps``).
        """
        events: list[PhaseEvent] = []
        while True:
            if self.started <= self.ended and self.started < self.num_phases:
                events.append(PhaseEvent("start", self.started))
                self.started += 1
            elif self.ended < self.num_phases and step >= self.phase_boundaries[self.ended]:
                events.append(PhaseEvent("end", self.ended, self.ended == self.num_phases - 1))
                self.ended += 1
            else:
                return events

    def skip_to(self, step: int) -> None:
        """Count every event up to ``step`` as given (a run resumed from a checkpoint written there).

        :param step: the env step the run continues from.
        """
        self.ended = bisect.bisect_right(self.phase_boundaries, int(step))
        self.started = min(self.ended, max(self.num_phases - 1, 0)) + 1

    def state_dict(self) -> dict[str, int]:
        """:return: the events given so far (JSON)."""
        return {"ended": self.ended, "started": self.started}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: what :meth:`state_dict` returned."""
        self.ended = int(state["ended"])
        self.started = int(state["started"])


class PhaseCallback(BaseCallback):
    """An SB3 callback that acts on phase events: override :meth:`on_phase_end` and
    :meth:`on_phase_start` (and ``_on_step`` for work at every step).

    Inside a :class:`~psp_rl.continual.events.PhaseEvents` dispatcher, the dispatcher gives the events
    (:meth:`handle`) right before it calls this callback's ``on_step``. Used on its own, the callback
    needs ``phase_boundaries`` and gives itself the events from a clock of its own, at the same point.

    :param phase_boundaries: the env steps at which the phases end (needed only on its own).
    :param verbose: SB3's verbosity.
    """

    def __init__(self, phase_boundaries: Sequence[int] | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.driven = False  # set by the dispatcher that gives the events
        self._own_clock = PhaseClock(phase_boundaries) if phase_boundaries is not None else None
        self._own_clock_placed = False

    def on_phase_end(self, phase: int, last: bool) -> None:
        """The training of ``phase`` is over (called at the step that reached its boundary).

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """

    def on_phase_start(self, phase: int) -> None:
        """``phase`` (>= 1) begins: its task is the one sub-envs are given from now on.

        :param phase: the phase that begins.
        """

    def handle(self, event: PhaseEvent) -> None:
        """Act on one event.

        :param event: the event.
        """
        if event.kind == "end":
            self.on_phase_end(event.phase, event.last)
        else:
            self.on_phase_start(event.phase)

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        """SB3's training-start hook; on its own, the callback places its clock at the run's step first (the
        events before it were given by an earlier ``learn()``, or before the checkpoint it resumes from).

        :param locals_: SB3's locals.
        :param globals_: SB3's globals.
        """
        if not self.driven and self._own_clock is not None and not self._own_clock_placed:
            self._own_clock.skip_to(self.model.num_timesteps)
            self._own_clock_placed = True
        super().on_training_start(locals_, globals_)

    def on_step(self) -> bool:
        """SB3's step hook; on its own, the callback first gives itself the events due.

        :return: whether training goes on.
        """
        if not self.driven and self._own_clock is not None:
            self.num_timesteps = self.model.num_timesteps  # as SB3's on_step sets it, for the events first
            if not self._own_clock_placed:  # stepped without a training start: before this step's envs
                env = self.model.get_env()
                envs = env.num_envs if env is not None else 1
                self._own_clock.skip_to(self.num_timesteps - envs)
                self._own_clock_placed = True
            for event in self._own_clock.due(self.num_timesteps):
                self.handle(event)
        return super().on_step()

    def _on_step(self) -> bool:
        return True
