"""The protocol every continual mechanism follows, and the registry that lists them in their order.

A mechanism is one preset section (``rehearsal:``, ``keep_best:``, ...) and one
:class:`Mechanism` subclass in its own module. The class declares

- :attr:`~Mechanism.NAME` -- its preset section, and :attr:`~Mechanism.DEFAULTS` -- the section's defaults;
- :meth:`~Mechanism.check` -- the section's checks (errors name the key and the fix);
- :meth:`~Mechanism.enabled` -- whether the section turns it on for an algorithm;
- :meth:`~Mechanism.from_section` -- the callback built from the section and the run's :class:`Setup`;
- the phase hooks it needs (:meth:`~psp_rl.phases.PhaseCallback.on_phase_end`,
  :meth:`~psp_rl.phases.PhaseCallback.on_phase_start`, SB3's ``_on_step`` /
  ``_on_rollout_end``);
- its checkpoint state (``state_dict`` / ``load_state_dict``): JSON in ``state.json``, or tensors in
  ``<STATE_FILE>`` when :attr:`~Mechanism.STATE_FILE` is set.

:func:`register` adds a class to :data:`MECHANISMS`, in the order in which the mechanisms act at a
phase end (see :data:`~psp_rl.continual.events.ORDER`). ``psp-rl train`` and
:func:`psp_rl.continual.callbacks` build every enabled mechanism from this registry; neither names one.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from psp_rl.checks import check_keys
from psp_rl.phases import PhaseCallback
from psp_rl.utils import did_you_mean

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = ["MECHANISMS", "Mechanism", "Setup", "mechanism", "register"]


@dataclasses.dataclass
class Setup:
    """What a mechanism may need besides its preset section.

    :param schedule: the run's task schedule.
    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :param seed: the run's seed (each mechanism draws from its own namespace of it).
    :param hyperparams: the algorithm's arguments as in the preset (e.g. ``learning_starts``).
    :param suite: the task suite (validation episodes, the score's normalisation and metric).
    :param validation_seed: the seed of every validation episode's start states (default: the
        validation namespace of ``seed``, :func:`psp_rl.seeds.validation`).
    :param env_wrapper: applied to every env built for scoring (validation episodes), e.g. to normalise
        observations with the training env's statistics.
    """

    schedule: TaskSchedule
    algo: str
    seed: int = 0
    hyperparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    suite: Suite | None = None
    validation_seed: int | None = None
    env_wrapper: Callable[[VecEnv], VecEnv] | None = None

    @property
    def phase_boundaries(self) -> list[int]:
        """The env steps at which the phases end."""
        return [int(b) for b in self.schedule.phase_boundaries()]

    @property
    def phase_tasks(self) -> list[int | None]:
        """The task of each phase (``None`` for a phase that trains several)."""
        return [self.schedule.phase_task(i) for i in range(len(self.schedule.phase_boundaries()))]


class Mechanism(PhaseCallback):
    """A continual mechanism: one preset section, its defaults, checks, phase hooks and checkpoint state.

    Subclasses set the class attributes and override what they need; see the module docstring.
    """

    #: the preset section
    NAME: ClassVar[str] = ""
    #: the section's defaults (a mapping; a list for a list-valued section)
    DEFAULTS: ClassVar[Any] = {}
    #: the checkpoint file of a tensor state (``None``: the state is JSON, inside ``state.json``)
    STATE_FILE: ClassVar[str | None] = None

    @classmethod
    def merged(cls, section: Any) -> Any:
        """The section over its defaults (a section that is not a mapping is left for :meth:`check`).

        :param section: the preset's section (``None``: not given).
        """
        if section is None:
            return copy.deepcopy(cls.DEFAULTS)
        if isinstance(cls.DEFAULTS, Mapping) and isinstance(section, Mapping):
            return {**copy.deepcopy(dict(cls.DEFAULTS)), **section}
        return section

    @classmethod
    def check(cls, section: Any, algo: str) -> None:
        """Check a merged section: a mapping of known keys (override to check the values too).

        :param section: the section over its defaults.
        :param algo: the run's algorithm.
        :raises ValueError: naming the key and the fix.
        """
        if not isinstance(section, Mapping):
            raise ValueError(
                f"{cls.NAME} must be a mapping of {sorted(cls.DEFAULTS)}, got {section!r}: "
                f"write it as {cls.NAME}: {{{next(iter(cls.DEFAULTS))}: ...}}."
            )
        check_keys(cls.NAME, section, cls.DEFAULTS)

    @classmethod
    def enabled(cls, section: Any, algo: str) -> bool:
        """:param section: the merged section. :param algo: the algorithm. :return: whether it acts."""
        return True

    @classmethod
    def from_section(cls, section: Any, setup: Setup) -> Mechanism:
        """:param section: the merged, checked section. :param setup: the run. :return: the callback."""
        raise NotImplementedError

    def sub_envs_run(self, task: int | None) -> bool:
        """Whether every training sub-env reported ``task`` at this step (its episode of the previous task
        is over: one episode, one task).

        :param task: a task id.
        """
        running = [info.get("task_id") for info in self.locals.get("infos", [])]
        return bool(running) and all(t == task for t in running)

    def state_dict(self) -> dict[str, Any]:
        """:return: the state to checkpoint (JSON, or tensors with :attr:`STATE_FILE`)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """:param state: what :meth:`state_dict` returned."""


#: the registered mechanisms, by preset section, in registration order
MECHANISMS: dict[str, type[Mechanism]] = {}

M = TypeVar("M", bound=type[Mechanism])


def register(cls: M) -> M:
    """Add a mechanism class to :data:`MECHANISMS` (a class decorator).

    :param cls: the class; its :attr:`~Mechanism.NAME` is the preset section.
    :raises ValueError: when the name is empty or taken.
    """
    if not cls.NAME:
        raise ValueError(f"{cls.__name__} needs a NAME (its preset section).")
    if cls.NAME in MECHANISMS and MECHANISMS[cls.NAME] is not cls:
        raise ValueError(f"a mechanism named {cls.NAME!r} is registered already ({MECHANISMS[cls.NAME]}).")
    MECHANISMS[cls.NAME] = cls
    return cls


def mechanism(name: str) -> type[Mechanism]:
    """:param name: a preset section. :return: its mechanism class.

    :raises ValueError: for an unknown name, naming the closest one.
    """
    if name not in MECHANISMS:
        raise ValueError(f"Unknown continual mechanism {name!r}.{did_you_mean(name, list(MECHANISMS))}")
    return MECHANISMS[name]
