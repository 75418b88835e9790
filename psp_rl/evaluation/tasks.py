"""Every task of a suite at once: the mean return per task, and the plain-text per-task table that
``psp-rl train`` and ``psp-rl eval`` print.

Example::

    means, stds = evaluate_tasks(model, eval_envs_per_task(suite, episodes=10), n_episodes=10)
    print(format_task_table(means, [suite.normalize(k, m) for k, m in enumerate(means)], stds))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from psp_rl.evaluation.episodes import evaluate_episodes

__all__ = ["evaluate_tasks", "fmt_value", "format_task_table"]


def evaluate_tasks(
    model: Any, eval_envs: Sequence[Any], n_episodes: int = 10, deterministic: bool = True
) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of the episode return on every task.

    :param model: an SB3 model.
    :param eval_envs: one VecEnv per task (``suite.make_eval_envs()``).
    :param n_episodes: episodes per task.
    :param deterministic: deterministic actions.
    :return: ``(means, stds)``, one entry per task.
    """
    figures = [evaluate_episodes(model, env, n_episodes, deterministic) for env in eval_envs]
    return [f[0] for f in figures], [f[1] for f in figures]


def fmt_value(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; ``-`` for a missing or ``nan`` value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def format_task_table(
    returns: Sequence[float],
    normalized: Sequence[float],
    stds: Sequence[float] | None = None,
    after_own_phase: Sequence[float | None] | None = None,
    forgetting: Sequence[float | None] | None = None,
    score_name: str = "normalized",
) -> str:
    """A plain-text table with one line per task.

    :param returns: mean raw return per task.
    :param normalized: normalized return per task.
    :param stds: standard deviation of the return per task (optional).
    :param after_own_phase: normalized return right after the task's own phase (optional).
    :param forgetting: forgetting per task (optional).
    :param score_name: the header of the ``normalized`` column (``success`` for success rates).
    :return: the table, lines joined with ``\\n``.

    Example::

        >>> print(format_task_table([500.0, 20.0], [1.0, 0.04]))
        task    return  normalized
           0     500.0       1.000
           1      20.0       0.040
    """
    header = f"{'task':>4}  {'return':>8}"
    if stds is not None:
        header += f"  {'± std':>7}"
    header += f"  {score_name:>10}"
    if after_own_phase is not None:
        header += f"  {'after own phase':>15}"
    if forgetting is not None:
        header += f"  {'forgetting':>10}"
    lines = [header]
    for k, (ret, norm) in enumerate(zip(returns, normalized)):
        line = f"{k:>4}  {fmt_value(ret, '.1f'):>8}"
        if stds is not None:
            line += f"  {fmt_value(stds[k], '.1f'):>7}"
        line += f"  {fmt_value(norm, '.3f'):>10}"
        if after_own_phase is not None:
            line += f"  {fmt_value(after_own_phase[k], '.3f'):>15}"
        if forgetting is not None:
            line += f"  {fmt_value(forgetting[k], '+.3f'):>10}"
        lines.append(line)
    return "\n".join(lines)
