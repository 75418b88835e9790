"""Evaluation: episodes of one task, the continual evaluation of a run, and evaluating saved runs.

- :mod:`~psp_rl.evaluation.episodes` -- evaluation VecEnvs per task, episode returns, a task's score;
- :mod:`~psp_rl.evaluation.callback` -- :class:`ContinualEvalCallback`: every task at every phase end,
  the performance matrix and the continual metrics;
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
