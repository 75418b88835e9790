"""``psp-rl tune``: fit an agent preset to a task suite with Optuna's TPE search on Ray Tune, pruning
poor trials early (ASHA) on the continual figures reported during training, and write the best trial
as a preset (``DIR/best.yaml``).

One trial is one config (the preset plus one sampled value per key of the search space) trained once,
with the tune's one seed; every trial uses the same seed, so trials differ only in their config. During
training each evaluation (:class:`~psp_rl.sweep.trial.EvalReportCallback`) reports the online objective
(average performance over every task, minus the forgetting so far); ASHA stops a trial whose report
falls behind the others at the same rung. A trial that finishes reports the final objective:

- ``final`` (default): ``avg_performance - forgetting`` of the last performance-matrix row;
- ``auc``: the mean of the per-task AUCs (learning speed and retention);
- ``avg_performance``: the final average performance alone.

A tune's folder::

    DIR/tune.yaml      its definition (a resume keeps it; only --samples may grow)
    DIR/runs/<trial>/  each trial's run folder and result.json
    DIR/trials.json    every finished or pruned trial: values, figures, status
    DIR/trials.png     the objective per trial
    DIR/best.yaml      the agent preset with the best finished trial's values

Resuming (``resume=True``) reads the trials recorded in ``trials.json``: they are not run again, and
they seed the new TPE study (Optuna's ``evaluated_rewards``), which samples the missing trials. A trial
interrupted before it finished or was pruned is not recorded: a new sample takes its place.

Example::

    from psp_rl.sweep.tune import TuneSpec, run_tune

    result = run_tune(TuneSpec(agent="ppo-psp", samples=20, num_tasks=2, steps_per_task=20000), "tunes/ppo")
    print(result.best)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from psp_rl.sweep.extra import require_sweep_extra
from psp_rl.sweep.grid import check_grid_key, value_text
from psp_rl.sweep.space import check_space, default_space, resolver, to_tune
from psp_rl.sweep.tune_output import write_outputs
from psp_rl.utils import did_you_mean, require_extra, write_atomic, write_json_atomic

__all__ = [
    "METRICS",
    "TUNE_FILE",
    "TuneResult",
    "TuneSpec",
    "load_definition",
    "objective_figures",
    "run_tune",
]

#: the objectives ``--metric`` picks from, with what they are
METRICS: dict[str, str] = {
    "final": "avg_performance - forgetting at the end of the run",
    "auc": "the mean per-task AUC",
    "avg_performance": "the final average performance",
}
SCHEDULERS = ("asha", "median", "none")
# the first report is the evaluation at step 0, before any training: no early stopping on it alone
TUNE_FILE = "tune.yaml"
DEFINITION_KEYS = (
    "agent",
    "suite",
    "seed",
    "metric",
    "space",
    "set",
    "num_tasks",
    "steps_per_task",
    "scheduler",
)


@dataclasses.dataclass
class TuneSpec:
    """A tune: which preset on which suite, how many trials, what to vary and what to maximise.

    :param agent: agent preset name or YAML path.
    :param suite: task suite (``None``: the preset's).
    :param samples: number of trials (finished or pruned).
    :param seed: the seed of every trial (and of the TPE sampler).
    :param metric: the objective, one of :data:`METRICS`.
    :param space: dotted key -> distribution (``{}``: the algorithm's default space).
    :param set: ``KEY=VALUE`` overrides of every trial.
    :param num_tasks: number of task variants (``None``: the suite's).
    :param steps_per_task: env steps per task phase (``None``: the suite's).
    :param scheduler: ``asha`` (default), ``median`` or ``none`` (no early stopping).
    :param workers: Ray CPUs of a local tune (``None``: every CPU).
    :param cpus_per_run: CPUs per trial.
    :param gpus_per_run: GPUs per trial.
    :param address: a Ray cluster to join.
    """

    agent: str = "ppo-psp"
    suite: str | None = None
    samples: int = 20
    seed: int = 0
    metric: str = "final"
    space: dict[str, Any] = dataclasses.field(default_factory=dict)
    set: list[str] = dataclasses.field(default_factory=list)
    num_tasks: int | None = None
    steps_per_task: int | None = None
    scheduler: str = "asha"
    workers: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    address: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"--samples must be a positive integer, got {self.samples!r}.")
        if self.metric not in METRICS:
            raise ValueError(f"--metric {self.metric!r}: unknown.{did_you_mean(self.metric, METRICS)}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"--scheduler {self.scheduler!r}: unknown.{did_you_mean(self.scheduler, SCHEDULERS)}"
            )
        for item in self.set:
            key = item.partition("=")[0].strip()
            if key.split(".")[0] in ("seed", "run_dir"):
                raise ValueError(f"--set {key}: the tune sets it; use --seed and --out.")
            check_grid_key(key)

    def definition(self) -> dict[str, Any]:
        """:return: what ``DIR/tune.yaml`` records."""
        return {k: getattr(self, k) for k in DEFINITION_KEYS}

    def resolve(self, run_dir: str | None = None) -> Any:
        """:return: ``resolve(extra_sets)`` -> the base config with those ``--set`` items."""
        options = {"seed": self.seed, "num_tasks": self.num_tasks, "steps_per_task": self.steps_per_task}
        return resolver(self.agent, self.suite, list(self.set), run_dir=run_dir, **options)


@dataclasses.dataclass
class TuneResult:
    """What :func:`run_tune` returns.

    :param out: the tune's folder.
    :param records: every recorded trial (``trials.json``).
    :param best: the best finished trial's record (``None``: none finished).
    :param trained: ids of the trials run in this launch.
    """

    out: Path
    records: list[dict[str, Any]]
    best: dict[str, Any] | None
    trained: list[str]


def objective_figures(metrics: Mapping[str, Any], metric: str) -> dict[str, float | None]:
    """A finished run's figures and its objective.

    :param metrics: the run's ``metrics.json``.
    :param metric: one of :data:`METRICS`.
    :return: ``objective``, ``avg_performance``, ``forgetting``, ``auc`` (``None`` where missing).
    """
    avg = metrics.get("avg_performance")
    forgetting = metrics.get("forgetting")
    aucs = [float(v) for v in metrics.get("task_auc") or [] if v is not None]
    auc = sum(aucs) / len(aucs) if aucs else None
    if metric == "auc":
        objective = auc
    elif avg is None:
        objective = None
    else:
        objective = float(avg) - (float(forgetting) if metric == "final" and forgetting is not None else 0.0)
    return {"objective": objective, "avg_performance": avg, "forgetting": forgetting, "auc": auc}


def _online(metrics: Mapping[str, Any], metric: str) -> float | None:
    """The objective of one evaluation during training (what pruning compares)."""
    avg = metrics.get("avg_performance")
    if avg is None:
        return None
    return float(avg) - float(metrics.get("forgetting") or 0.0) if metric == "final" else float(avg)


def param_items(params: Mapping[str, Any]) -> list[str]:
    """A trial's sampled values as ``--set`` items (a choice is its text already).

    :param params: key -> sampled value.
    """
    return [f"{k}={v if isinstance(v, str) else value_text(v)}" for k, v in sorted(params.items())]


def _trial_command(base: Mapping[str, Any], items: list[str]) -> list[str]:
    line = ["psp-rl", "train", "--agent", base["agent"], "--seed", str(base["seed"])]
    for flag, key in (
        ("--suite", "suite"),
        ("--num-tasks", "num_tasks"),
        ("--steps-per-task", "steps_per_task"),
    ):
        if base.get(key) is not None:
            line += [flag, str(base[key])]
    return line + ["--set", *items] if items else line


def _tune_trainable(config: dict[str, Any], base: dict[str, Any]) -> None:
    """The Tune trainable of one trial: train the sampled config, report evaluations and the objective."""
    from ray import tune

    from psp_rl.sweep.trial import EvalReportCallback, run_train_trial

    if base.get("cwd") and Path(base["cwd"]).is_dir():  # relative paths as on the driver
        os.chdir(base["cwd"])
    trial_id = tune.get_context().get_trial_id()
    run_root = Path(base["runs"]) / trial_id
    items = param_items(config)
    spec = TuneSpec(**{k: base[k] for k in DEFINITION_KEYS})
    cfg = spec.resolve(str(run_root))(items)

    def report(metrics: dict[str, Any]) -> None:
        online = _online(metrics, base["metric"])
        if online is not None:  # an evaluation of every task
            tune.report({**metrics, "objective": online, "finished": 0})

    trial = {"trial_id": trial_id, "run_root": str(run_root), "config": cfg.to_dict()}
    result = run_train_trial({**trial, "command": _trial_command(base, items)}, [EvalReportCallback(report)])
    metrics = json.loads((Path(result["run_path"]) / "metrics.json").read_text())
    figures = objective_figures(metrics, base["metric"])
    record = {"trial_id": trial_id, "status": "finished", "params": dict(config), "sets": items, **figures}
    write_json_atomic(run_root / "result.json", {**record, "run_path": result["run_path"]})
    scalars = {k: v for k, v in figures.items() if v is not None}
    tune.report(
        {
            **scalars,
            "objective": figures["objective"] if figures["objective"] is not None else -1e9,
            "finished": 1,
        }
    )


def _recorder(runs: Path, records: list[dict[str, Any]], save: Any) -> Any:
    from ray import tune

    class _Record(tune.Callback):
        """Driver side: record each trial as it finishes or is pruned (trials.json at once)."""

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            path = runs / trial.trial_id / "result.json"
            if path.is_file():
                record = json.loads(path.read_text())
            else:  # stopped by the scheduler after its last report
                last = trial.last_result or {}
                record = {
                    "trial_id": trial.trial_id,
                    "status": "pruned",
                    "params": dict(trial.config),
                    "sets": param_items(trial.config),
                    "objective": last.get("objective"),
                    "step": last.get("step"),
                }
            record["reports"] = int((trial.last_result or {}).get("training_iteration", 0))
            records.append(record)
            save()
            print(
                f"[{len(records)}] {record['status']} {trial.trial_id}: objective {record['objective']}",
                flush=True,
            )

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            print(
                f"FAILED {trial.trial_id} (see the trace above; not recorded: a resume samples anew)",
                flush=True,
            )

    return _Record()


def _searcher(spec: TuneSpec, domains: dict[str, Any], done: list[dict[str, Any]]) -> Any:
    from ray.tune.search.optuna import OptunaSearch

    known = [r for r in done if r.get("objective") is not None and set(r["params"]) == set(domains)]
    return OptunaSearch(
        space=OptunaSearch.convert_search_space(domains),  # Optuna's distributions: no conversion warning
        metric="objective",
        mode="max",
        seed=spec.seed,
        points_to_evaluate=[dict(r["params"]) for r in known] or None,
        evaluated_rewards=[float(r["objective"]) for r in known] or None,
    )


def _scheduler(name: str) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    if name == "asha":
        return ASHAScheduler(
            time_attr="training_iteration",
            metric="objective",
            mode="max",
            max_t=10**6,
            grace_period=2,
            reduction_factor=2,
        )
    if name == "median":
        return MedianStoppingRule(
            time_attr="training_iteration",
            metric="objective",
            mode="max",
            grace_period=2,
            min_samples_required=2,
        )
    return FIFOScheduler()


def load_definition(out: Path) -> dict[str, Any]:
    """The definition saved in ``OUT/tune.yaml``.

    :param out: a tune's folder.
    :raises ValueError: not a tune's folder.
    """
    saved = out / TUNE_FILE
    if not saved.is_file():
        raise ValueError(f"--resume {out}: not a tune folder (no {TUNE_FILE}); give the --out of a tune.")
    data = yaml.safe_load(saved.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"--resume {out}: {saved} is not a tune definition (a mapping); was it edited?")
    return data


def _prepare_folder(spec: TuneSpec, out: Path, resume: bool) -> list[dict[str, Any]]:
    """Record the definition; :return: the trials recorded by earlier launches."""
    saved = out / TUNE_FILE
    if saved.is_file():
        recorded = load_definition(out)
        recorded.pop("samples", None)
        if recorded != spec.definition():
            raise ValueError(
                f"{out} holds another tune ({saved} differs): continue it with psp-rl tune --resume {out}, "
                "or give another --out."
            )
        trials = out / "trials.json"
        records = json.loads(trials.read_text())["trials"] if trials.is_file() else []
    else:
        if resume:
            load_definition(out)  # raises: no tune here
        records = []
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(saved, yaml.safe_dump({**spec.definition(), "samples": spec.samples}, sort_keys=False))
    return records


def run_tune(spec: TuneSpec, out: str | Path, *, resume: bool = False, verbose: int = 1) -> TuneResult:
    """Run the missing trials of a tune on Ray Tune, then write ``trials.json``, ``trials.png``, ``best.yaml``.

    :param spec: the tune (with ``resume``, its saved definition; ``samples`` may be raised).
    :param out: the tune's folder.
    :param resume: continue the tune saved in ``out``.
    :param verbose: 1 prints the plan and a line per trial.
    :return: the records and the best trial.
    :raises ValueError: a bad key or value in the space (naming the closest valid key), a missing extra.
    """
    out = Path(out).resolve()
    resolve = spec.resolve(str(out / "runs"))
    base_cfg = resolve([])
    space = spec.space or default_space(base_cfg.algo)
    checked = check_space(
        space, resolve, source="--space" if spec.space else f"the default {base_cfg.algo} space"
    )
    require_sweep_extra()
    require_extra("optuna", "ray", "psp-rl tune")
    from ray import tune

    from psp_rl.sweep.engine import start_ray

    records = _prepare_folder(spec, out, resume)
    todo = spec.samples - len(records)
    if verbose:
        print(
            f"{spec.samples} trials of {spec.agent} ({len(checked)} keys searched, objective: "
            f"{METRICS[spec.metric]}), {len(records)} recorded in {out}, {max(todo, 0)} to run",
            flush=True,
        )

    def save() -> None:
        write_json_atomic(out / "trials.json", _trials_file(spec, records))

    trained: list[str] = []
    if todo > 0:
        domains = to_tune(checked)
        base = {**spec.definition(), "runs": str(out / "runs"), "cwd": os.getcwd()}
        started = start_ray(spec.workers, spec.address)
        try:
            before = len(records)
            trainable = tune.with_parameters(_tune_trainable, base=base)
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": spec.cpus_per_run, "gpu": spec.gpus_per_run}),
                tune_config=tune.TuneConfig(
                    num_samples=todo,
                    search_alg=_searcher(spec, domains, records),
                    scheduler=_scheduler(spec.scheduler),
                ),
                run_config=tune.RunConfig(
                    name=time.strftime("launch-%Y%m%d-%H%M%S"),
                    storage_path=str(out / "tune"),
                    callbacks=[_recorder(out / "runs", records, save)],
                    verbose=0,
                ),
            )
            tuner.fit()
            trained = [r["trial_id"] for r in records[before:]]
        finally:
            if started:
                import ray

                ray.shutdown()
    save()
    best = write_outputs(spec, out, records, list(checked))
    if verbose and best is not None:
        print(
            f"best trial {best['trial_id']}: objective {best['objective']:.4g} ({METRICS[spec.metric]}); "
            f"preset {out / 'best.yaml'}:\n  psp-rl train --agent {shlex.quote(str(out / 'best.yaml'))}",
            flush=True,
        )
    return TuneResult(out=out, records=records, best=best, trained=trained)


def _trials_file(spec: TuneSpec, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tune": spec.definition(), "objective": METRICS[spec.metric], "trials": records}
