"""Training: the ``psp-rl train`` flow, its configuration, its run folder and checkpoints, and the
evaluation of saved runs. The continual mechanisms it assembles live in :mod:`psp_rl.continual`, the
evaluation callback in :mod:`psp_rl.evaluation`.

- :mod:`~psp_rl.training.config` -- the configuration: schema, presets, ``--set`` overrides, every check;
- :mod:`~psp_rl.training.train` -- :func:`train`: config → seed → envs → model → callbacks → learn → save;
- :mod:`~psp_rl.training.build` -- algorithm / policy classes, their arguments and the model from a config;
- :mod:`~psp_rl.training.dqn` -- DQN with a choice of TD target (SB3's, advantage learning, value rescaling);
- :mod:`~psp_rl.training.normalize` -- per-task observation normalisation (``TaskVecNormalize``);
- :mod:`~psp_rl.training.run_folder` -- the run folder's files and :class:`RunResult`;
- :mod:`~psp_rl.training.checkpoint` -- atomic checkpoints, finding the newest intact one;
- :mod:`~psp_rl.training.resume` -- opening a run folder and its checkpoint to continue, finished runs;
- :mod:`~psp_rl.training.grow` -- the config of a run continued with more tasks;
- :mod:`~psp_rl.training.progress` -- the task-aware progress bar;
- :mod:`~psp_rl.training.reference` -- the task AUCs of a single-task reference run (forward transfer);
- :mod:`~psp_rl.training.saved_runs` -- evaluating a saved run folder (``psp-rl eval``);
- :mod:`~psp_rl.training.inferred_eval` -- a saved run acting without its task ids (``--infer-task``);
- :mod:`~psp_rl.training.video` -- recording one episode per task of a saved run (``--video``).
"""

from psp_rl.evaluation.callback import ContinualEvalCallback
from psp_rl.evaluation.tasks import evaluate_tasks, format_task_table
from psp_rl.training.checkpoint import AtomicCheckpointCallback, find_latest_checkpoint
from psp_rl.training.config import TrainConfig, load_preset, resolve_config
from psp_rl.training.progress import TaskProgressBarCallback
from psp_rl.training.run_folder import RUN_FILES, RunResult
from psp_rl.training.saved_runs import evaluate_run
from psp_rl.training.train import train

__all__ = [
    "RUN_FILES",
    "AtomicCheckpointCallback",
    "ContinualEvalCallback",
    "RunResult",
    "TaskProgressBarCallback",
    "TrainConfig",
    "evaluate_run",
    "evaluate_tasks",
    "find_latest_checkpoint",
    "format_task_table",
    "load_preset",
    "resolve_config",
    "train",
]
