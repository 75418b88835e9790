"""Roll an inference agent out on a VecEnv and measure it: episode returns with the inferred task, how
often the inferred task is the true one, and -- with switches inside episodes -- detection delays,
missed switches and false alarms.

The VecEnv returns the suite's ``{"obs", "task"}`` observations; only ``obs`` reaches the agent, the
``task`` entry is the ground truth (read from the caller's bookkeeping, never from the agent).

Example::

    agent = infer_task(model, window=16)
    result = rollout_inferred(agent, suite.make_vec_env(4, initial_tasks=[2] * 4), 10, tasks=[2] * 4)
    result.mean_return, result.accuracy
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from psp_rl.inference.agent import InferenceAgent

__all__ = ["InferenceRollout", "rollout_inferred"]


@dataclass
class InferenceRollout:
    """What :func:`rollout_inferred` measured.

    :param returns: return of every counted episode
    :param steps: env steps (summed over the sub-envs)
    :param correct: steps whose inferred task was the true one
    :param new_reports: steps whose task was reported new (``-1`` after a first inference)
    :param switches: task switches made inside episodes
    :param delays: for every recognised switch, the steps until the inferred task was the new one
    :param missed: switches not recognised before the next switch or the end
    :param alarms: switch alarms raised
    :param false_alarms: alarms raised while the reported task was the true one, with no switch pending
    """

    returns: list[float] = field(default_factory=list)
    steps: int = 0
    correct: int = 0
    new_reports: int = 0
    switches: int = 0
    delays: list[int] = field(default_factory=list)
    missed: int = 0
    alarms: int = 0
    false_alarms: int = 0

    @property
    def mean_return(self) -> float:
        """Mean episode return (``nan`` without episodes)."""
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def accuracy(self) -> float:
        """Fraction of steps whose inferred task was the true one."""
        return self.correct / self.steps if self.steps else float("nan")

    def summary(self) -> dict[str, Any]:
        """The figures as plain numbers (JSON-ready): delays as median / 90th percentile, rates per 10k steps."""
        data = asdict(self)
        data.update(mean_return=self.mean_return, accuracy=self.accuracy)
        delays = np.asarray(self.delays, dtype=np.float64)
        data["delay_median"] = float(np.median(delays)) if delays.size else None
        data["delay_p90"] = float(np.percentile(delays, 90)) if delays.size else None
        data["false_alarms_per_10k"] = 1e4 * self.false_alarms / self.steps if self.steps else None
        return data


def _base(obs: Any) -> np.ndarray:
    return np.asarray(obs["obs"] if isinstance(obs, dict) else obs)


def rollout_inferred(
    agent: InferenceAgent,
    vec_env: Any,
    n_episodes: int,
    tasks: Sequence[int],
    switch_every: int | None = None,
    switch: Callable[[int, int], None] | None = None,
    num_tasks: int | None = None,
    seed: int = 0,
    deterministic: bool = True,
    reward_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> InferenceRollout:
    """Run ``n_episodes`` episodes (split evenly over the sub-envs, as SB3's ``evaluate_policy``).

    :param agent: the inference agent (reset first: it starts without knowing any task)
    :param vec_env: a VecEnv with ``{"obs", "task"}`` observations
    :param n_episodes: episodes to count
    :param tasks: the true task of each sub-env at the start
    :param switch_every: every this many steps each sub-env switches to another random task, inside
        its episode (``None``: no switches)
    :param switch: ``switch(i, k)`` makes sub-env ``i`` run task ``k`` now (needed with ``switch_every``)
    :param num_tasks: tasks to switch among (default: the agent's ``K``)
    :param seed: seed of the switch draws
    :param deterministic: deterministic actions
    :param reward_fn: maps env rewards to what the model was trained on (e.g. ``VecNormalize.normalize_reward``)
        before they reach :meth:`~psp_rl.inference.agent.InferenceAgent.observe`
    :return: the measurements
    """
    if switch_every is not None and (switch is None or switch_every < 1):
        raise ValueError("switch_every needs a positive number of steps and a switch(i, k) function.")
    n = vec_env.num_envs
    truth = np.array(tasks, dtype=np.int64).reshape(-1)
    if len(truth) != n:
        raise ValueError(f"tasks must give the true task of each of the {n} sub-envs, got {len(truth)}.")
    k_all = int(num_tasks or agent.heads.num_tasks)
    rng = np.random.default_rng(seed)
    targets = np.array([(n_episodes + i) // n for i in range(n)])
    counts, running = np.zeros(n, dtype=np.int64), np.zeros(n)
    out = InferenceRollout()
    pending: dict[int, int] = {}  # sub-env -> step of its unrecognised switch
    agent.reset()
    obs, step = vec_env.reset(), 0
    while (counts < targets).any():
        if switch_every is not None and step > 0 and step % switch_every == 0 and k_all > 1:
            for i in range(n):
                new = int(rng.choice([k for k in range(k_all) if k != truth[i]]))
                switch(i, new)  # type: ignore[misc]
                truth[i] = new
                out.missed += int(i in pending)
                pending[i], out.switches = step, out.switches + 1
        alarms_before = agent.alarms if agent.num_envs == n else np.zeros(n, dtype=np.int64)
        reported = agent.current_tasks if agent.num_envs == n else np.full(n, -2)
        actions, _ = agent.predict(_base(obs), deterministic=deterministic)
        next_obs, rewards, dones, _ = vec_env.step(actions)
        seen = reward_fn(rewards) if reward_fn is not None else rewards
        agent.observe(_base(obs), actions, seen, _base(next_obs), dones)
        raised = agent.alarms - alarms_before
        out.alarms += int(raised.sum())
        out.false_alarms += int(
            sum(raised[i] for i in range(n) if reported[i] == truth[i] and i not in pending)
        )
        current = agent.current_tasks
        out.steps += n
        out.correct += int((current == truth).sum())
        out.new_reports += int(agent.is_new.sum())
        for i in [i for i in pending if current[i] == truth[i]]:
            out.delays.append(step - pending.pop(i))
        running += rewards
        for j in np.flatnonzero(dones):
            if counts[j] < targets[j]:
                out.returns.append(float(running[j]))
                counts[j] += 1
            running[j] = 0.0
        obs, step = next_obs, step + 1
    out.missed += len(pending)
    return out
