"""What happens around a task switch, as SB3 callbacks usable from plain SB3 code.

One dispatcher owns the task schedule (its events come from :mod:`psp_rl.phases`) and gives every mechanism its phase events in one order
(:data:`~psp_rl.continual.events.ORDER`); each mechanism is one module with the same small protocol
(:class:`~psp_rl.continual.mechanism.Mechanism`: defaults, checks, phase hooks, checkpoint state), found
through a registry. ``psp-rl train`` builds its callbacks with the same :func:`callbacks`.

- :mod:`~psp_rl.continual.tasks` -- the callback that drives the training VecEnv's tasks from a schedule;
- :mod:`~psp_rl.continual.events` -- the dispatcher (:class:`PhaseEvents`) and the order of its members;
- :mod:`~psp_rl.continual.mechanism` -- the mechanism protocol, the run's :class:`Setup` and the registry;
- :mod:`~psp_rl.continual.keep_best` -- end each phase on its best-scoring weights (``keep_best``);
- :mod:`~psp_rl.continual.rehearsal` -- distil earlier tasks' stored outputs (``rehearsal``);
- :mod:`~psp_rl.continual.ewc` -- elastic weight consolidation, the baseline (``ewc``);
- :mod:`~psp_rl.continual.fisher` -- the diagonal Fisher of an actor-critic policy, what EWC consolidates;
- :mod:`~psp_rl.continual.replay` -- empty the replay buffer at a task switch (``replay``);
- :mod:`~psp_rl.continual.optimizer` -- clear the optimizers' moments at a task switch (``optimizer``);
- :mod:`~psp_rl.continual.schedules` -- SB3 schedules restarted in every phase (``restart_schedules``).

Example (your own SB3 code; the task switches and the evaluation come with the callbacks)::

    import psp_rl
    from stable_baselines3 import DQN

    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=3, steps_per_task=20_000)
    schedule = suite.make_schedule()
    model = DQN(psp_rl.PSPDQNPolicy, suite.make_vec_env(n_envs=1, seed=0), seed=0)
    events = psp_rl.continual.callbacks(
        schedule, algo="dqn", suite=suite, seed=0, evaluation={"episodes": 10},
        rehearsal={"coef": 1.0, "target": "actions"}, keep_best={"freq": 2500},
    )
    model.learn(schedule.total_timesteps, callback=events)
    print(events["evaluation"].matrix.R)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from psp_rl.continual import (  # noqa: F401 (registers)
    ewc,  # noqa: F401 (registers)
    keep_best,
    optimizer,
    rehearsal,
    replay,
    schedules,
)
from psp_rl.continual.events import ORDER, PhaseEvents
from psp_rl.continual.mechanism import MECHANISMS, Mechanism, Setup, register
from psp_rl.continual.tasks import TaskScheduleCallback
from psp_rl.phases import PhaseCallback, PhaseClock, PhaseEvent
from psp_rl.utils import did_you_mean

if TYPE_CHECKING:
    from psp_rl.envs.schedules import TaskSchedule
    from psp_rl.envs.suites import Suite

__all__ = [
    "MECHANISMS",
    "ORDER",
    "Mechanism",
    "PhaseCallback",
    "PhaseClock",
    "PhaseEvent",
    "PhaseEvents",
    "Setup",
    "TaskScheduleCallback",
    "build_mechanisms",
    "callbacks",
    "check_sections",
    "register",
]


def check_sections(sections: Mapping[str, Any], algo: str) -> dict[str, Any]:
    """Every registered mechanism's section over its defaults, checked.

    :param sections: preset sections by name (missing ones take their defaults).
    :param algo: the algorithm.
    :return: the merged sections, by name.
    :raises ValueError: for an unknown section or a wrong value, naming the fix.
    """
    for name in sections:
        if name not in MECHANISMS:
            raise ValueError(f"Unknown continual mechanism {name!r}.{did_you_mean(name, list(MECHANISMS))}")
    merged = {}
    for name, cls in MECHANISMS.items():
        merged[name] = cls.merged(sections.get(name))
        cls.check(merged[name], algo)
    return merged


def build_mechanisms(sections: Mapping[str, Any], setup: Setup) -> dict[str, Mechanism]:
    """The callbacks of every mechanism that its section turns on.

    :param sections: preset sections by name (missing ones take their defaults).
    :param setup: the run.
    :return: the mechanisms, by name.
    """
    merged = check_sections(sections, setup.algo)
    built: dict[str, Mechanism] = {}
    for name, cls in MECHANISMS.items():
        settings = cls.settings(merged[name])
        if cls.enabled(settings, setup.algo):
            built[name] = cls.from_settings(settings, setup)
    return built


def callbacks(
    schedule: TaskSchedule,
    *,
    algo: str,
    suite: Suite | None = None,
    seed: int = 0,
    hyperparams: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    **sections: Any,
) -> PhaseEvents:
    """The callback that gives a plain ``model.learn(...)`` what ``psp-rl train`` gives: the task schedule,
    the continual mechanisms of ``sections`` (the preset's sections, e.g. ``rehearsal={"coef": 1.0}``;
    the others at their defaults) and, with ``evaluation``, the per-task evaluation at every phase end.

    :param schedule: the task schedule (``suite.make_schedule()``).
    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``td3``.
    :param suite: the task suite (needed by ``keep_best`` and ``evaluation``).
    :param seed: the run's seed (evaluation and validation episodes draw from their own namespaces).
    :param hyperparams: the algorithm's arguments as in a preset (``replay.learning_starts: each_phase``
        reads their ``learning_starts``).
    :param evaluation: the preset's ``eval`` section (``episodes``, ``eval_freq``, ...); ``None``: no evaluation.
    :param sections: mechanism sections by name (``keep_best``, ``rehearsal``, ``ewc``, ``replay``,
        ``optimizer``, ``restart_schedules``).
    :return: the dispatcher; ``events["evaluation"].matrix`` is the performance matrix.
    """
    from psp_rl import seeds
    from psp_rl.evaluation.callback import evaluation_callback

    setup = Setup(
        schedule=schedule,
        algo=algo,
        seed=seed,
        hyperparams=dict(hyperparams or {}),
        suite=suite,
        validation_seed=seeds.validation(seed),
    )
    members: dict[str, PhaseCallback] = dict(build_mechanisms(sections, setup))
    if evaluation is not None:
        if suite is None:
            raise ValueError("evaluation needs the suite: pass suite=psp_rl.load_suite(...).")
        members["evaluation"] = evaluation_callback(suite, schedule, evaluation, seed=seed)
    return PhaseEvents(schedule, members)
