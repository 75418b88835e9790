"""The width rule where users put the policies: plain Stable-Baselines3 code, RL Zoo's hyper-parameters.

PPO with RL Zoo's published hyper-parameters for Acrobot-v1 (16 envs, n_steps 256, gae_lambda 0.94,
n_epochs 4, ent_coef 0, observations normalised -- here per task), a 256-wide PSP policy, variants of
permuted Acrobot trained one after another with ``TaskScheduleCallback``: the same run with the width
rule on (the default) and off, side by side. Prints each variant's normalised return right after its own
phase and at the end, average performance and forgetting, and writes them to ``--out`` as JSON.

Run::

    python benchmarks/width_rule.py --seeds 0 --steps-per-task 100000 --out results/width_rule.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import sync_envs_normalization

import psp_rl
from psp_rl.evaluation.tasks import evaluate_tasks
from psp_rl.metrics import PerformanceMatrix
from psp_rl.training.normalize import TaskVecNormalize
from psp_rl.utils import write_json_atomic

#: RL Zoo's PPO hyper-parameters for Acrobot-v1 (hyperparams/ppo.yml): normalize: true, n_envs: 16,
#: n_timesteps: 1e6, policy: MlpPolicy, n_steps: 256, gae_lambda: 0.94, gamma: 0.99, n_epochs: 4,
#: ent_coef: 0.0
ZOO_PPO_ACROBOT: dict[str, Any] = {
    "n_steps": 256,
    "gae_lambda": 0.94,
    "gamma": 0.99,
    "n_epochs": 4,
    "ent_coef": 0.0,
}
N_ENVS = 16
#: Acrobot-v1: a uniform-random policy scores about -500 (never swings up in 500 steps), a good one -80
RANDOM, SOLVED = -500.0, -80.0


class PhaseEnd(BaseCallback):
    """Evaluate every variant at the end of each phase (a row of the performance matrix)."""

    def __init__(self, boundaries: list[int], eval_envs: list[Any], episodes: int) -> None:
        super().__init__()
        self.boundaries, self.eval_envs, self.episodes = boundaries, eval_envs, episodes
        self.rows: list[list[float]] = []

    def _on_step(self) -> bool:
        while len(self.rows) < len(self.boundaries) and self.num_timesteps >= self.boundaries[len(self.rows)]:
            for env in self.eval_envs:  # the evaluation envs use the training statistics, frozen
                sync_envs_normalization(self.training_env, env)
            means, _ = evaluate_tasks(self.model, self.eval_envs, n_episodes=self.episodes)
            self.rows.append([(m - RANDOM) / (SOLVED - RANDOM) for m in means])
            print(
                f"  phase {len(self.rows) - 1} done at {self.num_timesteps}: "
                + " ".join(f"{v:.2f}" for v in self.rows[-1])
            )
        return True


def run(
    width_scaling: bool, seed: int, num_tasks: int, steps_per_task: int, width: int, episodes: int
) -> dict[str, Any]:
    """One continual run of plain SB3 PPO on permuted Acrobot.

    :param width_scaling: the width rule on or off.
    :param seed: the seed.
    :param num_tasks: number of variants.
    :param steps_per_task: env steps per variant.
    :param width: hidden width of the policy and value networks.
    :param episodes: evaluation episodes per variant.
    :return: the record.
    """
    suite = psp_rl.Suite(
        {
            "env_id": "Acrobot-v1",
            "num_tasks": num_tasks,
            "variants": [{"family": "permute_obs"}],
            "schedule": {"kind": "sequential", "steps_per_task": steps_per_task},
        },
        name="acrobot-permuted",
    )
    schedule = suite.make_schedule()
    env = TaskVecNormalize(suite.make_vec_env(n_envs=N_ENVS, seed=seed), norm_obs_keys=["obs"])
    eval_envs = [
        TaskVecNormalize(
            suite.make_vec_env(1, seed=seed + 1000, initial_tasks=[k]),
            norm_obs_keys=["obs"],
            training=False,
            norm_reward=False,
        )
        for k in range(num_tasks)
    ]
    model = PPO(
        psp_rl.PSPActorCriticPolicy,
        env,
        seed=seed,
        device="cpu",
        **ZOO_PPO_ACROBOT,
        policy_kwargs=dict(net_arch=[width, width], width_scaling=width_scaling),
    )
    phase_end = PhaseEnd(schedule.phase_boundaries(), eval_envs, episodes)
    started = time.perf_counter()
    model.learn(
        schedule.total_timesteps, callback=CallbackList([psp_rl.TaskScheduleCallback(schedule), phase_end])
    )
    matrix = PerformanceMatrix(num_tasks)
    for row in phase_end.rows:
        matrix.append(row)
    return {
        "width_scaling": width_scaling,
        "seed": seed,
        "num_tasks": num_tasks,
        "steps_per_task": steps_per_task,
        "width": width,
        "eval_episodes": episodes,
        "perf_matrix": matrix.R.tolist(),
        "avg_performance": matrix.average_performance(),
        "forgetting": matrix.forgetting(),
        "wall_time_s": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the comparison and print the table.

    :param argv: command-line arguments.
    :return: the records.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--num-tasks", type=int, default=3)
    parser.add_argument("--steps-per-task", type=int, default=100_000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", default="results/width_rule.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    records: list[dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    for seed in args.seeds:
        for rule in (True, False):
            done = [
                r
                for r in records
                if (r["seed"], r["width_scaling"], r["steps_per_task"], r["width"])
                == (seed, rule, args.steps_per_task, args.width)
            ]
            if done:
                continue
            print(f"seed {seed}, width rule {'on' if rule else 'off'}:", flush=True)
            records.append(run(rule, seed, args.num_tasks, args.steps_per_task, args.width, args.episodes))
            out.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out, records)  # resumable: finished runs are kept
    print(
        f"\nPPO, RL Zoo Acrobot-v1 settings, permuted Acrobot K = {args.num_tasks}, {args.steps_per_task} steps "
        f"per variant, width {args.width}, {args.episodes} evaluation episodes (normalised: -500 -> 0, -80 -> 1)"
    )
    print(
        f"{'seed':>4}  {'width rule':>10}  {'avg perf':>8}  {'forgetting':>10}  {'after own phase':>22}  {'at the end':>22}"
    )
    for r in sorted(records, key=lambda r: (r["seed"], not r["width_scaling"])):
        m = np.asarray(r["perf_matrix"])
        diag = " ".join(f"{m[i, i]:.2f}" for i in range(len(m)))
        last = " ".join(f"{v:.2f}" for v in m[-1])
        print(
            f"{r['seed']:>4}  {'on' if r['width_scaling'] else 'off':>10}  {r['avg_performance']:>8.3f}  "
            f"{r['forgetting']:>10.3f}  {diag:>22}  {last:>22}"
        )
    return records


if __name__ == "__main__":
    main()
