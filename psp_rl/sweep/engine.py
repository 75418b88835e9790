"""The sweep engine on Ray Tune: start (or join) Ray, run a list of trials as Tune trials with their
resources and retries, report every evaluation to Tune, and tell the caller what finished.

A trial is a plain mapping (``trial_id``, ``run_root`` and what its target needs). The target runs on a
Ray worker: by default :func:`psp_rl.sweep.trial.run_train_trial`; ``trial["target"] = "module:function"``
(imported with ``importlib``, ``trial["pythonpath"]`` put on ``sys.path`` first) runs something else,
as ``benchmarks/continual.py`` does. A target takes ``(trial, callbacks)``, trains with those SB3
callbacks and returns a JSON-serialisable result, which the worker writes to
``<run_root>/result.json`` and the driver passes to ``on_result``. A failed trial is started again on a
worker up to ``max_failures`` times; the target resumes from what the failed attempt left in its folder.

Ray runs locally (``ray.init(num_cpus=W, include_dashboard=False)``) unless an address is given (or
``RAY_ADDRESS`` is set): then it joins that cluster and every node must see ``run_root`` (shared storage).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from psp_rl.sweep.trial import EvalReportCallback, run_train_trial
from psp_rl.utils import write_json_atomic

__all__ = ["RESULT_FILE", "SweepOutcome", "run_trials", "start_ray"]

#: the file a finished trial's result goes to, in its ``run_root``
RESULT_FILE = "result.json"
# Tune's older console output respects verbose=0 (the sweep prints its own lines); trials keep the
# driver's working directory, so relative paths (a suite YAML) mean the same on a local worker.
_TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "RAY_CHDIR_TO_TRIAL_DIR": "0"}


@dataclasses.dataclass
class SweepOutcome:
    """What one launch of the engine did.

    :param finished: ids of the trials that finished in this launch.
    :param failed: id -> error of the trials that failed every attempt.
    :param interrupted: ids of the trials neither finished nor failed (the launch was stopped).
    """

    finished: list[str]
    failed: dict[str, str]
    interrupted: list[str]


def start_ray(workers: int | None = None, address: str | None = None) -> bool:
    """Start a local Ray with ``workers`` CPUs, or join the cluster at ``address`` (or ``RAY_ADDRESS``).

    :param workers: CPUs of a local Ray (``None``: every CPU of the machine).
    :param address: a cluster's address (``ray start --head`` prints it), or ``auto``.
    :return: whether Ray was started here (``False`` when it was running already).
    """
    for key, value in _TUNE_ENV.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING
        )
    return True


def _load_target(trial: Mapping[str, Any]) -> Callable[[Mapping[str, Any], Sequence[Any]], Any]:
    target = trial.get("target")
    if target is None:
        return run_train_trial
    for path in trial.get("pythonpath") or []:
        if path not in sys.path:
            sys.path.insert(0, path)
    module, sep, name = str(target).partition(":")
    if not sep:
        raise ValueError(f"trial target {target!r}: expected 'module:function'.")
    return getattr(importlib.import_module(module), name)


def _trainable(config: dict[str, Any]) -> None:
    """The Tune function trainable: run one trial's target, reporting every evaluation."""
    trial = config["trial"]
    if trial.get("cwd") and Path(trial["cwd"]).is_dir():  # relative paths as on the driver
        os.chdir(trial["cwd"])
    target = _load_target(trial)
    reporter = EvalReportCallback(lambda metrics: tune.report({**metrics, "finished": 0}))
    result = target(trial, [reporter])
    write_json_atomic(Path(trial["run_root"]) / RESULT_FILE, result)
    scalars = {
        k: v for k, v in (result or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    tune.report({**scalars, "finished": 1})


class _Progress(tune.Callback):
    """Driver side: pass each finished trial's result on, and print a line per finished or failed trial."""

    def __init__(self, total: int, on_result: Callable[[str, Any], None] | None, verbose: int) -> None:
        self.total, self.on_result, self.verbose = total, on_result, verbose
        self.finished: list[str] = []
        self.unseen: dict[str, str] = {}
        self.started = time.perf_counter()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        spec = trial.config["trial"]
        path = Path(spec["run_root"]) / RESULT_FILE
        if not path.is_file():  # written on the worker's node: not the storage this machine sees
            self.unseen[spec["trial_id"]] = (
                f"finished, but {path} is not visible here: on a cluster the sweep's folder must be on "
                "storage every node mounts at the same path"
            )
            print(f"FAILED {spec['trial_id']}: {self.unseen[spec['trial_id']]}", flush=True)
            return
        self.finished.append(spec["trial_id"])
        if self.on_result is not None:
            self.on_result(spec["trial_id"], json.loads(path.read_text()))
        if self.verbose:
            print(
                f"[{len(self.finished)}/{self.total}] done {spec['trial_id']} "
                f"({time.perf_counter() - self.started:.0f}s)",
                flush=True,
            )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self.verbose:
            print(f"FAILED {trial.config['trial']['trial_id']} (see the trace above)", flush=True)


def run_trials(
    trials: Sequence[Mapping[str, Any]],
    storage: str | Path,
    *,
    name: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    max_failures: int = 2,
    on_result: Callable[[str, Any], None] | None = None,
    verbose: int = 1,
) -> SweepOutcome:
    """Run trials on Ray Tune, at most as many at a time as the cluster's resources allow.

    :param trials: one mapping per trial, each with a unique, folder-safe ``trial_id`` and a ``run_root``
        (relative paths are taken from the driver's working directory, ``cwd``); the default target also needs ``config`` (a ``TrainConfig.to_dict()``) and
        ``command``; see the module docstring for ``target`` and ``pythonpath``.
    :param storage: folder of Tune's own records (``<storage>/<name>/``: experiment state, per-trial
        results); on a cluster a path every node sees.
    :param name: the Tune experiment's name (default ``launch-<time>``).
    :param workers: CPUs of a local Ray (started here, and shut down at the end, unless Ray runs).
    :param address: a Ray cluster to join instead.
    :param cpus_per_run: CPUs reserved per trial.
    :param gpus_per_run: GPUs reserved per trial (``0.25``: four trials share a GPU).
    :param max_failures: retries of a failed trial.
    :param on_result: ``on_result(trial_id, result)`` on the driver as each trial finishes.
    :param verbose: 1 prints a line per finished or failed trial.
    :return: what finished, failed or was left unfinished.
    """
    ids = [str(t["trial_id"]) for t in trials]
    if len(set(ids)) != len(ids):
        raise ValueError("every trial needs its own trial_id (two trials would share a folder).")
    if not trials:
        return SweepOutcome(finished=[], failed={}, interrupted=[])
    started_here = start_ray(workers, address)
    progress = _Progress(len(trials), on_result, verbose)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": cpus_per_run, "gpu": gpus_per_run}),
            param_space={"trial": tune.grid_search([{"cwd": os.getcwd(), **t} for t in trials])},
            tune_config=tune.TuneConfig(
                reuse_actors=True,  # a worker keeps torch and SB3 imported from one run to the next
                trial_name_creator=lambda t: str(t.config["trial"]["trial_id"]),
                trial_dirname_creator=lambda t: str(t.config["trial"]["trial_id"]),
            ),
            run_config=tune.RunConfig(
                name=name or time.strftime("launch-%Y%m%d-%H%M%S"),
                storage_path=str(Path(storage).resolve()),
                failure_config=tune.FailureConfig(max_failures=max_failures),
                callbacks=[progress],
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    failed: dict[str, str] = {}
    for index in range(len(grid)):
        result = grid[index]
        if result.error is not None:
            trial_id = str(result.config["trial"]["trial_id"]) if result.config else "?"
            failed[trial_id] = f"{type(result.error).__name__}: {result.error}".splitlines()[0]
    failed.update(progress.unseen)
    done = set(progress.finished)
    left = [i for i in ids if i not in done and i not in failed]
    return SweepOutcome(finished=[i for i in ids if i in done], failed=failed, interrupted=left)
