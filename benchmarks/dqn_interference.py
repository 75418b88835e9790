"""How much does training DQN on a new variant disturb the greedy policy of an old one?

DQN learns variant 0 of cartpole-permuted, then variant 1 (replay buffer emptied at the switch, as the
presets do). On a fixed set of variant-0 states taken from the buffer at the switch, the script reports,
after every ``--every`` steps of variant 1: the relative change of variant 0's Q-values, the share of
states whose greedy action changed, and variant 0's mean action gap relative to its Q-values. Under
superposition, the interference a stored function receives grows with the size of what the layer stores,
so a Q-function with large values and small action gaps loses its greedy actions first.

Run::

    python benchmarks/dqn_interference.py --variants psp psp-dueling shared --steps 30000 10000
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback

import psp_rl
from psp_rl.training.build import build_hyperparams
from psp_rl.training.config import resolve_config

VARIANTS: dict[str, dict[str, Any]] = {
    "psp": {},
    "psp-dueling": {"dueling": True},
    "psp-no-width-rule": {"width_scaling": False},
    "shared": {"mode": "shared"},
}


def q_values(model: DQN, obs: np.ndarray, task: int) -> np.ndarray:
    """Q-values of one variant on observations."""
    tensors, _ = model.policy.obs_to_tensor({"obs": obs, "task": np.full(len(obs), task)})
    with torch.no_grad():
        return model.q_net(tensors).cpu().numpy()


class Probe(BaseCallback):
    """Record variant 0's Q-values on fixed states while variant 1 trains."""

    def __init__(self, obs: np.ndarray, every: int) -> None:
        super().__init__()
        self.obs, self.every = obs, every
        self.reference = None
        self.rows: list[dict[str, float]] = []

    def _on_training_start(self) -> None:
        self.reference = q_values(self.model, self.obs, 0)

    def _on_step(self) -> bool:
        if self.n_calls % self.every == 0:
            q = q_values(self.model, self.obs, 0)
            ref = self.reference
            gap = np.sort(ref, axis=1)[:, -1] - np.sort(ref, axis=1)[:, -2]
            self.rows.append(
                {
                    "steps": self.n_calls,
                    "relative_q_change": float(np.abs(q - ref).mean() / np.abs(ref).mean()),
                    "greedy_changed": float((q.argmax(1) != ref.argmax(1)).mean()),
                    "gap_over_q": float(gap.mean() / np.abs(ref).mean()),
                }
            )
        return True


def run(name: str, steps: tuple[int, int], seed: int, every: int) -> dict[str, Any]:
    """Variant 0 for ``steps[0]`` steps, then variant 1 for ``steps[1]`` steps, probing variant 0."""
    cfg = resolve_config("dqn-psp", seed=seed)
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2)
    kwargs = {**cfg.policy_kwargs, **VARIANTS[name]}
    kwargs["activation_fn"] = torch.nn.ReLU
    model = DQN(
        psp_rl.PSPDQNPolicy,
        suite.make_vec_env(1, seed=seed, initial_tasks=[0]),
        seed=seed,
        device="cpu",
        policy_kwargs=kwargs,
        **build_hyperparams(cfg.hyperparams),
    )
    model.learn(steps[0])
    size = model.replay_buffer.pos
    picks = np.random.default_rng(seed).choice(size, min(size, 1000), replace=False)
    obs = model.replay_buffer.observations["obs"][picks, 0]
    model.set_env(suite.make_vec_env(1, seed=seed + 1, initial_tasks=[1]))
    model.replay_buffer.reset()
    model.exploration_rate = 1.0
    probe = Probe(obs, every)
    model.learn(steps[1], reset_num_timesteps=True, callback=probe)
    return {"variant": name, "seed": seed, "steps": list(steps), "probe": probe.rows}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run and print the table.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, nargs=2, default=[30_000, 10_000])
    parser.add_argument("--every", type=int, default=2_500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    records = [run(name, tuple(args.steps), args.seed, args.every) for name in args.variants]
    print(
        f"dqn-psp preset, cartpole-permuted: variant 0 for {args.steps[0]} steps, then variant 1 for "
        f"{args.steps[1]}; variant 0 probed on 1000 of its states (seed {args.seed})"
    )
    print(f"{'network':>20} {'steps':>6} {'|dQ|/|Q|':>9} {'greedy changed':>15} {'gap/|Q|':>8}")
    for r in records:
        for row in r["probe"]:
            print(
                f"{r['variant']:>20} {row['steps']:>6} {row['relative_q_change']:>9.3f} "
                f"{row['greedy_changed']:>15.3f} {row['gap_over_q']:>8.3f}"
            )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)
    return records


if __name__ == "__main__":
    main()
