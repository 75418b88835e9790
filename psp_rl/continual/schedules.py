"""Schedules that restart with every task phase of a continual run.

One ``learn()`` call spans all task phases, so every SB3 schedule (learning rate, clip range, DQN's
exploration ε) is a function of the progress through the *whole* run: an ε-greedy schedule that decays
over the first 16 % of a 5-task run learns every task after the first at the ε floor. A
:class:`PhaseSchedule` maps SB3's progress to the progress through the current phase, so the schedule
runs again from its start in every phase.

Which schedules restart is the preset key ``restart_schedules`` (see :data:`RESTARTABLE`)::

    restart_schedules: [exploration, learning_rate]

PPO's and A2C's entropy coefficient is a number to SB3; ``hyperparams.ent_coef: lin_0.01`` makes it a
schedule (from 0.01 to 0, ``model.ent_coef_schedule``) that :class:`RestartSchedules` writes into
``model.ent_coef`` before every rollout, and ``ent_coef`` in ``restart_schedules`` restarts it per phase: an entropy bonus at the
start of each phase (a new variant's policy may start nearly deterministic) and none once it is learnt.

Example::

    >>> from stable_baselines3.common.utils import LinearSchedule
    >>> eps = PhaseSchedule(LinearSchedule(1.0, 0.0, 1.0), phase_boundaries=[100, 200])
    >>> eps(1.0), eps(0.75), eps(0.5), eps(0.25)   # steps 0, 50, 100 (phase end), 150
    (1.0, 0.5, 0.0, 0.5)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.utils import unknown

__all__ = ["RESTARTABLE", "PhaseSchedule", "RestartSchedules", "restart_per_phase"]

#: schedules a preset can restart per phase -> where they live on an SB3 model
RESTARTABLE: dict[str, str] = {
    "learning_rate": "lr_schedule",
    "clip_range": "clip_range",
    "clip_range_vf": "clip_range_vf",
    "exploration": "exploration_schedule",
    "ent_coef": "ent_coef_schedule",  # set by the training flow for an on-policy ``ent_coef: lin_<x>``
}


class PhaseSchedule:
    """An SB3 schedule (a function of ``progress_remaining``, 1 → 0 over the run) restarted per phase.

    :param schedule: the schedule of one phase (a callable of its progress, 1 → 0), or a constant.
    :param phase_boundaries: the env steps at which the phases end (the last one is the run's length).
    """

    def __init__(self, schedule: Callable[[float], float] | float, phase_boundaries: Sequence[int]) -> None:
        if isinstance(schedule, PhaseSchedule):
            schedule = schedule.schedule
        if not phase_boundaries or any(b <= a for a, b in zip([0, *phase_boundaries], phase_boundaries)):
            raise ValueError(
                f"phase_boundaries must be increasing positive steps, got {list(phase_boundaries)}."
            )
        self.schedule: Callable[[float], float] | float = schedule
        self.phase_boundaries = [int(b) for b in phase_boundaries]

    def local_progress(self, progress_remaining: float) -> float:
        """The progress remaining in the current phase (1 at its start, 0 at its end).

        :param progress_remaining: SB3's progress remaining through the whole run.
        """
        total = self.phase_boundaries[-1]
        step = round((1.0 - float(progress_remaining)) * total)
        phase = min(bisect.bisect_left(self.phase_boundaries, step), len(self.phase_boundaries) - 1)
        start = self.phase_boundaries[phase - 1] if phase > 0 else 0
        end = self.phase_boundaries[phase]
        return min(1.0, max(0.0, (end - step) / (end - start)))

    def __call__(self, progress_remaining: float) -> float:
        if not callable(self.schedule):
            return float(self.schedule)
        return float(self.schedule(self.local_progress(progress_remaining)))

    def __repr__(self) -> str:
        return f"PhaseSchedule({self.schedule!r}, {len(self.phase_boundaries)} phases)"


def restart_per_phase(model: Any, names: Sequence[str], phase_boundaries: Sequence[int]) -> list[str]:
    """Make the named schedules of an SB3 model restart in every phase (idempotent; call it again
    after loading a model, since SB3 rebuilds some schedules in ``_setup_model``).

    :param model: the SB3 algorithm.
    :param names: keys of :data:`RESTARTABLE`; a schedule the model does not have is skipped.
    :param phase_boundaries: the env steps at which the phases end.
    :return: the names that were restarted.
    """
    done = []
    for name in names:
        if name not in RESTARTABLE:
            raise ValueError(
                f"Unknown schedule {name!r} in restart_schedules: use one of {list(RESTARTABLE)}."
            )
        current = getattr(model, RESTARTABLE[name], None)
        if current is None:
            continue
        setattr(model, RESTARTABLE[name], PhaseSchedule(current, phase_boundaries))
        done.append(name)
    return done


@register
class RestartSchedules(Mechanism):
    """Restart the named SB3 schedules in every phase (:func:`restart_per_phase`, applied whenever
    ``learn()`` starts, so also after a load) and write an on-policy ``ent_coef_schedule`` into
    ``model.ent_coef`` before every rollout.

    :param names: keys of :data:`RESTARTABLE`.
    :param phase_boundaries: the env steps at which the phases end.
    :param verbose: SB3's verbosity.
    """

    NAME = "restart_schedules"
    LIST_DEFAULT = ["exploration"]

    @classmethod
    def check_settings(cls, settings: list[str], algo: str) -> None:  # noqa: D102
        for name in settings:
            if name not in RESTARTABLE:
                raise unknown("schedule in restart_schedules", name, RESTARTABLE)

    @classmethod
    def from_settings(cls, settings: list[str], setup: Setup) -> RestartSchedules:  # noqa: D102
        return cls(settings, setup.phase_boundaries)

    def __init__(self, names: Sequence[str], phase_boundaries: Sequence[int], verbose: int = 0) -> None:
        self.check_settings(list(names), "")
        super().__init__(phase_boundaries, verbose)
        self.names = list(names)
        self.phase_boundaries = [int(b) for b in phase_boundaries]

    def _init_callback(self) -> None:
        restart_per_phase(self.model, self.names, self.phase_boundaries)

    def _on_rollout_start(self) -> None:
        schedule = getattr(self.model, "ent_coef_schedule", None)
        if schedule is not None:  # PPO / A2C with ent_coef: lin_<x>
            self.model.ent_coef = float(schedule(self.model._current_progress_remaining))  # type: ignore[attr-defined]
