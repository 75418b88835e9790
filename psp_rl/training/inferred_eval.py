"""Evaluating a saved run's agent without telling it the task: the inferred-task returns next to the
oracle ones, the dynamics method's step models of a run, unsignalled switches and never-trained variants.

Example::

    from psp_rl.training import evaluate_run

    result = evaluate_run("runs/cartpole-permuted__ppo-psp__s0__...", infer_task=True, switch_every=100)
    result["inference"]["avg_normalized"], result["inference"]["switches"]["delay_median"]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psp_rl import seeds
from psp_rl.evaluation.tasks import fmt_value
from psp_rl.training.saved_runs import eval_envs_of_run

__all__ = ["evaluate_inferred", "evaluate_run_inferred", "format_inference_table", "task_dynamics_of_run"]


def evaluate_run_inferred(
    cfg: Any,
    suite: Any,
    model: Any,
    source: Path,
    eval_envs: Sequence[Any],
    oracle: dict[str, Any],
    method: str = "dynamics",
    window: int = 16,
    deterministic: bool = True,
    switch_every: int | None = None,
    switch_episodes: int | None = None,
    calibration_steps: int = 1000,
    new_variants: int = 0,
) -> tuple[dict[str, Any], str]:
    """The inferred-task part of :func:`~psp_rl.training.saved_runs.evaluate_run` (see its parameters).

    :param oracle: the oracle figures of the same evaluation (``returns``, ``normalized``, ``episodes``,
        ``avg_normalized``)
    :return: the inference figures (with ``fraction_of_oracle``) and the per-task table of both
    """
    n, returns, normalized = oracle["episodes"], oracle["returns"], oracle["normalized"]
    n_switch = n if switch_episodes is None else int(switch_episodes)
    if n_switch < 1:
        raise ValueError(f"--switch-episodes must be >= 1, got {n_switch}.")
    switching = eval_envs_of_run(cfg, suite, source, n_switch, switching=True)[0] if switch_every else None
    dynamics = (
        task_dynamics_of_run(cfg, suite, model, source, calibration_steps) if method == "dynamics" else None
    )
    new_envs = new_variant_envs(cfg, source, n, new_variants) if new_variants else []
    inference = evaluate_inferred(
        model,
        suite,
        eval_envs,
        n,
        method,
        window,
        deterministic,
        switch_every,
        switching,
        seeds.switch_draws(cfg.seed),
        dynamics=dynamics,
        new_envs=new_envs,
        switch_episodes=n_switch,
    )
    told = oracle["avg_normalized"]
    inference["fraction_of_oracle"] = inference["avg_normalized"] / told if told else None
    for env in [switching, *new_envs]:
        if env is not None:
            env.close()
    table = format_inference_table(
        returns, normalized, inference["returns"], inference["normalized"], inference["accuracy"]
    )
    return inference, table


def task_dynamics_of_run(cfg: Any, suite: Any, model: Any, source: Path, steps_per_task: int = 1000) -> Any:
    """The per-task step models of a run for the dynamics method: read from ``task_dynamics.npz`` in the
    folder the model came from when it holds at least ``steps_per_task`` transitions per task, else
    collected with the agent told its task (envs seeded with the calibration seeds of
    :mod:`psp_rl.seeds`, apart from every evaluation's) and written there.

    :param cfg: the run's config.
    :param suite: its suite.
    :param model: the loaded model.
    :param source: the folder the model was loaded from.
    :param steps_per_task: labelled transitions per task.
    :return: a fitted :class:`~psp_rl.inference.TaskDynamics`.
    """
    from psp_rl.inference import TaskDynamics

    if steps_per_task < 1:
        raise ValueError(f"--calibration-steps must be >= 1, got {steps_per_task}.")
    path = source / "task_dynamics.npz"
    if path.is_file():
        try:
            cached = TaskDynamics.load(path, model)
        except ValueError:
            cached = None  # written for another model (a grown run): collect afresh
        if cached is not None and int(cached.counts.min()) >= steps_per_task * 0.9:
            return cached
    envs = eval_envs_of_run(cfg, suite, source, 4, seed=seeds.calibration(cfg.seed))
    dynamics = TaskDynamics.collect(model, envs, steps_per_task=steps_per_task)
    for env in envs:
        env.close()
    dynamics.save(path)
    return dynamics


def new_variant_envs(cfg: Any, source: Path, n: int, count: int) -> list[Any]:
    """One evaluation VecEnv per never-trained variant: ids ``K .. K + count - 1`` of the suite."""
    import dataclasses

    try:
        bigger = dataclasses.replace(cfg, num_tasks=cfg.num_tasks + count).load_suite()
    except ValueError as error:
        raise ValueError(f"--new-variants {count}: this suite has no further variants ({error})") from None
    envs = eval_envs_of_run(cfg, bigger, source, n, seed=seeds.new_variants(cfg.seed))
    return envs[cfg.num_tasks :]


def switch_now(vec_env: Any, index: int, task: int) -> None:
    """Make sub-env ``index`` run variant ``task`` from its next step on, inside its episode."""
    try:
        vec_env.env_method("switch_now", task, indices=[index])
    except ValueError as error:
        raise ValueError(f"--switch-every: {error} Evaluate this suite without --switch-every.") from None


def reward_fn(env: Any) -> Any:
    return env.normalize_reward if getattr(env, "psp_trained_norm_reward", False) else None


def evaluate_inferred(
    model: Any,
    suite: Any,
    eval_envs: Sequence[Any],
    episodes: int,
    method: str = "dynamics",
    window: int = 16,
    deterministic: bool = True,
    switch_every: int | None = None,
    switching_env: Any = None,
    seed: int = 0,
    dynamics: Any = None,
    new_envs: Sequence[Any] = (),
    switch_episodes: int | None = None,
) -> dict[str, Any]:
    """Evaluate a model that is not told the task (:func:`psp_rl.infer_task`) on every task.

    :param model: a trained PSP model.
    :param suite: its task suite.
    :param eval_envs: one VecEnv per task (index = task).
    :param episodes: episodes per task (and in the switching run).
    :param method: ``entropy``, ``score`` or ``dynamics``.
    :param window: samples per inference.
    :param deterministic: deterministic actions.
    :param switch_every: steps between switches inside episodes in ``switching_env`` (``None``: no such run).
    :param switching_env: a DummyVecEnv whose sub-env ``i`` starts on task ``i mod K``.
    :param seed: seed of the switch draws.
    :param dynamics: the fitted per-task step models (method ``dynamics``).
    :param new_envs: VecEnvs of never-trained variants (evaluated after the known ones, whose episodes
        calibrate the references that tell a new variant).
    :param switch_episodes: episodes of the switching run (default: ``episodes``).
    :return: ``returns``, ``normalized``, ``avg_normalized``, ``accuracy`` (per task), ``avg_accuracy``,
        ``new_reports``; with switches ``switches``: delays (median, 90th percentile), missed switches,
        false alarms per 10k steps, accuracy and mean return; with ``new_envs`` ``new_variants``: per
        never-trained variant the fraction of steps it was reported new.
    """
    from psp_rl.inference import infer_task, rollout_inferred

    agent = infer_task(model, window=window, method=method, dynamics=dynamics)
    runs = []
    for k, env in enumerate(eval_envs):
        runs.append(
            rollout_inferred(
                agent,
                env,
                episodes,
                [k] * env.num_envs,
                deterministic=deterministic,
                reward_fn=reward_fn(env),
            )
        )
    returns = [r.mean_return for r in runs]
    normalized = [float(suite.normalize(k, r)) for k, r in enumerate(returns)]
    out: dict[str, Any] = {
        "method": method,
        "window": window,
        "returns": returns,
        "normalized": normalized,
        "avg_normalized": float(np.mean(normalized)),
        "accuracy": [r.accuracy for r in runs],
        "avg_accuracy": float(np.mean([r.accuracy for r in runs])),
        "new_reports": int(sum(r.new_reports for r in runs)),
    }
    if switch_every is not None and switching_env is not None:
        tasks = [i % suite.num_tasks for i in range(switching_env.num_envs)]
        run = rollout_inferred(
            agent,
            switching_env,
            switch_episodes or episodes,
            tasks,
            switch_every=switch_every,
            switch=lambda i, k: switch_now(switching_env, i, k),
            num_tasks=suite.num_tasks,
            seed=seed,
            deterministic=deterministic,
            reward_fn=reward_fn(switching_env),
        )
        out["switches"] = {"every": int(switch_every), **run.summary()}
    if new_envs:
        rates = []
        for env in new_envs:
            run = rollout_inferred(
                agent,
                env,
                episodes,
                [-1] * env.num_envs,
                deterministic=deterministic,
                reward_fn=reward_fn(env),
            )
            rates.append(run.new_reports / run.steps)
        out["new_variants"] = {
            "count": len(rates),
            "reported_new": rates,
            "avg_reported_new": float(np.mean(rates)),
        }
    return out


def format_inference_table(
    returns: Sequence[float],
    normalized: Sequence[float],
    inferred_returns: Sequence[float],
    inferred_normalized: Sequence[float],
    accuracy: Sequence[float],
) -> str:
    """A per-task table of the oracle returns (told the task) next to the inferred-task ones, their ratio
    (``x oracle``), and a note on what the ratio means.

    :param returns: oracle mean return per task.
    :param normalized: oracle normalized return per task.
    :param inferred_returns: mean return per task with the inferred task.
    :param inferred_normalized: their normalized values.
    :param accuracy: per task, the fraction of steps whose inferred task was right.
    :return: the table, lines joined with ``\\n``.
    """
    header = (
        f"{'task':>4}  {'oracle':>8}  {'norm.':>6}  {'inferred':>8}  {'norm.':>6}  {'x oracle':>8}  "
        f"{'accuracy':>8}"
    )
    lines = [header]
    for k in range(len(returns)):
        ratio = inferred_normalized[k] / normalized[k] if normalized[k] > 0 else None
        lines.append(
            f"{k:>4}  {fmt_value(returns[k], '.1f'):>8}  {fmt_value(normalized[k], '.3f'):>6}  "
            f"{fmt_value(inferred_returns[k], '.1f'):>8}  {fmt_value(inferred_normalized[k], '.3f'):>6}  "
            f"{fmt_value(ratio, '.2f'):>8}  {fmt_value(accuracy[k], '.3f'):>8}"
        )
    lines += [
        "x oracle: normalized return with the inferred task / with the true task (the oracle; '-' where the",
        "oracle's is not above 0). Above 1 when the inferred ids act better than the true one (e.g. a sibling",
        "variant's policy does better on this task than its own), or by chance: the two evaluations run",
        "different episodes, few of them; large when the oracle's return is near 0.",
    ]
    return "\n".join(lines)
