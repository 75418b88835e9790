"""Continuing a run with more tasks: the config of the grown run (the agent itself grows with
:func:`psp_rl.expand_tasks`, saved per-parameter state with :func:`psp_rl.policies.expand.fit_grown`)."""

from __future__ import annotations

import copy

from psp_rl.training.config import TrainConfig
from psp_rl.training.config.validation import validate_config

__all__ = ["grow_config"]


def grow_config(cfg: TrainConfig, num_tasks: int, steps_per_task: int | None = None) -> TrainConfig:
    """The config of a run continued with more tasks: variants ``K .. num_tasks - 1`` after the run's own.

    :param cfg: the run's config.
    :param num_tasks: the new number of tasks, larger than the run's ``K``.
    :param steps_per_task: env steps of each added task's phase (default: those of the last phase).
    :return: a new config; ``cfg`` is left as it is.
    :raises ValueError: when ``num_tasks`` is not larger or the schedule is not sequential.
    """
    suite = cfg.load_suite()
    schedule = cfg.make_schedule(suite)
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks <= suite.num_tasks:
        raise ValueError(
            f"--num-tasks {num_tasks}: the run holds K={suite.num_tasks} tasks, so give a larger number to add "
            "tasks (a run cannot drop tasks)."
        )
    if not schedule.is_sequential:
        raise ValueError(
            f"--num-tasks adds tasks one after another to a sequential schedule; this run's is {schedule.kind!r}."
        )
    if cfg.policy != "psp":
        raise ValueError(
            f"--num-tasks grows psp_rl policies (policy: psp, any mode); this run uses SB3's {cfg.policy!r}."
        )
    if cfg.reference is not None:
        raise ValueError(
            "--num-tasks: this run measures forward transfer against a reference of its "
            f"{suite.num_tasks} tasks, which has no curves for the added ones; grow a run without a reference."
        )
    if steps_per_task is None:
        steps_per_task = schedule.added_steps[-1] if schedule.added_steps else schedule.steps_per_task
    grown = copy.deepcopy(cfg)
    grown.grown = [
        *cfg.grown,
        {"from_tasks": suite.num_tasks, "num_tasks": int(num_tasks), "steps_per_task": int(steps_per_task)},
    ]
    grown.num_tasks = int(num_tasks)
    return validate_config(grown)
