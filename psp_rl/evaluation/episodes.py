"""Episodes of one task: the evaluation VecEnvs of a suite, their episodes' returns and success rate, and
a task's score (its normalised return or success rate), from reproducible start states.

Example::

    envs = eval_envs_per_task(suite, episodes=10, seed=seeds.evaluation(0))
    mean_return, score = score_task(model, envs[2], 2, 10, suite.normalize, seed=seeds.evaluation(0))
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from psp_rl import seeds

__all__ = ["StepCounter", "eval_envs_per_task", "evaluate_episodes", "score_task"]


class StepCounter(VecEnvWrapper):
    """Count the env steps taken on a VecEnv (every sub-env's step counts, finished episodes' too): the
    interaction an agent has beyond its training steps, such as validation episodes.

    :param venv: the VecEnv.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.steps = 0

    def reset(self) -> VecEnvObs:
        """:return: the first observations."""
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        """:return: the sub-envs' ``(obs, rewards, dones, infos)``, unchanged."""
        self.steps += self.venv.num_envs
        return self.venv.step_wait()


def eval_envs_per_task(suite: Any, episodes: int, n_envs: int | None = None, seed: int = 0) -> list[Any]:
    """One evaluation VecEnv per task; several sub-envs per task run the episodes in parallel.

    SB3's ``evaluate_policy`` splits the episodes evenly over the sub-envs (no bias towards short
    episodes), and batching the policy's forward passes makes evaluation several times faster.

    Drifting suites (``PhysicsDrift``): each VecEnv is wrapped in
    :class:`~psp_rl.envs.drift_clocks.DriftClockReset`, so every evaluation starts the drift clock of
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
    from psp_rl.envs.drift_clocks import with_drift_reset

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
