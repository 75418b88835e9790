"""No cost at K = 1, the cheapest case, checked exactly: with one task and binary keys a superposed layer
is a plain linear layer in disguise, ``W (c ⊙ x) = (W diag(c)) x`` with ``c ∈ {−1, +1}^N``.

Adam moves every weight by a function of its own gradient history that is odd in the gradient
(``m / (sqrt(v) + eps)``), and the gradient of ``W' = W diag(c)`` is the gradient of ``W`` with the same
sign flips, so Adam keeps ``W'_t = W_t diag(c)`` at every step (gradient clipping sees the same norm).
PSP PPO without the input lifting (``lift_dim=0``), started from ``W_shared diag(c)`` and the shared
biases (at K = 1 the per-task bias table has one row) and ``log_std``, must therefore follow the
``shared`` network's training trajectory on the same seed and data up to floating-point rounding.

The width rule (``width_scaling``, on by default) trains a superposed layer of fan-in above
``base_width = 64`` with a weight multiplier, i.e. a smaller effective learning rate: the exact case
uses widths of 64 (every fan-in ≤ 64, multiplier 1); the controls show that the comparison detects a
missing key and the width rule at width 128.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import psp_rl
from psp_rl import PSPActorCriticPolicy
from psp_rl.nn.layers import SuperposedLinear

SEED = 0
STEPS = 256  # 2 envs x 64 steps = 128 per rollout: two rollouts, 2 x 3 epochs x 4 minibatches of 32
TOL = 1e-4


def make_ppo(suite: str, mode: str, width: int = 64, **policy_kwargs: Any) -> PPO:
    env = psp_rl.load_suite(suite, num_tasks=1).make_vec_env(n_envs=2, seed=SEED)
    kwargs = dict(
        mode=mode,
        net_arch=dict(pi=[width, width], vf=[width, width]),
        features_extractor_kwargs={"lift_dim": 0},
    )
    kwargs.update(policy_kwargs)
    return PPO(
        PSPActorCriticPolicy,
        env,
        n_steps=64,
        batch_size=32,
        n_epochs=3,
        learning_rate=1e-3,
        policy_kwargs=kwargs,
        seed=SEED,
        device="cpu",
    )


def copy_shared_into_psp(shared: PPO, psp: PPO, multiply_by_key: bool = True) -> None:
    """``W_psp = W_shared diag(c) / m`` (``m``: the layer's weight multiplier), ``b_psp[0] = b_shared``,
    same ``log_std``: the PSP network then computes exactly the shared network's function."""
    source = shared.policy.state_dict()
    copied = set()
    with torch.no_grad():
        for name, module in psp.policy.named_modules():
            if not isinstance(module, SuperposedLinear):
                continue
            key = module.context[0]
            assert module.context.shape[0] == 1 and torch.equal(key.abs(), torch.ones_like(key))
            weight = source[f"{name}.weight"] * (key if multiply_by_key else 1.0)
            module.weight.copy_(weight / module.multiplier)
            module.bias.copy_(source[f"{name}.bias"].unsqueeze(0))  # type: ignore[union-attr]
            copied |= {f"{name}.weight", f"{name}.bias"}
        if hasattr(psp.policy, "log_std"):
            psp.policy.log_std.copy_(shared.policy.log_std)
            copied.add("log_std")
    assert copied == {name for name, _ in psp.policy.named_parameters()}, "a parameter was not copied"


def outputs(model: PPO, obs: dict[str, np.ndarray]) -> torch.Tensor:
    """Action probabilities (or Gaussian mean and std) and values on fixed observations."""
    with torch.no_grad():
        tensor, _ = model.policy.obs_to_tensor(obs)
        dist = model.policy.get_distribution(tensor).distribution
        parts = [dist.probs] if hasattr(dist, "probs") else [dist.mean, dist.stddev]
        return torch.cat([*parts, model.policy.predict_values(tensor)], dim=1)


def fixed_observations(model: PPO) -> dict[str, np.ndarray]:
    dim = model.observation_space["obs"].shape[0]  # type: ignore[index]
    obs = np.random.default_rng(1).normal(size=(32, dim)).astype(np.float32)
    return {"obs": obs, "task": np.zeros(32, dtype=np.int64)}


def train_pair(suite: str, width: int = 64, multiply_by_key: bool = True, **policy_kwargs: Any):
    """Shared and PSP PPO from the same function, trained on the same seed: outputs before and after."""
    shared = make_ppo(suite, "shared", width)
    psp = make_ppo(suite, "psp", width, **policy_kwargs)
    copy_shared_into_psp(shared, psp, multiply_by_key)
    obs = fixed_observations(shared)
    before = outputs(shared, obs), outputs(psp, obs)
    for model in (shared, psp):  # same RNG streams for actions, minibatches and env resets
        model.set_random_seed(SEED)
        model.learn(STEPS)
    return before, (outputs(shared, obs), outputs(psp, obs))


@pytest.mark.parametrize("suite", ["cartpole-permuted", "pendulum-permuted"])  # Discrete; Box (log_std)
def test_psp_at_one_task_follows_the_shared_network(suite: str) -> None:
    (shared0, psp0), (shared1, psp1) = train_pair(suite)
    assert (shared0 - psp0).abs().max() < 1e-6  # the same function at the start
    assert (shared1 - shared0).abs().max() > 1e-3  # training moved it: the comparison is not vacuous
    assert (shared1 - psp1).abs().max() < TOL  # and the same trajectory


def test_the_comparison_detects_a_missing_key_and_the_width_rule() -> None:
    # without the key the start already differs
    (shared0, psp0), _ = train_pair("cartpole-permuted", multiply_by_key=False)
    assert (shared0 - psp0).abs().max() > 1e-3
    # width 128: the width rule (multiplier 64/128 on the second and output layers) starts from the
    # same function but learns at a smaller effective rate; without it the trajectories agree
    (shared0, psp0), (shared1, psp1) = train_pair("cartpole-permuted", width=128)
    assert (shared0 - psp0).abs().max() < 1e-6 and (shared1 - psp1).abs().max() > 10 * TOL
    _, (shared1, psp1) = train_pair("cartpole-permuted", width=128, width_scaling=False)
    assert (shared1 - psp1).abs().max() < TOL
