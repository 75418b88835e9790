"""What ``psp-rl train --resume`` reads from a run folder: its config, whether the run is finished, and the
checkpoint to continue from with its saved state, each checked before anything is loaded or written.

Example::

    run_path, cfg = open_run("runs/cartpole-permuted__ppo-psp__s0__20250101-120000")
    if finished_metrics(run_path, total_timesteps) is None:
        checkpoint, state = open_checkpoint(run_path, cfg)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from psp_rl.training.config import TrainConfig

__all__ = ["finished_message", "finished_metrics", "open_checkpoint", "open_run"]


def open_run(
    resume: str | Path, num_tasks: int | None = None, steps_per_task: int | None = None
) -> tuple[Path, TrainConfig]:
    """The run folder and its config (grown to ``num_tasks`` tasks when given).

    :param resume: the run folder.
    :param num_tasks: continue the run with this many tasks (:func:`~psp_rl.training.grow.grow_config`).
    :param steps_per_task: env steps of each added task (needs ``num_tasks``).
    :return: ``(run folder, config)``.
    :raises ValueError: when the folder is not a run folder, or ``steps_per_task`` comes without ``num_tasks``.
    """
    from psp_rl.resources import load_yaml
    from psp_rl.training.grow import grow_config

    run_path = Path(resume)
    if not (run_path / "config.yaml").is_file():
        raise ValueError(
            f"--resume {str(run_path)!r}: not a run folder (no config.yaml); give a folder under runs/."
        )
    cfg = TrainConfig.from_dict(load_yaml(run_path / "config.yaml"))
    if num_tasks is not None:
        cfg = grow_config(cfg, num_tasks, steps_per_task)
    elif steps_per_task is not None:
        raise ValueError(
            "steps_per_task with resume sets the steps of added tasks: give num_tasks too (--num-tasks)."
        )
    return run_path, cfg


def _checkpoint_step(folder: Path) -> int:
    try:
        return int(folder.name.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def finished_metrics(run_path: Path, total_timesteps: int) -> dict[str, Any] | None:
    """The final metrics of a finished run, or ``None`` when the run still has steps to train.

    A run is finished when its ``metrics.json`` and its newest checkpoint both reach ``total_timesteps``
    (deleting the newest checkpoints makes the run train again from an earlier one).

    :param run_path: the run folder.
    :param total_timesteps: the steps of the run's schedule.
    :return: the content of ``metrics.json``, or ``None``.
    """
    from psp_rl.training.checkpoint import find_latest_checkpoint

    try:
        metrics = json.loads((run_path / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or int(metrics.get("num_timesteps") or 0) < total_timesteps:
        return None
    latest = find_latest_checkpoint(run_path)
    if latest is not None and _checkpoint_step(latest) < total_timesteps:
        return None
    return metrics


def finished_message(run_path: Path, metrics: dict[str, Any], num_tasks: int) -> str:
    """What ``--resume`` of a finished run says (nothing is written).

    :param run_path: the run folder.
    :param metrics: its final metrics.
    :param num_tasks: its number of tasks.
    """
    return (
        f"{run_path} is finished ({metrics.get('num_timesteps')} steps trained): nothing to resume, and nothing "
        f"was written. Add tasks with psp-rl train --resume {run_path} --num-tasks {num_tasks + 1} (or more), "
        f"or evaluate it with psp-rl eval {run_path}."
    )


def open_checkpoint(
    run_path: Path, cfg: TrainConfig, skip_damaged: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The checkpoint to continue from, every file of it checked, and its saved state.

    :param run_path: the run folder.
    :param cfg: the run's config.
    :param skip_damaged: pass over damaged checkpoints to the newest intact one.
    :return: ``(checkpoint folder, content of its state.json)``.
    :raises ValueError: when the run has no complete checkpoint, the newest one is damaged (naming the file
        and the newest intact one), or the observation statistics of a normalising run are missing.
    """
    from psp_rl.training.checkpoint import checked_checkpoint

    checkpoint = checked_checkpoint(run_path, skip_damaged=skip_damaged)
    if checkpoint is None:
        raise ValueError(
            f"--resume {str(run_path)!r}: no complete checkpoint in {run_path / 'checkpoints'}; "
            "the run stopped before its first checkpoint, so start it again without --resume."
        )
    state = json.loads((checkpoint / "state.json").read_text())  # checked: it reads
    stats = checkpoint / "vecnormalize.pkl"
    if cfg.normalize is not False and not stats.is_file():
        raise ValueError(
            f"--resume {str(run_path)!r}: the run normalizes observations but {stats} is missing, so "
            "the agent's observation statistics are lost. Put the file back, or delete that checkpoint "
            "folder to resume from an earlier one, or start the run again without --resume."
        )
    return checkpoint, state
