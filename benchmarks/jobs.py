"""The runs of the benchmark: the job list of an experiment (one picklable description per run), a job
as a trial of the sweep engine (``psp_rl.sweep``), and training one job into its results record."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_labels import _agent_sets, _single_sets, register_diagnostic_mode
from experiments import _selected_combos

#: this folder: Ray workers import ``jobs`` from it (the trial's ``pythonpath``)
BENCHMARKS = Path(__file__).resolve().parent


def _eval_freq(spec: dict[str, Any], steps: int) -> int:
    """The evaluation interval of ``evals_per_phase`` evaluations per task phase of ``steps`` env steps
    (0, at the phase ends only, when ``evals_per_phase`` is 0)."""
    per_phase = int(spec["evals_per_phase"])
    return steps // per_phase if per_phase > 0 else 0


def _job(
    name: str,
    spec: dict[str, Any],
    run_dir: str,
    *,
    key: str,
    agent: str,
    num_tasks: int,
    width: int | None,
    seed: int,
    preset: str,
    preset_data: dict[str, Any],
    suite: str,
    steps_per_task: int,
    sets: list[str],
    ewc_lambda: float | None,
) -> dict[str, Any]:
    """One job description of :func:`make_jobs`: the run's own fields and what every run of the
    experiment shares (its name, ``n_envs`` and run folder)."""
    return {
        "key": key,
        "experiment": name,
        "agent": agent,
        "num_tasks": num_tasks,
        "width": width,
        "seed": seed,
        "preset": preset,
        "preset_data": preset_data,
        "suite": suite,
        "steps_per_task": steps_per_task,
        "n_envs": spec.get("n_envs"),
        "sets": sets,
        "ewc_lambda": ewc_lambda,
        "run_dir": str(Path(run_dir) / f"exp{name}"),
    }


def _common_sets(spec: dict[str, Any], preset: str, steps: int) -> list[str]:
    """Evaluation, checkpoint and suite overrides shared by every agent of an experiment."""
    sets = [
        f"eval.episodes={spec['eval_episodes']}",
        f"eval.eval_freq={_eval_freq(spec, steps)}",
        "checkpoint.keep=1",
    ]
    if "eval_matrix" in spec:
        sets.append(f"eval.matrix={spec['eval_matrix']}")
    if not preset.startswith(("ppo", "a2c")):
        sets.append("checkpoint.save_replay_buffer=false")
    for top, value in (spec.get("suite_overrides") or {}).items():
        for sub, v in value.items():
            sets.append(f"suite_overrides.{top}.{sub}={v}")
    return sets


def _single_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """The jobs of experiment 7: every preset x width x seed x agent, K = 1."""
    from psp_rl.training import load_preset

    jobs = []
    for preset in spec["presets"]:
        preset_data = load_preset(preset)
        budget = spec["steps_per_task"]
        steps = int(budget[preset] if isinstance(budget, dict) else budget)
        for width in spec["widths"]:
            for k in spec["num_tasks"]:
                for seed in spec["seeds"]:
                    for agent in spec["agents"]:
                        sets = _single_sets(agent, preset, preset_data, width)
                        sets += _common_sets(spec, preset, steps)
                        w = "preset" if width is None else width
                        jobs.append(
                            _job(
                                name,
                                spec,
                                run_dir,
                                key=f"{name}|{preset}|{agent}|K{k}|w{w}|s{seed}",
                                agent=agent,
                                num_tasks=k,
                                width=width,
                                seed=seed,
                                preset=preset,
                                preset_data=preset_data,
                                suite=spec["suites"][preset],
                                steps_per_task=steps,
                                sets=sets,
                                ewc_lambda=None,
                            )
                        )
    return jobs


def _preset_budget_sets(spec: dict[str, Any], preset_data: dict[str, Any], steps: int) -> list[str]:
    """The ``--set`` items that give a preset run as is the experiment's evaluation budget: none when
    the preset's own ``eval`` settings already are that budget."""
    from psp_rl.training import TrainConfig

    own = {**TrainConfig().eval, **(preset_data.get("eval") or {})}
    wanted = {"episodes": int(spec["eval_episodes"]), "eval_freq": _eval_freq(spec, steps)}
    return [f"eval.{k}={v}" for k, v in wanted.items() if own.get(k) != v]


def _combo_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """The jobs of an experiment of explicit ``combos``: every agent label is a preset (``ppo-psp``),
    trained as it is -- no net_arch, mode, context or hyper-parameter overrides -- for each
    (agent, K, seed) of :func:`_selected_combos`."""
    from psp_rl.training import load_preset

    jobs = []
    for combo in _selected_combos(spec):
        agent = combo["agent"]
        preset = combo.get("preset", agent)
        preset_data = load_preset(preset)
        # a preset's own steps_per_task (a2c-psp: 100k) wins over the experiment's; --steps-per-task or
        # --quick (a budget below the protocol) applies to every preset
        own = preset_data.get("steps_per_task")
        full_steps = spec["steps_per_task"] == spec["protocol"]["steps_per_task"]
        steps = int(own if own is not None and full_steps else spec["steps_per_task"])
        sets = _preset_budget_sets(spec, preset_data, steps)
        for seed in combo["seeds"]:
            jobs.append(
                _job(
                    name,
                    spec,
                    run_dir,
                    key=f"{name}|{agent}|K{combo['num_tasks']}|wpreset|s{seed}",
                    agent=agent,
                    num_tasks=combo["num_tasks"],
                    width=None,
                    seed=seed,
                    preset=preset,
                    preset_data=preset_data,
                    suite=combo.get("suite", spec["suite"]),
                    steps_per_task=steps,
                    sets=list(sets),
                    ewc_lambda=None,
                )
            )
    return jobs


def make_jobs(name: str, spec: dict[str, Any], run_dir: str) -> list[dict[str, Any]]:
    """Every run of an experiment, as picklable job descriptions.

    The agent preset is read here, once, and travels with every job, so editing ``agents/`` while a
    benchmark runs cannot mix two sets of hyper-parameters in one invocation.

    :param name: experiment name.
    :param spec: from :func:`experiment_spec`.
    :param run_dir: parent folder of the run folders.
    :return: jobs with a unique ``key``.
    """
    from psp_rl.training import load_preset

    if spec.get("kind") == "single":
        return _single_jobs(name, spec, run_dir)
    if "combos" in spec:
        return _combo_jobs(name, spec, run_dir)
    preset_data = load_preset(spec["agent"])
    jobs = []
    limits = spec.get("width_max_tasks", {})
    for width in spec["widths"]:
        for k in spec["num_tasks"]:
            if str(width) in limits and k > limits[str(width)]:
                continue
            for seed in spec["seeds"]:
                for agent in spec["agents"]:
                    sets, ewc = _agent_sets(agent, spec["agent"], width, spec["ewc_lambda"])
                    steps = int(spec["steps_per_task"])
                    sets += _common_sets(spec, spec["agent"], steps)
                    jobs.append(
                        _job(
                            name,
                            spec,
                            run_dir,
                            key=f"{name}|{agent}|K{k}|w{width}|s{seed}",
                            agent=agent,
                            num_tasks=k,
                            width=width,
                            seed=seed,
                            preset=spec["agent"],
                            preset_data=preset_data,
                            suite=spec["suite"],
                            steps_per_task=steps,
                            sets=sets,
                            ewc_lambda=ewc,
                        )
                    )
    return jobs


def _compact_history(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "step": [int(h["step"]) for h in history],
        "phase_end": [bool(h["phase_end"]) for h in history],
        "normalized": [[None if v is None else round(float(v), 4) for v in h["normalized"]] for h in history],
    }


def job_config(job: dict[str, Any]) -> Any:
    """The validated training config of a job: its preset (as read when the job list was made), the
    explicit options, then its ``--set`` overrides.

    :param job: from :func:`make_jobs`.
    :return: a :class:`psp_rl.training.TrainConfig`.
    :raises ValueError: when the config is invalid (e.g. a policy argument the policy does not take).
    """
    from psp_rl.training import TrainConfig
    from psp_rl.training.config import apply_overrides, parse_overrides

    register_diagnostic_mode()
    # the preset as read once when the benchmark started: every run of an invocation shares it
    data = TrainConfig().to_dict()
    for key, value in job["preset_data"].items():
        data[key] = {**data[key], **value} if key in ("eval", "checkpoint") else copy.deepcopy(value)
    explicit = {
        "agent": job["preset"],
        "suite": job["suite"],
        "seed": job["seed"],
        "device": "cpu",
        "n_envs": job["n_envs"],
        "steps_per_task": job["steps_per_task"],
        "num_tasks": job["num_tasks"],
        "run_dir": job["run_dir"],
    }
    data.update({k: v for k, v in explicit.items() if v is not None})
    return TrainConfig.from_dict(apply_overrides(data, parse_overrides(job["sets"])))


def job_trial_id(job: dict[str, Any]) -> str:
    """The folder-safe name of a job's run (``1|psp|K10|w64|s0`` -> ``1_psp_K10_w64_s0-<hash>``).

    :param job: from :func:`make_jobs`.
    """
    slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", job["key"].replace("|", "_")).strip("_")[:80]
    return f"{slug}-{hashlib.sha1(job['key'].encode()).hexdigest()[:6]}"


def job_run_root(job: dict[str, Any]) -> Path:
    """The job's own folder (its run folder goes inside): ``<run_dir>/exp<name>/<trial id>/``.

    :param job: from :func:`make_jobs`.
    """
    return Path(job["run_dir"]) / job_trial_id(job)


def job_trial(job: dict[str, Any]) -> dict[str, Any]:
    """A job as a trial of :func:`psp_rl.sweep.engine.run_trials`: a Ray worker imports this module
    (``pythonpath``) and calls :func:`run_trial`.

    :param job: from :func:`make_jobs`.
    """
    return {
        "trial_id": job_trial_id(job),
        "run_root": str(job_run_root(job)),
        "target": "jobs:run_trial",
        "pythonpath": [str(BENCHMARKS)],
        "job": job,
    }


def run_trial(trial: dict[str, Any], callbacks: Sequence[Any]) -> dict[str, Any]:
    """The engine's target of a benchmark trial (on a Ray worker): :func:`run_job`.

    :param trial: from :func:`job_trial`.
    :param callbacks: the engine's SB3 callbacks (evaluations reported to Tune).
    :return: the job's results record.
    """
    return run_job(trial["job"], callbacks=callbacks)


def run_job(job: dict[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train one run in its own folder and return its record (on a Ray worker, or in-process).

    An earlier attempt's folder is picked up (``psp_rl.sweep.trial.train_trial``): a finished run is
    not trained again, an interrupted one resumes from its last checkpoint.

    :param job: from :func:`make_jobs`.
    :param callbacks: extra SB3 callbacks.
    :return: the record written to the results JSON.
    """
    import torch

    torch.set_num_threads(1)
    from psp_rl.metrics import nan_to_none
    from psp_rl.sweep.trial import train_trial
    from psp_rl.training.build import algo_class

    cfg = job_config(job)
    command = ["psp-rl", "train", "--agent", job["preset"], "--suite", job["suite"]]
    command += ["--seed", str(job["seed"]), "--steps-per-task", str(job["steps_per_task"])]
    command += ["--num-tasks", str(job["num_tasks"])]
    for item in job["sets"]:
        command += ["--set", item]
    started = time.perf_counter()
    result = train_trial(cfg, job_run_root(job), callbacks=callbacks, command=command)
    m = result.metrics
    # a resumed (or finished) run: the run's own clock covers every attempt
    wall = max(time.perf_counter() - started, float(m.get("wall_time_s") or 0.0))
    model = result.model  # None when the run was finished already: load it for its parameter count
    if model is None:
        model = algo_class(cfg.algo).load(result.run_path / "model.zip", device="cpu")
    return {
        **{k: job[k] for k in ("key", "experiment", "agent", "num_tasks", "width", "seed", "ewc_lambda")},
        "preset": job["preset"],
        "algo": cfg.algo,
        "policy": cfg.policy,
        "suite": cfg.suite,
        "steps_per_task": job["steps_per_task"],
        "n_envs": cfg.n_envs,
        "eval_episodes": cfg.eval["episodes"],
        "hyperparams": cfg.hyperparams,
        "policy_kwargs": cfg.policy_kwargs,
        "num_timesteps": m["num_timesteps"],
        "param_count": int(sum(p.numel() for p in model.policy.parameters())),
        "wall_time_s": round(wall, 2),
        "avg_performance": m["avg_performance"],
        "forgetting": m["forgetting"],
        "forgetting_per_task": m["forgetting_per_task"],
        "perf_matrix": m["perf_matrix"],
        "phase_tasks": m["phase_tasks"],
        "task_auc": m["task_auc"],
        "final_normalized": m["final_normalized"],
        "final_returns": nan_to_none(m["final_returns"]),
        "history": _compact_history(m["eval_history"]),
        "run_path": str(result.run_path),
        "git_commit": _git_commit(result.run_path),
    }


def _git_commit(run_path: Path) -> str | None:
    """The commit recorded in the run folder's ``versions.json`` (the code the run used)."""
    try:
        return json.loads((Path(run_path) / "versions.json").read_text()).get("git_commit")
    except (OSError, ValueError):
        return None
