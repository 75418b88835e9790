"""Evaluation: episodes of one task, every task at once, and the continual evaluation of a run.

- :mod:`~psp_rl.evaluation.episodes` -- evaluation VecEnvs per task, episode returns, a task's score;
- :mod:`~psp_rl.evaluation.tasks` -- every task at once: mean returns and the per-task table;
- :mod:`~psp_rl.evaluation.callback` -- :class:`ContinualEvalCallback`: every task at every phase end,
  the performance matrix and the continual metrics (a member of the phase-event dispatcher).

Saved run folders are evaluated by :mod:`psp_rl.training.saved_runs` (``psp-rl eval``).
"""

from psp_rl.evaluation.callback import ContinualEvalCallback, evaluation_callback
from psp_rl.evaluation.episodes import eval_envs_per_task, evaluate_episodes, score_task

__all__ = [
    "ContinualEvalCallback",
    "eval_envs_per_task",
    "evaluate_episodes",
    "evaluation_callback",
    "score_task",
]
