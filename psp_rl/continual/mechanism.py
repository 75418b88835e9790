"""The protocol every continual mechanism follows, and the registry that lists them in their order.

A mechanism is one preset section (``rehearsal:``, ``keep_best:``, ...) and one
:class:`Mechanism` subclass in its own module. The class declares

- :attr:`~Mechanism.NAME` -- its preset section, and :attr:`~Mechanism.Settings` -- the section's keys
  as a frozen dataclass (types and defaults);
- :meth:`~Mechanism.check_settings` -- the values' checks (errors name the key and the fix);
- :meth:`~Mechanism.enabled` -- whether the settings turn it on for an algorithm;
- :meth:`~Mechanism.from_settings` -- the callback built from the settings and the run's :class:`Setup`;
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

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = ["MECHANISMS", "Mechanism", "Setup", "register"]


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
    #: the section's keys, their types and defaults: a frozen dataclass (a field's ``metadata["key"]``
    #: names a preset key that is no Python name, such as ewc's ``lambda``); ``None`` for a list section
    Settings: ClassVar[Any] = None
    #: the default of a list-valued section (``Settings`` is ``None``)
    LIST_DEFAULT: ClassVar[list[Any]] = []
    #: the checkpoint file of a tensor state (``None``: the state is JSON, inside ``state.json``)
    STATE_FILE: ClassVar[str | None] = None

    @classmethod
    def keys(cls) -> dict[str, str]:
        """:return: preset key -> field of :attr:`Settings`, in the dataclass's order."""
        return {f.metadata.get("key", f.name): f.name for f in dataclasses.fields(cls.Settings)}

    @classmethod
    def defaults(cls) -> Any:
        """:return: the section's defaults as a preset writes them (a mapping, or a list)."""
        if cls.Settings is None:
            return copy.deepcopy(cls.LIST_DEFAULT)
        fresh = cls.Settings()
        return {key: getattr(fresh, name) for key, name in cls.keys().items()}

    @classmethod
    def merged(cls, section: Any) -> Any:
        """The section over its defaults (a section of the wrong shape is left for :meth:`check`).

        :param section: the preset's section (``None``: not given).
        """
        if section is None:
            return cls.defaults()
        if cls.Settings is not None and isinstance(section, Mapping):
            return {**cls.defaults(), **section}
        return section

    @classmethod
    def settings(cls, section: Any) -> Any:
        """The typed settings of a merged section whose keys are checked.

        :param section: the section over its defaults.
        :return: an instance of :attr:`Settings` (a list for a list-valued section).
        """
        if cls.Settings is None:
            return list(section)
        keys = cls.keys()
        return cls.Settings(**{keys[key]: value for key, value in section.items()})

    @classmethod
    def check(cls, section: Any, algo: str) -> None:
        """Check a merged section: its shape and keys here, its values in :meth:`check_settings`.

        :param section: the section over its defaults.
        :param algo: the run's algorithm.
        :raises ValueError: naming the key and the fix.
        """
        if cls.Settings is None:
            if not isinstance(section, list):
                raise ValueError(f"{cls.NAME} must be a list, e.g. {cls.LIST_DEFAULT}, got {section!r}.")
        else:
            keys = cls.keys()
            if not isinstance(section, Mapping):
                raise ValueError(
                    f"{cls.NAME} must be a mapping of {sorted(keys)}, got {section!r}: "
                    f"write it as {cls.NAME}: {{{next(iter(keys))}: ...}}."
                )
            check_keys(cls.NAME, section, keys)
        cls.check_settings(cls.settings(section), algo)

    @classmethod
    def check_settings(cls, settings: Any, algo: str) -> None:
        """Check the values (override; errors name the preset key and the fix).

        :param settings: the typed settings.
        :param algo: the run's algorithm.
        """

    @classmethod
    def enabled(cls, settings: Any, algo: str) -> bool:
        """:param settings: the typed settings. :param algo: the algorithm. :return: whether it acts."""
        return True

    @classmethod
    def from_settings(cls, settings: Any, setup: Setup) -> Mechanism:
        """:param settings: the typed, checked settings. :param setup: the run. :return: the callback."""
        raise NotImplementedError

    def interaction(self) -> int:
        """:return: the env steps this mechanism took itself, beyond the training steps (e.g. validation
        episodes); counted in a run's interaction budget."""
        return 0

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
