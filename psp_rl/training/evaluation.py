"""Per-task evaluation of an agent and of a saved run, and the per-task table the CLI prints (the
inferred-task part of a run's evaluation is :mod:`psp_rl.training.inferred_eval`).

Example::

    from psp_rl.training import evaluate_run

    result = evaluate_run("runs/cartpole-permuted__ppo-psp__s0__20250101-120000", episodes=5)
    print(result["table"])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from psp_rl import seeds
from psp_rl.training.reference import load_reference_auc

__all__ = [
    "eval_envs_of_run",
    "eval_envs_per_task",
    "evaluate_episodes",
    "evaluate_tasks",
    "evaluate_run",
    "fmt_value",
    "format_task_table",
    "load_reference_auc",
    "load_run_model",
    "score_task",
]


def eval_envs_per_task(suite: Any, episodes: int, n_envs: int | None = None, seed: int = 0) -> list[Any]:
    """One evaluation VecEnv per task; several sub-envs per task run the episodes in parallel.

    SB3's ``evaluate_policy`` splits the episodes evenly over the sub-envs (no bias towards short
    episodes), and batching the policy's forward passes makes evaluation several times faster.

    Drifting suites (``PhysicsDrift``): each VecEnv is wrapped in
    :class:`~psp_rl.training.drift.DriftClockReset`, so every evaluation starts the drift clock of
    each evaluation env at 0 (it runs on across that evaluation's episodes). Every evaluation of a
    task thus sees the same drift, at every phase, after a resume and in ``psp-rl eval``.

    :param suite: the task suite.
    :param episodes: episodes per task and evaluation.
    :param n_envs: sub-envs per task (default ``min(episodes, 10)``; 1 gives ``suite.make_eval_envs``).
    :param seed: the seed of task 0's first resets; task ``k``'s env starts from
        ``seeds.of_task(seed, k)`` (see :mod:`psp_rl.seeds`: pass a purpose's seed, e.g.
        ``seeds.evaluation(run seed)``).
    :return: ``K`` VecEnvs, index = task.
    """
    from psp_rl.training.drift import with_drift_reset

    n = int(n_envs) if n_envs is not None else max(1, min(int(episodes), 10))
    envs = [
        suite.make_vec_env(n, seed=seeds.of_task(seed, k), initial_tasks=[k] * n)
        for k in range(suite.num_tasks)
    ]
    return [with_drift_reset(env) for env in envs]


def evaluate_episodes(
    model: Any, env: Any, n_episodes: int = 10, deterministic: bool = True
) -> tuple[float, float, float]:
    """Mean and standard deviation of the episode return, and the success rate, on one VecEnv.

    An episode succeeds when its last step's info has a true ``is_success`` (Stable-Baselines3's key; the
    suites with ``metric: success`` set it); episodes without the key count as failures.

    :param model: an SB3 model.
    :param env: a VecEnv (sub-envs wrapped in ``Monitor``, as a suite builds them).
    :param n_episodes: episodes, split over the sub-envs as SB3's ``evaluate_policy`` does.
    :param deterministic: deterministic actions.
    :return: ``(mean return, std of the return, success rate)``.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    successes: list[bool] = []

    def record(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        info = local["info"]  # an episode ends where evaluate_policy counts it ("episode" from Monitor)
        if local["done"] and ("episode" in info or not local["is_monitor_wrapped"]):
            successes.append(bool(info.get("is_success", False)))

    returns, _ = cast(
        "tuple[list[float], list[int]]",
        evaluate_policy(
            model,
            env,
            n_eval_episodes=n_episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            callback=record,
            warn=False,
        ),
    )
    return float(np.mean(returns)), float(np.std(returns)), float(np.mean(successes)) if successes else 0.0


def score_task(
    model: Any,
    env: Any,
    task: int,
    n_episodes: int,
    normalize: Any,
    deterministic: bool = True,
    metric: str = "return",
    seed: int | None = None,
    training_env: Any = None,
    evaluate_fn: Any = None,
) -> tuple[float, float]:
    """The mean return of ``task`` on its evaluation env and the task's score.

    :param model: an SB3 model.
    :param env: the task's VecEnv.
    :param task: the task id.
    :param n_episodes: episodes.
    :param normalize: ``(task, mean return) -> normalised return`` (the suite's ``normalize``).
    :param deterministic: deterministic actions.
    :param metric: ``"return"`` (the score is the normalised mean return) or ``"success"`` (the success
        rate, from ``info["is_success"]`` or from ``evaluate_fn``).
    :param seed: reseed the env first (``seeds.of_task(seed, task)``, see :mod:`psp_rl.seeds`), so
        every call starts from the same states.
    :param training_env: the training VecEnv, whose ``VecNormalize`` statistics the env takes first.
    :param evaluate_fn: ``(model, env, episodes, deterministic) -> mean or (mean, success rate)`` in place
        of :func:`evaluate_episodes`.
    :return: ``(mean return, score)``.
    """
    from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

    if isinstance(env, VecNormalize) and training_env is not None:
        sync_envs_normalization(training_env, env)
    if seed is not None:
        env.seed(seeds.of_task(seed, task))  # the next reset (evaluate_policy's first) uses it
    success: float | None = None
    if evaluate_fn is not None:
        out = evaluate_fn(model, env, n_episodes, deterministic)
        mean, success = (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), None)
    else:
        mean, _, success = evaluate_episodes(model, env, n_episodes, deterministic)
    if metric == "return":
        return mean, float(normalize(task, mean))
    if success is None:
        raise ValueError("metric 'success' needs evaluate_fn to return (mean return, success rate).")
    return mean, success


def evaluate_tasks(
    model: Any, eval_envs: Sequence[Any], n_episodes: int = 10, deterministic: bool = True
) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of the episode return on every task.

    :param model: an SB3 model.
    :param eval_envs: one VecEnv per task (``suite.make_eval_envs()``).
    :param n_episodes: episodes per task.
    :param deterministic: deterministic actions.
    :return: ``(means, stds)``, one entry per task.
    """
    figures = [evaluate_episodes(model, env, n_episodes, deterministic) for env in eval_envs]
    return [f[0] for f in figures], [f[1] for f in figures]


def fmt_value(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; ``-`` for a missing or ``nan`` value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def format_task_table(
    returns: Sequence[float],
    normalized: Sequence[float],
    stds: Sequence[float] | None = None,
    after_own_phase: Sequence[float | None] | None = None,
    forgetting: Sequence[float | None] | None = None,
    score_name: str = "normalized",
) -> str:
    """A plain-text table with one line per task.

    :param returns: mean raw return per task.
    :param normalized: normalized return per task.
    :param stds: standard deviation of the return per task (optional).
    :param after_own_phase: normalized return right after the task's own phase (optional).
    :param forgetting: forgetting per task (optional).
    :param score_name: the header of the ``normalized`` column (``success`` for success rates).
    :return: the table, lines joined with ``\\n``.

    Example::

        >>> print(format_task_table([500.0, 20.0], [1.0, 0.04]))
        task    return  normalized
           0     500.0       1.000
           1      20.0       0.040
    """
    header = f"{'task':>4}  {'return':>8}"
    if stds is not None:
        header += f"  {'± std':>7}"
    header += f"  {score_name:>10}"
    if after_own_phase is not None:
        header += f"  {'after own phase':>15}"
    if forgetting is not None:
        header += f"  {'forgetting':>10}"
    lines = [header]
    for k, (ret, norm) in enumerate(zip(returns, normalized)):
        line = f"{k:>4}  {fmt_value(ret, '.1f'):>8}"
        if stds is not None:
            line += f"  {fmt_value(stds[k], '.1f'):>7}"
        line += f"  {fmt_value(norm, '.3f'):>10}"
        if after_own_phase is not None:
            line += f"  {fmt_value(after_own_phase[k], '.3f'):>15}"
        if forgetting is not None:
            line += f"  {fmt_value(forgetting[k], '+.3f'):>10}"
        lines.append(line)
    return "\n".join(lines)


def load_run_model(run_path: str | Path, device: str = "auto") -> tuple[Any, Any, Path]:
    """Load a run's config and agent: the final ``model.zip`` or, failing that, the latest checkpoint.

    :param run_path: the run folder.
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :return: ``(TrainConfig, model, folder the model came from)``.
    :raises ValueError: when the folder is not a run folder or holds no model.
    """
    from psp_rl.resources import load_yaml
    from psp_rl.training.build import algo_class
    from psp_rl.training.checkpoint import file_damage, find_latest_checkpoint
    from psp_rl.training.config import TrainConfig

    run_path = Path(run_path)
    config_file = run_path / "config.yaml"
    if not config_file.is_file():
        raise ValueError(
            f"{str(run_path)!r} is not a run folder (no config.yaml): give a folder under runs/."
        )
    cfg = TrainConfig.from_dict(load_yaml(config_file))
    source = run_path
    if not (run_path / "model.zip").is_file():
        checkpoint = find_latest_checkpoint(run_path)
        if checkpoint is None:
            raise ValueError(f"{str(run_path)!r} holds no model.zip and no complete checkpoint to evaluate.")
        source = checkpoint
    damage = file_damage(source / "model.zip")
    if damage is not None:
        fix = (
            "delete it to evaluate the run's newest checkpoint"
            if source == run_path
            else "delete that folder"
        )
        raise ValueError(f"{source / 'model.zip'} is damaged ({damage}): {fix}, or train the run again.")
    model = algo_class(cfg.algo).load(source / "model.zip", device=device)
    if cfg.grown and _held_tasks(model) < int(cfg.num_tasks or 0):  # a growth still under way
        checkpoint = find_latest_checkpoint(run_path)
        if checkpoint is not None and checkpoint != source:
            model, source = algo_class(cfg.algo).load(checkpoint / "model.zip", device=device), checkpoint
        if _held_tasks(model) < int(cfg.num_tasks or 0):
            raise ValueError(
                f"{str(run_path)!r} was grown to {cfg.num_tasks} tasks but its newest model holds "
                f"{_held_tasks(model)}: finish the growth with psp-rl train --resume {run_path}."
            )
    return cfg, model, source


def _held_tasks(model: Any) -> int:
    from psp_rl.policies.extractor import num_tasks_of

    return num_tasks_of(model.observation_space)


def evaluate_run(
    run_path: str | Path,
    episodes: int | None = None,
    device: str = "auto",
    deterministic: bool = True,
    infer_task: bool = False,
    method: str = "dynamics",
    window: int = 16,
    switch_every: int | None = None,
    calibration_steps: int = 1000,
    new_variants: int = 0,
    switch_episodes: int | None = None,
) -> dict[str, Any]:
    """Evaluate a saved run's agent on every task of its suite.

    With ``infer_task`` the agent is also evaluated without being told the task
    (:func:`psp_rl.infer_task`: it sees only the ``obs`` entry): per task, the return with the inferred
    task next to the oracle one and the fraction of steps whose inferred task was right; with
    ``switch_every``, a further run whose sub-envs switch to a random other task every N steps inside
    their episodes measures detection delays, missed switches and false alarms; with ``new_variants``,
    episodes on variants the agent never trained on measure how often they are reported as new.
    The dynamics method first fits per-task step models on ``calibration_steps`` transitions per task of
    the agent told its task (:class:`~psp_rl.inference.TaskDynamics`, envs seeded apart from the
    evaluation's), kept in the run folder as ``task_dynamics.npz`` for the next evaluation.

    :param run_path: the run folder.
    :param episodes: episodes per task (default: the run's ``eval.episodes``).
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param deterministic: deterministic actions.
    :param infer_task: also evaluate with the inferred task.
    :param method: inference method, ``entropy``, ``score`` or ``dynamics``.
    :param window: samples each inference looks at.
    :param switch_every: steps between unsignalled switches (with ``infer_task``).
    :param calibration_steps: labelled transitions per task the dynamics method fits its models on.
    :param new_variants: never-trained variants to evaluate inference on (the suite's next ids).
    :param switch_episodes: episodes of the switching run (default: ``episodes``).
    :return: ``{"returns", "stds", "normalized", "avg_performance", "avg_normalized", "table", "source"}``,
        and with ``infer_task`` ``"inference"``: the inferred-task figures.
    """
    cfg, model, source = load_run_model(run_path, device=device)
    suite = cfg.load_suite()
    n = int(episodes) if episodes is not None else int(cfg.eval["episodes"])
    if n < 1:
        raise ValueError(f"--episodes must be >= 1, got {n}.")
    if switch_every is not None and (not infer_task or switch_every < 1):
        raise ValueError("--switch-every N needs --infer-task and N >= 1 (steps between switches).")
    if new_variants and (not infer_task or new_variants < 0):
        raise ValueError("--new-variants N needs --infer-task and N >= 0 (never-trained variants to try).")
    eval_envs = eval_envs_of_run(cfg, suite, source, n)
    from psp_rl.training.normalize import TaskVecNormalize

    if infer_task and any(isinstance(env, TaskVecNormalize) for env in eval_envs):
        for env in eval_envs:
            env.close()
        raise ValueError(
            "--infer-task: this run normalises observations with per-task statistics (normalize.per_task), "
            "which are chosen by the true task id, so the base observations would carry the task: infer tasks "
            "with a run trained with one set of statistics (normalize.per_task: false) or without normalisation."
        )
    figures = [evaluate_episodes(model, env, n, deterministic) for env in eval_envs]
    returns, stds = [f[0] for f in figures], [f[1] for f in figures]
    normalized = [
        f[2] if suite.metric == "success" else float(suite.normalize(k, f[0])) for k, f in enumerate(figures)
    ]
    result: dict[str, Any] = {
        "returns": returns,
        "stds": stds,
        "normalized": normalized,
        "metric": suite.metric,
        "avg_performance": float(np.mean(normalized)),
        "avg_normalized": float(np.mean(normalized)),
        "episodes": n,
        "source": str(source),
        "table": format_task_table(
            returns,
            normalized,
            stds=stds,
            score_name="success" if suite.metric == "success" else "normalized",
        ),
    }
    if infer_task:
        from psp_rl.training.inferred_eval import evaluate_run_inferred

        inference, result["table"] = evaluate_run_inferred(
            cfg,
            suite,
            model,
            source,
            eval_envs,
            result,
            method=method,
            window=window,
            deterministic=deterministic,
            switch_every=switch_every,
            switch_episodes=switch_episodes,
            calibration_steps=calibration_steps,
            new_variants=new_variants,
        )
        result["inference"] = inference
    for env in eval_envs:
        env.close()
    return result


def eval_envs_of_run(
    cfg: Any, suite: Any, source: Path, n: int, switching: bool = False, seed: int | None = None
) -> list[Any]:
    """The evaluation VecEnvs of a saved run (one per task, or one mixing every task for switches),
    normalised like its training.

    :param cfg: the run's config.
    :param suite: its suite (or a larger one, for never-trained variants).
    :param source: the folder the model came from (``vecnormalize.pkl`` is read from there).
    :param n: episodes per task.
    :param switching: one VecEnv whose sub-env ``i`` starts on task ``i mod K``.
    :param seed: seed of task 0's first resets (default: the run's evaluation seed, so ``psp-rl eval`` starts
        from the states of the run's own evaluations; for switching, the switching seed; see
        :mod:`psp_rl.seeds`).
    :return: the VecEnvs.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    if switching:
        n_envs = max(1, min(n, 10))
        tasks = [i % suite.num_tasks for i in range(n_envs)]
        first = seeds.switching(cfg.seed) if seed is None else seed
        envs = [suite.make_vec_env(n_envs, seed=first, initial_tasks=tasks)]
    else:
        first = seeds.evaluation(cfg.seed) if seed is None else seed
        envs = eval_envs_per_task(suite, n, cfg.eval.get("n_envs"), seed=first)
    stats = source / "vecnormalize.pkl"
    if stats.is_file():
        envs = [VecNormalize.load(str(stats), env) for env in envs]
        for env in envs:
            env.training = False
            env.psp_trained_norm_reward = env.norm_reward  # what the critic saw (score method)
            env.norm_reward = False
    return envs
