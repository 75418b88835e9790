"""Environments: variant families, the task observation, task schedules and suites (Gymnasium only).

- :mod:`~psp_rl.envs.variant` — the base of every variant family and the shared argument checks;
- :mod:`~psp_rl.envs.permute` — permuted observations and relabelled actions;
- :mod:`~psp_rl.envs.physics` — physics variants and the helpers that set physics attributes;
- :mod:`~psp_rl.envs.drift` — drifting physics with a saveable clock, its phase as a coordinate;
- :mod:`~psp_rl.envs.drift_clocks` — the drift clocks of a VecEnv's sub-envs: read, restored, restarted
  for every evaluation;
- :mod:`~psp_rl.envs.task` — :class:`TaskObservation`, observations ``{"obs", "task"}`` (and
  ``"coord"``, the continuous task coordinate, with ``coordinate=True``);
- :mod:`~psp_rl.envs.families` — the family registry and :func:`make_variant_env`;
- :mod:`~psp_rl.envs.schedules` — which task runs when;
- :mod:`~psp_rl.envs.suites` — YAML task suites, :func:`load_suite`;
- :mod:`~psp_rl.envs.registration` — the suites as Gymnasium ids: ``psp_rl/<suite>-v0`` (one task),
  ``psp_rl/<suite>-multitask-v0`` (a random task per episode);
- :mod:`~psp_rl.envs.sampling` — :class:`UniformTaskSampling`, a uniformly random task at every reset;
- :mod:`~psp_rl.envs.task_envs` — suites with one environment per task (``tasks``), built by kind
  (``gym``, ``minigrid``: :mod:`~psp_rl.envs.minigrid_env`, ``metaworld``: :mod:`~psp_rl.envs.metaworld_env`;
  the last two need the optional extras of the same names);
- :mod:`~psp_rl.envs.suite_checks` — each task of a suite built and reset once, repeated variants found,
  before a run starts;
- :mod:`~psp_rl.envs.vec` — task-observation VecEnvs, also from your own per-task environments.

Nothing here imports ``psp_rl.nn``, ``psp_rl.policies`` or ``psp_rl.training``; Stable-Baselines3 is
imported only when a VecEnv is built.
"""

from psp_rl.envs.drift import PhysicsDrift, van_der_corput
from psp_rl.envs.families import FAMILIES, check_family_spec, family_parameters, make_variant_env
from psp_rl.envs.permute import PermuteActions, PermuteObservation, permutation_variants
from psp_rl.envs.physics import PhysicsVariant, physics_attributes, set_physics
from psp_rl.envs.registration import multitask_env_id
from psp_rl.envs.sampling import TASK_SAMPLING, UniformTaskSampling
from psp_rl.envs.schedules import SCHEDULE_KINDS, TaskSchedule, make_schedule
from psp_rl.envs.suites import SPEC_KEYS, Suite, load_suite, make_suite_env, register_suites, suite_env_id
from psp_rl.envs.task import TaskObservation
from psp_rl.envs.task_envs import (
    TASK_ENV_KINDS,
    EpisodeSuccess,
    FixedSeed,
    MissingExtraError,
    make_tasks_env,
    require_extra,
)
from psp_rl.envs.variant import VariantWrapper, check_num_tasks, check_task, coordinate_families
from psp_rl.envs.vec import TaskEnvs, check_task_spaces, make_task_env, make_task_vec_env, task_vec_env

__all__ = [
    "FAMILIES",
    "SCHEDULE_KINDS",
    "SPEC_KEYS",
    "TASK_SAMPLING",
    "TASK_ENV_KINDS",
    "EpisodeSuccess",
    "FixedSeed",
    "MissingExtraError",
    "PermuteActions",
    "PermuteObservation",
    "PhysicsDrift",
    "PhysicsVariant",
    "Suite",
    "TaskEnvs",
    "TaskObservation",
    "TaskSchedule",
    "UniformTaskSampling",
    "VariantWrapper",
    "check_family_spec",
    "check_num_tasks",
    "check_task_spaces",
    "check_task",
    "coordinate_families",
    "family_parameters",
    "load_suite",
    "make_schedule",
    "make_suite_env",
    "make_task_env",
    "make_task_vec_env",
    "make_tasks_env",
    "make_variant_env",
    "multitask_env_id",
    "permutation_variants",
    "physics_attributes",
    "register_suites",
    "require_extra",
    "set_physics",
    "suite_env_id",
    "task_vec_env",
    "van_der_corput",
]
