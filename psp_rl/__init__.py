"""psp_rl: multi-task and continual reinforcement learning with Parameter Superposition.

One network holds a separate policy and value function for every environment variant: each layer
computes ``W (c_k * x)`` with a fixed random context key ``c_k`` per task (Cheung et al., 2019).
The task id travels inside the observation (``{"obs": ..., "task": k}``), so every SB3 buffer,
VecEnv and saved model carries the right task for every sample.

Example::

    from stable_baselines3 import PPO
    import psp_rl

    suite = psp_rl.load_suite("cartpole-permuted")
    model = PPO(psp_rl.PSPActorCriticPolicy, suite.make_vec_env(n_envs=4, seed=0))

Rooms: :mod:`psp_rl.nn` (torch only), :mod:`psp_rl.policies` (SB3), :mod:`psp_rl.envs` (Gymnasium),
:mod:`psp_rl.evaluation`, :mod:`psp_rl.continual`, :mod:`psp_rl.inference`, :mod:`psp_rl.training`,
:mod:`psp_rl.sweep`. Modules at the top:

- :mod:`~psp_rl.cli` -- the ``psp-rl`` command;
- :mod:`~psp_rl.phases` -- the phase clock and the callback base of everything that acts on phase events;
- :mod:`~psp_rl.seeds` -- the seeds of every kind of episode, each purpose in its own range;
- :mod:`~psp_rl.checks` -- checks of single user-given values, with the fix in the message;
- :mod:`~psp_rl.metrics` -- performance matrix, average performance, forgetting, AUC, forward transfer;
- :mod:`~psp_rl.lifelong_metrics` -- ICR and TPOT, the MG10 protocol's metrics, from an evaluation history;
- :mod:`~psp_rl.matrix_figure` -- the performance matrix as a heat map;
- :mod:`~psp_rl.resources` -- finding the shipped presets (``agents/``, ``envs/``) by name;
- :mod:`~psp_rl.utils` -- "did you mean" hints, atomic writes;
- :mod:`~psp_rl._legacy` -- old module paths keep importing (and pickled objects keep loading).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that `import psp_rl` stays light (no torch for the CLI's
# `list`, for example).
_EXPORTS: dict[str, str] = {
    # networks (torch only)
    "CONTEXT_KINDS": "psp_rl.nn",
    "make_context": "psp_rl.nn",
    "SuperposedLinear": "psp_rl.nn",
    "SuperposedConv2d": "psp_rl.nn",
    "TaskMLP": "psp_rl.nn",
    "NetworkConfig": "psp_rl.nn",
    "register_mode": "psp_rl.nn",
    # Stable-Baselines3 policies
    "PSPActorCriticPolicy": "psp_rl.policies",
    "PSPDQNPolicy": "psp_rl.policies",
    "PSPSACPolicy": "psp_rl.policies",
    "PSPTD3Policy": "psp_rl.policies",
    "expand_tasks": "psp_rl.policies",
    # task inference: act without being told the task
    "infer_task": "psp_rl.inference",
    "TaskDynamics": "psp_rl.inference",
    # environments: suites, your own variants, schedules
    "load_suite": "psp_rl.envs",
    "Suite": "psp_rl.envs",
    "TaskObservation": "psp_rl.envs",
    "make_task_env": "psp_rl.envs",
    "make_task_vec_env": "psp_rl.envs",
    "make_variant_env": "psp_rl.envs",
    "TaskSchedule": "psp_rl.envs",
    "make_schedule": "psp_rl.envs",
    # continual mechanisms as SB3 callbacks (psp_rl.continual.callbacks(...) builds them all)
    "TaskScheduleCallback": "psp_rl.continual",
    "PhaseEvents": "psp_rl.continual",
    # training
    "TrainConfig": "psp_rl.training",
    "resolve_config": "psp_rl.training",
    "train": "psp_rl.training",
}

__all__ = ["__version__", *_EXPORTS]


#: subpackages reachable as attributes without their own import (``psp_rl.continual.callbacks(...)``)
_SUBPACKAGES = ("nn", "policies", "envs", "continual", "evaluation", "training", "inference")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"psp_rl.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psp_rl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _setup() -> None:
    """Register the shipped suites with Gymnasium as ``psp_rl/<suite>-v0``; keep old module paths."""
    from psp_rl import _legacy
    from psp_rl.envs.suites import register_suites

    _legacy.install()
    register_suites()


_setup()
