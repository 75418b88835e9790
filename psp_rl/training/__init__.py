"""Training: config and presets, the ``train()`` flow, its callbacks, checkpoints, EWC and evaluation.

- :mod:`~psp_rl.training.config` — :class:`TrainConfig`, agent presets, ``--set`` overrides;
- :mod:`~psp_rl.training.validation` — every config field checked, with the fix in the message;
- :mod:`~psp_rl.training.build` — algorithm / policy classes and their arguments from a config;
- :mod:`~psp_rl.training.train` — :func:`train`: config → seed → envs → model → callbacks → learn → save;
- :mod:`~psp_rl.training.run_folder` — the run folder's files and :class:`RunResult`;
- :mod:`~psp_rl.training.schedule_callback` — drives the VecEnv's tasks from a schedule;
- :mod:`~psp_rl.training.eval_callback` — per-task evaluation and the continual metrics;
- :mod:`~psp_rl.training.checkpoint` — atomic checkpoints and resume;
- :mod:`~psp_rl.training.progress` — the task-aware progress bar;
- :mod:`~psp_rl.training.ewc` — elastic weight consolidation (baseline);
- :mod:`~psp_rl.training.evaluation` — evaluating saved runs, the per-task table.
"""

from psp_rl.training.checkpoint import AtomicCheckpointCallback, find_latest_checkpoint
from psp_rl.training.config import TrainConfig, load_preset, resolve_config
from psp_rl.training.eval_callback import ContinualEvalCallback
from psp_rl.training.evaluation import evaluate_run, evaluate_tasks, format_task_table
from psp_rl.training.progress import TaskProgressBarCallback
from psp_rl.training.run_folder import RUN_FILES, RunResult
from psp_rl.training.schedule_callback import TaskScheduleCallback
from psp_rl.training.train import train

__all__ = [
    "RUN_FILES",
    "AtomicCheckpointCallback",
    "ContinualEvalCallback",
    "RunResult",
    "TaskProgressBarCallback",
    "TaskScheduleCallback",
    "TrainConfig",
    "evaluate_run",
    "evaluate_tasks",
    "find_latest_checkpoint",
    "format_task_table",
    "load_preset",
    "resolve_config",
    "train",
]
