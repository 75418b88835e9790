"""Overhead of Parameter Superposition, measured in one run.

1. PPO env-steps/s on CartPole-v1 (same widths, same hyper-parameters) for SB3's ``MlpPolicy`` on the
   plain env, SB3's ``MultiInputPolicy`` on the task-observation env, and ``PSPActorCriticPolicy`` with
   each context kind on the task-observation env. Ratios are against ``MlpPolicy`` (the whole cost of
   using psp_rl) and against ``MultiInputPolicy`` (the cost of the superposed layers alone). Then the
   time of one acting forward pass of the same policies (the rollouts' share of that cost).
2. SAC gradient steps per second on Pendulum-v1 with task observations (the cost that dominates
   off-policy training): SB3's ``MultiInputPolicy`` against ``PSPSACPolicy`` with each context kind, the
   preset's widths and batch size, from the same filled replay buffer.
3. Forward + backward time of a 256-wide MLP (batch 256; mixed tasks, for some rows one task per batch)
   for K = 1 ... 1000: superposed with each context kind, and a plain ``nn.Linear`` MLP of the same
   widths (the ``plain`` row, which has no K), with the ratio binary / plain.

The targets of the overhead issue are checked at the end (``met`` / ``MISSED`` with the figure).

Run::

    python benchmarks/overhead.py                 # full run, about ten minutes on 2 CPU cores
    python benchmarks/overhead.py --steps 4000 --repeats 1 --sac-steps 100 --json overhead.json
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
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from psp_rl.envs import make_variant_env
from psp_rl.nn import NetworkConfig, TaskBatch, TaskMLP
from psp_rl.policies import PSPActorCriticPolicy, PSPSACPolicy

PPO_KWARGS = dict(n_steps=256, batch_size=64, n_epochs=10, learning_rate=1e-3, ent_coef=0.0)
NET_ARCH = dict(pi=[64, 64], vf=[64, 64])
# agents/sac-psp.yaml: 64 x 64, batch 256, one gradient step per env step
SAC_KWARGS = dict(learning_rate=1e-3, batch_size=256, learning_starts=0, train_freq=1, gradient_steps=1)
SAC_NET_ARCH = [64, 64]
SAC_FILL = 2_000  # env steps in the replay buffer before the timed gradient steps
POLICIES = ["MlpPolicy", "MultiInputPolicy", "psp-binary", "psp-complex", "psp-rotation"]


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
    samples: dict[str, list[float]] = {v: [] for v in POLICIES}
    for _ in range(repeats):
        for variant in POLICIES:
            model = _ppo_factory(variant, n_envs, device)()
            model.learn(PPO_KWARGS["n_steps"] * n_envs)  # warm-up: one rollout + update
            start = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            samples[variant].append(steps / (time.perf_counter() - start))
    return {v: statistics.median(s) for v, s in samples.items()}


def ppo_acting_time(iters: int, n_envs: int, device: str) -> dict[str, float]:
    """Median seconds of one acting forward pass (``policy(obs)`` in evaluation mode, no gradients, a batch
    of ``n_envs`` observations from one task, as in a rollout) per PPO policy; repeats interleaved."""
    policies = {}
    for variant in POLICIES:
        model = _ppo_factory(variant, n_envs, device)()
        obs, _ = model.policy.obs_to_tensor(model.env.reset())  # type: ignore[union-attr]
        model.policy.set_training_mode(False)
        policies[variant] = (model.policy, obs)
    samples: dict[str, list[float]] = {v: [] for v in POLICIES}
    with torch.no_grad():
        for _ in range(5):
            for variant, (policy, obs) in policies.items():
                for _ in range(10):  # warm-up
                    policy(obs)
                start = time.perf_counter()
                for _ in range(iters):
                    policy(obs)
                samples[variant].append((time.perf_counter() - start) / iters)
    return {v: statistics.median(s) for v, s in samples.items()}


def _sac_model(variant: str, device: str) -> SAC:
    env = DummyVecEnv([lambda: make_variant_env("Pendulum-v1", [], task=0, num_tasks=5)])
    if variant == "MultiInputPolicy":
        policy, kwargs = "MultiInputPolicy", dict(net_arch=SAC_NET_ARCH)
    else:
        policy, kwargs = PSPSACPolicy, dict(net_arch=SAC_NET_ARCH, context=variant.removeprefix("psp-"))
    model = SAC(policy, env, policy_kwargs=kwargs, device=device, seed=0, **SAC_KWARGS)  # type: ignore[arg-type]
    model.learn(SAC_FILL)  # fills the buffer (and trains on the way: warm-up)
    return model


def sac_gradient_steps(steps: int, repeats: int, device: str) -> dict[str, float]:
    """Median SAC gradient steps/s (``SAC.train`` on the filled buffer) per policy, interleaved repeats."""
    variants = [v for v in POLICIES if v != "MlpPolicy"]
    models = {v: _sac_model(v, device) for v in variants}
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant, model in models.items():
            start = time.perf_counter()
            model.train(gradient_steps=steps, batch_size=SAC_KWARGS["batch_size"])
            samples[variant].append(steps / (time.perf_counter() - start))
    return {v: statistics.median(s) for v, s in samples.items()}


def _timed_passes(net: nn.Module, run: Callable[[], torch.Tensor], device: str, iters: int) -> float:
    """Median seconds of ``run().square().mean().backward()`` over ``iters`` passes after 5 warm-ups."""
    times = []
    for i in range(iters + 5):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run().square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 5:  # warm-up
            times.append(time.perf_counter() - start)
        net.zero_grad(set_to_none=True)
    return statistics.median(times)


def plain_mlp_step_time(device: str, iters: int, width: int = 256, batch: int = 256) -> float:
    """Median seconds of one forward + backward pass of a plain ``nn.Linear`` MLP of the same widths."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
    ).to(device)
    x = torch.randn(batch, width, device=device)
    return _timed_passes(net, lambda: net(x), device, iters)


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
    config = NetworkConfig(num_tasks, mode="psp", context=context, task_bias=task_bias)
    net = TaskMLP(width, [width, width], config, "bench", out_dim=width).to(device)
    x = torch.randn(batch, width, device=device)
    if one_task:
        task = torch.zeros(batch, dtype=torch.long, device=device)
    else:
        task = torch.randint(0, num_tasks, (batch,), device=device)
    return _timed_passes(net, lambda: net(TaskBatch(x, task)), device, iters)


def _targets(sps: dict[str, float], sac: dict[str, float], times: dict[str, dict[int, float]], plain: float):
    """``(target, measured, met)`` for every target of the overhead issue."""
    multi, mlp = sps["MultiInputPolicy"], sps["MlpPolicy"]
    rows = [
        ("PPO binary >= 0.97x MultiInputPolicy", sps["psp-binary"] / multi, 0.97),
        ("PPO rotation >= 0.9x MultiInputPolicy", sps["psp-rotation"] / multi, 0.9),
        ("PPO complex >= 0.8x MultiInputPolicy", sps["psp-complex"] / multi, 0.8),
        ("PPO binary >= 0.9x MlpPolicy", sps["psp-binary"] / mlp, 0.9),
        ("SAC grad steps binary >= 0.9x MultiInputPolicy", sac["psp-binary"] / sac["MultiInputPolicy"], 0.9),
    ]
    out = [(name, value, value >= bound) for name, value, bound in rows]
    worst = max(times["binary"].values()) / plain
    out.append(("MLP binary within 1.1x of plain (worst K)", worst, worst <= 1.1))
    for kind, per in times.items():
        spread = max(per.values()) / min(per.values())
        out.append((f"MLP {kind} flat in K (max/min <= 1.05)", spread, spread <= 1.05))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20_000, help="timed PPO env steps per policy and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median reported)")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument(
        "--sac-steps", type=int, default=500, help="timed SAC gradient steps per policy and repeat"
    )
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

    acting = ppo_acting_time(args.iters * 5, args.n_envs, args.device)
    print(f"\n## PPO acting: one forward pass on {args.n_envs} observations of one task (no gradients)")
    print(f"{'policy':<18}{'us':>10}{'vs MlpPolicy':>14}{'vs MultiInput':>15}")
    for variant, value in acting.items():
        print(
            f"{variant:<18}{value * 1e6:>10.1f}{acting['MlpPolicy'] / value:>14.3f}"
            f"{acting['MultiInputPolicy'] / value:>15.3f}"
        )

    sac = sac_gradient_steps(args.sac_steps, args.repeats, args.device)
    print(
        f"\n## SAC gradient steps on Pendulum-v1 (task observations), net_arch {SAC_NET_ARCH}, batch "
        f"{SAC_KWARGS['batch_size']}, {args.sac_steps} steps x {args.repeats}"
    )
    print(f"{'policy':<18}{'steps/s':>10}{'vs MultiInput':>15}")
    for variant, value in sac.items():
        print(f"{variant:<18}{value:>10.0f}{value / sac['MultiInputPolicy']:>15.3f}")

    # "binary/shared-b": binary keys with one shared bias per layer, to separate the cost of the keys
    # from that of the per-task bias table (K x out gradients every step). "one-task": a batch from a
    # single task, as in every update of continual training.
    kinds = {
        "binary": (1, 10, 100, 1000),
        "binary/one-task": (1, 10, 100, 1000),
        "binary/shared-b": (1, 10, 100, 1000),
        "complex": (1, 10, 100, 1000),
        "rotation": (1, 10, 100),
        "rotation/one-task": (1, 10, 100),
    }
    step_times: dict[str, dict[int, float]] = {}
    print(
        f"\n## forward+backward of a 256-wide MLP (3 layers, batch 256, mixed tasks unless one-task), {args.iters} passes"
    )
    print(f"{'context':<18}" + "".join(f"{'K=' + str(k):>12}" for k in kinds["binary"]) + f"{'max/min':>10}")
    plain = plain_mlp_step_time(args.device, args.iters)
    print(f"{'plain nn.Linear':<18}{plain * 1e3:>10.3f}ms" + " " * 36 + f"{1.0:>10.3f}")
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
        per = step_times[kind]
        cells = "".join(f"{per[k] * 1e3:>10.3f}ms" if k in per else " " * 12 for k in kinds["binary"])
        print(f"{kind:<18}{cells}{max(per.values()) / min(per.values()):>10.3f}")
    ratio = "".join(f"{step_times['binary'][k] / plain:>12.3f}" for k in kinds["binary"])
    print(f"{'binary / plain':<18}{ratio}")

    targets = _targets(sps, sac, step_times, plain)
    print("\n## targets")
    for name, value, met in targets:
        print(f"{name:<50}{value:>8.3f}  {'met' if met else 'MISSED'}")
    results = {
        "ppo_steps_per_s": sps,
        "ppo_acting_seconds": acting,
        "sac_gradient_steps_per_s": sac,
        "mlp_step_seconds": step_times,
        "plain_mlp_step_seconds": plain,
        "targets": [{"target": n, "measured": v, "met": m} for n, v, m in targets],
        "args": vars(args),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
