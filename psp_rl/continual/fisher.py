"""The diagonal Fisher information of an actor-critic policy on a batch of observations, the statistic
EWC consolidates (:mod:`psp_rl.continual.ewc`).

Per sample ``(∂ log π(a|s)/∂θ)²`` with ``a ~ π(·|s)`` (plus ``(∂V(s)/∂θ)²`` with ``critic=True``), averaged.
Per-sample gradients are a loop of ``torch.autograd.grad`` with respect to detached copies of the weights,
swapped in with ``torch.func.functional_call``, so gradient hooks on the parameters (EWC's penalty) take no
part; ``torch.func.vmap`` fails here (SB3's one-hot task preprocessing and the task layers' id check are
data-dependent). Actions are drawn on a forked RNG, so the training's random stream is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import obs_as_tensor

__all__ = ["diagonal_fisher"]


class _PolicyOutputs(torch.nn.Module):
    """The policy's action distribution and value (``None`` without ``critic``) at ``obs``: a module to
    run under :func:`torch.func.functional_call`."""

    def __init__(self, policy: ActorCriticPolicy, critic: bool) -> None:
        super().__init__()
        self.policy, self.critic = policy, critic

    def forward(self, obs: Any) -> tuple[Any, torch.Tensor | None]:
        return self.policy.get_distribution(obs), self.policy.predict_values(obs) if self.critic else None


def diagonal_fisher(
    policy: ActorCriticPolicy,
    params: Mapping[str, torch.nn.Parameter],
    observations: dict[str, np.ndarray] | np.ndarray,
    *,
    critic: bool = False,
    seed: int = 0,
) -> list[torch.Tensor]:
    """The diagonal Fisher of ``policy`` with respect to ``params`` on buffer-format observations.

    :param policy: the policy (PPO / A2C).
    :param params: the parameters to estimate it for, by their name in ``policy.named_parameters()``.
    :param observations: observations as stored in a rollout buffer (dict of arrays, or an array).
    :param critic: add the value network's ``(∂V(s)/∂θ)²``.
    :param seed: seed of the action draws (on a forked RNG).
    :return: one tensor per parameter of ``params`` (their shapes).
    """
    device = policy.device
    tensors: Any = obs_as_tensor(observations, device)
    n = len(next(iter(observations.values()))) if isinstance(observations, dict) else len(observations)
    fisher = [torch.zeros_like(p) for p in params.values()]
    # leaves sharing the parameters' storage but not their hooks: no penalty term in these gradients
    leaves = [p.detach().requires_grad_() for p in params.values()]
    weights = {f"policy.{name}": leaf for name, leaf in zip(params, leaves)}
    outputs_of = _PolicyOutputs(policy, critic)
    devices = [device] if device.type == "cuda" else []
    was_training = policy.training
    policy.set_training_mode(False)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i in range(n):
            obs_i = (
                {k: v[i : i + 1] for k, v in tensors.items()}
                if isinstance(tensors, dict)
                else tensors[i : i + 1]
            )
            dist, value = torch.func.functional_call(outputs_of, weights, (obs_i,))
            with torch.no_grad():
                action = dist.sample()
            outputs = [dist.log_prob(action).sum()] + ([value.sum()] if value is not None else [])
            for output in outputs:
                grads = torch.autograd.grad(output, leaves, retain_graph=True, allow_unused=True)
                for f, g in zip(fisher, grads):
                    if g is not None:
                        f.add_(g.detach() ** 2)
    policy.set_training_mode(was_training)
    return [f / max(n, 1) for f in fisher]
