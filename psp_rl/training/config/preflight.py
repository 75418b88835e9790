"""The checks of a run that need its suite, made before the run creates anything.

A config is checked on its own when it is resolved (:mod:`~psp_rl.training.config.validation`,
:mod:`~psp_rl.training.config.ranges`). What depends on the suite as well is checked here, before the run folder
exists: every task's environment builds and resets; the algorithm acts in the suite's action space; no task
repeats another's variant; the run folder's parent can be written. Phases too short for the algorithm to
update the agent in them are reported as warnings (printed, and kept in ``metrics.json`` and the summary):
tiny budgets are legitimate for smoke tests, but such a run's performance matrix shows untrained agents.

Example::

    cfg = resolve_config("dqn-psp", "pendulum-permuted")
    suite = cfg.load_suite()
    preflight(cfg, suite, suite.make_schedule().phase_boundaries())
    # ValueError: agent 'dqn-psp' (dqn) acts in Discrete action spaces, but suite 'pendulum-permuted' ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psp_rl.training.config.ranges import ON_POLICY

if TYPE_CHECKING:
    from psp_rl.envs.suites import Suite
    from psp_rl.training.config.schema import TrainConfig

__all__ = ["ACTION_SPACES", "check_action_space", "check_run_dir", "preflight", "update_warnings"]

#: the action spaces each algorithm acts in (the ``supported_action_spaces`` that Stable-Baselines3's
#: algorithms pass to their base class), by ``gymnasium.spaces`` class name
ACTION_SPACES: dict[str, tuple[str, ...]] = {
    "ppo": ("Box", "Discrete", "MultiDiscrete", "MultiBinary"),
    "a2c": ("Box", "Discrete", "MultiDiscrete", "MultiBinary"),
    "dqn": ("Discrete",),
    "sac": ("Box",),
    "td3": ("Box",),
}


def _acts_in(algo: str, space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(space, tuple(getattr(spaces, name) for name in ACTION_SPACES[algo]))


def check_action_space(cfg: TrainConfig, suite: Suite, action_space: Any) -> None:
    """Refuse an algorithm that cannot act in the suite's action space (DQN on continuous torques...).

    :param cfg: the config.
    :param suite: its suite.
    :param action_space: the suite's action space.
    :raises ValueError: naming the agent, the suite, the space and the agent presets that fit.
    """
    if _acts_in(cfg.algo, action_space):
        return
    from psp_rl.resources import list_yaml, load_yaml

    fitting = []
    for name, path in list_yaml("agents").items():
        try:
            algo = load_yaml(path).get("algo")
        except ValueError:
            continue
        if algo in ACTION_SPACES and _acts_in(algo, action_space):
            fitting.append(name)
    raise ValueError(
        f"agent {cfg.agent!r} ({cfg.algo}) acts in {' or '.join(ACTION_SPACES[cfg.algo])} action spaces, but "
        f"suite {suite.name!r} has {action_space} actions: use an agent for them"
        + (f" ({', '.join(fitting)})" if fitting else "")
        + f" or a suite with {' or '.join(ACTION_SPACES[cfg.algo])} actions."
    )


def check_run_dir(run_dir: str | Path) -> None:
    """Refuse a parent folder for run folders that is a file or cannot be written.

    :param run_dir: the parent folder (``--run-dir``).
    :raises ValueError: naming the folder and the fix.
    """
    path = Path(run_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"--run-dir {run_dir}: {existing} is a file, not a folder: give a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"--run-dir {run_dir}: {existing} cannot be written: give a folder you can write to."
        )


def _phases_text(phases: Sequence[int], total: int) -> str:
    if len(phases) == total and total > 1:
        return f"all {total} phases"
    shown = ", ".join(map(str, phases[:10])) + (", ..." if len(phases) > 10 else "")
    return f"phase{'s' if len(phases) > 1 else ''} {shown}"


def update_warnings(cfg: TrainConfig, boundaries: Sequence[int]) -> list[str]:
    """Warnings about phases that end before the algorithm updates the agent in them.

    PPO and A2C update after each rollout of ``n_steps x n_envs`` steps; DQN, SAC and TD3 after every
    ``train_freq`` steps per env once more than ``learning_starts`` steps were taken (with
    ``replay.learning_starts: each_phase``, in every phase). A phase without an update reports, in its row
    of the performance matrix, an agent that never trained on its task. Whole rollouts also carry the run
    past its last boundary.

    :param cfg: the config.
    :param boundaries: the env step at which each phase ends.
    :return: one message per problem (empty when every phase trains).
    """
    from psp_rl.training.build import algo_class
    from psp_rl.training.config.types import init_types

    defaults = {key: default for key, (_, default) in init_types(algo_class(cfg.algo)).items()}
    hp = {**defaults, **cfg.hyperparams}
    name = cfg.algo.upper()
    if cfg.algo in ON_POLICY:
        every = int(hp["n_steps"]) * cfg.n_envs
        how = f"{name} updates after each rollout of n_steps {hp['n_steps']} x n_envs {cfg.n_envs} = {every} steps"
        first = 0  # the first update: after the first whole rollout
        fix = f"--steps-per-task {every} or more, or a smaller hyperparams.n_steps"
    else:
        freq = hp["train_freq"]
        freq = freq[0] if isinstance(freq, (list, tuple)) else freq
        unit = hp["train_freq"][1] if isinstance(hp["train_freq"], (list, tuple)) else "step"
        if unit != "step":
            return []  # updates after whole episodes: no fixed step grid
        every = int(freq) * cfg.n_envs
        first = int(hp["learning_starts"])
        how = (
            f"{name} updates every train_freq {freq} x n_envs {cfg.n_envs} = {every} steps once more than "
            f"learning_starts {first} steps were taken"
        )
        fix = (
            f"--steps-per-task {max(every, first + every)} or more, or a smaller hyperparams.learning_starts"
        )
    each_phase = cfg.algo not in ON_POLICY and cfg.continual["replay"].get("learning_starts") == "each_phase"
    none, short = [], []
    begin = 0
    for phase, end in enumerate(boundaries):
        threshold = (begin if each_phase else 0) + first
        update = max(math.floor(threshold / every) + 1, math.ceil((begin + 1) / every)) * every
        if (
            update > end
        ):  # the first update after the phase's start (and after learning_starts) lies beyond it
            none.append(phase)
        elif end - begin < every:
            short.append(phase)
        begin = int(end)
    if not none and not short:
        return []
    parts = []
    if none:
        ends = (
            "ends before the agent's first update in it"
            if len(none) == 1
            else "end before the agent's first update in them"
        )
        parts.append(f"{_phases_text(none, len(boundaries))} {ends}")
    if short:
        verbs = ("is", "gets") if len(short) == 1 else ("are", "get")
        parts.append(
            f"{_phases_text(short, len(boundaries))} {verbs[0]} shorter than one update interval and {verbs[1]} "
            "at most one update, mostly from the previous task's steps"
        )
    total = int(boundaries[-1])
    overshoot = math.ceil(total / every) * every
    tail = f"; the run also takes {overshoot} steps rather than {total}" if overshoot != total else ""
    return [
        f"{'; '.join(parts)} ({how}), so the performance matrix shows agents that have not (or barely) trained "
        f"on those tasks{tail}. Use {fix}."
    ]


def preflight(cfg: TrainConfig, suite: Suite, boundaries: Sequence[int], new_run: bool = True) -> list[str]:
    """Every check of a run that needs its suite, before the run creates anything.

    :param cfg: the config.
    :param suite: its suite.
    :param boundaries: the env step at which each phase ends.
    :param new_run: whether the run folder is yet to be created (its parent is then checked).
    :return: warnings (see :func:`update_warnings`).
    :raises ValueError: naming the input and the fix, on the first problem.
    """
    from psp_rl.envs.suite_checks import check_distinct_tasks, check_task_envs

    if new_run:
        check_run_dir(cfg.run_dir)
    _, action_space = check_task_envs(suite)
    check_action_space(cfg, suite, action_space)
    check_distinct_tasks(suite)
    return update_warnings(cfg, boundaries)
