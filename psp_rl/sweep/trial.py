"""One run of a sweep, in its own folder: find it, skip it when finished, resume it from its last
checkpoint after a failure, else start it; and the callback that reports its evaluations as they happen.

A trial's folder ``<run_root>/`` holds exactly one psp_rl run folder (``<suite>__<agent>__s<seed>__<time>/``,
see :mod:`psp_rl.training.run_folder`). This module needs no Ray: the engine
(:mod:`psp_rl.sweep.engine`) runs :func:`train_trial` inside Tune trials, and it runs the same way in
this process (``benchmarks/continual.py --in-process``).

Example::

    from psp_rl.sweep.trial import train_trial
    from psp_rl.training import resolve_config

    result = train_trial(resolve_config("ppo-psp", steps_per_task=2048), "sweeps/demo/runs/g00__s0")
    result = train_trial(resolve_config("ppo-psp", steps_per_task=2048), "sweeps/demo/runs/g00__s0")
    # the second call trains nothing: the run folder holds its final metrics
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from psp_rl.training.checkpoint import find_latest_checkpoint
from psp_rl.training.config import TrainConfig
from psp_rl.training.run_folder import RunResult

__all__ = ["EvalReportCallback", "find_run_folder", "is_finished", "run_train_trial", "train_trial"]


def find_run_folder(run_root: str | Path) -> Path | None:
    """The psp_rl run folder inside a trial's folder (the newest, should there be several).

    :param run_root: the trial's folder.
    :return: the run folder (it holds ``config.yaml``), or ``None``.
    """
    root = Path(run_root)
    if not root.is_dir():
        return None
    runs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.yaml").is_file())
    return runs[-1] if runs else None


def _final_metrics(run: Path) -> dict[str, Any] | None:
    try:
        metrics = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    total = metrics.get("total_timesteps")
    return metrics if total is None or int(metrics.get("num_timesteps", 0)) >= int(total) else None


def is_finished(run_root: str | Path) -> bool:
    """Whether a trial is done: its run folder holds the final ``metrics.json`` (all steps trained).

    :param run_root: the trial's folder.
    """
    run = find_run_folder(run_root)
    return run is not None and _final_metrics(run) is not None


def train_trial(
    config: TrainConfig | Mapping[str, Any],
    run_root: str | Path,
    *,
    callbacks: Sequence[Any] = (),
    command: Sequence[str] | str | None = None,
    verbose: int = 0,
) -> RunResult:
    """Train one run of a sweep in ``run_root``, picking up what an earlier attempt left there.

    - the run folder holds its final metrics: nothing is trained (``model`` of the result is ``None``);
    - it holds a complete checkpoint: ``train(resume=run folder)`` continues from it;
    - otherwise a folder left by an attempt that died before its first checkpoint is removed (nothing
      in it can be resumed) and the run starts afresh in ``run_root``.

    :param config: the run's config; its ``run_dir`` is replaced by ``run_root``.
    :param run_root: the trial's own folder (created when missing).
    :param callbacks: extra SB3 callbacks (e.g. :class:`EvalReportCallback`).
    :param command: the command line recorded in ``command.txt``.
    :param verbose: 1 prints the final table.
    :return: the run's result.
    """
    from psp_rl.training.train import train

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    root = Path(run_root)
    run = find_run_folder(root)
    if run is not None:
        metrics = _final_metrics(run)
        if metrics is not None:
            return RunResult(run_path=run, config=cfg, metrics=metrics, model=None)
        if find_latest_checkpoint(run) is not None:
            return train(
                resume=run, progress_bar=False, callbacks=callbacks, command=command, verbose=verbose
            )
        shutil.rmtree(run)
    root.mkdir(parents=True, exist_ok=True)
    data = cfg.to_dict()
    data["run_dir"] = str(root)
    return train(data, progress_bar=False, callbacks=callbacks, command=command, verbose=verbose)


def run_train_trial(trial: Mapping[str, Any], callbacks: Sequence[Any]) -> dict[str, Any]:
    """The engine's default trial: :func:`train_trial` of ``trial["config"]`` in ``trial["run_root"]``.

    :param trial: ``{"trial_id", "run_root", "config", "command"}`` (see :func:`psp_rl.sweep.engine.run_trials`).
    :param callbacks: extra SB3 callbacks.
    :return: the run's folder and headline metrics (what the engine reports last).
    """
    result = train_trial(
        trial["config"], trial["run_root"], callbacks=callbacks, command=trial.get("command")
    )
    m = result.metrics
    return {
        "run_path": str(result.run_path),
        "avg_performance": m.get("avg_performance"),
        "forgetting": m.get("forgetting"),
        "num_timesteps": m.get("num_timesteps"),
    }


class _EvalWriter(KVWriter):
    """An SB3 logger output that passes every evaluation of :class:`ContinualEvalCallback` on.

    The evaluation callback records ``eval/task_<k>/normalized`` (and ``continual/avg_performance``,
    ``continual/forgetting``) and dumps the logger at once; a dump holding them is one evaluation.
    """

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        self.report = report

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        tasks = {
            key.split("/")[1]: float(value)
            for key, value in key_values.items()
            if key.startswith("eval/task_") and key.endswith("/normalized")
        }
        if not tasks:
            return
        metrics: dict[str, Any] = {"step": int(step), **tasks}
        for name in ("avg_performance", "forgetting"):
            value = key_values.get(f"continual/{name}")
            if value is not None and math.isfinite(float(value)):
                metrics[name] = float(value)
        self.report(metrics)

    def close(self) -> None:
        """Nothing to close."""


class EvalReportCallback(BaseCallback):
    """Report every evaluation of a run as it happens: ``report({"step", "task_<k>", "avg_performance",
    "forgetting"})`` (the last two when the evaluation allows them).

    It listens to the SB3 logger the evaluation callback writes to, so it sees the evaluation at step 0
    as well. In a sweep ``report`` is ``ray.tune.report``.

    :param report: called with the figures of each evaluation.
    """

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(verbose=0)
        self.report = report

    def _init_callback(self) -> None:
        # called in learn()'s set-up, after the logger is configured and before any evaluation
        self.model.logger.output_formats.append(_EvalWriter(self.report))

    def _on_step(self) -> bool:
        return True
