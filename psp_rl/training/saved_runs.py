"""Evaluating a saved run folder (``psp-rl eval``): its agent, its evaluation envs, every task's score
(the inferred-task part is :mod:`psp_rl.training.inferred_eval`).

Example::

    from psp_rl.training import evaluate_run

    result = evaluate_run("runs/cartpole-permuted__ppo-psp__s0__20250101-120000", episodes=5)
    print(result["table"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from psp_rl import seeds
from psp_rl.evaluation.episodes import eval_envs_per_task, evaluate_episodes
from psp_rl.evaluation.tasks import format_task_table

__all__ = [
    "eval_envs_of_run",
    "evaluate_run",
    "load_run_model",
]


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
