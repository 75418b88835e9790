"""Overhead of Parameter Superposition, measured in one run.

1. PPO env-steps/s on CartPole-v1 (same widths, same hyper-parameters) for SB3's ``MlpPolicy`` on the
   plain env, SB3's ``MultiInputPolicy`` on the task-observation env, and ``PSPActorCriticPolicy`` with
   each context kind on the task-observation env. Ratios are against ``MlpPolicy`` (the whole cost of
   using psp_rl) and against ``MultiInputPolicy`` (the cost of the superposed layers alone).
2. Forward + backward time of a 256-wide superposed MLP (batch 256, mixed tasks; for rotation also one task
   per batch) for K = 1 ... 1000.

Run::

    python benchmarks/overhead.py                 # full run, a few minutes on 2 CPU cores
    python benchmarks/overhead.py --steps 4000 --repeats 1 --json overhead.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from psp_rl.envs import make_variant_env
from psp_rl.nn import NetworkConfig, TaskBatch, TaskMLP
from psp_rl.policies import PSPActorCriticPolicy

PPO_KWARGS = dict(n_steps=256, batch_size=64, n_epochs=10, learning_rate=1e-3, ent_coef=0.0)
NET_ARCH = dict(pi=[64, 64], vf=[64, 64])


def _ppo_factory(variant: str, n_envs: int, device: str) -> Callable[[], PPO]:
    def build() -> PPO:
        if variant == "MlpPolicy":
            env = DummyVecEnv([lambda: gym.make("CartPole-v1")] * n_envs)
            return PPO(
                "MlpPolicy", env, policy_kwargs=dict(net_arch=NET_ARCH), device=device, seed=0, **PPO_KWARGS
            )
        env = DummyVecEnv([lambda: make_variant_env("CartPole-v1", [], task=0, num_tasks=5)] * n_envs)
        if variant == "MultiInputPolicy":
            return PPO(
                "MultiInputPolicy",
                env,
                policy_kwargs=dict(net_arch=NET_ARCH),
                device=device,
                seed=0,
                **PPO_KWARGS,
            )
        kwargs = dict(net_arch=NET_ARCH, context=variant.removeprefix("psp-"))
        return PPO(PSPActorCriticPolicy, env, policy_kwargs=kwargs, device=device, seed=0, **PPO_KWARGS)

    return build


def ppo_throughput(steps: int, repeats: int, n_envs: int, device: str) -> dict[str, float]:
    """Median env-steps/s of ``PPO.learn`` per policy; repeats are interleaved across policies."""
    variants = ["MlpPolicy", "MultiInputPolicy", "psp-binary", "psp-complex", "psp-rotation"]
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            model = _ppo_factory(variant, n_envs, device)()
            model.learn(PPO_KWARGS["n_steps"] * n_envs)  # warm-up: one rollout + update
            start = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            samples[variant].append(steps / (time.perf_counter() - start))
    return {v: statistics.median(s) for v, s in samples.items()}


def mlp_step_time(
    context: str,
    num_tasks: int,
    device: str,
    iters: int,
    width: int = 256,
    batch: int = 256,
    task_bias: bool = True,
    one_task: bool = False,
) -> float:
    """Median seconds of one forward + backward pass of a ``width``-wide 3-layer superposed MLP.

    :param one_task: every sample from task 0 (the batches of continual training) instead of mixed tasks
    """
    torch.manual_seed(0)
    config = NetworkConfig(num_tasks, "psp", context, task_bias=task_bias)
    net = TaskMLP(width, [width, width], config, "bench", out_dim=width).to(device)
    x = torch.randn(batch, width, device=device)
    if one_task:
        task = torch.zeros(batch, dtype=torch.long, device=device)
    else:
        task = torch.randint(0, num_tasks, (batch,), device=device)
    times = []
    for i in range(iters + 5):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        net(TaskBatch(x, task)).square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 5:  # warm-up
            times.append(time.perf_counter() - start)
        net.zero_grad(set_to_none=True)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20_000, help="timed PPO env steps per policy and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median reported)")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--iters", type=int, default=200, help="timed forward+backward passes per K")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(
        f"# psp_rl overhead  torch {torch.__version__}  {platform.processor() or platform.machine()}  "
        f"device={args.device} threads={args.threads}"
    )
    sps = ppo_throughput(args.steps, args.repeats, args.n_envs, args.device)
    print(
        f"\n## PPO on CartPole-v1, net_arch {NET_ARCH}, {args.n_envs} envs, {args.steps} steps x {args.repeats}"
    )
    print(f"{'policy':<18}{'steps/s':>10}{'vs MlpPolicy':>14}{'vs MultiInput':>15}")
    for variant, value in sps.items():
        print(
            f"{variant:<18}{value:>10.0f}{value / sps['MlpPolicy']:>14.3f}{value / sps['MultiInputPolicy']:>15.3f}"
        )

    # "binary/shared-b": binary keys with one shared bias per layer, to separate the cost of the keys
    # from that of the per-task bias table (K x out gradients every step). "rotation/one-task": a batch
    # from a single task, as in every update of continual training (one N x N product per layer).
    kinds = {
        "binary": (1, 10, 100, 1000),
        "binary/shared-b": (1, 10, 100, 1000),
        "complex": (1, 10, 100, 1000),
        "rotation": (1, 10, 100),
        "rotation/one-task": (10, 100),
    }
    step_times: dict[str, dict[int, float]] = {}
    print(
        f"\n## forward+backward of a 256-wide superposed MLP (3 layers, batch 256, mixed tasks unless one-task), {args.iters} passes"
    )
    print(f"{'context':<16}" + "".join(f"{'K=' + str(k):>12}" for k in kinds["binary"]) + f"{'max/min':>10}")
    for kind, ks in kinds.items():
        context, _, variant = kind.partition("/")
        step_times[kind] = {
            k: mlp_step_time(
                context,
                k,
                args.device,
                args.iters,
                task_bias=variant != "shared-b",
                one_task=variant == "one-task",
            )
            for k in ks
        }
        ms = [t * 1e3 for t in step_times[kind].values()]
        per = step_times[kind]
        cells = "".join(f"{per[k] * 1e3:>10.3f}ms" if k in per else " " * 12 for k in kinds["binary"])
        print(f"{kind:<16}{cells}{max(ms) / min(ms):>10.3f}")
    results = {"ppo_steps_per_s": sps, "mlp_step_seconds": step_times, "args": vars(args)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
